//! `ha-agent watch`, the agent's one long-lived loop (an s6 service in ha). It follows
//! Serf's log over one RPC connection (`monitor`) and sleeps until Serf says something;
//! then it reads the members once over another, compares the backends as a set (Serf lists
//! members in random order), has a change corroborated by the orchestrator (`trust`) and
//! applies it at once (`reconcile`), from that same read. While nothing changes it does
//! nothing. Every `interval` the safety net reconciles anyway and checks HAProxy's live
//! servers (`drift`). Servers that leave drain between the other work (`drain`), so a join
//! is never held up behind a drain. Without the log stream (Serf not up yet) it polls a
//! small membership signature (`stats`) every `poll`. The services (`ha-agent services`)
//! are read again whenever their file changes.
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cluster::{Backend, Cluster};

use crate::dns::Resolver;
use crate::drain::Drains;
use crate::members;
use crate::reconcile::{reconcile, Agent, Reconciled, Run};
use crate::refusals::Refusals;
use crate::serf_rpc;
use crate::services::{load_cluster_with, read_services};
use crate::state::State;
use crate::trust::{Orchestrator, Trust};

/// How long after a failed connection to Serf the next attempt waits, doubling up to
/// [`RECONNECT_AT_MOST`]: each connection is a line in Serf's log.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
const RECONNECT_AT_MOST: Duration = Duration::from_secs(30);
/// How soon after Serf logged something the members are read a second time.
const FOLLOW_UP: Duration = Duration::from_millis(250);

pub(crate) fn watch(agent: &Agent, poll: Duration, interval: Duration) -> anyhow::Result<()> {
    let services = read_services(&agent.paths)?;
    let cluster = load_cluster_with(&agent.paths, services.as_deref())?;
    let now = Instant::now();
    let mut watcher = Watcher {
        trust: Trust::new(Orchestrator::of(&cluster), Resolver::system()),
        cluster,
        services,
        serf: None,
        monitor: None,
        next_connect: now,
        next_monitor: now,
        refusals: Refusals::default(),
        drains: Drains::default(),
        last_signature: None,
        last_candidates: None,
        last_admitted: None,
        recheck_at: None,
        follow_up_at: None,
        pending: false,
        reconnect_after: RECONNECT_AFTER,
        last_full: now,
        said: Said::default(),
    };
    loop {
        let hint = watcher.wait(agent, poll, interval);
        watcher.tick(agent, interval, hint);
    }
}

struct Watcher {
    cluster: Cluster,
    /// The services' file as `cluster` was read with it.
    services: Option<String>,
    trust: Trust,
    /// Calls: `stats`, `members`.
    serf: Option<serf_rpc::Client>,
    /// Serf's log, the wake-up call: while it is there the watcher sleeps until Serf
    /// says something, the safety net is due or a drain needs watching.
    monitor: Option<serf_rpc::Monitor>,
    next_connect: Instant,
    next_monitor: Instant,
    refusals: Refusals,
    drains: Drains,
    last_signature: Option<serf_rpc::Signature>,
    last_candidates: Option<Vec<members::Candidate>>,
    last_admitted: Option<Vec<Backend>>,
    recheck_at: Option<Instant>,
    /// A second read shortly after a hint: Serf may log a change just before its member
    /// list shows it.
    follow_up_at: Option<Instant>,
    /// A hint whose read has not succeeded yet (Serf did not answer): read again soon.
    pending: bool,
    /// The wait before the next connection attempt: doubles while Serf does not answer.
    reconnect_after: Duration,
    last_full: Instant,
    said: Said,
}

/// The last line said about each ongoing trouble, so it is said once, not every poll.
#[derive(Default)]
struct Said {
    serf: Option<String>,
    services: Option<String>,
    drain: Option<String>,
    reconcile: Option<String>,
    orchestrator: Option<String>,
}

/// Says `message` (an error when `error`) unless it is what was said last; `None` clears.
fn say_once(agent: &Agent, last: &mut Option<String>, message: Option<String>, error: bool) {
    if message.is_some() && *last != message {
        let text = message.as_deref().unwrap_or_default();
        if error {
            agent.log.error(text);
        } else {
            agent.log.say(text);
        }
    }
    *last = message;
}

impl Watcher {
    /// Sleeps until Serf logs something (true), or until the next thing due: the safety
    /// net, a recheck, a follow-up read, a drain to watch. Without the monitor (Serf not
    /// up yet), polls every `poll`.
    fn wait(&mut self, agent: &Agent, poll: Duration, interval: Duration) -> bool {
        let now = Instant::now();
        if self.monitor.is_none() && now >= self.next_monitor {
            self.next_monitor = now + self.reconnect_after;
            self.monitor = serf_rpc::Client::connect(serf_rpc::ADDR, Path::new(serf_rpc::SECRETS))
                .and_then(serf_rpc::Client::monitor)
                .ok();
        }
        let Some(monitor) = self.monitor.as_mut() else {
            std::thread::sleep(poll);
            return false;
        };
        let mut wake_at = self.last_full + interval;
        for at in [self.recheck_at, self.follow_up_at].into_iter().flatten() {
            wake_at = wake_at.min(at);
        }
        if !self.drains.is_empty() || self.pending {
            wake_at = wake_at.min(now + poll);
        }
        if self.serf.is_none() {
            // Nothing can be read before the next connection attempt: no busy loop.
            wake_at = wake_at.max(self.next_connect);
        }
        match monitor.wait(wake_at.saturating_duration_since(now)) {
            Ok(hint) => hint,
            Err(err) => {
                self.monitor = None;
                let message =
                    format!("Serf's log stream broke ({err:#}); polling until it is back");
                say_once(agent, &mut self.said.serf, Some(message), false);
                false
            }
        }
    }

