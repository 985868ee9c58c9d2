//! One level-triggered run: whatever events were missed or repeated, afterwards `/nodes`
//! and the live HAProxy config match the alive, valid backends Serf knows now.
use std::path::Path;

use anyhow::{bail, Context as _};
use cluster::record::{self, Haproxy, Record};
use cluster::Cluster;
use xshell::{cmd, Shell};

use crate::change::Change;
use crate::config::NotMadeLive;
use crate::log::Log;
use crate::paths::Paths;
use crate::reload::{self, Outcome};
use crate::runtime::{self, Applied};
use crate::state::{self, State};
use crate::{config, lock, members, nodes, servers};

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
    /// Serf event handler or `ha-agent reconcile`.
    Triggered,
    /// The periodic safety net: silent unless it changes something.
    Periodic,
}

pub(crate) fn reconcile(agent: &Agent, run: Run) -> anyhow::Result<()> {
    let paths = &agent.paths;
    let _lock = lock::exclusive(&paths.lock_file)?;
    let cluster = load_cluster()?;
    let template = std::fs::read_to_string(&paths.template)
        .with_context(|| format!("reading the template {}", paths.template.display()))?;

    let members = match serf_members(&agent.sh) {
        Ok(members) => members,
        Err(err) if run == Run::Init => {
            agent.log.say(&format!(
                "Serf does not answer yet ({err:#}); HAProxy starts with no servers until Serf has joined"
            ));
            Vec::new()
        }
        Err(err) => return Err(err),
    };
    let selection = members::select_backends(&members, &cluster);
    if run != Run::Periodic {
        for skipped in &selection.skipped {
            agent.log.record(skipped.record());
        }
    }

    let text = cluster::render_haproxy_live(&template, &cluster, &selection.backends)
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
        let servers = state::servers_of(&selection.backends);
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
        nodes::sync(&paths.nodes_dir, &selection.backends)?;
        if state.pending {
            state.pending = false;
            state.save(&paths.state_file)?;
        }
        return Ok(());
    };
    // /nodes follows the config that is live, never one haproxy -c refused.
    nodes::sync(&paths.nodes_dir, &selection.backends)?;
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
        match runtime::apply(&paths.admin_socket, ops) {
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
    if let Err(err) = runtime::save_state(&paths.admin_socket, &paths.server_state, &fresh) {
        // Only runtime state (drain, weights) is lost: the reload still applies the config.
        agent.log.error(&format!("{err:#}"));
    }
    let outcome = reload::reload(&agent.sh, paths, cluster.ha.reload)
        .with_context(|| format!("reloading HAProxy for config #{}", state.generation))?;
    match outcome {
        Outcome::Reloaded => {
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

fn serf_members(sh: &Shell) -> anyhow::Result<Vec<members::Member>> {
    // serf-rpc adds the RPC token from the root-only secrets file.
    let output = cmd!(sh, "serf-rpc members -format json")
        .quiet()
        .ignore_status()
        .output()
        .context("running `serf members`")?;
    if !output.status.success() {
        bail!(
            "`serf members` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    members::parse(&String::from_utf8_lossy(&output.stdout))
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
