//! Scenario 2, leave and crash under load: `docker stop` one webapp (s6 gives Serf its
//! SIGINT: a graceful leave), then SIGKILL another (Serf and the health checks find out).
//! For each: the requests that failed, when the node served its last answer, and when
//! HAProxy stopped counting it UP and dropped it from its config.
use std::time::Duration;

use serde::Serialize;

use super::{in_rotation, remove_all, Runner};
use crate::bench::load::Sample;
use crate::bench::stats::{failed_between, secs, summarize, Summary};

#[derive(Debug, Serialize)]
pub(crate) struct ChurnResult {
    pub(crate) webapps: u32,
    pub(crate) graceful_stop: Departure,
    pub(crate) sigkill: Departure,
    pub(crate) load: Summary,
}

#[derive(Debug, Serialize)]
pub(crate) struct Departure {
    pub(crate) node: String,
    /// Failed requests that ended between the stop/kill and the next event.
    pub(crate) failed: u64,
    /// Requests the node answered after the stop/kill was requested.
    pub(crate) answered_after: u64,
    /// From the request to its last answer (0 when it answered nothing after it).
    pub(crate) last_answer_s: f64,
    /// From the request until HAProxy no longer showed it UP (it gets no new requests).
    pub(crate) out_of_rotation_s: Option<f64>,
    /// From the request until it was gone from HAProxy's config (after Serf's leave or
    /// failure detection and a reload).
    pub(crate) removed_s: Option<f64>,
}

/// How long to keep the load on after HAProxy dropped a node: late failures show up.
const SETTLE: Duration = Duration::from_secs(2);

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<ChurnResult> {
    let webapps = runner.settings.join_to;
    anyhow::ensure!(webapps >= 3, "leave and crash need at least 3 webapps");
    runner.scale(runner.cluster, webapps).await?;
    let engine = runner.ctx.engine().await?;
    let stopped = runner.cluster.webapp_name(webapps);
    let killed = runner.cluster.webapp_name(webapps - 1);
    let load = runner.load(runner.settings.rate, Duration::from_secs(300));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // HAProxy is watched while the engine works: `docker stop` returns only once the
    // container has exited, and the node may be out of rotation before that.
    let stop_at = runner.now();
    let (stop, stop_marks) = tokio::join!(
        engine.stop_container(&stopped, runner.cluster.webapps.stop_timeout_s()),
        marks(runner, &stopped)
    );
    let kill_at = runner.now();
    let (kill, kill_marks) = tokio::join!(
        engine.kill_container(&killed, "SIGKILL"),
        marks(runner, &killed)
    );
    let end = runner.now();

    let recorded = runner.finish(load).await?;
    stop?;
    kill?;
    remove_all(
        runner.ctx,
        runner.cluster,
        &[stopped.clone(), killed.clone()],
    )
    .await?;
    let samples = &recorded.samples;
    Ok(ChurnResult {
        webapps,
        graceful_stop: departure(&stopped, samples, stop_at, kill_at, stop_marks),
        sigkill: departure(&killed, samples, kill_at, end, kill_marks),
        load: summarize(&recorded),
    })
}

/// When HAProxy stopped counting `node` UP, then when it was gone from the config, then a
/// settling pause; the times are since the epoch.
async fn marks(runner: &Runner<'_>, node: &str) -> (Option<Duration>, Option<Duration>) {
    let timeout = Duration::from_secs(60);
    let out = runner
        .until_servers(timeout, |s| {
            !s.iter().any(|s| s.name == node && in_rotation(s))
        })
        .await;
    let removed = runner
        .until_servers(timeout, |s| {
            !s.is_empty() && !s.iter().any(|s| s.name == node)
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    (out, removed)
}

fn departure(
    node: &str,
    samples: &[Sample],
    from: Duration,
    to: Duration,
    (out, removed): (Option<Duration>, Option<Duration>),
) -> Departure {
    let answers: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome.served_by() == Some(node) && s.done() >= from)
        .map(Sample::done)
        .collect();
    Departure {
        node: node.to_string(),
        failed: failed_between(samples, from, to),
        answered_after: answers.len() as u64,
        last_answer_s: secs(answers.iter().max().map_or(Duration::ZERO, |t| *t - from)),
        out_of_rotation_s: out.map(|t| secs(t.saturating_sub(from))),
        removed_s: removed.map(|t| secs(t.saturating_sub(from))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::client::Outcome;
    use crate::bench::stats::tests::{sample, served};

    #[test]
    fn a_departure_counts_its_window_and_the_node_last_answer() {
        let samples = [
            sample(900, 50, served("s4")),
            sample(1100, 20, served("s4")),
            sample(1200, 10, Outcome::Read),
            sample(1300, 10, served("s3")),
            sample(5000, 10, Outcome::Read),
        ];
        let ms = Duration::from_millis;
        let d = departure("s4", &samples, ms(1000), ms(4000), (Some(ms(1500)), None));
        assert_eq!(d.failed, 1, "the failure after the window is not counted");
        assert_eq!(d.answered_after, 1);
        assert_eq!(d.last_answer_s, 0.12);
        assert_eq!(d.out_of_rotation_s, Some(0.5));
        assert_eq!(d.removed_s, None);
    }
}