    /// Reads the model again when the services' file changed (or `force`): every member
    /// is then judged afresh against the new services, at once.
    fn refresh(&mut self, agent: &Agent, force: bool) {
        let services = match read_services(&agent.paths) {
            Ok(services) if !force && services == self.services => return,
            Ok(services) => services,
            Err(err) => {
                say_once(
                    agent,
                    &mut self.said.services,
                    Some(format!("{err:#}")),
                    true,
                );
                return;
            }
        };
        match load_cluster_with(&agent.paths, services.as_deref()) {
            Ok(cluster) => {
                say_once(agent, &mut self.said.services, None, true);
                self.services = services;
                if cluster != self.cluster {
                    self.trust.set_orchestrator(Orchestrator::of(&cluster));
                    self.cluster = cluster;
                }
                self.last_candidates = None;
                self.last_admitted = None;
                self.pending = true;
            }
            // The previous model stays; `reconcile` refuses to run on a bad one.
            Err(err) => say_once(
                agent,
                &mut self.said.services,
                Some(format!("{err:#}")),
                true,
            ),
        }
    }

    fn tick(&mut self, agent: &Agent, interval: Duration, hint: bool) {
        self.refresh(agent, false);
        let paths = &agent.paths;
        let drained = self
            .drains
            .tick(paths, &agent.log)
            .err()
            .map(|err| format!("draining: {err:#}"));
        say_once(agent, &mut self.said.drain, drained, true);

        let now = Instant::now();
        let due = now.duration_since(self.last_full) >= interval;
        let recheck = self.recheck_at.is_some_and(|at| now >= at);
        let follow_up = self.follow_up_at.is_some_and(|at| now >= at);
        self.follow_up_at = match (hint, follow_up) {
            (true, _) => Some(now + FOLLOW_UP),
            (false, true) => None,
            (false, false) => self.follow_up_at,
        };
        self.pending |= hint;
        let mut woken = self.pending || due || recheck || follow_up;
        if self.monitor.is_none() {
            // Polling: a signature that does not grow with the cluster says whether to
            // read the members.
            let Some(signature) = self.read(agent, now, |serf| serf.membership_signature()) else {
                return;
            };
            woken |= self.last_signature.as_ref() != Some(&signature);
            self.last_signature = Some(signature);
        }
        if !woken {
            return;
        }
        let Some(members) = self.read(agent, now, |serf| serf.members()) else {
            return;
        };
        self.pending = false;
        let selection = members::select_backends(&members, &self.cluster);
        let moved = self.last_candidates.as_ref() != Some(&selection.candidates);
        if !moved && !recheck && !due {
            return;
        }

        let serving = State::load(&paths.state_file).servers;
        let decision = self.trust.decide(&selection.candidates, &serving, now);
        self.recheck_at = decision.recheck_at;
        say_once(
            agent,
            &mut self.said.orchestrator,
            decision.trouble.clone(),
            false,
        );
        let present: BTreeSet<(String, String)> = members
            .iter()
            .map(|m| (m.name.clone(), m.addr.clone()))
            .collect();
        let refused: Vec<_> = selection
            .skipped
            .iter()
            .chain(&decision.refused)
            .cloned()
            .collect();
        let (fresh, note) = self.refusals.fresh(&refused, &present);
        for skipped in fresh {
            agent.log.record(skipped.record());
        }
        if let Some(note) = note {
            agent.log.say(&note);
        }
        self.last_candidates = Some(selection.candidates);

        let changed = self.last_admitted.as_ref() != Some(&decision.admitted);
        if !changed && !due {
            return;
        }
        if due {
            self.last_full = now;
        }
        let run = if changed {
            Run::Triggered
        } else {
            Run::Periodic
        };
        let result = reconcile(
            agent,
            run,
            &self.cluster,
            &decision.admitted,
            &mut self.drains,
        );
        // Remembered even on failure: a failing change is retried by the safety net, not
        // on every poll.
        self.last_admitted = Some(decision.admitted);
        match result {
            // Selected on services that changed since: read them, select again at once.
            Ok(Reconciled::Stale) => self.refresh(agent, true),
            Ok(Reconciled::Done(_)) => self.said.reconcile = None,
            Err(err) => {
                let message = format!("{err:#}");
                if self.said.reconcile.as_ref() != Some(&message) {
                    agent.log.failure(&err);
                }
                self.said.reconcile = Some(message);
            }
        }
    }

    /// One call over the long-lived connection; `None` (said once) while Serf does not
    /// answer, reconnecting with a backoff.
    fn read<T>(
        &mut self,
        agent: &Agent,
        now: Instant,
        call: impl FnOnce(&mut serf_rpc::Client) -> anyhow::Result<T>,
    ) -> Option<T> {
        if self.serf.is_none() && now >= self.next_connect {
            self.next_connect = now + self.reconnect_after;
            // Each connection is a line in Serf's log: back off while it fails.
            self.reconnect_after = (self.reconnect_after * 2).min(RECONNECT_AT_MOST);
            match serf_rpc::Client::connect(serf_rpc::ADDR, Path::new(serf_rpc::SECRETS)) {
                Ok(client) => self.serf = Some(client),
                Err(err) => {
                    let message = format!("Serf does not answer yet: {err:#}");
                    say_once(agent, &mut self.said.serf, Some(message), false);
                    return None;
                }
            }
        }
        match call(self.serf.as_mut()?) {
            Ok(answer) => {
                self.reconnect_after = RECONNECT_AFTER;
                say_once(agent, &mut self.said.serf, None, false);
                Some(answer)
            }
            Err(err) => {
                self.serf = None;
                let message = format!("Serf did not answer: {err:#}");
                say_once(agent, &mut self.said.serf, Some(message), false);
                None
            }
        }
    }
}
