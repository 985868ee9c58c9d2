//! Route-table scale (`bench --only routes`, for development until its section joins the
//! full report): three services (the lab's app in each) with one host route each, then
//! 1,000 host routes spread over them, handed to ha as `up` does (`ha-agent services`: a
//! route change goes through HAProxy's runtime API). Measured in one run: the latency
//! through ha on one route with 3 and with 1,000 routes in the table (the same load), and
//! one host added with 1,000 routes in place: the time to its first answer, and whether
//! HAProxy reloaded.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;
use serde::Serialize;

use super::Runner;
use crate::bench::client::{self, Outcome, Route};
use crate::bench::report::Target;
use crate::bench::stats::{secs, summarize, Summary};
use crate::deploy::one_engine::services;

/// The named services the routes are spread over.
const SERVICES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Serialize)]
pub(crate) struct RoutesResult {
    /// Host routes in the large table.
    pub(crate) routes: usize,
    /// The load on one route with one route per service.
    pub(crate) small: Summary,
    /// The same load with `routes` routes.
    pub(crate) large: Summary,
    /// The same load with one route per service again, after the large table: a control
    /// for what changes with time alone (the windows run one after the other).
    pub(crate) small_after: Summary,
    /// Handing ha the large table (all but 3 routes added through the runtime API).
    pub(crate) handover_s: f64,
    /// From handing ha one more host to that host's first answer.
    pub(crate) added_first_answer_s: Option<f64>,
    /// Whether HAProxy's worker changed (a reload) while routes were added.
    pub(crate) reloaded: bool,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<RoutesResult> {
    let ctx = runner.ctx;
    let engine = ctx.engine().await?;
    let quick = runner.settings.quick;
    let routes = 1000;
    let (rate, window) = match quick {
        true => (200, Duration::from_secs(5)),
        false => (runner.settings.rate, Duration::from_secs(20)),
    };
    let small = with_routes(runner.cluster, 0, None)?;
    services::up(ctx, &small, runner.settings.converge_timeout).await?;
    let probe = Route {
        host: "a.bench".into(),
        path: "/".into(),
    };
    let small_load = measure(runner, rate, window, &probe).await?;

    let pid = worker_pid(runner).await?;
    let large = with_routes(runner.cluster, routes - SERVICES.len(), None)?;
    let started = Instant::now();
    services::hand_to_ha(engine, &large).await?;
    let handover_s = secs(started.elapsed());
    let large_load = measure(runner, rate, window, &probe).await?;

    let added = with_routes(runner.cluster, routes - SERVICES.len(), Some("added.bench"))?;
    let started = Instant::now();
    services::hand_to_ha(engine, &added).await?;
    let route = Route {
        host: "added.bench".into(),
        path: "/".into(),
    };
    let first = first_answer(runner, &route, &format!("{}-a", runner.cluster.project)).await;
    let added_first_answer_s = first.map(|_| secs(started.elapsed()));
    let reloaded = worker_pid(runner).await? != pid;
    services::hand_to_ha(engine, &small).await?;
    let small_after = measure(runner, rate, window, &probe).await?;
    // The named services go (the default one is the bench's).
    let without = with_routes(runner.cluster, 0, None).map(|mut c| {
        c.services.clear();
        c
    })?;
    services::remove_undeclared(engine, &without).await?;
    services::hand_to_ha(engine, &without).await?;
    Ok(RoutesResult {
        routes,
        small: small_load,
        large: large_load,
        small_after,
        handover_s,
        added_first_answer_s,
        reloaded,
    })
}

/// The bench's cluster with services a, b and c (one webapp each, the lab's app), each
/// with its own host and `extra` more host routes spread over them, and `added` on a.
fn with_routes(cluster: &Cluster, extra: usize, added: Option<&str>) -> anyhow::Result<Cluster> {
    let mut text = cluster.to_toml();
    for (i, name) in SERVICES.iter().enumerate() {
        let mut hosts = vec![format!("{name}.bench")];
        hosts.extend(
            (0..extra)
                .filter(|n| n % SERVICES.len() == i)
                .map(|n| format!("r{n:04}.bench")),
        );
        if i == 0 {
            hosts.extend(added.map(String::from));
        }
        let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        text.push_str(&format!(
            "\n[services.{name}]\ncount = 1\nprefix = \"{}-{name}\"\nhosts = [{}]\n",
            cluster.project,
            hosts.join(", ")
        ));
    }
    cluster::parse(&text, "bench routes").map_err(|e| anyhow::anyhow!("{e}"))
}

async fn measure(
    runner: &Runner<'_>,
    rate: u32,
    window: Duration,
    route: &Route,
) -> anyhow::Result<Summary> {
    let load = runner.load_routed(rate, window, Some(route.clone()));
    tokio::time::sleep(window).await;
    let recorded = runner.finish(load).await?;
    Ok(summarize(&recorded))
}

/// Polls `route` every 10 ms (for 10 s at most) until a webapp of `prefix` answers.
async fn first_answer(runner: &Runner<'_>, route: &Route, prefix: &str) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
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
    let p99 = |s: &Summary| s.p99_ms;
    // Against the slower of the two small-table windows around it.
    let small = match (p99(&r.small), p99(&r.small_after)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let within = match (small, p99(&r.large)) {
        (Some(small), Some(large)) => Some(large <= small * 1.10),
        _ => None,
    };
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
            name: format!("p99 through ha, {} routes vs 3", r.routes),
            goal: "within 10%".into(),
            measured: format!(
                "{} ms vs {} ms",
                p99(&r.large).map_or("-".into(), |v| v.to_string()),
                small.map_or("-".into(), |v| v.to_string())
            ),
            met: within,
        },
    ]
}

/// The figures, as markdown.
pub(crate) fn section(md: &mut String, r: &RoutesResult) {
    md.push_str(&format!(
        "### Route-table scale\n\n3 services (the lab's app), one host route each, then {} host routes spread over them (handed to ha in {:.2} s, through the runtime API). The same load on one route ({:.0} req/s, each on a new connection):\n\n| routes | requests | failed | p50 ms | p99 ms |\n|---|---|---|---|---|\n| 3 | {} | {} | {} | {} |\n| {} | {} | {} | {} | {} |\n| 3, after | {} | {} | {} | {} |\n\nOne more host added with {} routes in place: first answer after {}; HAProxy {}.\n\n",
        r.routes,
        r.handover_s,
        r.small.rate,
        r.small.requests,
        r.small.failed,
        r.small.p50_ms.map_or("-".into(), |v| v.to_string()),
        r.small.p99_ms.map_or("-".into(), |v| v.to_string()),
        r.routes,
        r.large.requests,
        r.large.failed,
        r.large.p50_ms.map_or("-".into(), |v| v.to_string()),
        r.large.p99_ms.map_or("-".into(), |v| v.to_string()),
        r.small_after.requests,
        r.small_after.failed,
        r.small_after.p50_ms.map_or("-".into(), |v| v.to_string()),
        r.small_after.p99_ms.map_or("-".into(), |v| v.to_string()),
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
        let large = with_routes(&lab, 997, Some("added.bench")).unwrap();
        let entries = large.route_entries();
        assert_eq!(entries.len(), 1001);
        for name in SERVICES {
            let mine = entries.iter().filter(|e| e.backend == name).count();
            assert!((333..=335).contains(&mine), "{name}: {mine}");
        }
        assert!(entries
            .iter()
            .any(|e| e.key == "added.bench/" && e.backend == "a"));
        assert_eq!(with_routes(&lab, 0, None).unwrap().route_entries().len(), 3);
    }
}
