//! One level-triggered run: whatever events were missed or repeated, afterwards `/nodes`
//! and the live HAProxy config match the backends Serf lists alive and the orchestrator
//! corroborates (decided by the caller, see `trust`); on the safety net's pass, HAProxy's
//! live servers are checked against that config too (see `drift`).
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use cluster::record::{self, Haproxy, Record};
use cluster::{Backend, Cluster};
use xshell::{cmd, Shell};

use crate::change::Change;
use crate::config::NotMadeLive;
use crate::drain::{drain_time_of, Drains};
use crate::lock::Lock;
use crate::log::Log;
use crate::paths::Paths;
use crate::reload::{self, Outcome};
use crate::routes::{self, Counts, Report, Routes, Via};
use crate::runtime::{self, Applied};
use crate::services::load_cluster;
use crate::state::{self, State};
use crate::{config, lock, nodes, servers};

pub(crate) struct Agent {
    pub(crate) sh: Shell,
    pub(crate) paths: Paths,
    pub(crate) log: Log,
}

/// Why a run happens; it decides what is logged and whether HAProxy is reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// Before HAProxy starts: write the config, do not reload.
    Init,
    /// A membership change seen by the watcher, or `ha-agent reconcile`.
    Triggered,
    /// The periodic safety net: silent unless it changes something.
    Periodic,
}

/// What a run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconciled {
    Done(Report),
    /// The services changed since the caller selected its backends (`ha-agent services`
    /// ran in between): nothing was done; select again on the new model.
    Stale,
}

/// Makes `backends` (decided by the caller on the model `selected_with`) the live
/// servers, each in its service's backend, and the routes map the model's. Leaving
/// servers drain through `drains`; on the periodic run, live drift is repaired too.
/// Takes the agent's lock for the run.
pub(crate) fn reconcile(
    agent: &Agent,
    run: Run,
    selected_with: &Cluster,
    backends: &[Backend],
    drains: &mut Drains,
) -> anyhow::Result<Reconciled> {
    let held = lock::exclusive(&agent.paths.lock_file)?;
    reconcile_held(agent, &held, run, selected_with, backends, drains)
}

/// [`reconcile`] under the lock the caller holds: `ha-agent services` keeps it from
/// storing the services to applying them, so no other run applies them in between and
/// what it reports is what it did.
pub(crate) fn reconcile_held(
    agent: &Agent,
    _held: &Lock,
    run: Run,
    selected_with: &Cluster,
    backends: &[Backend],
    drains: &mut Drains,
) -> anyhow::Result<Reconciled> {
    let paths = &agent.paths;
    let cluster = load_cluster(paths)?;
    if cluster != *selected_with {
        return Ok(Reconciled::Stale);
    }
    // A server of no service has no backend of its own: never rendered.
    let backends: Vec<Backend> = backends
        .iter()
        .filter(|b| cluster.service_of(&b.name).is_some())
        .cloned()
        .collect();
    let report = apply(agent, &cluster, run, &backends, drains)?;
    if run == Run::Periodic {
        crate::repair::repair_drift(agent, &cluster, drains)?;
    }
    Ok(Reconciled::Done(report))
}

