//! Scenario 3, scale cycles under load: the same constant load first on a steady stack
//! (the baseline), then while the stack scales low -> high -> low again and again, as
//! `scale` does it (new nodes one by one; removed ones stopped gracefully).
use std::time::Duration;

use serde::Serialize;

use super::Runner;
use crate::bench::load::Recorded;
use crate::bench::report::{failures, load_header, load_row, Section, Target};
use crate::bench::settings::Settings;
use crate::bench::stats::{failed_between, secs, summarize, Summary};

/// Its section's number in results.md.
const NUMBER: u32 = 3;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.scale_cycles, &r.settings),
    targets: |r| targets(&r.scale_cycles),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct CyclesResult {
    pub(crate) cycles: u32,
    pub(crate) low: u32,
    pub(crate) high: u32,
    pub(crate) baseline: Summary,
    pub(crate) scaling: Summary,
    /// Failed requests in each cycle.
    pub(crate) failed_per_cycle: Vec<u64>,
    /// Of all cycles: failed requests while new nodes joined, and while nodes were
    /// stopped gracefully and removed (each scale-down is `high - low` graceful stops).
    pub(crate) failed_scaling_up: u64,
    pub(crate) failed_scaling_down: u64,
    /// How long each cycle took (up, serving, down, serving).
    pub(crate) cycle_s: Vec<f64>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<CyclesResult> {
    let settings = runner.settings;
    let (low, high) = (settings.cycle_low, settings.cycle_high);
    let baseline = runner
        .phase("3 baseline", async {
            runner.scale(runner.cluster, low).await?;
            let load = runner.load(settings.rate, settings.baseline);
            tokio::time::sleep(settings.baseline).await;
            Ok(summarize(&runner.finish(load).await?))
        })
        .await?;

    let (recorded, spans) = runner
        .phase("3 scale cycles", scale_cycles(runner, low, high))
        .await?;
    let samples = &recorded.samples;
    let mut failed_per_cycle = Vec::new();
    let (mut failed_up, mut failed_down) = (0, 0);
    for (i, span) in spans.iter().enumerate() {
        // A cycle's scale-down reaches to the next cycle's start (or the load's end).
        let to = spans
            .get(i + 1)
            .map_or(span.end + Duration::from_secs(1), |next| next.start);
        let up = failed_between(samples, span.start, span.up);
        let down = failed_between(samples, span.up, to);
        failed_per_cycle.push(up + down);
        failed_up += up;
        failed_down += down;
    }
    Ok(CyclesResult {
        cycles: settings.cycles,
        low,
        high,
        baseline,
        scaling: summarize(&recorded),
        failed_per_cycle,
        failed_scaling_up: failed_up,
        failed_scaling_down: failed_down,
        cycle_s: spans.iter().map(|s| secs(s.end - s.start)).collect(),
    })
}

/// One cycle: when it started, when the high count was served, when the low one was.
struct Span {
    start: Duration,
    up: Duration,
    end: Duration,
}

async fn scale_cycles(
    runner: &Runner<'_>,
    low: u32,
    high: u32,
) -> anyhow::Result<(Recorded, Vec<Span>)> {
    let load = runner.load(runner.settings.rate, Duration::from_secs(1800));
    let mut spans = Vec::new();
    let cycles = async {
        for _ in 0..runner.settings.cycles {
            let start = runner.now();
            runner.scale(runner.cluster, high).await?;
            let up = runner.now();
            runner.scale(runner.cluster, low).await?;
            spans.push(Span {
                start,
                up,
                end: runner.now(),
            });
        }
        // Requests sent during the last scale-down end shortly after it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        anyhow::Ok(())
    }
    .await;
    let recorded = runner.finish(load).await?;
    cycles?;
    Ok((recorded, spans))
}

/// Issue 7's target on the scale cycles (their graceful stops count in churn's).
pub(crate) fn targets(cycles: &CyclesResult) -> Vec<Target> {
    vec![Target::new(
        "failed requests over the scale cycles",
        "0",
        format!("{} of {}", cycles.scaling.failed, cycles.scaling.requests),
        Some(cycles.scaling.failed == 0),
    )]
}

pub(crate) fn section(md: &mut String, c: &CyclesResult, s: &Settings) {
    md.push_str(&format!(
        "\n## {NUMBER}. Scale cycles under load\n\n{} cycles of {} -> {} -> {} webapps at a constant {} req/s, compared with the \
         same load for {} s on {} webapps without scaling.\n\n{}",
        c.cycles,
        c.low,
        c.high,
        c.low,
        s.rate,
        s.baseline.as_secs(),
        c.low,
        load_header()
    ));
    md.push_str(&load_row("no scaling", &c.baseline));
    md.push_str(&load_row("scale cycles", &c.scaling));
    let cycles: Vec<String> = c
        .failed_per_cycle
        .iter()
        .zip(&c.cycle_s)
        .enumerate()
        .map(|(i, (failed, secs))| format!("{}: {failed} failed in {secs:.1} s", i + 1))
        .collect();
    md.push_str(&format!(
        "\nPer cycle: {}. Failed while scaling up: {}; while scaling down (graceful stops): {}.\n",
        cycles.join("; "),
        c.failed_scaling_up,
        c.failed_scaling_down
    ));
    failures(md, "", &c.scaling);
}
