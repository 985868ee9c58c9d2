//! What every container of the cluster gets, whoever starts it (`up` through the Engine
//! API, the compose file, a Swarm service): bounded logs, and a stop grace period that
//! follows `[webapps] drain_ms`.
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