fn apply(
    agent: &Agent,
    cluster: &Cluster,
    run: Run,
    backends: &[Backend],
    drains: &mut Drains,
) -> anyhow::Result<Report> {
    let paths = &agent.paths;
    let template = std::fs::read_to_string(&paths.template)
        .with_context(|| format!("reading the template {}", paths.template.display()))?;
    let text = cluster::render_haproxy_live(&template, cluster, backends)
        .with_context(|| format!("rendering {}", paths.template.display()))?;
    // The routes map first: a config that reads it is checked and loaded with it there.
    // Should that config not go live, the map the live config was loaded with goes back.
    let routes = Routes::render(paths, cluster)?;
    let previous_map = std::fs::read(&paths.routes_map).ok();
    let written = routes.write(&paths.routes_map)?;
    let mut state = State::load(&paths.state_file);
    let live = std::fs::read_to_string(&paths.haproxy_cfg).ok();
    let changed = live.as_deref() != Some(text.as_str());
    let layouts = changed.then(|| (live.as_deref().map(servers::layout), servers::layout(&text)));
    // Only the servers changed and HAProxy runs the live file: the runtime API will do.
    let ops = match &layouts {
        Some((Some(live), new))
            if run != Run::Init && !state.pending && cluster.runtime_updates() =>
        {
            servers::plan(live, new)
        }
        _ => None,
    };
    let change = if let Some((live_layout, new_layout)) = &layouts {
        let generation = state.generation + 1;
        let servers = state::servers_of(backends);
        let change = Change::between(&state.servers, &servers).with_backends(
            live_layout.as_ref().map(servers::Layout::sections),
            new_layout.sections(),
        );
        let next = State {
            generation,
            pending: true,
            servers,
        };
        // The state says "reload pending" before the swap, so a run killed right after
        // the swap still leads the next run to reload.
        let installed = config::install(paths, &text, generation, |candidate| {
            haproxy_check(&agent.sh, candidate)?;
            next.save(&paths.state_file)
        });
        if let Err(err) = installed {
            if let Some(previous) = &previous_map {
                let _ = crate::files::write_atomically(&paths.routes_map, previous);
            }
            return Err(NotMadeLive::error(generation, err));
        }
        state = next;
        Some(change)
    } else if state.pending && run != Run::Init {
        // A reload that HAProxy never confirmed: try again.
        None
    } else {
        nodes::sync(&paths.nodes_dir, backends)?;
        if state.pending {
            state.pending = false;
            state.save(&paths.state_file)?;
        }
        let live = Live {
            agent,
            cluster,
            run,
            config: &text,
            generation: state.generation,
        };
        return live.routes(&routes, written, Via::Unchanged);
    };
    // /nodes follows the config that is live, never one haproxy -c refused.
    nodes::sync(&paths.nodes_dir, backends)?;
    let generation = state.generation;
    let change = match change {
        Some(change) => record::Change::Servers(change.to_string()),
        None => record::Change::Retried,
    };

    if run == Run::Init {
        // HAProxy is started right after this, on the live file; a server state left
        // from an earlier life of the container must not override it. An empty state
        // (its version line only) rather than none: HAProxy warns about a missing file.
        crate::files::write_atomically(&paths.server_state, b"1\n")
            .with_context(|| format!("resetting {}", paths.server_state.display()))?;
        state.pending = false;
        state.save(&paths.state_file)?;
        agent.log.record(Record::Config {
            generation,
            change,
            haproxy: Haproxy::Starting,
        });
        return Ok(routes_in_file(agent, written, Via::Starting));
    }
    let mut fresh = Vec::new();
    if let Some(ops) = &ops {
        let drain_until = |name: &str| Instant::now() + drain_time_of(paths, cluster, name);
        match runtime::apply(&paths.admin_socket, ops, drains, &drain_until) {
            Ok(Applied::Done) => {
                state.pending = false;
                state.save(&paths.state_file)?;
                agent.log.record(Record::Update { generation, change });
                let live = Live {
                    agent,
                    cluster,
                    run,
                    config: &text,
                    generation,
                };
                return live.routes(&routes, written, Via::RuntimeApi);
            }
            Ok(Applied::NotRunning) => {}
            Err(err) => {
                agent.log.error(&format!(
                    "runtime update of config #{generation} failed, reloading instead: {err:#}"
                ));
                fresh = ops.servers();
            }
        }
    }
    // Back through a reload: their drain is over, whoever started it.
    drains.forget_wanted(backends.iter().map(|b| b.name.as_str()));
    save_server_state(agent, &fresh);
    let outcome = reload::reload(&agent.sh, paths, cluster.ha.reload)
        .with_context(|| format!("reloading HAProxy for config #{}", state.generation))?;
    match outcome {
        Outcome::Reloaded => {
            forget_server_state(agent);
            state.pending = false;
            state.save(&paths.state_file)?;
            agent.log.record(Record::Reload { generation, change });
            Ok(routes_in_file(agent, written, Via::Reload))
        }
        Outcome::NotRunning => {
            agent.log.record(Record::Config {
                generation,
                change,
                haproxy: Haproxy::NotRunning,
            });
            Ok(routes_in_file(agent, written, Via::NotRunning))
        }
    }
}

/// The routes as HAProxy reads them from the file (it starts or reloads): said when the
/// file changed.
fn routes_in_file(agent: &Agent, written: Counts, via: Via) -> Report {
    if !written.is_empty() {
        agent
            .log
            .say(&format!("routes: {written} ({})", via.describe()));
    }
    Report {
        routes: written,
        via,
    }
}

/// The config HAProxy runs, kept as it is.
struct Live<'a> {
    agent: &'a Agent,
    cluster: &'a Cluster,
    run: Run,
    config: &'a str,
    generation: u64,
}

