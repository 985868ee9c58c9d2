//! Scenario 7, membership through the runtime API vs through reloads, side by side in the
//! same run (`[ha] update = "runtime"`, then `"reload"`; switching recreates only ha).
//! For each: join to serving, SIGKILLs under load (out of rotation, failed requests),
//! the HAProxy reloads those membership changes caused (the master's counter), and a
//! scale low -> many -> low under load with the memory of the big cluster.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::{Cluster, UpdateMethod};
use serde::Serialize;

use super::join::{creation_requests, first_answers, NodeJoin};
use super::{in_rotation, remove_all, Runner};
use crate::bench::report::{failures, opt, Section, Target};
use crate::bench::settings::Settings;
use crate::bench::stats::{failed_between, percentile, round, secs, summarize, Summary};

/// Its section's number in results.md.
const NUMBER: u32 = 6;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.membership, &r.settings),
    targets: |r| targets(&r.membership),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
// Its runs' `&'static str` names borrow from the text read back (the golden test).
#[cfg_attr(test, serde(bound(deserialize = "'de: 'static")))]
pub(crate) struct MembershipResult {
    pub(crate) runtime: UpdateRun,
    pub(crate) reload: UpdateRun,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct UpdateRun {
    pub(crate) update: &'static str,
    pub(crate) join_from: u32,
    pub(crate) join_to: u32,
    pub(crate) joins: Vec<NodeJoin>,
    pub(crate) join_p95_s: Option<f64>,
    /// The same from when the engine had started each container: what membership takes.
    pub(crate) join_after_start_p95_s: Option<f64>,
    /// Seconds from each SIGKILL until HAProxy no longer showed the node UP.
    pub(crate) kill_out_of_rotation_s: Vec<Option<f64>>,
    pub(crate) kill_out_of_rotation_p95_s: Option<f64>,
    /// Failed requests from each kill until a second after it was out of rotation.
    pub(crate) kill_failed: u64,
    /// HAProxy reloads (the master CLI's counter) over the joins, kills and removals.
    pub(crate) membership_reloads: u64,
    /// The load over the joins and kills.
    pub(crate) load: Summary,
    pub(crate) big: BigScale,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct BigScale {
    pub(crate) low: u32,
    pub(crate) high: u32,
    /// From the scale-up request until HAProxy served all `high` webapps.
    pub(crate) all_up_s: f64,
    /// Sum of the memory use of ha and the `high` webapps, MB.
    pub(crate) memory_mb: f64,
    /// The load over the whole low -> high -> low.
    pub(crate) load: Summary,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<MembershipResult> {
    let runtime = runner
        .phase(
            "6 membership: runtime API",
            update_run(runner, UpdateMethod::Runtime),
        )
        .await?;
    let reload = runner
        .phase(
            "6 membership: reloads",
            update_run(runner, UpdateMethod::Reload),
        )
        .await?;
    Ok(MembershipResult { runtime, reload })
}

async fn update_run(runner: &Runner<'_>, update: UpdateMethod) -> anyhow::Result<UpdateRun> {
    let settings = runner.settings;
    let mut cluster = runner.cluster.clone();
    cluster.ha.update = update;
    let (low, high) = (settings.join_from, settings.join_to);
    runner.scale(&cluster, low).await?;
    let reloads_before = reloads(runner).await?;

    let load = runner.load(settings.rate, Duration::from_secs(900));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let joined = runner.scale(&cluster, high).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kills = match &joined {
        Ok(_) => Some(kill_some(runner, high).await),
        Err(_) => None,
    };
    let recorded = runner.finish(load).await?;
    let actions = joined?;
    let (kill_at, out) = kills.context("no kills after a failed join")??;
    let membership_reloads = reloads(runner).await? - reloads_before;

    let joins = first_answers(&creation_requests(runner, &actions), &recorded.samples);
    let mut join_times: Vec<f64> = joins.iter().filter_map(|n| n.to_first_answer_s).collect();
    join_times.sort_by(f64::total_cmp);
    let kill_out: Vec<Option<f64>> = kill_at
        .iter()
        .zip(&out)
        .map(|(at, out)| out.map(|t| secs(t.saturating_sub(*at))))
        .collect();
    let mut after_start: Vec<f64> = joins.iter().filter_map(|n| n.after_start_s).collect();
    after_start.sort_by(f64::total_cmp);
    let mut kill_sorted: Vec<f64> = kill_out.iter().flatten().copied().collect();
    kill_sorted.sort_by(f64::total_cmp);
    let kill_failed = kill_at
        .iter()
        .zip(&out)
        .map(|(at, out)| {
            let to = out.unwrap_or(*at + Duration::from_secs(30)) + Duration::from_secs(1);
            failed_between(&recorded.samples, *at, to)
        })
        .sum();

    let big = big_scale(runner, &cluster).await?;
    Ok(UpdateRun {
        update: update.as_str(),
        join_from: low,
        join_to: high,
        join_p95_s: percentile(&join_times, 95.0).map(|v| round(v, 2)),
        join_after_start_p95_s: percentile(&after_start, 95.0).map(|v| round(v, 2)),
        joins,
        kill_out_of_rotation_p95_s: percentile(&kill_sorted, 95.0).map(|v| round(v, 2)),
        kill_out_of_rotation_s: kill_out,
        kill_failed,
        membership_reloads,
        load: summarize(&recorded),
        big,
    })
}

/// SIGKILLs the highest webapps one after another, each once the previous is out of
/// rotation, then waits until HAProxy dropped them all. Returns when each kill was sent
/// and when its node was out of rotation (since the epoch).
async fn kill_some(
    runner: &Runner<'_>,
    high: u32,
) -> anyhow::Result<(Vec<Duration>, Vec<Option<Duration>>)> {
    let engine = runner.ctx.engine().await?;
    let victims: Vec<String> = (0..runner.settings.kills)
        .map(|k| runner.cluster.webapp_name(high - k))
        .collect();
    let (mut kill_at, mut out) = (Vec::new(), Vec::new());
    for victim in &victims {
        kill_at.push(runner.now());
        engine.kill_container(victim, "SIGKILL").await?;
        out.push(
            runner
                .until_servers(Duration::from_secs(30), |s| {
                    !s.iter().any(|s| s.name == *victim && in_rotation(s))
                })
                .await,
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Serf's failure detection, then the removal from the config.
    runner
        .until_servers(Duration::from_secs(90), |s| {
            !s.is_empty() && !s.iter().any(|s| victims.contains(&s.name))
        })
        .await;
    remove_all(runner.ctx, runner.cluster, &victims).await?;
    Ok((kill_at, out))
}

async fn big_scale(runner: &Runner<'_>, cluster: &Cluster) -> anyhow::Result<BigScale> {
    let settings = runner.settings;
    let (low, high) = (settings.join_from, settings.big_scale);
    runner.scale(cluster, low).await?;
    let load = runner.load(settings.rate, Duration::from_secs(900));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    let result = async {
        runner.scale(cluster, high).await?;
        let all_up = start.elapsed();
        let memory = memory(runner, cluster, high).await?;
        runner.scale(cluster, low).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        anyhow::Ok((all_up, memory))
    }
    .await;
    let recorded = runner.finish(load).await?;
    let (all_up, memory) = result?;
    Ok(BigScale {
        low,
        high,
        all_up_s: secs(all_up),
        memory_mb: round(memory as f64 / 1e6, 1),
        load: summarize(&recorded),
    })
}

async fn memory(runner: &Runner<'_>, cluster: &Cluster, webapps: u32) -> anyhow::Result<u64> {
    let engine = runner.ctx.engine().await?;
    let mut names = vec![cluster.ha.name.clone()];
    names.extend(runner.webapp_names(1..=webapps));
    let mut total = 0;
    for name in &names {
        total += engine.memory_usage(name).await?.unwrap_or(0);
    }
    Ok(total)
}

/// The HAProxy master's reload counter, read through `ha-agent cli master show proc`.
async fn reloads(runner: &Runner<'_>) -> anyhow::Result<u64> {
    let engine = runner.ctx.engine().await?;
    let ha = &runner.cluster.ha.name;
    let out = engine
        .exec(ha, &["ha-agent", "cli", "master", "show", "proc"])
        .await?;
    master_reloads(&out.stdout).with_context(|| {
        format!(
            "no master line in `show proc` of {ha}: {}",
            out.stderr.trim()
        )
    })
}

/// `<pid> master <reloads> ...` of `show proc`.
fn master_reloads(show_proc: &str) -> Option<u64> {
    show_proc.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [_, "master", reloads, ..] => reloads.parse().ok(),
            _ => None,
        }
    })
}

/// Issue 11's targets, on the runtime API's figures; the reload path's stand beside them.
pub(crate) fn targets(m: &MembershipResult) -> Vec<Target> {
    let (rt, rl) = (&m.runtime, &m.reload);
    let s = |v: Option<f64>| opt(v, 2) + " s";
    let target = |name: String, goal: &str, measured: String, met: bool| Target {
        name,
        goal: goal.into(),
        measured,
        met: Some(met),
    };
    let all_joined = rt.joins.iter().all(|n| n.to_first_answer_s.is_some());
    let all_out = rt.kill_out_of_rotation_s.iter().all(Option::is_some);
    vec![
        target(
            "runtime API: join to serving, p95".into(),
            "<= 1.0 s",
            format!(
                "{} (reloads: {}); from started: {} (reloads: {})",
                s(rt.join_p95_s),
                s(rl.join_p95_s),
                s(rt.join_after_start_p95_s),
                s(rl.join_after_start_p95_s)
            ),
            all_joined && rt.join_p95_s.is_some_and(|p| p <= 1.0),
        ),
        target(
            "runtime API: reloads caused by membership changes".into(),
            "0",
            format!(
                "{} (reloads: {})",
                rt.membership_reloads, rl.membership_reloads
            ),
            rt.membership_reloads == 0,
        ),
        target(
            "runtime API: SIGKILL under load, out of rotation p95".into(),
            "<= 1 s",
            format!(
                "{} (reloads: {})",
                s(rt.kill_out_of_rotation_p95_s),
                s(rl.kill_out_of_rotation_p95_s)
            ),
            all_out && rt.kill_out_of_rotation_p95_s.is_some_and(|p| p <= 1.0),
        ),
        target(
            "runtime API: failed idempotent requests on SIGKILL".into(),
            "0",
            format!("{} (reloads: {})", rt.kill_failed, rl.kill_failed),
            rt.kill_failed == 0,
        ),
        target(
            format!(
                "runtime API: scale {} -> {} -> {} at {:.0} req/s",
                rt.big.low, rt.big.high, rt.big.low, rt.big.load.rate
            ),
            "0 failed, all UP <= 25 s",
            format!(
                "{} failed, all UP in {:.1} s (reloads: {} failed, {:.1} s)",
                rt.big.load.failed, rt.big.all_up_s, rl.big.load.failed, rl.big.all_up_s
            ),
            rt.big.load.failed == 0 && rt.big.all_up_s <= 25.0,
        ),
    ]
}

pub(crate) fn section(md: &mut String, m: &MembershipResult, s: &Settings) {
    let rt = &m.runtime;
    md.push_str(&format!(
        "\n## {NUMBER}. Membership: runtime API vs reloads, side by side\n\nThe same steps with `[ha] update = \"runtime\"` \
         (servers added, drained and deleted through HAProxy's runtime API) and `update = \"reload\"` (every change \
         rendered and reloaded), same run, {} req/s: scale {} -> {} a few nodes at a time (join to the first answer, \
         from the creation request), {} SIGKILLs one after another (out of rotation: HAProxy no longer shows it UP), \
         then scale {} -> {} -> {}. Reloads are the HAProxy master's counter over the joins, kills and removals.\n\n\
         | update | join p95 (s) | from started, p95 (s) | membership reloads | SIGKILL out of rotation (s) | p95 (s) | failed on SIGKILL | failed (joins, kills) | \
         {} UP after (s) | failed over {} -> {} -> {} | memory of {} webapps + ha (MB) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        s.rate, rt.join_from, rt.join_to, s.kills, rt.big.low, rt.big.high, rt.big.low,
        rt.big.high, rt.big.low, rt.big.high, rt.big.low, rt.big.high
    ));
    for run in [&m.runtime, &m.reload] {
        md.push_str(&update_row(run));
    }
    for run in [&m.runtime, &m.reload] {
        failures(
            md,
            &format!(" ({}, joins and kills)", run.update),
            &run.load,
        );
        failures(md, &format!(" ({}, big scale)", run.update), &run.big.load);
    }
}

fn update_row(u: &UpdateRun) -> String {
    let kills: Vec<String> = u
        .kill_out_of_rotation_s
        .iter()
        .map(|k| opt(*k, 2))
        .collect();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} of {} | {:.1} | {} of {} | {:.0} |\n",
        u.update,
        opt(u.join_p95_s, 2),
        opt(u.join_after_start_p95_s, 2),
        u.membership_reloads,
        kills.join(", "),
        opt(u.kill_out_of_rotation_p95_s, 2),
        u.kill_failed,
        u.load.failed,
        u.load.requests,
        u.big.all_up_s,
        u.big.load.failed,
        u.big.load.requests,
        u.big.memory_mb
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_master_reload_counter() {
        let text = "#<PID>          <type>          <reloads>       <uptime>        <version>\n\
                    11              master          3 [failed: 0]   0d00h00m05s     2.6.12\n\
                    # workers\n\
                    54              worker          0               0d00h00m04s     2.6.12\n";
        assert_eq!(master_reloads(text), Some(3));
        assert_eq!(master_reloads("Unknown command\n"), None);
    }
}
