//! The subcommands that do more than one reconcile.
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cluster::record::Record;

use cluster::{Backend, Cluster};

use crate::reconcile::{load_cluster, reconcile, Agent, Run};
use crate::reload::{self, Outcome};
use crate::state::State;
use crate::{event, lock, members, serf_rpc};

/// Serf event handler: log each member of the event, then reconcile everything.
pub(crate) fn on_event(agent: &Agent) -> anyhow::Result<()> {
    let name = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown-event".into());
    let mut stdin = String::new();
    std::io::stdin()
        .read_to_string(&mut stdin)
        .context("reading the event's members from stdin")?;
    for record in event::records(&name, &event::parse_members(&stdin)) {
        agent.log.record(record);
    }
    reconcile(agent, Run::Triggered)
}

/// Before HAProxy starts: a config must exist. A previous valid one will do if the new
/// one cannot be made.
pub(crate) fn init(agent: &Agent) -> anyhow::Result<()> {
    match reconcile(agent, Run::Init) {
        Err(err) if agent.paths.haproxy_cfg.exists() => {
            agent.log.failure(&err);
            agent.log.say("HAProxy starts with the previous config");
            Ok(())
        }
        result => result,
    }
}

/// Watches Serf's member list every `poll` and reconciles as soon as the alive backends
/// differ from the last seen: a join or a leave is applied within a few hundred ms,
/// without waiting for Serf to coalesce its events. Every `interval` it reconciles anyway
/// (the safety net), reporting an error once until it changes. A poll Serf does not answer
/// (at container start) is skipped: HAProxy's `init` and Serf's events cover that time.
pub(crate) fn watch(agent: &Agent, poll: Duration, interval: Duration) -> anyhow::Result<()> {
    let cluster = load_cluster()?;
    let mut last_error = None;
    let mut last_seen = None;
    let mut last_full = Instant::now();
    let mut serf = None;
    loop {
        std::thread::sleep(poll);
        let due = last_full.elapsed() >= interval;
        let seen = alive_backends(&mut serf, &cluster);
        let moved = seen.is_some() && seen != last_seen;
        if !due && !moved {
            continue;
        }
        if seen.is_some() {
            last_seen = seen;
        }
        if due {
            last_full = Instant::now();
        }
        let run = if moved { Run::Triggered } else { Run::Periodic };
        match reconcile(agent, run) {
            Ok(()) => last_error = None,
            Err(err) => {
                let message = format!("{err:#}");
                if last_error.as_ref() != Some(&message) {
                    agent.log.failure(&err);
                    last_error = Some(message);
                }
            }
        }
    }
}

/// The alive backends through the long-lived RPC client, reconnected after any error.
fn alive_backends(serf: &mut Option<serf_rpc::Client>, cluster: &Cluster) -> Option<Vec<Backend>> {
    if serf.is_none() {
        *serf = serf_rpc::Client::connect(serf_rpc::ADDR, Path::new(serf_rpc::SECRETS)).ok();
    }
    match serf.as_mut()?.members() {
        Ok(members) => Some(members::select_backends(&members, cluster).backends),
        Err(_) => {
            *serf = None;
            None
        }
    }
}

/// Reloads HAProxy on the live config as it is, with the configured method: what the
/// benchmark repeats to compare reload methods, since a reconcile reloads only on change.
/// Recorded as a forced reload, so it never counts as a reload of a new config.
pub(crate) fn force_reload(agent: &Agent) -> anyhow::Result<()> {
    let _lock = lock::exclusive(&agent.paths.lock_file)?;
    let method = load_cluster()?.ha.reload;
    let generation = State::load(&agent.paths.state_file).generation;
    let outcome = reload::reload(&agent.sh, &agent.paths, method)
        .with_context(|| format!("forced reload ({})", method.as_str()))?;
    if outcome == Outcome::NotRunning {
        bail!("HAProxy is not running: nothing to reload");
    }
    agent.log.record(Record::ForcedReload {
        generation,
        method: method.as_str().to_string(),
    });
    Ok(())
}
