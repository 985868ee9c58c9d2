//! Scenario 2, leave and crash under load: `docker stop` one webapp (s6 gives Serf its
//! SIGINT: a graceful leave), then SIGKILL another (Serf and the health checks find out).
//! For each: the requests that failed, when the node served its last answer, and when
//! HAProxy stopped counting it UP and dropped it from its config.
use std::time::Duration;

use serde::Serialize;

use super::cycles::CyclesResult;
use super::{in_rotation, remove_all, Runner};
use crate::bench::load::Sample;
use crate::bench::report::{failures, opt, Section, Target};
use crate::bench::settings::Settings;
use crate::bench::stats::{failed_between, secs, summarize, Summary};

/// Its section's number in results.md.
const NUMBER: u32 = 2;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.leave_crash, &r.settings),
    targets: |r| targets(&r.leave_crash, &r.scale_cycles),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct ChurnResult {
    pub(crate) webapps: u32,
    pub(crate) graceful_stop: Departure,
    pub(crate) sigkill: Departure,
    pub(crate) load: Summary,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
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

/// Issue 7's targets on stops and kills. Every scale-down of the scale cycles is graceful
/// stops too: they count here as well.
pub(crate) fn targets(churn: &ChurnResult, cycles: &CyclesResult) -> Vec<Target> {
    vec![
        Target::new(
            "failed requests on graceful stop",
            "0",
            format!(
                "{} (one stop); {} over the {} stops of the scale cycles",
                churn.graceful_stop.failed,
                cycles.failed_scaling_down,
                cycles.cycles * (cycles.high - cycles.low)
            ),
            Some(churn.graceful_stop.failed == 0 && cycles.failed_scaling_down == 0),
        ),
        Target::new(
            "failed idempotent requests on SIGKILL",
            "0",
            churn.sigkill.failed.to_string(),
            Some(churn.sigkill.failed == 0),
        ),
    ]
}

pub(crate) fn section(md: &mut String, c: &ChurnResult, s: &Settings) {
    md.push_str(&format!(
        "\n## {NUMBER}. Leave and crash under load\n\n{} webapps under {} req/s: `docker stop` of one (Serf leaves on SIGINT), then \
         SIGKILL of another. Failed requests count from the event to the next one; times are from the stop/kill request. \
         HAProxy retries a failed connection (`retries 3`, `option redispatch`).\n\n\
         | event | node | failed requests | answered after | last answer (s) | out of rotation (s) | removed from config (s) |\n\
         |---|---|---|---|---|---|---|\n",
        c.webapps, s.rate
    ));
    let row = |md: &mut String, event: &str, d: &Departure| {
        md.push_str(&format!(
            "| {event} | {} | {} | {} | {:.2} | {} | {} |\n",
            d.node,
            d.failed,
            d.answered_after,
            d.last_answer_s,
            opt(d.out_of_rotation_s, 2),
            opt(d.removed_s, 2)
        ))
    };
    row(md, "graceful stop", &c.graceful_stop);
    row(md, "SIGKILL", &c.sigkill);
    md.push_str(&format!(
        "\nWhole run: {} requests, {} failed.\n",
        c.load.requests, c.load.failed
    ));
    failures(md, "", &c.load);
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
