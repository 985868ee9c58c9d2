//! One Docker engine: a container per node on a bridge network, converged by the stack
//! module; ports published on the host's loopback by default.
use std::collections::BTreeMap;
use std::time::Instant;

use cluster::Cluster;
use futures_util::future::LocalBoxFuture;

use super::{timings, Member, Observed, ScaleRequest, Scaled, Target, Timings, UpRequest};
use crate::context::Ctx;
use crate::stack;
use crate::{build, haproxy_stats, progress, tls};

pub(crate) struct OneEngine;

impl Target for OneEngine {
    fn up<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a UpRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>> {
        Box::pin(up(ctx, cluster, request))
    }

    fn scale<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a ScaleRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<Scaled>> {
        Box::pin(scale_to(ctx, cluster, request))
    }

    fn observe<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Observed>> {
        Box::pin(async move {
            let members = members(ctx, cluster).await?;
            let engine = ctx.engine().await?;
            Ok(Observed {
                members,
                ha: Ok((engine.clone(), cluster.ha.name.clone())),
            })
        })
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Vec<String>>> {
        Box::pin(stack::remove_stack(ctx, cluster))
    }
}

async fn up(ctx: &Ctx, cluster: &Cluster, request: &UpRequest) -> anyhow::Result<()> {
    let start = Instant::now();
    stack::check_neighbours(cluster.webapps.count, request.tune_host)?;
    stack::app::check_input(ctx, cluster).await?;
    let image = match request.rollback {
        true => Some(stack::previous_image(ctx, cluster).await?),
        false => None,
    };
    stack::preflight(ctx, cluster, cluster.webapps.count).await?;
    // A rollback runs images that exist: the context may be broken right now.
    if image.is_none() {
        build::ensure_images(ctx).await?;
        check_new_app(ctx, cluster).await?;
    }
    let rollout = stack::Rollout {
        timeout: request.timeout,
        image,
    };
    let actions = stack::converge_with(ctx, cluster, cluster.webapps.count, &rollout).await?;
    if actions.is_empty() {
        println!(
            "stack {} is already as declared: nothing to change",
            cluster.project
        );
    }
    let expected: Vec<String> = cluster
        .webapp_nodes(cluster.webapps.count)
        .into_iter()
        .map(|n| n.name)
        .collect();
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "waiting");
    let wait = stack::wait_for_servers(ctx, cluster, &expected, request.timeout, &bar).await;
    bar.finish_and_clear();
    wait?;
    println!(
        "{} webapps UP behind {} in {:.1}s\n  load balancer: {}\n  stats:         {}",
        expected.len(),
        cluster.ha.name,
        start.elapsed().as_secs_f64(),
        haproxy_stats::lb_url(cluster),
        haproxy_stats::stats_url(cluster),
    );
    if let Some(settings) = &cluster.ha.tls {
        let ca = match settings.generate {
            true => format!(" (CA: {})", tls::ca_path(ctx, cluster).display()),
            false => String::new(),
        };
        println!(
            "  https:         https://{}:{}/{ca}",
            haproxy_stats::published_host(cluster),
            cluster.ha.https_port,
        );
    }
    println!(
        "  metrics:       {}metrics",
        haproxy_stats::stats_url(cluster)
    );
    Ok(())
}

/// A new app image must listen on its port before it replaces a serving webapp.
async fn check_new_app(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let image = stack::app::webapp_image(cluster);
    let new = engine.image(&image).await?.and_then(|i| i.id);
    let first = cluster.webapp_name(1);
    let running = engine
        .inspect_container(&first)
        .await?
        .and_then(|c| c.image);
    if new.is_some() && new == running {
        return Ok(());
    }
    stack::app::check_listens(ctx, cluster, &image).await
}

/// Converges to the new count; each new container is timed from its start.
async fn scale_to(ctx: &Ctx, cluster: &Cluster, request: &ScaleRequest) -> anyhow::Result<Scaled> {
    stack::check_neighbours(request.webapps, request.tune_host)?;
    let engine = ctx.engine().await?;
    let mut timings = Timings::new();
    let mut started = BTreeMap::new();
    for applied in stack::converge(ctx, cluster, request.webapps).await? {
        if let Some(name) = applied.started_webapp(cluster) {
            started.insert(name.to_string(), applied.done - timings.start);
        }
    }
    let expected: Vec<String> = cluster
        .webapp_nodes(request.webapps)
        .into_iter()
        .map(|n| n.name)
        .collect();
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "scaling");
    // Serf is polled beside HAProxy so each phase is timed when it happens.
    let start = timings.start;
    let (joined, up) = (&mut timings.joined, &mut timings.up);
    tokio::select! {
        waited = stack::wait_for_servers_with(ctx, cluster, &expected, request.timeout, &bar, |s| timings::note_up(up, start, s)) => { waited?; }
        () = timings::poll_joined(engine, &cluster.ha.name, start, joined) => {}
    }
    bar.finish_and_clear();
    Ok(Scaled {
        timings,
        started,
        serving: expected.len(),
    })
}

/// One member per container of the project.
async fn members(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<Member>> {
    let engine = ctx.engine().await?;
    let node = engine.host_name().await?;
    let mut members = Vec::new();
    for observed in stack::observe(engine, cluster).await? {
        let info = engine.inspect_container(&observed.name).await?;
        let state = info.as_ref().and_then(|i| i.state.as_ref());
        let ip = info
            .as_ref()
            .and_then(|i| i.network_settings.as_ref())
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(&cluster.network.name))
            .and_then(|e| e.ip_address.clone())
            .unwrap_or_default();
        members.push(Member {
            name: observed.name,
            state: state
                .and_then(|s| s.status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            health: state
                .and_then(|s| s.health.as_ref())
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            node: node.clone(),
            ip,
        });
    }
    Ok(members)
}
