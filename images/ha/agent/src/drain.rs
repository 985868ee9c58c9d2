//! Servers on their way out. A leaving server gets no new requests (`drain`) while its
//! sessions finish; it is deleted once they have ended or its service's `drain_ms` has
//! passed (then what remains is shut). The watcher checks every poll, between its other work,
//! and takes the agent's lock only for the deletion itself: a join during a 30 s drain is
//! applied as fast as any other.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cluster::Cluster;

use crate::log::Log;
use crate::paths::Paths;
use crate::{runtime, servers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draining {
    /// The backend it drains in.
    pub(crate) backend: String,
    /// The rest of its `server` line (address first), to recognise it if it comes back.
    pub(crate) args: String,
    started: Instant,
    until: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Drains {
    servers: BTreeMap<String, Draining>,
}

impl Drains {
    pub(crate) fn start(&mut self, backend: &str, name: &str, args: &str, until: Instant) {
        let draining = Draining {
            backend: backend.to_string(),
            args: args.to_string(),
            started: Instant::now(),
            until,
        };
        self.servers.insert(name.to_string(), draining);
    }

    /// Forgets (never deletes) the drains of servers the live config has again: they came
    /// back through a path that did not cancel their drain (a reload, another process).
    pub(crate) fn forget_wanted<'a>(&mut self, wanted: impl IntoIterator<Item = &'a str>) {
        for name in wanted {
            self.servers.remove(name);
        }
    }

    pub(crate) fn cancel(&mut self, name: &str) -> Option<Draining> {
        self.servers.remove(name)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.servers.contains_key(name)
    }

    /// The drains that are over at `now`, given each server's open sessions.
    pub(crate) fn finished(&self, sessions: impl Fn(&str) -> u64, now: Instant) -> Vec<String> {
        self.servers
            .iter()
            .filter(|(name, d)| sessions(name) == 0 || now >= d.until)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Deletes the servers whose drain is over. Runs with nothing to do when no server
    /// drains: no call to HAProxy at rest.
    pub(crate) fn tick(&mut self, paths: &Paths, log: &Log) -> anyhow::Result<()> {
        if self.servers.is_empty() {
            return Ok(());
        }
        let socket = &paths.admin_socket;
        let stats = runtime::cli(socket, "show stat")?;
        let sessions = |name: &str| runtime::sessions(&stats, &[name.to_string()]);
        if self.finished(sessions, Instant::now()).is_empty() {
            return Ok(());
        }
        // Under the lock, on a fresh look: a reconcile may have brought one back.
        let _lock = crate::lock::exclusive(&paths.lock_file)?;
        if let Ok(live) = std::fs::read_to_string(&paths.haproxy_cfg) {
            let layout = servers::layout(&live);
            self.forget_wanted(layout.servers().keys().map(String::as_str));
        }
        let stats = runtime::cli(socket, "show stat")?;
        let sessions = |name: &str| runtime::sessions(&stats, &[name.to_string()]);
        let now = Instant::now();
        for name in self.finished(sessions, now) {
            let left = sessions(&name);
            let backend = &self.servers[&name].backend;
            runtime::remove_drained(socket, backend, &name)?;
            let draining = self.servers.remove(&name).expect("a drain that finished");
            let took = now.duration_since(draining.started).as_secs_f64();
            if left == 0 {
                log.say(&format!(
                    "drained {name}: its sessions ended after {took:.1} s"
                ));
            } else {
                log.say(&format!(
                    "drained {name}: {left} session(s) still open after drain_ms ({took:.1} s), shut"
                ));
            }
        }
        Ok(())
    }
}

/// How long server `name` may drain: its service's `drain_ms` (a name of no service
/// drains as the default service's webapps do).
pub(crate) fn drain_time_of(paths: &Paths, cluster: &Cluster, name: &str) -> Duration {
    match cluster.service_of(name) {
        Some(service) if !service.is_default() => {
            Duration::from_millis(service.app.drain_ms.into())
        }
        _ => drain_time(paths, cluster),
    }
}

/// How long a leaving webapp of the default service may drain: `[webapps] drain_ms`, as
/// `up` last set it in place (so a new value does not recreate the load balancer), else
/// as the model says.
pub(crate) fn drain_time(paths: &Paths, cluster: &Cluster) -> Duration {
    let set = std::fs::read_to_string(&paths.drain_file)
        .ok()
        .and_then(|text| parse_drain_ms(&text).ok());
    Duration::from_millis(set.unwrap_or(cluster.webapps.drain_ms).into())
}

/// `ha-agent drain-ms MS`: what `up` runs when the drain time may have changed.
pub(crate) fn set_drain_ms(paths: &Paths, text: &str) -> anyhow::Result<()> {
    let ms = parse_drain_ms(text)?;
    crate::files::write_atomically(&paths.drain_file, ms.to_string().as_bytes())
        .with_context(|| format!("writing {}", paths.drain_file.display()))
}

/// The same bounds as `webapps.drain_ms` in the cluster file.
fn parse_drain_ms(text: &str) -> anyhow::Result<u32> {
    match text.trim().parse::<u32>() {
        Ok(ms) if ms <= 30_000 => Ok(ms),
        _ => bail!(
            "drain-ms {:?}: expected milliseconds from 0 to 30000",
            text.trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_ends_when_its_sessions_do_or_its_time_is_up() {
        let now = Instant::now();
        let mut drains = Drains::default();
        drains.start(
            "nodes",
            "s1",
            "10.0.0.2:3000 check",
            now + Duration::from_secs(15),
        );
        drains.start(
            "nodes",
            "s2",
            "10.0.0.3:3000 check",
            now + Duration::from_secs(15),
        );
        drains.start(
            "nodes",
            "s3",
            "10.0.0.4:3000 check",
            now + Duration::from_secs(1),
        );
        let open = |name: &str| if name == "s1" { 0 } else { 2 };
        assert_eq!(drains.finished(open, now), ["s1"]);
        assert_eq!(
            drains.finished(open, now + Duration::from_secs(2)),
            ["s1", "s3"]
        );
        assert!(drains.contains("s2"));
        assert_eq!(drains.cancel("s2").unwrap().args, "10.0.0.3:3000 check");
        assert!(!drains.contains("s2"));
    }

    #[test]
    fn the_drain_time_set_in_place_wins_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let cluster = cluster::parse("[webapps]\ndrain_ms = 1000\n", "c.toml").unwrap();
        assert_eq!(drain_time(&paths, &cluster), Duration::from_millis(1000));
        set_drain_ms(&paths, "15000\n").unwrap();
        assert_eq!(drain_time(&paths, &cluster), Duration::from_millis(15000));
        assert!(set_drain_ms(&paths, "30001").is_err());
        assert!(set_drain_ms(&paths, "-1").is_err());
        assert_eq!(drain_time(&paths, &cluster), Duration::from_millis(15000));
    }

    #[test]
    fn each_service_drains_for_its_own_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let cluster = cluster::parse(
            "[webapps]\ndrain_ms = 1000\n\n[services.api]\npaths = [\"/api\"]\ndrain_ms = 4000\n",
            "c.toml",
        )
        .unwrap();
        set_drain_ms(&paths, "2000").unwrap();
        let time = |name: &str| drain_time_of(&paths, &cluster, name);
        assert_eq!(time("s1"), Duration::from_millis(2000));
        assert_eq!(time("api1"), Duration::from_millis(4000));
        assert_eq!(time("x1"), Duration::from_millis(2000));
    }
}
