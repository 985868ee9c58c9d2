//! Scenario 12b, route-table scale: three named services (the lab's app in each) with
//! one host route each, then 1,000 host routes spread over them, handed to ha as `up`
//! does (`ha-agent services`: a route change goes through HAProxy's runtime API).
//!
//! The latency on one route with 3 and with 1,000 routes in the table is measured side by
//! side: beside ha runs a twin cluster ([`twin`], the same services made by `up`), one of
//! the two with 3 routes and the other with 1,000, both under the same load at the same
//! time; each round they swap tables ([`side_by_side`]). On two shared cores a stall of
//! the machine sets the p99 of whatever window it falls in: here it falls on both table
//! sizes at once, and the swap cancels what differs between the two clusters. Both sizes
//! gather their requests in the same minutes, so each gets many (the p99 of a few
//! thousand requests moves by tens of percent from one window to the next); the target
//! compares the p99s of all of them.
//!
//! Then one host is added to ha with 1,000 routes in place: the time to its first
//! answer, and whether HAProxy reloaded.
mod side_by_side;
mod twin;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;
use serde::Serialize;

use super::services::with_services;
use super::Runner;
use crate::bench::client::{self, Outcome, Route};
use crate::bench::report::{opt, Target};
use crate::bench::stats::{median, round, secs, Summary};
use crate::context::Ctx;
use crate::deploy::one_engine::services;
use side_by_side::{Plan, Tables, ROUTES};

