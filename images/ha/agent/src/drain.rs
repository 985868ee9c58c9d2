//! Servers on their way out. A leaving server gets no new requests (`drain`) while its
//! sessions finish; it is deleted once they have ended or `[webapps] drain_ms` has passed
//! (then what remains is shut). The watcher checks every poll, between its other work,
//! and takes the agent's lock only for the deletion itself: a join during a 30 s drain is
//! applied as fast as any other.
use std::collections::BTreeMap;
use std::time::Instant;

use crate::log::Log;
use crate::paths::Paths;
use crate::{runtime, servers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draining {
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
    pub(crate) fn start(&mut self, name: &str, args: &str, until: Instant) {
        let draining = Draining {
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
            runtime::remove_drained(socket, &name)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_drain_ends_when_its_sessions_do_or_its_time_is_up() {
        let now = Instant::now();
        let mut drains = Drains::default();
        drains.start("s1", "10.0.0.2:3000 check", now + Duration::from_secs(15));
        drains.start("s2", "10.0.0.3:3000 check", now + Duration::from_secs(15));
        drains.start("s3", "10.0.0.4:3000 check", now + Duration::from_secs(1));
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
}
