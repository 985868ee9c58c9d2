//! The subcommands that do more than one reconcile.
use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context as _};
use cluster::record::Record;

use crate::reconcile::{load_cluster, reconcile, Agent, Run};
use crate::reload::{self, Outcome};
use crate::state::State;
use crate::{event, lock};

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

/// The safety net: reconcile every `interval`, reporting an error once until it changes.
/// It starts one interval late: at container start HAProxy's `init` and Serf's first
/// events come first, before Serf can even answer.
pub(crate) fn watch(agent: &Agent, interval: Duration) -> anyhow::Result<()> {
    let mut last_error = None;
    loop {
        std::thread::sleep(interval);
        match reconcile(agent, Run::Periodic) {
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