impl Live<'_> {
    /// HAProxy's routes map taken to `routes` through the runtime API: a route change
    /// alone never reloads. Should the runtime API fail, the live config (which passed
    /// `haproxy -c` when it was made live) is reloaded as it is: HAProxy reads the file.
    fn routes(&self, routes: &Routes, written: Counts, via: Via) -> anyhow::Result<Report> {
        let agent = self.agent;
        if self.run == Run::Init {
            return Ok(routes_in_file(agent, written, Via::Starting));
        }
        // A config without routing lines never loads the map: the file is all there is.
        if !self.config.contains(cluster::ROUTES_MAP) {
            return Ok(Report {
                routes: written,
                via,
            });
        }
        let socket = &agent.paths.admin_socket;
        let err = match routes::apply_runtime(socket, cluster::ROUTES_MAP, &routes.entries) {
            Ok(None) => return Ok(routes_in_file(agent, written, Via::NotRunning)),
            Ok(Some(ops)) if ops.is_empty() => {
                return Ok(Report {
                    routes: Counts::default(),
                    via,
                })
            }
            Ok(Some(ops)) => {
                agent.log.say(&format!(
                    "routes: {} (runtime API, no reload)",
                    ops.describe()
                ));
                return Ok(Report {
                    routes: ops.counts(),
                    via: Via::RuntimeApi,
                });
            }
            Err(err) => err,
        };
        let generation = self.generation;
        save_server_state(agent, &[]);
        let outcome = reload::reload(&agent.sh, &agent.paths, self.cluster.ha.reload)
            .with_context(|| format!("reloading config #{generation} for its routes"))?;
        forget_server_state(agent);
        if outcome == Outcome::Reloaded {
            agent.log.record(Record::Repaired {
                what: format!(
                    "routes of config #{generation} (runtime API: {err:#}): reloaded config #{generation} instead"
                ),
            });
        }
        Ok(Report {
            routes: written,
            via: Via::Reload,
        })
    }
}

/// Before a reload: the servers' runtime state for the new worker. When it cannot be
/// saved, the file is emptied rather than left from an older config: a state file is
/// never loaded by a config it was not saved for.
pub(crate) fn save_server_state(agent: &Agent, fresh: &[(String, String)]) {
    let paths = &agent.paths;
    if let Err(err) = runtime::save_state(&paths.admin_socket, &paths.server_state, fresh) {
        // Only runtime state (drain, weights) is lost: the reload still applies the config.
        agent.log.error(&format!("{err:#}"));
        forget_server_state(agent);
    }
}

/// An empty state (its version line only: HAProxy warns about a missing file).
pub(crate) fn forget_server_state(agent: &Agent) {
    let file = &agent.paths.server_state;
    if let Err(err) = crate::files::write_atomically(file, b"1\n") {
        agent
            .log
            .error(&format!("resetting {}: {err:#}", file.display()));
    }
}

fn haproxy_check(sh: &Shell, candidate: &Path) -> anyhow::Result<()> {
    let output = cmd!(sh, "haproxy -c -f {candidate}")
        .quiet()
        .ignore_status()
        .output()
        .context("running `haproxy -c`")?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    bail!("`haproxy -c` rejected the config:\n{}", complaints(&text))
}

/// HAProxy's alerts without the process ids, so the same problem reads the same each
/// time (the periodic run logs an error only when it changes).
pub(crate) fn complaints(output: &str) -> String {
    let lines: Vec<String> = output
        .lines()
        .filter(|line| line.starts_with("[ALERT]") || line.starts_with("[WARNING]"))
        .map(|line| {
            let (level, rest) = line.split_once(']').unwrap_or(("", line));
            let rest = rest.trim_start();
            let rest = match rest.split_once(" : ") {
                Some((pid, text)) if pid.starts_with('(') && pid.ends_with(')') => text,
                _ => rest,
            };
            format!("{level}] {rest}")
        })
        .collect();
    if lines.is_empty() {
        output.trim().to_string()
    } else {
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_complaints_drop_process_ids() {
        let output = "[NOTICE]   (120) : haproxy version is 2.6.12-1+deb12u4\n\
                      [ALERT]    (120) : config : parsing [/etc/haproxy/.haproxy.cfg.new:14] : unknown keyword 'bogus' in 'backend' section\n\
                      [ALERT]    (120) : config : Fatal errors found in configuration.\n";
        assert_eq!(
            complaints(output),
            "[ALERT] config : parsing [/etc/haproxy/.haproxy.cfg.new:14] : unknown keyword 'bogus' in 'backend' section\n\
             [ALERT] config : Fatal errors found in configuration."
        );
        assert_eq!(complaints("something else\n"), "something else");
    }
}
