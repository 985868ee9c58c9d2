//! The named services (`[services.<name>]`) on one engine. Each runs through the same
//! plan, converge, rollout and wait as the default service, as a view of the cluster
//! (`Cluster::view_of`): its own webapps, image, health and backend. Their containers
//! carry the service label, so no service's plan ever touches another's; ha learns the
//! services at runtime (`ha-agent services`), so adding or removing one never recreates it.
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context as _;
use cluster::{labels, Cluster};

use crate::context::{Ctx, UsageError};
use crate::deploy::app_input;
use crate::engine::Engine;
use crate::progress;

/// Service `name` of `cluster` with `webapps` webapps, each container at the address it
/// has, or a free one for those not made yet.
pub(crate) async fn view(
    ctx: &Ctx,
    cluster: &Cluster,
    name: &str,
    webapps: u32,
) -> anyhow::Result<Cluster> {
    if cluster.view.is_some() || name == cluster::DEFAULT_SERVICE {
        return Ok(cluster.clone());
    }
    let engine = ctx.engine().await?;
    let names = cluster.container_names(name, webapps);
    let placed = addresses(engine, cluster).await?;
    // This service's containers keep their addresses.
    let existing: BTreeMap<String, Ipv4Addr> = names
        .iter()
        .filter_map(|n| match placed.get(n)? {
            (service, ip) if service == name => Some((n.clone(), *ip)),
            _ => None,
        })
        .collect();
    let in_use: BTreeSet<Ipv4Addr> = placed.values().map(|(_, ip)| *ip).collect();
    let addresses = cluster
        .allocate(&names, &existing, &in_use)
        .map_err(|err| {
            UsageError(format!(
                "{}: services.{name}.count: {err}",
                ctx.config_file()
            ))
        })?;
    cluster
        .view_of(name, addresses)
        .with_context(|| format!("service {name} is not declared"))
}

/// Every container of the project on its network: its service (`webapps` for the default
/// one's and ha) and address, by container name.
pub(crate) async fn addresses(
    engine: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<BTreeMap<String, (String, Ipv4Addr)>> {
    let containers = engine
        .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?;
    let mut placed = BTreeMap::new();
    for container in containers {
        let service = container
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::SERVICE).cloned())
            .unwrap_or_else(|| cluster::DEFAULT_SERVICE.to_string());
        // A stopped container has no address, but keeps the one it was given.
        let endpoint = container
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(&cluster.network.name));
        let given = endpoint
            .and_then(|e| e.ipam_config.as_ref())
            .and_then(|c| c.ipv4_address.as_deref());
        let ip = endpoint
            .and_then(|e| e.ip_address.as_deref())
            .filter(|ip| !ip.is_empty())
            .or(given)
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        if let (Some(name), Some(ip)) = (container_name(&container), ip) {
            placed.insert(name, (service, ip));
        }
    }
    Ok(placed)
}

/// A listed container's name (the engine lists it as `/name`).
fn container_name(container: &bollard::models::ContainerSummary) -> Option<String> {
    let name = container.names.as_ref()?.first()?;
    Some(name.trim_start_matches('/').to_string())
}

/// Whether `up` has named services to converge: declared ones, or containers of one
/// that is no longer declared.
pub(crate) async fn any(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<bool> {
    if !cluster.services.is_empty() {
        return Ok(true);
    }
    let engine = ctx.engine().await?;
    let placed = addresses(engine, cluster).await?;
    Ok(placed
        .values()
        .any(|(service, _)| service != cluster::DEFAULT_SERVICE))
}

/// Hands ha the declared services (their routes, ports, health, drain); ha's agent
/// validates them, adds or removes backends by a validated reload and routes through its
/// runtime API. Prints what ha changed.
pub(crate) async fn hand_to_ha(engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let ha = &cluster.ha.name;
    let toml = cluster.services_toml();
    let out = engine
        .exec_with_input(ha, &["ha-agent", "services"], toml.as_bytes())
        .await?;
    if out.exit_code != 0 {
        anyhow::bail!(
            "{ha} refused the services: {}",
            cluster::escape_control(out.stderr.trim())
        );
    }
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        println!("{ha}: {}", cluster::escape_control(line));
    }
    Ok(())
}

/// Containers of services no longer declared, with their sidecars: each leaves the
/// cluster (its Serf goes down, ha drains it), then stops and goes.
pub(crate) async fn remove_undeclared(engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    remove_where(engine, cluster, |service| {
        !cluster.services.contains_key(service)
    })
    .await
    .map(drop)
}

/// Every named service's containers (`down`); their names.
pub(crate) async fn remove_all(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    remove_where(engine, cluster, |_| true).await
}

