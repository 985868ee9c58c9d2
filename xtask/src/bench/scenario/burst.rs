//! Scenario 5, reloads per burst: start several webapps at once and count the HAProxy
//! reloads ha made for them: the reload records (`reload #n`) ha-agent appends to
//! /var/log/serf.log (configs made live while HAProxy starts and forced reloads are not
//! such reloads).
use std::time::{Duration, Instant};

use cluster::record;
use serde::Serialize;

use super::{remove_all, Runner};
use crate::bench::stats::secs;
use crate::deploy::one_engine::{self, Action};

#[derive(Debug, Serialize)]
pub(crate) struct BurstResult {
    pub(crate) from: u32,
    pub(crate) started: u32,
    pub(crate) reloads: u64,
    /// The reload lines the burst caused, as ha logged them.
    pub(crate) reload_lines: Vec<String>,
    /// From the concurrent creation requests until HAProxy served every new node.
    pub(crate) all_up_s: f64,
}

/// Longer than ha-agent's periodic reconcile (every 5 s): a late reload still counts.
const QUIET: Duration = Duration::from_secs(6);

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<BurstResult> {
    let (from, burst) = (runner.settings.cycle_low, runner.settings.burst);
    let cluster = runner.cluster;
    runner.scale(cluster, from).await?;
    let before = quiet_log(runner).await?;

    let engine = runner.ctx.engine().await?;
    let desired = one_engine::desired(engine, cluster, from + burst).await?;
    let new = runner.webapp_names(from + 1..=from + burst);
    let started = Instant::now();
    let actions: Vec<Action> = new.iter().cloned().map(Action::Create).collect();
    let creations = actions
        .iter()
        .map(|action| one_engine::apply(runner.ctx, cluster, action, &desired));
    let created = futures_util::future::join_all(creations).await;
    for result in created {
        result?;
    }
    runner.wait_serving(cluster, from + burst).await?;
    let all_up = started.elapsed();
    let after = quiet_log(runner).await?;
    remove_all(runner.ctx, runner.cluster, &new).await?;

    let lines = reload_lines(&after)
        .into_iter()
        .skip(reload_lines(&before).len())
        .collect::<Vec<_>>();
    Ok(BurstResult {
        from,
        started: burst,
        reloads: lines.len() as u64,
        reload_lines: lines,
        all_up_s: secs(all_up),
    })
}

/// serf.log once no new reload line has appeared for `QUIET` (within a minute).
async fn quiet_log(runner: &Runner<'_>) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = runner.serf_log().await?;
    let mut since = Instant::now();
    while since.elapsed() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = runner.serf_log().await?;
        if reload_lines(&now).len() != reload_lines(&log).len() {
            since = Instant::now();
        }
        log = now;
    }
    Ok(log)
}

/// The reloads of a new config recorded in serf.log, as recorded (without their times).
pub(crate) fn reload_lines(log: &str) -> Vec<String> {
    record::parse_log(log)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|line| line.record.is_reload())
        .map(|line| line.record.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reloads_of_new_configs_only() {
        let log = "2026-01-01T00:00:00.000Z config #1: no servers (HAProxy starting)\n\
                   2026-01-01T00:00:01.000Z member-join s1 backend\n\
                   2026-01-01T00:00:02.000Z reload #2: +s1\n\
                   2026-01-01T00:00:03.000Z forced reload of config #2 (hitless)\n\
                   2026-01-01T00:00:04.000Z reload #2 (retried)\n\
                   2026-01-01T00:00:05.000Z error: reloading HAProxy for config #3: reload #3 failed\n\
                   reload #4: +s2 (no time: not a record)\n";
        assert_eq!(reload_lines(log), ["reload #2: +s1", "reload #2 (retried)"]);
    }
}
