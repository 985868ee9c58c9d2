//! The subcommands that do more than one reconcile.
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use cluster::record::Record;

use crate::dns::Resolver;
use crate::drain::Drains;
use crate::lock::Lock;
use crate::reconcile::{reconcile, reconcile_held, Agent, Reconciled, Run};
use crate::reload::{self, Outcome};
use crate::routes::Report;
use crate::services::{load_base_cluster, load_cluster};
use crate::state::State;
use crate::trust::{Orchestrator, Trust};
use crate::{event, lock, members, serf_rpc};

/// Serf event handler: log each member of the event, nothing else. The watcher applies
/// the change from its own read of the membership, so the handler never calls back into
/// Serf (a hung Serf cannot hold up its own handlers) and costs one short process.
pub(crate) fn on_event(agent: &Agent) -> anyhow::Result<()> {
    let name = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown-event".into());
    let mut stdin = Vec::new();
    std::io::stdin()
        .read_to_end(&mut stdin)
        .context("reading the event's members from stdin")?;
    // Names are gossip: any bytes. Recorded as text, invalid UTF-8 as U+FFFD.
    let stdin = String::from_utf8_lossy(&stdin);
    for record in event::records(&name, &event::parse_members(&stdin)) {
        agent.log.record(record);
    }
    Ok(())
}

/// Before HAProxy starts: a config must exist. A previous valid one will do if the new
/// one cannot be made.
pub(crate) fn init(agent: &Agent) -> anyhow::Result<()> {
    match reconcile_once(agent, Run::Init).map(|_| ()) {
        Err(err) if agent.paths.haproxy_cfg.exists() => {
            agent.log.failure(&err);
            agent.log.say("HAProxy starts with the previous config");
            Ok(())
        }
        result => result,
    }
}

/// How many times a run selects again when the services change under it.
const STALE_AT_MOST: usize = 3;

/// One run on a fresh read of Serf and the orchestrator (`ha-agent reconcile`, `init`).
/// A server it takes out is left draining; the watcher finishes the drain. Serf and the
/// orchestrator are asked without the lock (the watcher is not held up meanwhile): the
/// services may change in between, and the run then selects again.
pub(crate) fn reconcile_once(agent: &Agent, run: Run) -> anyhow::Result<Report> {
    for _ in 0..STALE_AT_MOST {
        if let Reconciled::Done(report) = reconcile_fresh(agent, None, run)? {
            return Ok(report);
        }
    }
    bail!("the services changed {STALE_AT_MOST} times during one run; run it again")
}

/// [`reconcile_once`] under the lock the caller holds (`ha-agent services`, from storing
/// the services to applying them). Only a run under the lock writes the services, so the
/// model read here stays current.
pub(crate) fn reconcile_once_held(agent: &Agent, held: &Lock, run: Run) -> anyhow::Result<Report> {
    match reconcile_fresh(agent, Some(held), run)? {
        Reconciled::Done(report) => Ok(report),
        Reconciled::Stale => bail!("the services changed under the agent's lock; run it again"),
    }
}

fn reconcile_fresh(agent: &Agent, held: Option<&Lock>, run: Run) -> anyhow::Result<Reconciled> {
    let cluster = load_cluster(&agent.paths)?;
    let members = match serf_rpc::Client::connect(serf_rpc::ADDR, Path::new(serf_rpc::SECRETS))
        .and_then(|mut serf| serf.members())
    {
        Ok(members) => members,
        Err(err) if run == Run::Init => {
            agent.log.say(&format!(
                "Serf does not answer yet ({err:#}); HAProxy starts with no servers until Serf has joined"
            ));
            Vec::new()
        }
        Err(err) => return Err(err.context("reading Serf's members")),
    };
    let selection = members::select_backends(&members, &cluster);
    let serving = State::load(&agent.paths.state_file).servers;
    let mut trust = Trust::new(Orchestrator::of(&cluster), Resolver::system());
    let decision = trust.decide(&selection.candidates, &serving, Instant::now());
    for skipped in selection.skipped.iter().chain(&decision.refused) {
        agent.log.record(skipped.record());
    }
    let (admitted, drains) = (&decision.admitted, &mut Drains::default());
    match held {
        Some(held) => reconcile_held(agent, held, run, &cluster, admitted, drains),
        None => reconcile(agent, run, &cluster, admitted, drains),
    }
}

/// Reloads HAProxy on the live config as it is, with the configured method: what the
/// benchmark repeats to compare reload methods, since a reconcile reloads only on change.
/// Recorded as a forced reload, so it never counts as a reload of a new config.
pub(crate) fn force_reload(agent: &Agent) -> anyhow::Result<()> {
    let _lock = lock::exclusive(&agent.paths.lock_file)?;
    let method = load_base_cluster()?.ha.reload;
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
