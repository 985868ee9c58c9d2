//! The safety net's repairs: HAProxy's live servers (`show servers state` of each backend
//! of the live config) against that config; differences are put right through the
//! runtime API, each server in its own backend (a validated reload of the live config
//! when that fails), and recorded.
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use anyhow::Context as _;
use cluster::record::Record;
use cluster::Cluster;

use crate::drain::{drain_time_of, Drains};
use crate::drift::{self, Repair};
use crate::reconcile::{forget_server_state, Agent};
use crate::reload::{self, Outcome};
use crate::state::State;
use crate::{runtime, servers};

/// HAProxy's live servers against the live config; differences are repaired through the
/// runtime API (a validated reload of the live config when that fails) and recorded.
pub(crate) fn repair_drift(
    agent: &Agent,
    cluster: &Cluster,
    drains: &mut Drains,
) -> anyhow::Result<()> {
    let paths = &agent.paths;
    let state = State::load(&paths.state_file);
    if state.pending || UnixStream::connect(&paths.admin_socket).is_err() {
        return Ok(());
    }
    let Ok(live_cfg) = std::fs::read_to_string(&paths.haproxy_cfg) else {
        return Ok(());
    };
    let layout = servers::layout(&live_cfg);
    let mut live = Vec::new();
    for backend in layout.sections() {
        let shown = runtime::cli(
            &paths.admin_socket,
            &format!("show servers state {backend}"),
        )?;
        live.extend(drift::parse_state(&shown));
    }
    let repairs = drift::plan(&live, &layout, drains);
    if repairs.is_empty() {
        return Ok(());
    }
    // Where HAProxy has each server, and where the config wants it.
    let in_haproxy: BTreeMap<&str, &str> = live
        .iter()
        .map(|s| (s.name.as_str(), s.backend.as_str()))
        .collect();
    let live_backend = |name: &str| in_haproxy.get(name).copied().unwrap_or(servers::BACKEND);
    let wanted = |name: &str| layout.backend_of(name);
    let socket = &paths.admin_socket;
    let drain_until = |name: &str| Instant::now() + drain_time_of(paths, cluster, name);
    let mut failed = None;
    for repair in &repairs {
        let result = if repair.changes_servers() && !cluster.runtime_updates() {
            Err(anyhow::anyhow!("membership goes through reloads here"))
        } else {
            match repair {
                Repair::Ready { name, .. } => runtime::set_ready(socket, wanted(name), name),
                // Out of rotation now, deleted by the drain once nothing uses it.
                Repair::Remove { name, addr } => {
                    let backend = live_backend(name);
                    runtime::set_maint(socket, backend, name).map(|_| {
                        drains.start(backend, name, addr, drain_until(name));
                    })
                }
                Repair::Adopt { name, addr } => {
                    drains.start(live_backend(name), name, addr, drain_until(name));
                    Ok(())
                }
                Repair::Add { name, args } => runtime::add(socket, wanted(name), name, args),
                Repair::Replace { name, args, .. } => {
                    runtime::remove_now(socket, live_backend(name), name)
                        .and_then(|()| runtime::add(socket, wanted(name), name, args))
                }
            }
        };
        match result {
            Ok(()) => agent.log.record(Record::Repaired {
                what: repair.describe(state.generation),
            }),
            Err(err) => {
                failed = Some((repair, err));
                break;
            }
        }
    }
    if let Some((repair, err)) = failed {
        // The live file passed `haproxy -c` when it was made live: reload it as it is.
        let outcome = reload::reload(&agent.sh, paths, cluster.ha.reload)
            .with_context(|| format!("reloading config #{} to repair drift", state.generation))?;
        if outcome == Outcome::Reloaded {
            forget_server_state(agent);
            agent.log.record(Record::Repaired {
                what: format!(
                    "{} (runtime API: {err:#}): reloaded config #{} instead",
                    repair.describe(state.generation),
                    state.generation
                ),
            });
        }
    }
    Ok(())
}