/// Rounds: even, so each cluster has each table as often, and ha ends with the large one
/// (the added host goes into that). A quick run has two.
const ROUNDS: u32 = 24;
const _: () = assert!(ROUNDS.is_multiple_of(2));
/// One window of load.
const WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct RoutesResult {
    /// Host routes in the large table.
    pub(crate) routes: usize,
    /// Rounds, each with a window of each table size at the same time.
    pub(crate) rounds: u32,
    /// One window's length.
    pub(crate) window_s: f64,
    /// The project of the cluster measured beside ha.
    pub(crate) twin: String,
    /// Every request with one route per service (ha's and the twin's windows alike).
    pub(crate) small: Summary,
    /// Every request with `routes` routes.
    pub(crate) large: Summary,
    /// Each window's p99 with one route per service, in order.
    pub(crate) small_window_p99_ms: Vec<f64>,
    /// Each window's p99 with `routes` routes, in order.
    pub(crate) large_window_p99_ms: Vec<f64>,
    /// Each round's p99 with `routes` routes per its p99 with 3.
    pub(crate) ratios: Vec<f64>,
    /// Handing ha the large table the first time (all but 3 routes added through the
    /// runtime API).
    pub(crate) handover_s: Option<f64>,
    /// From handing ha one more host to that host's first answer.
    pub(crate) added_first_answer_s: Option<f64>,
    /// Whether HAProxy's worker changed (a reload) while routes were changed.
    pub(crate) reloaded: bool,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<RoutesResult> {
    let ctx = runner.ctx;
    let engine = ctx.engine().await?;
    let timeout = runner.settings.converge_timeout;
    let plan = match runner.settings.quick {
        true => Plan {
            rounds: 2,
            rate: 100,
            window: WINDOW,
        },
        false => Plan {
            rounds: ROUNDS,
            rate: runner.settings.rate / 2,
            window: WINDOW,
        },
    };
    let ours = Tables::of(runner.cluster)?;
    services::up(ctx, &ours.small, timeout).await?;
    let pid = worker_pid(runner).await?;
    let twin = twin::derive(
        runner.cluster,
        twin::free_subnet(engine, runner.cluster).await?,
    )?;
    let theirs = Tables::of(&twin)?;
    let compared = async {
        // What an interrupted run may have left would stand in the way.
        twin::remove(ctx, &twin).await?;
        twin::start(ctx, runner.cluster, &theirs.small, timeout).await?;
        runner
            .quietly(side_by_side::run(runner, [&ours, &theirs], &plan))
            .await
    }
    .await;
    // Whatever happened: the twin goes.
    let removed = twin::remove(ctx, &twin).await;
    let measured = match compared {
        Ok(measured) => {
            removed?;
            measured
        }
        Err(err) => {
            if let Err(left) = removed {
                eprintln!("warning: {}", twin_left(&twin.project, &left));
            }
            return Err(err);
        }
    };

    // ha has the large table (an even number of rounds): one host more.
    let added = Tables::large_with(runner.cluster, Some("added.bench"))?;
    let started = Instant::now();
    services::hand_to_ha(engine, &added).await?;
    let route = Route {
        host: "added.bench".into(),
        path: "/".into(),
    };
    let prefix = format!("{}-a", runner.cluster.project);
    let first = first_answer(runner, &route, &prefix, Duration::from_secs(10)).await;
    let added_first_answer_s = first.map(|_| secs(started.elapsed()));
    let reloaded = worker_pid(runner).await? != pid;
    // The named services go (the default one is the bench's).
    let without = with_services(runner.cluster, &[], 0, None)?;
    services::up(ctx, &without, timeout).await?;
    let span = plan.window * plan.rounds;
    Ok(RoutesResult {
        routes: ROUTES,
        rounds: plan.rounds,
        window_s: plan.window.as_secs_f64(),
        twin: twin.project,
        small: measured.small.summary(span),
        large: measured.large.summary(span),
        small_window_p99_ms: measured.small.p99s,
        large_window_p99_ms: measured.large.p99s,
        ratios: measured.ratios,
        handover_s: measured.handover_s,
        added_first_answer_s,
        reloaded,
    })
}

/// Removes what an interrupted or failed run left of the twin cluster (nothing when
/// there is none); says so when that fails, as `down` does not reach it.
pub(crate) async fn clean_up_twin(ctx: &Ctx, cluster: &Cluster) {
    // Found by its project's labels, tags and folder: any subnet names it.
    let removed = match twin::derive(cluster, cluster.network.subnet) {
        Ok(twin) => twin::remove(ctx, &twin).await,
        Err(err) => Err(err),
    };
    if let Err(err) = removed {
        let project = format!("{}-twin", cluster.project);
        eprintln!("warning: {}", twin_left(&project, &err));
    }
}

fn twin_left(project: &str, err: &anyhow::Error) -> String {
    format!(
        "the bench's twin cluster, project {project}, may be left ({err:#}); remove its containers and network (label {}={project})",
        cluster::labels::PROJECT
    )
}

/// Polls `route` every 10 ms (for `timeout` at most) until a webapp of `prefix` answers.
pub(crate) async fn first_answer(
    runner: &Runner<'_>,
    route: &Route,
    prefix: &str,
    timeout: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let outcome = client::get_routed(runner.target, Some(route), Duration::from_secs(2)).await;
        if let Outcome::Answered {
            status: 200,
            host: Some(host),
        } = &outcome
        {
            if host.starts_with(prefix) {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// The pid of HAProxy's worker (a reload starts a new one).
async fn worker_pid(runner: &Runner<'_>) -> anyhow::Result<String> {
    let engine = runner.ctx.engine().await?;
    let ha = &runner.cluster.ha.name;
    let out = engine
        .exec(ha, &["ha-agent", "cli", "admin", "show info"])
        .await?;
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pid: ").map(str::to_string))
        .context("`show info` gave no Pid")
}

/// What the issue asks of a route table at scale.
pub(crate) fn targets(r: &RoutesResult) -> Vec<Target> {
    let failed = r.small.failed + r.large.failed;
    vec![
        Target {
            name: format!("a host added to {} routes: first answer", r.routes),
            goal: "<= 1 s, no reload".into(),
            measured: format!(
                "{}, {}",
                r.added_first_answer_s
                    .map_or("none".to_string(), |s| format!("{s:.3} s")),
                if r.reloaded { "reloaded" } else { "no reload" }
            ),
            met: Some(r.added_first_answer_s.is_some_and(|s| s <= 1.0) && !r.reloaded),
        },
        Target {
            name: format!(
                "p99, {} routes per 3 (ha and its twin side by side, swapped)",
                r.routes
            ),
            goal: "<= 1.10, 0 failed".into(),
            measured: format!(
                "{} ({} vs {} ms over {} vs {} requests, {failed} failed)",
                opt(ratio(r), 3),
                opt(r.large.p99_ms, 2),
                opt(r.small.p99_ms, 2),
                r.large.requests,
                r.small.requests,
            ),
            // The p99s are of answered requests: a failure is not let off as a fast one.
            met: ratio(r).map(|ratio| ratio <= 1.10 && failed == 0),
        },
    ]
}

/// The p99 of every answered request with the large table per that with 3 routes.
fn ratio(r: &RoutesResult) -> Option<f64> {
    Some(round(r.large.p99_ms? / r.small.p99_ms?, 3))
}

/// The figures, as markdown.
pub(crate) fn section(md: &mut String, r: &RoutesResult) {
    let list = |values: &[f64]| {
        let each: Vec<String> = values.iter().map(f64::to_string).collect();
        each.join(", ")
    };
    let row = |name: &str, s: &Summary, windows: &[f64]| {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            s.requests,
            s.failed,
            opt(s.p50_ms, 2),
            opt(s.p99_ms, 2),
            opt(median(windows), 2),
            list(windows),
        )
    };
    md.push_str(&format!(
        "\n### Route-table scale\n\nNamed services `a`, `b` and `c` (the lab's app, one webapp each), one host route each, then {routes} host routes spread over them (handed to ha in {} s, through the runtime API). Beside ha runs a twin cluster (project `{}`, the same services, made by `up`). In each of {} rounds one of the two has 3 routes and the other {routes}, and both get the same load on one route at the same time ({:.0} req/s each, each request on a new connection, {} s); the next round they swap. A stall of the shared host so falls on both table sizes at once, and what differs between the two clusters falls on both sizes alike. The target compares the p99s of all answered requests of each size: a single window's p99 moves by tens of percent from one window to the next.\n\n| routes | requests | failed | p50 ms | p99 ms (all) | p99 ms (median of windows) | p99 ms of each window |\n|---|---|---|---|---|---|---|\n{}{}\np99 of all answered requests with {routes} routes per that with 3: {}. The same ratio within each round (its two windows): {}; median {}.\n\nOne more host added to ha with {routes} routes in place: first answer after {}; HAProxy {}.\n",
        opt(r.handover_s, 2),
        r.twin,
        r.rounds,
        r.small.rate,
        r.window_s,
        row("3", &r.small, &r.small_window_p99_ms),
        row(&r.routes.to_string(), &r.large, &r.large_window_p99_ms),
        opt(ratio(r), 3),
        list(&r.ratios),
        opt(median(&r.ratios), 3),
        r.added_first_answer_s.map_or("none".to_string(), |s| format!("{s:.3} s")),
        if r.reloaded { "reloaded" } else { "did not reload" },
        routes = r.routes,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::services::NAMED;

    #[test]
    fn a_thousand_host_routes_spread_over_three_services() {
        let lab = cluster::parse("", "x.toml").unwrap();
        let large = Tables::large_with(&lab, Some("added.bench")).unwrap();
        let entries = large.route_entries();
        assert_eq!(entries.len(), 1001);
        for name in NAMED {
            let mine = entries.iter().filter(|e| e.backend == name).count();
            assert!((333..=335).contains(&mine), "{name}: {mine}");
        }
        assert!(entries
            .iter()
            .any(|e| e.key == "added.bench/" && e.backend == "a"));
        assert_eq!(Tables::of(&lab).unwrap().small.route_entries().len(), 3);
    }
}
