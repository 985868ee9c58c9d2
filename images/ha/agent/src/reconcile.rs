//! One level-triggered run: whatever events were missed or repeated, afterwards `/nodes`
//! and the live HAProxy config match the backends Serf lists alive and the orchestrator
//! corroborates (decided by the caller, see `trust`); on the safety net's pass, HAProxy's
//! live servers are checked against that config too (see `drift`).
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cluster::record::{self, Haproxy, Record};
use cluster::{Backend, Cluster};
use xshell::{cmd, Shell};

use crate::change::Change;
use crate::config::NotMadeLive;
use crate::drain::Drains;
use crate::drift::{self, Repair};
use crate::log::Log;
use crate::paths::Paths;
use crate::reload::{self, Outcome};
use crate::runtime::{self, Applied};
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

/// Makes `backends` (decided by the caller) the live servers. Leaving servers drain
/// through `drains`; on the periodic run, live drift is repaired too.
pub(crate) fn reconcile(
    agent: &Agent,
    run: Run,
    backends: &[Backend],
    drains: &mut Drains,
) -> anyhow::Result<()> {
    let paths = &agent.paths;
    let _lock = lock::exclusive(&paths.lock_file)?;
    let cluster = load_cluster()?;
    apply(agent, &cluster, run, backends, drains)?;
    if run == Run::Periodic {
        repair_drift(agent, &cluster, drains)?;
    }
    Ok(())
}

fn apply(
    agent: &Agent,
    cluster: &Cluster,
    run: Run,
    backends: &[Backend],
    drains: &mut Drains,
) -> anyhow::Result<()> {
    let paths = &agent.paths;
    let template = std::fs::read_to_string(&paths.template)
        .with_context(|| format!("reading the template {}", paths.template.display()))?;
    let text = cluster::render_haproxy_live(&template, cluster, backends)
        .with_context(|| format!("rendering {}", paths.template.display()))?;
    let mut state = State::load(&paths.state_file);
    let live = std::fs::read_to_string(&paths.haproxy_cfg).ok();
    let changed = live.as_deref() != Some(text.as_str());
    // Only the servers changed and HAProxy runs the live file: the runtime API will do.
    let ops = match &live {
        Some(live)
            if changed && run != Run::Init && !state.pending && cluster.runtime_updates() =>
        {
            servers::plan(&servers::layout(live), &servers::layout(&text))
        }
        _ => None,
    };
    let change = if changed {
        let generation = state.generation + 1;
        let servers = state::servers_of(backends);
        let change = Change::between(&state.servers, &servers);
        let next = State {
            generation,
            pending: true,
            servers,
        };
        // The state says "reload pending" before the swap, so a run killed right after
        // the swap still leads the next run to reload.
        config::install(paths, &text, generation, |candidate| {
            haproxy_check(&agent.sh, candidate)?;
            next.save(&paths.state_file)
        })
        .map_err(|err| NotMadeLive::error(generation, err))?;
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
        return Ok(());
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
        return Ok(());
    }
    let mut fresh = Vec::new();
    if let Some(ops) = &ops {
        let drain_until = Instant::now() + drain_time(paths, cluster);
        match runtime::apply(&paths.admin_socket, ops, drains, drain_until) {
            Ok(Applied::Done) => {
                state.pending = false;
                state.save(&paths.state_file)?;
                agent.log.record(Record::Update { generation, change });
                return Ok(());
            }
            Ok(Applied::NotRunning) => {}
            Err(err) => {
                agent.log.error(&format!(
                    "runtime update of config #{generation} failed, reloading instead: {err:#}"
                ));
                fresh = ops.names();
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
        }
        Outcome::NotRunning => agent.log.record(Record::Config {
            generation,
            change,
            haproxy: Haproxy::NotRunning,
        }),
    }
    Ok(())
}

/// How long a leaving server may drain: `[webapps] drain_ms`, as `up` last set it in place
/// (so a new value does not recreate the load balancer), else as the model says.
fn drain_time(paths: &Paths, cluster: &Cluster) -> Duration {
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

/// Before a reload: the servers' runtime state for the new worker. When it cannot be
/// saved, the file is emptied rather than left from an older config: a state file is
/// never loaded by a config it was not saved for.
fn save_server_state(agent: &Agent, fresh: &[String]) {
    let paths = &agent.paths;
    if let Err(err) = runtime::save_state(&paths.admin_socket, &paths.server_state, fresh) {
        // Only runtime state (drain, weights) is lost: the reload still applies the config.
        agent.log.error(&format!("{err:#}"));
        forget_server_state(agent);
    }
}

/// An empty state (its version line only: HAProxy warns about a missing file).
fn forget_server_state(agent: &Agent) {
    let file = &agent.paths.server_state;
    if let Err(err) = crate::files::write_atomically(file, b"1\n") {
        agent
            .log
            .error(&format!("resetting {}: {err:#}", file.display()));
    }
}

/// HAProxy's live servers against the live config; differences are repaired through the
/// runtime API (a validated reload of the live config when that fails) and recorded.
fn repair_drift(agent: &Agent, cluster: &Cluster, drains: &mut Drains) -> anyhow::Result<()> {
    let paths = &agent.paths;
    let state = State::load(&paths.state_file);
    if state.pending || UnixStream::connect(&paths.admin_socket).is_err() {
        return Ok(());
    }
    let Ok(live_cfg) = std::fs::read_to_string(&paths.haproxy_cfg) else {
        return Ok(());
    };
    let shown = runtime::cli(
        &paths.admin_socket,
        &format!("show servers state {}", servers::BACKEND),
    )?;
    let repairs = drift::plan(
        &drift::parse_state(&shown),
        &servers::layout(&live_cfg),
        drains,
    );
    if repairs.is_empty() {
        return Ok(());
    }
    let socket = &paths.admin_socket;
    let drain_until = Instant::now() + drain_time(paths, cluster);
    let mut failed = None;
    for repair in &repairs {
        let result = if repair.changes_servers() && !cluster.runtime_updates() {
            Err(anyhow::anyhow!("membership goes through reloads here"))
        } else {
            match repair {
                Repair::Ready { name, .. } => runtime::set_ready(socket, name),
                // Out of rotation now, deleted by the drain once nothing uses it.
                Repair::Remove { name, addr } => runtime::set_maint(socket, name).map(|_| {
                    drains.start(name, addr, drain_until);
                }),
                Repair::Adopt { name, addr } => {
                    drains.start(name, addr, drain_until);
                    Ok(())
                }
                Repair::Add { name, args } => runtime::add(socket, name, args),
                Repair::Replace { name, args, .. } => runtime::remove_now(socket, name)
                    .and_then(|()| runtime::add(socket, name, args)),
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

/// The model the host validated, handed over in `CLUSTER_TOML`. Serf and s6 pass the
/// container's environment on; PID 1's is the fallback if a runner cleared it.
pub(crate) fn load_cluster() -> anyhow::Result<Cluster> {
    let text = match std::env::var("CLUSTER_TOML") {
        Ok(text) => text,
        Err(_) => pid1_env("CLUSTER_TOML")
            .context("CLUSTER_TOML is not set (the host sets it on the ha container)")?,
    };
    cluster::parse(&text, "CLUSTER_TOML").map_err(|e| anyhow::anyhow!("{e}"))
}

fn pid1_env(name: &str) -> Option<String> {
    let environ = std::fs::read("/proc/1/environ").ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = std::str::from_utf8(entry).ok()?;
        entry
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_string)
    })
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
