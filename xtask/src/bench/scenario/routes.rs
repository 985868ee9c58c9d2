//! Scenario 12b, route-table scale: three named services (the lab's app in each) with
//! one host route each, then 1,000 host routes spread over them, handed to ha as `up`
//! does (`ha-agent services`: a route change goes through HAProxy's runtime API).
//! Measured in one run: the latency through ha on one route with 3 and with 1,000 routes
//! in the table, in short alternating windows (small, large, small, large: what changes
//! with time alone falls on both), and one host added with 1,000 routes in place: the
//! time to its first answer, and whether HAProxy reloaded. The p99s compared are each
//! size's median of its windows' p99s: on two shared cores one stall of the machine (a
//! few dozen slow requests) sets the p99 of all the requests of whichever size it fell
//! on, while the median over windows keeps the stall to the one window it hit.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::services::{with_services, NAMED};
use super::Runner;
use crate::bench::client::{self, Outcome, Route};
use crate::bench::load::Sample;
use crate::bench::report::Target;
use crate::bench::stats::{median, round, secs, summarize_samples, Summary};
use crate::deploy::one_engine::services;

/// Windows of each table size, alternating (a quick run: one of each): short windows,
/// many times, so what drifts with time falls on both sizes alike.
const ROUNDS: u32 = 10;
/// Before each window: ha's agent has the new table in hand and nothing else is under way.
const SETTLE: Duration = Duration::from_secs(1);
/// One window of load.
const WINDOW: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct RoutesResult {
    /// Host routes in the large table.
    pub(crate) routes: usize,
    /// Windows of each size, alternating small and large.
    pub(crate) rounds: u32,
    /// The load on one route with one route per service, over its windows.
    pub(crate) small: Summary,
    /// The same load with `routes` routes, over its windows.
    pub(crate) large: Summary,
    /// Each window's p99 with one route per service, in order.
    pub(crate) small_window_p99_ms: Vec<f64>,
    /// Each window's p99 with `routes` routes, in order.
    pub(crate) large_window_p99_ms: Vec<f64>,
    /// Handing ha the large table the first time (all but 3 routes added through the
    /// runtime API).
    pub(crate) handover_s: f64,
    /// From handing ha one more host to that host's first answer.
    pub(crate) added_first_answer_s: Option<f64>,
    /// Whether HAProxy's worker changed (a reload) while routes were changed.
    pub(crate) reloaded: bool,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<RoutesResult> {
    let ctx = runner.ctx;
    let engine = ctx.engine().await?;
    let routes = 1000;
    let (rate, rounds) = match runner.settings.quick {
        true => (200, 1),
        false => (runner.settings.rate, ROUNDS),
    };
    let one_each = NAMED.map(|name| (name, 1));
    let small = with_services(runner.cluster, &one_each, 0, None)?;
    services::up(ctx, &small, runner.settings.converge_timeout).await?;
    let probe = Route {
        host: "a.bench".into(),
        path: "/".into(),
    };
    let pid = worker_pid(runner).await?;
    let large = with_services(runner.cluster, &one_each, routes - NAMED.len(), None)?;
    let (mut small_windows, mut large_windows) = (Windows::default(), Windows::default());
    let mut handover_s = None;
    for _ in 0..rounds {
        services::hand_to_ha(engine, &small).await?;
        small_windows
            .measure(runner, rate, &probe, NAMED.len())
            .await?;
        let started = Instant::now();
        services::hand_to_ha(engine, &large).await?;
        handover_s.get_or_insert(secs(started.elapsed()));
        large_windows.measure(runner, rate, &probe, routes).await?;
    }

    let added = with_services(
        runner.cluster,
        &one_each,
        routes - NAMED.len(),
        Some("added.bench"),
    )?;
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
    services::up(ctx, &without, runner.settings.converge_timeout).await?;
    let span = WINDOW * rounds;
    Ok(RoutesResult {
        routes,
        rounds,
        small: summary(&small_windows.samples, span),
        large: summary(&large_windows.samples, span),
        small_window_p99_ms: small_windows.p99s,
        large_window_p99_ms: large_windows.p99s,
        handover_s: handover_s.unwrap_or_default(),
        added_first_answer_s,
        reloaded,
    })
}

/// One table size's windows: their samples together, and each one's p99.
#[derive(Default)]
struct Windows {
    samples: Vec<Sample>,
    p99s: Vec<f64>,
}

impl Windows {
    /// One window of load on `route` after ha settled on its table of `routes`. A window
    /// in which no request succeeded is an error, not a gap that would pair the two
    /// sizes' windows out of order.
    async fn measure(
        &mut self,
        runner: &Runner<'_>,
        rate: u32,
        route: &Route,
        routes: usize,
    ) -> anyhow::Result<()> {
        tokio::time::sleep(SETTLE).await;
        let load = runner.load_routed(rate, WINDOW, Some(route.clone()));
        tokio::time::sleep(WINDOW).await;
        let samples = runner.finish(load).await?.samples;
        let p99 = summarize_samples(samples.iter())
            .p99_ms
            .with_context(|| format!("no request succeeded in a window with {routes} routes"))?;
        self.p99s.push(p99);
        self.samples.extend(samples);
        Ok(())
    }
}

/// The samples of several windows as one summary, at their rate over `span`.
fn summary(samples: &[Sample], span: Duration) -> Summary {
    let mut summary = summarize_samples(samples.iter());
    summary.rate = round(summary.requests as f64 / span.as_secs_f64(), 1);
    summary
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
    let (small, large) = (
        median(&r.small_window_p99_ms).map(|v| round(v, 2)),
        median(&r.large_window_p99_ms).map(|v| round(v, 2)),
    );
    let within = match (small, large) {
        (Some(small), Some(large)) => Some(large <= small * 1.10),
        _ => None,
    };
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v} ms"));
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
                "p99 through ha, {} routes vs 3 (median of windows)",
                r.routes
            ),
            goal: "within 10%".into(),
            measured: format!("{} vs {}", ms(large), ms(small)),
            met: within,
        },
    ]
}