/// The named services' containers whose service `gone` says goes, drained then removed.
async fn remove_where(
    engine: &Engine,
    cluster: &Cluster,
    gone: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let containers = engine
        .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?;
    let mut webapps = Vec::new();
    let mut sidecars = Vec::new();
    for container in &containers {
        let labels = container.labels.clone().unwrap_or_default();
        let Some(service) = labels.get(labels::SERVICE) else {
            continue;
        };
        if !gone(service) {
            continue;
        }
        let name = container_name(container).unwrap_or_default();
        match labels.contains_key(labels::NODE) {
            true => webapps.push(name),
            false => sidecars.push(name),
        }
    }
    if webapps.is_empty() && sidecars.is_empty() {
        return Ok(Vec::new());
    }
    for webapp in &webapps {
        println!(
            "remove {webapp} (service {})",
            cluster
                .service_of(webapp)
                .map_or("no longer declared", |s| s.name)
        );
        let sidecar = Cluster::sidecar_name(webapp);
        let serf = match sidecars.contains(&sidecar) {
            true => sidecar,
            false => webapp.clone(),
        };
        // Serf leaves first, so ha takes the server out before it stops.
        let _ = engine.exec(&serf, &["s6-svc", "-d", "/etc/s6/serf"]).await;
    }
    tokio::time::sleep(Duration::from_millis(u64::from(cluster.webapps.drain_ms))).await;
    for name in sidecars.iter().chain(&webapps) {
        engine
            .stop_container(name, cluster.webapps.stop_timeout_s())
            .await?;
        engine.remove_container(name).await?;
    }
    Ok(webapps.into_iter().chain(sidecars).collect())
}

/// The named services' half of `up`, after the default service serves: services no
/// longer declared go, ha is handed the declared ones, then each converges and is waited
/// for. A service that fails (a broken image stops its rollout at its first slot) stops
/// only itself: the others still converge, and the error names it.
pub(crate) async fn up(ctx: &Ctx, cluster: &Cluster, timeout: Duration) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    // ha first: a removed service's routes fall to the default service (its old worker
    // finishes what is in flight), then its containers go.
    hand_to_ha(engine, cluster).await?;
    remove_undeclared(engine, cluster).await?;
    let mut failed = Vec::new();
    for name in cluster.services.keys() {
        let count = cluster.services[name].app.count;
        if let Err(err) = up_one(ctx, cluster, name, count, timeout, None).await {
            eprintln!("error: service {name}: {err:#}");
            failed.push(name.clone());
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        names => anyhow::bail!(
            "service(s) {} did not converge (see above); the others serve as declared",
            names.join(", ")
        ),
    }
}

/// Each named service's input (its image exists, its build folder has a Dockerfile) and
/// container names, before `up` touches anything.
pub(crate) async fn check_input(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    for (name, service) in &cluster.services {
        let view = view(ctx, cluster, name, service.app.count).await?;
        app_input::check_input(ctx, &view).await?;
        super::preflight(ctx, &view, service.app.count).await?;
    }
    Ok(())
}

/// Each named service's new app image listens on its port (after the build), before
/// `up` touches anything.
pub(crate) async fn check_new_apps(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    for (name, service) in &cluster.services {
        let view = view(ctx, cluster, name, service.app.count).await?;
        super::ops::check_new_app(ctx, &view).await?;
    }
    Ok(())
}

/// `up --rollback=<name>`: service `name`'s previous image back, slot by slot as a
/// rolling update; nothing is built and no other service is touched.
pub(crate) async fn rollback(
    ctx: &Ctx,
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let Some(service) = cluster.services.get(name) else {
        let known: Vec<&str> = cluster.services().iter().map(|s| s.name).collect();
        anyhow::bail!(UsageError(format!(
            "--rollback={name}: {name:?} is not a service of this cluster; use one of {}",
            known.join(", ")
        )));
    };
    let count = service.app.count;
    let view = view(ctx, cluster, name, count).await?;
    let image = super::previous_image(ctx, &view).await?;
    up_one(ctx, cluster, name, count, timeout, Some(image)).await
}

/// Service `name` converged to `count` webapps (of `image` instead of the declared one,
/// for a rollback), waited on until HAProxy serves exactly them.
async fn up_one(
    ctx: &Ctx,
    cluster: &Cluster,
    name: &str,
    count: u32,
    timeout: Duration,
    image: Option<String>,
) -> anyhow::Result<()> {
    let view = view(ctx, cluster, name, count).await?;
    let rollout = super::Rollout { timeout, image };
    let started = std::time::Instant::now();
    let actions = super::converge_with(ctx, &view, count, &rollout).await?;
    let expected: Vec<String> = view
        .webapp_nodes(count)
        .into_iter()
        .map(|n| n.name)
        .collect();
    let multi = progress::multi();
    let bar = progress::spinner(&multi, name);
    let wait = super::wait_for_servers(ctx, &view, &expected, timeout, &bar).await;
    bar.finish_and_clear();
    wait?;
    let took = (!actions.is_empty()).then(|| started.elapsed());
    crate::deploy::summary::service_serving(cluster, name, expected.len(), took);
    Ok(())
}
