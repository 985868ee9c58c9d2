//! What every container of the cluster gets, whoever starts it (`up` through the Engine
//! API, the compose file, a Swarm service): bounded logs, a stop grace period that
//! follows `[webapps] drain_ms`, and the webapps' capabilities.
use crate::model::Webapps;

/// The log driver of every container: json-file, rotated, so no log grows without bound.
pub const LOG_DRIVER: &str = "json-file";
/// Its options: at most three files of 10 MB (30 MB per container).
pub const LOG_OPTIONS: [(&str, &str); 2] = [("max-size", "10m"), ("max-file", "3")];

/// How long a stopping webapp keeps accepting requests while Serf's leave takes it out of
/// HAProxy (about 1.5 s), before it drains (the lab app's `LEAVE_MS` default).
pub const LEAVE_MS: u32 = 2500;

/// Slack between the app's own deadline and the engine's SIGKILL: s6 and Serf stop too.
const STOP_SLACK_S: u32 = 5;

/// The stop grace period of ha (the engine's default): it has no drain of its own.
pub const HA_STOP_TIMEOUT_S: u32 = 10;

/// Capabilities every webapp container runs without. NET_RAW would let root in an app
/// (an nginx master, say) open packet sockets: forge or read raw traffic on the cluster
/// network; nothing the toolkit runs needs it.
pub const WEBAPP_CAP_DROP: [&str; 1] = ["NET_RAW"];

/// Capabilities `[webapps] cap_add` may not name: each would undo the drop above, let
/// the app out of its container or act on the host (raw traffic, packet capture by
/// iptables, namespaces and mounts, tracing, kernel modules, raw I/O and kexec, BPF,
/// reading files by handle, the host's clock, audit, accounting, kernel log and LSMs).
pub(crate) const UNSAFE_CAPS: [&str; 17] = [
    "ALL",
    "NET_RAW",
    "NET_ADMIN",
    "SYS_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "BPF",
    "PERFMON",
    "DAC_READ_SEARCH",
    "SYS_TIME",
    "AUDIT_CONTROL",
    "SYS_PACCT",
    "SYSLOG",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// Every Linux capability, as Docker names them (without `CAP_`).
pub(crate) const KNOWN_CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

impl Webapps {
    /// Seconds a webapp gets between SIGTERM and SIGKILL: it keeps serving for
    /// [`LEAVE_MS`], lets in-flight requests finish for `drain_ms`, and then some.
    pub fn stop_timeout_s(&self) -> u32 {
        (LEAVE_MS + self.drain_ms).div_ceil(1000) + STOP_SLACK_S
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stop_timeout_covers_leave_and_drain() {
        let with = |drain_ms: &str| {
            let text = format!("[webapps]\ndrain_ms = {drain_ms}\n");
            crate::parse(&text, "c.toml")
                .unwrap()
                .webapps
                .stop_timeout_s()
        };
        assert_eq!(with("0"), 8);
        assert_eq!(with("2500"), 10, "the default stays docker's 10 s");
        assert_eq!(with("2501"), 11);
        assert_eq!(with("15000"), 23);
        assert_eq!(with("30000"), 38);
    }
}