/// The figures, as markdown.
pub(crate) fn section(md: &mut String, r: &RoutesResult) {
    let opt = |v: Option<f64>| v.map_or("-".into(), |v| v.to_string());
    let row = |name: &str, s: &Summary, windows: &[f64]| {
        let each: Vec<String> = windows.iter().map(f64::to_string).collect();
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            s.requests,
            s.failed,
            opt(s.p50_ms),
            opt(s.p99_ms),
            opt(median(windows).map(|v| round(v, 2))),
            each.join(", "),
        )
    };
    md.push_str(&format!(
        "\n### Route-table scale\n\nNamed services `a`, `b` and `c` (the lab's app, one webapp each), one host route each, then {} host routes spread over them (handed to ha in {:.2} s, through the runtime API). The same load on one route ({:.0} req/s, each on a new connection) in {} window(s) of each table size, alternating (small first), so what changes with time alone falls on both. The target compares each size's median window p99; the p99 of all requests is shown too:\n\n| routes | requests | failed | p50 ms | p99 ms (all) | p99 ms (median of windows) | p99 ms of each window |\n|---|---|---|---|---|---|---|\n{}{}\nOne more host added with {} routes in place: first answer after {}; HAProxy {}.\n",
        r.routes,
        r.handover_s,
        r.small.rate,
        r.rounds,
        row("3", &r.small, &r.small_window_p99_ms),
        row(&r.routes.to_string(), &r.large, &r.large_window_p99_ms),
        r.routes,
        r.added_first_answer_s.map_or("none".to_string(), |s| format!("{s:.3} s")),
        if r.reloaded { "reloaded" } else { "did not reload" },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_host_routes_spread_over_three_services() {
        let lab = cluster::parse("", "x.toml").unwrap();
        let one_each = NAMED.map(|name| (name, 1));
        let large = with_services(&lab, &one_each, 997, Some("added.bench")).unwrap();
        let entries = large.route_entries();
        assert_eq!(entries.len(), 1001);
        for name in NAMED {
            let mine = entries.iter().filter(|e| e.backend == name).count();
            assert!((333..=335).contains(&mine), "{name}: {mine}");
        }
        assert!(entries
            .iter()
            .any(|e| e.key == "added.bench/" && e.backend == "a"));
        assert_eq!(
            with_services(&lab, &one_each, 0, None)
                .unwrap()
                .route_entries()
                .len(),
            3
        );
    }
}
