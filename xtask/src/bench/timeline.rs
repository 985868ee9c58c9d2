//! Servers UP and requests over the whole run, one point per second: the data of the plot.
//! A watcher samples HAProxy's stats in the background; the load runs give the requests.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::scenario::in_rotation;
use super::stats::secs;
use crate::haproxy_stats;

/// A named span of the run (a scenario).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Phase {
    pub(crate) name: String,
    #[serde(serialize_with = "as_secs", rename = "start_s")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) start: Duration,
    #[serde(serialize_with = "as_secs", rename = "end_s")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) end: Duration,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Point {
    pub(crate) t: u64,
    /// Servers HAProxy had in rotation at the last sample of that second (none: no answer).
    pub(crate) servers_up: Option<u32>,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Timeline {
    pub(crate) bucket_s: u64,
    pub(crate) phases: Vec<Phase>,
    pub(crate) points: Vec<Point>,
}

/// Samples how many servers HAProxy reports UP, every `every`, until stopped; not while
/// `quiet` is set (a scenario measuring ha's own cost).
pub(crate) struct Watch {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<(Duration, Option<u32>)>>,
}

impl Watch {
    pub(crate) fn start(
        cluster: &Cluster,
        epoch: Instant,
        every: Duration,
        quiet: Arc<AtomicBool>,
    ) -> Watch {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let cluster = cluster.clone();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                if !quiet.load(Ordering::Relaxed) {
                    let up = haproxy_stats::fetch(&cluster)
                        .await
                        .ok()
                        .map(|s| s.iter().filter(|s| in_rotation(s)).count() as u32);
                    seen.push((epoch.elapsed(), up));
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
            seen
        });
        Watch { stop, task }
    }

    pub(crate) async fn stop(self) -> anyhow::Result<Vec<(Duration, Option<u32>)>> {
        let _ = self.stop.send(());
        self.task.await.context("the stats watcher panicked")
    }
}

/// One point per second from 0 to the last event: requests by the second they ended in,
/// servers UP as last seen in (or before) that second.
pub(crate) fn bucket(
    up: &[(Duration, Option<u32>)],
    requests: &[(Duration, bool)],
    phases: Vec<Phase>,
) -> Timeline {
    let end = up
        .iter()
        .map(|(t, _)| *t)
        .chain(requests.iter().map(|(t, _)| *t))
        .chain(phases.iter().map(|p| p.end))
        .max()
        .unwrap_or_default();
    let seconds = end.as_secs() + 1;
    let mut points: Vec<Point> = (0..seconds)
        .map(|t| Point {
            t,
            servers_up: None,
            ok: 0,
            failed: 0,
        })
        .collect();
    for (at, failed) in requests {
        let point = &mut points[at.as_secs() as usize];
        if *failed {
            point.failed += 1;
        } else {
            point.ok += 1;
        }
    }
    let mut sorted: Vec<&(Duration, Option<u32>)> = up.iter().collect();
    sorted.sort_by_key(|(t, _)| *t);
    let mut last = None;
    let mut next = sorted.into_iter().peekable();
    for point in &mut points {
        while let Some((_, value)) = next.next_if(|(t, _)| t.as_secs() <= point.t) {
            last = Some(*value);
        }
        point.servers_up = last.flatten();
    }
    Timeline {
        bucket_s: 1,
        phases,
        points,
    }
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(secs(*d))
}

#[cfg(test)]
fn from_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_secs_f64(serde::Deserialize::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_requests_by_second_and_carries_servers_up() {
        let ms = Duration::from_millis;
        let up = [(ms(100), Some(2)), (ms(2500), Some(3)), (ms(2900), None)];
        let requests = [(ms(10), false), (ms(999), true), (ms(1000), false)];
        let phases = vec![Phase {
            name: "join".into(),
            start: ms(0),
            end: ms(3100),
        }];
        let timeline = bucket(&up, &requests, phases);
        let view: Vec<(u64, Option<u32>, u64, u64)> = timeline
            .points
            .iter()
            .map(|p| (p.t, p.servers_up, p.ok, p.failed))
            .collect();
        assert_eq!(
            view,
            [
                (0, Some(2), 1, 1),
                (1, Some(2), 1, 0),
                (2, None, 0, 0),
                (3, None, 0, 0)
            ]
        );
    }
}
