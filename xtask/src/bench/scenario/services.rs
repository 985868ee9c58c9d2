//! Scenario 12, several services: the bench's webapps (the default service) and two named
//! services of the lab's app at their own hosts, under one load split across the three.
//! Each service is scaled up under that load (the way `scale api=N` does it), a third
//! named service is added by `up` (what `up` does for services), and every answer is
//! checked against the service its request was routed to. Measured: failed and misrouted
//! answers per service, join to serving per service (as scenario 1), and the time from
//! `up` adding a service to its host's first answer.
use std::time::{Duration, Instant};

use cluster::Cluster;
use serde::Serialize;

use super::join::{creation_requests, first_answers, NodeJoin};
use super::Runner;
use crate::bench::client::Route;
use crate::bench::load::Sample;
use crate::bench::report::{opt, Section, Target};
use crate::bench::stats::{percentile, secs, summarize, Summary};
use crate::deploy::one_engine::{self, services};
use crate::progress;

/// Its section's number in results.md.
const NUMBER: u32 = 12;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| {
        section(md, &r.services);
        super::routes::section(md, &r.routes);
    },
    targets: |r| {
        let mut targets = targets(&r.services);
        targets.extend(super::routes::targets(&r.routes));
        targets
    },
};

/// The named services of the route-table part (scenario 12b), their hosts `<name>.bench`.
pub(crate) const NAMED: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct ServicesResult {
    /// The total rate, split evenly across the three services.
    pub(crate) rate: u32,
    pub(crate) services: Vec<ServiceLoad>,
    /// The service `up` added under load, and the time from `up` to its first answer.
    pub(crate) added: String,
    pub(crate) added_first_answer_s: Option<f64>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct ServiceLoad {
    pub(crate) name: String,
    /// The Host header its requests carried (`-`: none, the default service's).
    pub(crate) host: String,
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) load: Summary,
    /// Answers from a webapp of another service.
    pub(crate) misrouted: u64,
    pub(crate) nodes: Vec<NodeJoin>,
    pub(crate) join_p95_s: Option<f64>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<ServicesResult> {
    let ctx = runner.ctx;
    let quick = runner.settings.quick;
    let (from, to) = match quick {
        true => (1, 2),
        false => (2, 4),
    };
    let default_from = runner.settings.join_from;
    let rate = runner.settings.rate;
    let timeout = runner.settings.converge_timeout;
    let [a, b, added] = NAMED;
    runner.scale(runner.cluster, default_from).await?;
    let two = with_services(runner.cluster, &[(a, from), (b, from)], 0, None)?;
    services::up(ctx, &two, timeout).await?;

    let share = rate / 3;
    let loads = [
        (cluster::DEFAULT_SERVICE, None),
        (a, Some(route(a))),
        (b, Some(route(b))),
    ]
    .map(|(name, route)| {
        let load = runner.load_routed(share, Duration::from_secs(600), route.clone());
        (name, route, load)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Each service scaled up in turn, as `scale webapps=N a=N b=N` does.
    let default_to = default_from + (to - from);
    let mut applied = vec![runner.scale(runner.cluster, default_to).await];
    for name in [a, b] {
        applied.push(scale(runner, &two, name, to).await);
    }
    // A third named service added by `up`, its host polled from the call on.
    let three = with_services(runner.cluster, &[(a, to), (b, to), (added, from)], 0, None)?;
    let started = Instant::now();
    let prefix = three.services[added].app.prefix.clone();
    let added_route = route(added);
    let (upped, first) = tokio::join!(
        services::up(ctx, &three, timeout),
        super::routes::first_answer(runner, &added_route, &prefix, timeout)
    );
    let added_first_answer_s = first.map(|_| secs(started.elapsed()));
    // Every new webapp UP: give round robin time to reach each one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rows = Vec::new();
    for ((name, route, load), applied) in loads.into_iter().zip(applied) {
        let recorded = runner.finish(load).await?;
        let applied = applied?;
        let default = name == cluster::DEFAULT_SERVICE;
        let view = match default {
            true => runner.cluster.clone(),
            false => services::view(ctx, &three, name, to).await?,
        };
        let nodes = first_answers(&creation_requests(runner, &applied), &recorded.samples);
        let mut times: Vec<f64> = nodes.iter().filter_map(|n| n.to_first_answer_s).collect();
        times.sort_by(f64::total_cmp);
        rows.push(ServiceLoad {
            name: name.to_string(),
            host: route.map_or("-".to_string(), |r| r.host),
            from: if default { default_from } else { from },
            to: if default { default_to } else { to },
            load: summarize(&recorded),
            misrouted: misrouted(&recorded.samples, &view),
            join_p95_s: percentile(&times, 95.0),
            nodes,
        });
    }
    upped?;
    // Back to the bench's own cluster: the named services go, the default one shrinks.
    let none = with_services(runner.cluster, &[], 0, None)?;
    services::up(ctx, &none, timeout).await?;
    runner.scale(runner.cluster, default_from).await?;
    Ok(ServicesResult {
        rate: share * 3,
        services: rows,
        added: added.to_string(),
        added_first_answer_s,
    })
}

/// Service `name` of `cluster` scaled to `to`, waited on until HAProxy serves exactly
/// those; what converge did.
async fn scale(
    runner: &Runner<'_>,
    cluster: &Cluster,
    name: &str,
    to: u32,
) -> anyhow::Result<Vec<one_engine::Applied>> {
    let view = services::view(runner.ctx, cluster, name, to).await?;
    let applied = one_engine::converge(runner.ctx, &view, to).await?;
    let expected: Vec<String> = view.webapp_nodes(to).into_iter().map(|n| n.name).collect();
    let multi = progress::multi();
    let bar = progress::spinner(&multi, name);
    let waited = one_engine::wait_for_servers(
        runner.ctx,
        &view,
        &expected,
        runner.settings.converge_timeout,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    waited?;
    Ok(applied)
}

/// Answers that came from a webapp not of `view`'s service.
fn misrouted(samples: &[Sample], view: &Cluster) -> u64 {
    let Some(service) = view.service(view.service_name()) else {
        return 0;
    };
    let count = samples
        .iter()
        .filter_map(|s| s.outcome.served_by())
        .filter(|host| service.index_of(host).is_none())
        .count();
    count as u64
}

/// The request that reaches named service `name`: its host.
fn route(name: &str) -> Route {
    Route {
        host: format!("{name}.bench"),
        path: "/".into(),
    }
}

/// The bench's cluster with named services `services` (name, count: the lab's app, host
/// `<name>.bench`), `extra` more host routes spread over them, and `added` on the first.
pub(crate) fn with_services(
    cluster: &Cluster,
    services: &[(&str, u32)],
    extra: usize,
    added: Option<&str>,
) -> anyhow::Result<Cluster> {
    let mut text = cluster.to_toml();
    for (i, (name, count)) in services.iter().enumerate() {
        let mut hosts = vec![format!("{name}.bench")];
        hosts.extend(
            (0..extra)
                .filter(|n| n % services.len() == i)
                .map(|n| format!("r{n:04}.bench")),
        );
        if i == 0 {
            hosts.extend(added.map(String::from));
        }
        let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
        text.push_str(&format!(
            "\n[services.{name}]\ncount = {count}\nprefix = \"{}-{name}\"\nhosts = [{}]\n",
            cluster.project,
            hosts.join(", ")
        ));
    }
    cluster::parse(&text, "bench services").map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn targets(r: &ServicesResult) -> Vec<Target> {
    let failed: u64 = r.services.iter().map(|s| s.load.failed).sum();
    let misrouted: u64 = r.services.iter().map(|s| s.misrouted).sum();
    let requests: u64 = r.services.iter().map(|s| s.load.requests).sum();
    let joins: Vec<String> = r
        .services
        .iter()
        .map(|s| format!("{} {}", s.name, opt_s(s.join_p95_s)))
        .collect();
    let joined = r
        .services
        .iter()
        .all(|s| s.join_p95_s.is_some_and(|p95| p95 <= 3.0));
    vec![
        Target::new(
            format!("3 services at {} req/s: failed, misrouted", r.rate),
            "0, 0",
            format!("{failed}, {misrouted} of {requests}"),
            Some(failed == 0 && misrouted == 0),
        ),
        Target::new(
            "3 services: join to serving p95, each",
            "<= 3 s",
            joins.join(", "),
            Some(joined),
        ),
        Target::new(
            format!("`up` adding service {}: first answer", r.added),
            "reported",
            opt_s(r.added_first_answer_s),
            None,
        ),
    ]
}

fn opt_s(value: Option<f64>) -> String {
    value.map_or("none".to_string(), |s| format!("{s:.2} s"))
}

pub(crate) fn section(md: &mut String, r: &ServicesResult) {
    md.push_str(&format!(
        "\n## {NUMBER}. Several services\n\nThe bench's webapps (the default service) and named services `a` and `b` (the lab's app, hosts `a.bench`, `b.bench`) behind one ha, under {} req/s split evenly across the three (each request on a new connection, its `Host` the service's). Each service was scaled up in turn under that load, then `up` added service `{}`; every answer was checked against the service its request was routed to.\n\n| service | Host | webapps | requests | failed | misrouted | p50 ms | p99 ms | join p95 |\n|---|---|---|---|---|---|---|---|---|\n",
        r.rate, r.added
    ));
    for s in &r.services {
        md.push_str(&format!(
            "| {} | {} | {} -> {} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            s.host,
            s.from,
            s.to,
            s.load.requests,
            s.load.failed,
            s.misrouted,
            opt(s.load.p50_ms, 1),
            opt(s.load.p99_ms, 1),
            opt_s(s.join_p95_s)
        ));
    }
    md.push_str(&format!(
        "\n`up` adding service `{}` (one webapp) under that load: its host's first answer {} after `up` began (a new backend: one validated hitless reload, then the webapp's join).\n",
        r.added,
        opt_s(r.added_first_answer_s)
    ));
}
