//! What `scale` times while a target waits: when each node joined (Serf on ha) and was
//! first UP (HAProxy), from when the target reached its engine.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::haproxy_stats::ServerStat;
use crate::serf_members;
use crate::wait::{Poll, Wait};

const POLL: Duration = Duration::from_millis(200);

pub(crate) struct Timings {
    pub(crate) start: Instant,
    pub(crate) joined: BTreeMap<String, Duration>,
    pub(crate) up: BTreeMap<String, Duration>,
}

impl Timings {
    /// Started now: once the target has connected, so the phases leave connecting out.
    pub(super) fn new() -> Timings {
        Timings {
            start: Instant::now(),
            joined: BTreeMap::new(),
            up: BTreeMap::new(),
        }
    }
}

pub(super) fn note_up(up: &mut BTreeMap<String, Duration>, start: Instant, servers: &[ServerStat]) {
    for server in servers.iter().filter(|s| s.is_up()) {
        up.entry(server.name.clone()).or_insert(start.elapsed());
    }
}

/// Notes when each member is first alive in ha's Serf; polls until dropped.
pub(super) async fn poll_joined(
    engine: &Engine,
    ha: &str,
    start: Instant,
    joined: &mut BTreeMap<String, Duration>,
) {
    // Never ready: it records until the caller stops polling it.
    let _ = Wait::new("members to join", Duration::MAX)
        .every(POLL)
        .poll(async || -> anyhow::Result<Poll<(), ()>> {
            if let Ok(members) = serf_members::members(engine, ha).await {
                for member in members.iter().filter(|m| m.status == "alive") {
                    joined.entry(member.name.clone()).or_insert(start.elapsed());
                }
            }
            Ok(Poll::Pending(()))
        })
        .await;
}
