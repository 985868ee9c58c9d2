//! Scenario 3, scale cycles under load: the same constant load first on a steady stack
//! (the baseline), then while the stack scales low -> high -> low again and again, as
//! `scale` does it (new nodes one by one; removed ones stopped gracefully).
use std::time::Duration;

use serde::Serialize;

use super::Runner;
use crate::bench::stats::{failed_between, secs, summarize, Summary};

#[derive(Debug, Serialize)]
pub(crate) struct CyclesResult {
    pub(crate) cycles: u32,
    pub(crate) low: u32,
    pub(crate) high: u32,
    pub(crate) baseline: Summary,
    pub(crate) scaling: Summary,
    /// Failed requests in each cycle.
    pub(crate) failed_per_cycle: Vec<u64>,
    /// How long each cycle took (up, serving, down, serving).
    pub(crate) cycle_s: Vec<f64>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<CyclesResult> {
    let settings = runner.settings;
    let (low, high) = (settings.cycle_low, settings.cycle_high);
    runner.scale(runner.cluster, low).await?;

    let load = runner.load(settings.rate, settings.baseline);
    tokio::time::sleep(settings.baseline).await;
    let baseline = summarize(&runner.finish(load).await?);

    let load = runner.load(settings.rate, Duration::from_secs(1800));
    let mut spans = Vec::new();
    let cycles = async {
        for _ in 0..settings.cycles {
            let start = runner.now();
            runner.scale(runner.cluster, high).await?;
            runner.scale(runner.cluster, low).await?;
            spans.push((start, runner.now()));
        }
        // Requests sent during the last scale-down end shortly after it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        anyhow::Ok(())
    }
    .await;
    let recorded = runner.finish(load).await?;
    cycles?;
    let failed_per_cycle = spans
        .iter()
        .enumerate()
        .map(|(i, (start, end))| {
            // A cycle's window reaches to the next cycle's start (or the load's end).
            let to = spans.get(i + 1).map_or(*end + Duration::from_secs(1), |n| n.0);
            failed_between(&recorded.samples, *start, to)
        })
        .collect();
    Ok(CyclesResult {
        cycles: settings.cycles,
        low,
        high,
        baseline,
        scaling: summarize(&recorded),
        failed_per_cycle,
        cycle_s: spans.iter().map(|(s, e)| secs(*e - *s)).collect(),
    })
}
