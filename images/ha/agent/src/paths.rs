//! Where the agent reads and writes. One struct, so tests can point everything at a
//! temporary directory.
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The template baked into the image (same text as the host's templates/haproxy.cfg.j2).
    pub(crate) template: PathBuf,
    /// The routes map's template, baked in next to it (templates/routes.map.j2).
    pub(crate) routes_template: PathBuf,
    /// The routes map HAProxy reads (the config names it `cluster::ROUTES_MAP`).
    pub(crate) routes_map: PathBuf,
    /// The live config HAProxy reads.
    pub(crate) haproxy_cfg: PathBuf,
    /// Numbered copies of the last configs made live.
    pub(crate) history_dir: PathBuf,
    /// One file per alive backend.
    pub(crate) nodes_dir: PathBuf,
    /// Event and reload log (lab task 3).
    pub(crate) serf_log: PathBuf,
    /// Generation counter, pending reload and the live servers.
    pub(crate) state_file: PathBuf,
    /// `[webapps] drain_ms` as `up` last set it (`ha-agent drain-ms`), over the model's.
    pub(crate) drain_file: PathBuf,
    /// The `[services.*]` tables the host last handed over (`ha-agent services`), read
    /// with `CLUSTER_TOML`.
    pub(crate) services_file: PathBuf,
    /// flock target that serializes runs.
    pub(crate) lock_file: PathBuf,
    /// HAProxy master CLI (hitless mode).
    pub(crate) master_socket: PathBuf,
    /// HAProxy's runtime API (the worker's admin socket), for membership changes.
    pub(crate) admin_socket: PathBuf,
    /// Where the servers' runtime state is dumped before a reload (the template's
    /// `server-state-file`).
    pub(crate) server_state: PathBuf,
    /// Pid of the HAProxy daemon (restart mode).
    pub(crate) pid_file: PathBuf,
    /// The s6 service dir of HAProxy, for `s6-svc -2`.
    pub(crate) haproxy_service: PathBuf,
    /// What `docker logs` shows: stdout of PID 1 (s6-svscan).
    pub(crate) container_log: PathBuf,
}

impl Paths {
    /// The layout inside the ha image.
    pub(crate) fn container() -> Paths {
        Paths::under(Path::new("/"))
    }

    pub(crate) fn under(root: &Path) -> Paths {
        Paths {
            template: root.join("etc/ha/haproxy.cfg.j2"),
            routes_template: root.join("etc/ha/routes.map.j2"),
            routes_map: root.join("etc/haproxy/routes.map"),
            haproxy_cfg: root.join("etc/haproxy/haproxy.cfg"),
            history_dir: root.join("etc/haproxy/history"),
            nodes_dir: root.join("nodes"),
            serf_log: root.join("var/log/serf.log"),
            state_file: root.join("var/lib/ha-agent/state.json"),
            drain_file: root.join("var/lib/ha-agent/drain-ms"),
            services_file: root.join("var/lib/ha-agent/services.toml"),
            lock_file: root.join("run/ha-agent.lock"),
            master_socket: root.join("run/haproxy/master.sock"),
            admin_socket: root.join("run/haproxy/admin.sock"),
            server_state: root.join("var/lib/haproxy/server-state"),
            pid_file: root.join("run/haproxy/haproxy.pid"),
            haproxy_service: root.join("etc/s6/haproxy"),
            container_log: root.join("proc/1/fd/1"),
        }
    }

    /// The previous live config, kept next to the live one.
    pub(crate) fn haproxy_cfg_prev(&self) -> PathBuf {
        self.haproxy_cfg.with_extension("cfg.prev")
    }
}
