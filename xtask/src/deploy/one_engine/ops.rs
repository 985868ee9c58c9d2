//! This target's half of `up`, `scale`, `status` and `down`: a container per node on a
//! bridge network, converged by this module's parent; ports published on the host's
//! loopback by default.
use std::collections::BTreeMap;
use std::time::Instant;

use cluster::Cluster;

use crate::context::Ctx;
use crate::deploy::{
    app_input, summary, timings, ClusterStatus, NodeStatus, ScaleRequest, Scaled, Timings,
    UpRequest,
};
use crate::{build, haproxy_stats, progress, tls};

/// `status`: the containers, and ha's.
pub(crate) async fn observe(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<ClusterStatus> {
    let members = members(ctx, cluster).await?;
    let engine = ctx.engine().await?;
    Ok(ClusterStatus {
        members,
        ha: Ok((engine.clone(), cluster.ha.name.clone())),
    })
}

/// `down --images`: the three images the build makes, and the tag a rollout put on the
/// image it replaced (for `--rollback`) while it still names that image.
pub(crate) async fn remove_images(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let engine = ctx.engine().await?;
    let mut done = Vec::new();
    // Checked against the project label: images a user built FROM ours inherit that
    // label, but not these tags.
    let views: Vec<Cluster> = cluster
        .services()
        .iter()
        .filter_map(|s| cluster.view_of(s.name, BTreeMap::new()))
        .collect();
    // Each named service's own build (`webapp-<service>`), then the three images.
    let mut images: Vec<String> = views
        .iter()
        .filter(|view| view.view.is_some())
        .map(|view| view.webapp_image_name())
        .filter(|name| name != "webapp")
        .collect();
    images.extend(cluster::PROJECT_IMAGES.map(String::from));
    for image in images {
        let tag = cluster.image_tag(&image);
        if engine.image_of_project(&tag, &cluster.project).await? {
            engine.remove_image(&tag).await?;
            done.push(format!("removed image {tag}"));
        }
    }
    for view in &views {
        let previous = super::previous_tag(view);
        let tagged = engine.image(&previous).await?.and_then(|image| image.id);
        if let Some(id) = tagged {
            if super::recorded_previous(ctx, view).as_ref() == Some(&id) {
                engine.remove_image(&previous).await?;
                done.push(format!("removed image tag {previous}"));
            } else {
                done.push(format!(
                    "kept image tag {previous}: it is not the image this project's last rollout tagged"
                ));
            }
        }
    }
    Ok(done)
}

/// `down`: the project's containers and network.
pub(crate) async fn remove(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    super::remove_stack(ctx, cluster).await
}

pub(crate) async fn up(ctx: &Ctx, cluster: &Cluster, request: &UpRequest) -> anyhow::Result<()> {
    let start = Instant::now();
    let all_webapps = cluster.services().iter().map(|s| s.app.count).sum();
    super::check_neighbours(all_webapps, request.tune_host)?;
    app_input::check_input(ctx, cluster).await?;
    // A named service's rollback touches that service alone.
    if let Some(name) = request.rollback.as_deref() {
        if name != cluster::DEFAULT_SERVICE {
            return super::services::rollback(ctx, cluster, name, request.timeout).await;
        }
    }
    let image = match request.rollback {
        Some(_) => Some(super::previous_image(ctx, cluster).await?),
        None => None,
    };
    super::preflight(ctx, cluster, cluster.webapps.count).await?;
    let services = super::services::any(ctx, cluster).await?;
    // Every named service's input too, before anything is touched.
    super::services::check_input(ctx, cluster).await?;
    // A rollback runs images that exist: the context may be broken right now.
    if image.is_none() {
        build::ensure_images(ctx).await?;
        check_new_app(ctx, cluster).await?;
        super::services::check_new_apps(ctx, cluster).await?;
    }
    let rollout = super::Rollout {
        timeout: request.timeout,
        image,
    };
    // The default service, then the named ones, each stopping only itself: a broken
    // default image leaves the named services converging.
    let default = up_default(ctx, cluster, &rollout, start).await;
    if let (Err(err), true) = (&default, services) {
        eprintln!("error: service {}: {err:#}", cluster::DEFAULT_SERVICE);
    }
    let named = match services {
        true => super::services::up(ctx, cluster, request.timeout).await,
        false => Ok(()),
    };
    default?;
    named?;
    println!(
        "  load balancer: {}\n  stats:         {}",
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

/// The default service's half of `up`: converge ha and `[webapps]`, wait until HAProxy
/// serves exactly them.
async fn up_default(
    ctx: &Ctx,
    cluster: &Cluster,
    rollout: &super::Rollout,
    start: Instant,
) -> anyhow::Result<()> {
    let actions = super::converge_with(ctx, cluster, cluster.webapps.count, rollout).await?;
    if actions.is_empty() {
        summary::nothing_to_change(cluster);
    }
    let expected: Vec<String> = cluster
        .webapp_nodes(cluster.webapps.count)
        .into_iter()
        .map(|n| n.name)
        .collect();
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "waiting");
    let wait = super::wait_for_servers(ctx, cluster, &expected, rollout.timeout, &bar).await;
    bar.finish_and_clear();
    wait?;
    summary::serving(cluster, expected.len(), start.elapsed(), None);
    Ok(())
}

/// A new app image must listen on its port before it replaces a serving webapp.
pub(crate) async fn check_new_app(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let image = app_input::webapp_image(cluster);
    let new = engine.image(&image).await?.and_then(|i| i.id);
    let first = cluster.webapp_name(1);
    let running = engine
        .inspect_container(&first)
        .await?
        .and_then(|c| c.image);
    if new.is_some() && new == running {
        return Ok(());
    }
    super::app::check_listens(ctx, cluster, &image).await
}

/// Converges to the new count; each new container is timed from its start.
pub(crate) async fn scale_to(
    ctx: &Ctx,
    cluster: &Cluster,
    request: &ScaleRequest,
) -> anyhow::Result<Scaled> {
    super::check_neighbours(request.webapps, request.tune_host)?;
    let engine = ctx.engine().await?;
    // A named service's backend exists in ha once `up` has handed it the services.
    if cluster.view.is_some() {
        let backend = format!("{},BACKEND,", cluster.backend_name());
        let csv = haproxy_stats::fetch_csv(cluster).await?;
        if !csv.lines().any(|line| line.starts_with(&backend)) {
            anyhow::bail!(crate::context::UsageError(format!(
                "service {} is not up yet (ha has no backend for it); run `cargo xtask up` first",
                cluster.service_name()
            )));
        }
    }
    let mut timings = Timings::new();
    let mut started = BTreeMap::new();
    for applied in super::converge(ctx, cluster, request.webapps).await? {
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
        waited = super::wait_for_servers_with(ctx, cluster, &expected, request.timeout, &bar, |s| timings::note_up(up, start, s)) => { waited?; }
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
async fn members(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<NodeStatus>> {
    let engine = ctx.engine().await?;
    let node = engine.host_name().await?;
    let mut members = Vec::new();
    // Every declared service's containers (each view observes its own).
    let mut observed = Vec::new();
    for service in cluster.services() {
        if let Some(view) = cluster.view_of(service.name, BTreeMap::new()) {
            observed.extend(super::observe(engine, &view).await?);
        }
    }
    for observed in observed {
        let info = engine.inspect_container(&observed.name).await?;
        let state = info.as_ref().and_then(|i| i.state.as_ref());
        let ip = info
            .as_ref()
            .and_then(|i| i.network_settings.as_ref())
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(&cluster.network.name))
            .and_then(|e| e.ip_address.clone())
            .unwrap_or_default();
        members.push(NodeStatus {
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
