//! The safety net's second half: HAProxy's live servers (`show servers state`) against the
//! live config. A server left in maintenance by a half-applied runtime change, one added
//! behind the agent's back, or one missing, is put back as the config says.
use std::collections::BTreeMap;

use crate::drain::Drains;
use crate::servers::{address_of, Layout};

/// Admin-state flags of `show servers state` (HAProxy's SRV_ADMF_*): forced maintenance
/// and forced drain, the two an operator or a half-done change leaves behind.
const FORCED_MAINT: u32 = 0x01;
const FORCED_DRAIN: u32 = 0x08;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveServer {
    /// The backend HAProxy has it in.
    pub(crate) backend: String,
    pub(crate) name: String,
    /// `ip:port`.
    pub(crate) addr: String,
    pub(crate) admin: u32,
}

/// The servers in `show servers state <backend>` output (format version 1: be_id
/// be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port at 18).
pub(crate) fn parse_state(text: &str) -> Vec<LiveServer> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 19 {
                return None;
            }
            Some(LiveServer {
                backend: fields[1].to_string(),
                name: fields[3].to_string(),
                addr: format!("{}:{}", fields[4], fields[18]),
                admin: fields[6].parse().ok()?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repair {
    /// In the config, in maintenance or drain in HAProxy: `set server state ready`.
    Ready { name: String, was: &'static str },
    /// In HAProxy only: take it out now.
    Remove { name: String, addr: String },
    /// In HAProxy only and draining: a drain this watcher did not start; finish it.
    Adopt { name: String, addr: String },
    /// In the config only: add it (`args` for `add server`).
    Add { name: String, args: String },
    /// At another address in HAProxy: remove, then add.
    Replace {
        name: String,
        live: String,
        args: String,
    },
}

impl Repair {
    /// Whether the runtime API can apply it when membership goes through reloads.
    pub(crate) fn changes_servers(&self) -> bool {
        !matches!(self, Repair::Ready { .. } | Repair::Adopt { .. })
    }

    /// The words of its `repaired:` record.
    pub(crate) fn describe(&self, generation: u64) -> String {
        match self {
            Repair::Ready { name, was } => format!("{name} was in {was}: set ready"),
            Repair::Remove { name, addr } => {
                format!("{name} at {addr} was in HAProxy but not in config #{generation}: removed")
            }
            Repair::Adopt { name, addr } => {
                format!("{name} at {addr} was draining unwatched: drained to its end")
            }
            Repair::Add { name, .. } => {
                format!("{name} of config #{generation} was missing from HAProxy: added")
            }
            Repair::Replace { name, live, args } => format!(
                "{name} was at {live} in HAProxy, at {} in config #{generation}: replaced",
                address_of(args)
            ),
        }
    }
}

/// What takes the live servers to the config's, leaving the servers that drain alone. A
/// server in another backend than the config's is replaced, like one at another address.
pub(crate) fn plan(live: &[LiveServer], config: &Layout, drains: &Drains) -> Vec<Repair> {
    let wanted: &BTreeMap<String, String> = config.servers();
    let mut repairs = Vec::new();
    for server in live {
        match wanted.get(&server.name) {
            None if drains.contains(&server.name) => {}
            None if server.admin & FORCED_DRAIN != 0 => repairs.push(Repair::Adopt {
                name: server.name.clone(),
                addr: server.addr.clone(),
            }),
            None => repairs.push(Repair::Remove {
                name: server.name.clone(),
                addr: server.addr.clone(),
            }),
            Some(args)
                if address_of(args) != server.addr
                    || config.backend_of(&server.name) != server.backend =>
            {
                repairs.push(Repair::Replace {
                    name: server.name.clone(),
                    live: server.addr.clone(),
                    args: config.add_args(&server.name, args),
                })
            }
            Some(_) if server.admin & FORCED_MAINT != 0 => repairs.push(Repair::Ready {
                name: server.name.clone(),
                was: "maintenance",
            }),
            Some(_) if server.admin & FORCED_DRAIN != 0 => repairs.push(Repair::Ready {
                name: server.name.clone(),
                was: "drain",
            }),
            Some(_) => {}
        }
    }
    for (name, args) in wanted {
        if !live.iter().any(|s| &s.name == name) {
            repairs.push(Repair::Add {
                name: name.clone(),
                args: config.add_args(name, args),
            });
        }
    }
    repairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::layout;
    use std::time::{Duration, Instant};

    /// Captured from HAProxy 2.6.12 (`show servers state nodes`) after `set server
    /// nodes/s2 state maint`, `add server nodes/s9 ...` + `enable server`, and s5 added,
    /// enabled and set to drain.
    const STATE: &str = "1\n\
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
3 nodes 1 s1 127.0.0.2 2 0 1 1 1 1 0 2 0 0 0 0 - 3000 - 0 0 - - 0\n\
3 nodes 2 s2 127.0.0.3 0 1 1 1 1 1 0 0 0 0 0 0 - 3000 - 0 0 - - 0\n\
3 nodes 3 s9 127.0.0.9 2 0 1 1 1 1 0 0 0 0 0 0 - 3000 - 0 0 - - 0\n\
3 nodes 4 s5 127.0.0.6 2 8 1 1 0 1 0 0 0 0 0 0 - 3000 - 0 0 - - 0\n\n";

    const CFG: &str = "backend nodes\n    default-server inter 1000\n    server s1 127.0.0.2:3000 check\n    server s2 127.0.0.3:3000 check\n    server s3 127.0.0.4:3000 check\n";

    #[test]
    fn reads_the_nodes_backend_only() {
        let live = parse_state(STATE);
        assert_eq!(live.len(), 4);
        assert_eq!(
            live[1],
            LiveServer {
                backend: "nodes".into(),
                name: "s2".into(),
                addr: "127.0.0.3:3000".into(),
                admin: 1
            }
        );
    }

    #[test]
    fn plans_each_kind_of_repair() {
        let repairs = plan(&parse_state(STATE), &layout(CFG), &Drains::default());
        assert_eq!(
            repairs,
            [
                Repair::Ready {
                    name: "s2".into(),
                    was: "maintenance"
                },
                Repair::Remove {
                    name: "s9".into(),
                    addr: "127.0.0.9:3000".into()
                },
                Repair::Adopt {
                    name: "s5".into(),
                    addr: "127.0.0.6:3000".into()
                },
                Repair::Add {
                    name: "s3".into(),
                    args: "127.0.0.4:3000 inter 1000 check".into()
                },
            ]
        );
        assert_eq!(
            repairs[1].describe(7),
            "s9 at 127.0.0.9:3000 was in HAProxy but not in config #7: removed"
        );
    }

    #[test]
    fn a_moved_server_is_replaced_and_a_known_drain_left_alone() {
        let moved = CFG.replace("127.0.0.2:3000", "127.0.0.12:3000");
        let mut drains = Drains::default();
        drains.start(
            "nodes",
            "s5",
            "127.0.0.6:3000 check",
            Instant::now() + Duration::from_secs(9),
        );
        let live: Vec<LiveServer> = parse_state(STATE)
            .into_iter()
            .filter(|s| s.name != "s9")
            .collect();
        let repairs = plan(&live, &layout(&moved), &drains);
        assert_eq!(
            repairs[0],
            Repair::Replace {
                name: "s1".into(),
                live: "127.0.0.2:3000".into(),
                args: "127.0.0.12:3000 inter 1000 check".into()
            }
        );
        assert!(!repairs.iter().any(|r| matches!(r, Repair::Adopt { .. })));
    }

    #[test]
    fn nothing_to_repair_when_live_matches() {
        let state = "1\n3 nodes 1 s1 127.0.0.2 2 0 1 1 1 1 0 2 0 0 0 0 - 3000 - 0 0 - - 0\n";
        let cfg = "backend nodes\n    server s1 127.0.0.2:3000 check\n";
        assert!(plan(&parse_state(state), &layout(cfg), &Drains::default()).is_empty());
    }

    #[test]
    fn each_backend_is_repaired_with_its_own_defaults() {
        let state = "1\n\
3 nodes 1 s1 127.0.0.2 2 0 1 1 1 1 0 2 0 0 0 0 - 3000 - 0 0 - - 0\n\
4 api 1 api1 127.0.0.7 2 1 1 1 1 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n\
4 api 2 s9 127.0.0.9 2 0 1 1 1 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n";
        let cfg = "backend nodes\n    default-server inter 1000\n    server s1 127.0.0.2:3000 check\n    server s9 127.0.0.9:8080 check\n\n\
backend api\n    default-server inter 500\n    server api1 127.0.0.7:8080 check\n    server api2 127.0.0.8:8080 check\n";
        let live = parse_state(state);
        assert_eq!(live[1].backend, "api");
        let repairs = plan(&live, &layout(cfg), &Drains::default());
        assert_eq!(
            repairs,
            [
                Repair::Ready {
                    name: "api1".into(),
                    was: "maintenance"
                },
                // In HAProxy's api backend, in the config's nodes backend.
                Repair::Replace {
                    name: "s9".into(),
                    live: "127.0.0.9:8080".into(),
                    args: "127.0.0.9:8080 inter 1000 check".into()
                },
                Repair::Add {
                    name: "api2".into(),
                    args: "127.0.0.8:8080 inter 500 check".into()
                },
            ]
        );
    }
}
