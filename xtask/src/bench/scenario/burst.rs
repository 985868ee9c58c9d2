//! Scenario 5, reloads per burst: start several webapps at once and count the HAProxy
//! reloads ha made for them: the reload records (`reload #n`) ha-agent appends to
//! /var/log/serf.log (configs made live while HAProxy starts and forced reloads are not
//! such reloads).
use std::time::{Duration, Instant};

use cluster::record;
use serde::Serialize;

use super::{remove_all, Runner};
use crate::bench::report::{Section, Target};
use crate::bench::stats::secs;
use crate::deploy::one_engine::{self, Action};
use crate::wait::{Poll, Stopped, Wait};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct BurstResult {
    pub(crate) from: u32,
    pub(crate) started: u32,
    pub(crate) reloads: u64,
    /// The reload lines the burst caused, as ha logged them.
    pub(crate) reload_lines: Vec<String>,
    /// From the concurrent creation requests until HAProxy served every new node.
    pub(crate) all_up_s: f64,
}

/// Its section's number in results.md.
const NUMBER: u32 = 5;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.burst),
    targets: |r| targets(&r.burst),
};

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

/// serf.log once no new reload line has appeared for `QUIET`, read every 500 ms; after a
/// minute, as it is then.
async fn quiet_log(runner: &Runner<'_>) -> anyhow::Result<String> {
    let what = format!("no new reload line in serf.log for {} s", QUIET.as_secs());
    let wait = Wait::new(what, Duration::from_secs(60)).every(Duration::from_millis(500));
    // The last read, and since when its reload lines are the same.
    let mut last: Option<(String, Instant)> = None;
    let waited = wait
        .poll(async || {
            let log = runner.serf_log().await?;
            let since = match &last {
                Some((before, since)) if reload_lines(before).len() == reload_lines(&log).len() => {
                    *since
                }
                _ => Instant::now(),
            };
            last = Some((log, since));
            Ok(if since.elapsed() >= QUIET {
                Poll::Ready(())
            } else {
                Poll::Pending(())
            })
        })
        .await;
    match waited {
        Ok(()) | Err(Stopped::TimedOut(())) => Ok(last.expect("read at least once").0),
        Err(Stopped::Failed(err)) => Err(err),
    }
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

/// Issue 7's burst target: a burst of joins costs at most two reloads.
pub(crate) fn targets(burst: &BurstResult) -> Vec<Target> {
    vec![Target::new(
        format!("HAProxy reloads for a burst of {} joins", burst.started),
        "<= 2",
        burst.reloads.to_string(),
        Some(burst.reloads <= 2),
    )]
}

pub(crate) fn section(md: &mut String, b: &BurstResult) {
    md.push_str(&format!(
        "\n## {NUMBER}. Reloads per burst\n\n{} webapps started at once (concurrent create and start) next to {}; HAProxy reloads \
         counted as the `reload #n` lines ha-agent added to ha's /var/log/serf.log until no new one came for 6 s.\n\n\
         | webapps started at once | HAProxy reloads | all UP after (s) |\n|---|---|---|\n| {} | {} | {:.2} |\n",
        b.started, b.from, b.started, b.reloads, b.all_up_s
    ));
    if !b.reload_lines.is_empty() {
        md.push_str("\n```\n");
        for line in &b.reload_lines {
            md.push_str(line);
            md.push('\n');
        }
        md.push_str("```\n");
    }
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
