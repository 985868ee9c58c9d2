//! The Swarm target (`[deploy] target = "swarm"`): the cluster as Swarm services (ha's,
//! and one per cluster service) on the Swarm that DOCKER_HOST's engine manages. Observe the project's services, plan the
//! difference ([`plan`]), apply it through the Engine API, wait until HAProxy serves.
//!
//! Images reach every node without an external registry (loaded node by node, or pushed
//! to `deploy.registry`); the Serf secrets and the stats password are Swarm secrets.
pub(crate) mod commands;
mod images;
mod nodes;
pub(crate) mod ops;
mod plan;
mod registry_login;
mod secrets;
mod spec;
mod wait;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use bollard::models::Service;
use cluster::{labels, Cluster, Role};

use crate::context::{Ctx, UsageError};
use crate::deploy::NodeStatus;
use crate::engine::{Engine, NetworkDriver, SwarmTask};
use crate::progress;
use crate::wait::Wait;
pub(crate) use nodes::node_engine;
pub(crate) use plan::ServiceAction;
use plan::{DesiredService, ObservedService};
pub(crate) use wait::wait_serving;

/// The manager's engine: DOCKER_HOST's, refused (exit 2) when it manages no Swarm.
pub(crate) async fn manager(ctx: &Ctx) -> anyhow::Result<&Engine> {
    let engine = ctx.engine().await?;
    if !engine.swarm_local().await?.control_available {
        bail!(UsageError(format!(
            "{}: deploy.target = \"swarm\", but the engine at {} is not a Swarm manager; point DOCKER_HOST at a manager's engine (`cargo xtask swarm-lab up` prints one) or set target = \"engine\"",
            ctx.config_file(),
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".into())
        )));
    }
    Ok(engine)
}

/// The project's services on the Swarm.
pub(crate) async fn services(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Vec<Service>> {
    engine
        .services_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await
}

fn service_name(service: &Service) -> String {
    service
        .spec
        .as_ref()
        .and_then(|s| s.name.clone())
        .unwrap_or_default()
}

/// The image a service's tasks are to run.
fn service_image(service: &Service) -> Option<String> {
    let container = service
        .spec
        .as_ref()?
        .task_template
        .as_ref()?
        .container_spec
        .as_ref()?;
    container.image.clone()
}

fn observed(services: &[Service]) -> Vec<ObservedService> {
    services
        .iter()
        .map(|service| {
            let spec = service.spec.as_ref();
            ObservedService {
                name: service_name(service),
                fingerprint: spec
                    .and_then(|s| s.labels.as_ref())
                    .and_then(|l| l.get(spec::FINGERPRINT))
                    .cloned()
                    .unwrap_or_default(),
                replicas: spec.and_then(spec::replicas),
            }
        })
        .collect()
}

/// Brings the Swarm to ha, `webapps` default webapps and each named service's `count`,
/// with the images built now: images onto every node, secrets, the overlay network, then
/// the services. Returns the actions taken.
pub(crate) async fn converge(
    ctx: &Ctx,
    cluster: &Cluster,
    webapps: u32,
) -> anyhow::Result<Vec<ServiceAction>> {
    let engine = manager(ctx).await?;
    check(ctx, cluster, engine).await?;
    // Swarm secrets and registry logins go to the manager.
    engine.ensure_private_transport()?;
    let login = registry_login::for_cluster(ctx, cluster)?;
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "images");
    let images = images::distribute(ctx, cluster, engine, login.as_ref(), &bar).await;
    bar.finish_and_clear();
    let images = images?;
    let secret_ids = secrets::ensure(ctx, cluster, engine).await?;
    crate::deploy::network::ensure_network_of(engine, cluster, NetworkDriver::Overlay).await?;
    let specs: Vec<_> = cluster
        .swarm_services(&images, &cluster.swarm_secrets(), webapps)
        .iter()
        .map(|service| spec::service_spec(cluster, service, &secret_ids))
        .collect();
    let desired: Vec<DesiredService> = specs
        .iter()
        .map(|spec| DesiredService {
            name: spec.name.clone().unwrap_or_default(),
            fingerprint: spec
                .labels
                .as_ref()
                .and_then(|l| l.get(spec::FINGERPRINT))
                .cloned()
                .unwrap_or_default(),
            replicas: spec::replicas(spec).unwrap_or(0),
        })
        .collect();
    let current = services(engine, cluster).await?;
    let actions = plan::plan(&desired, &observed(&current));
    let mut done = Vec::new();
    for action in actions {
        println!("{action}");
        match &action {
            ServiceAction::Create(name) => {
                engine
                    .create_service(spec_named(&specs, name), login.clone())
                    .await?;
            }
            ServiceAction::Update(name) | ServiceAction::Scale { name, .. } => {
                let version = current
                    .iter()
                    .find(|s| service_name(s) == *name)
                    .and_then(|s| s.version.as_ref())
                    .and_then(|v| v.index)
                    .with_context(|| format!("service {name} has no version"))?;
                engine
                    .update_service(spec_named(&specs, name), version, login.clone())
                    .await?;
            }
            ServiceAction::Remove(name) => engine.remove_service(name).await?,
        }
        done.push(action);
    }
    Ok(done)
}

/// What the user must fix, found before anything is built, loaded or created: the app's
/// build folder, a network or secret in the way, a node the images cannot reach.
async fn check(ctx: &Ctx, cluster: &Cluster, engine: &Engine) -> anyhow::Result<()> {
    crate::deploy::app_input::check_input(ctx, cluster).await?;
    for view in views(cluster) {
        crate::deploy::app_input::check_input(ctx, &view).await?;
    }
    secrets::check(ctx, cluster, engine).await?;
    crate::deploy::network::check_network_of(engine, cluster, NetworkDriver::Overlay).await?;
    if cluster.deploy.registry.is_none() {
        for node in engine
            .swarm_members()
            .await?
            .iter()
            .filter(|n| n.is_ready())
        {
            if node_engine(ctx, cluster, engine, node).await.is_none() {
                bail!(images::unreachable(ctx, &node.hostname));
            }
        }
    }
    Ok(())
}

/// Each named service as a cluster of its own (its Swarm service, backend and app).
fn views(cluster: &Cluster) -> Vec<Cluster> {
    cluster
        .services
        .keys()
        .filter_map(|name| cluster.view_of(name, BTreeMap::new()))
        .collect()
}

fn spec_named(specs: &[bollard::models::ServiceSpec], name: &str) -> bollard::models::ServiceSpec {
    specs
        .iter()
        .find(|s| s.name.as_deref() == Some(name))
        .cloned()
        .expect("the plan names declared services only")
}

/// `scale --webapps N` (or `scale api=N` with api's view): only that service's replica
/// count changes; its spec stays as the last `up` made it.
pub(crate) async fn scale(ctx: &Ctx, cluster: &Cluster, webapps: u32) -> anyhow::Result<()> {
    let engine = manager(ctx).await?;
    let name = cluster.swarm_service_name(Role::Backend);
    let current = services(engine, cluster).await?;
    let Some(service) = current.iter().find(|s| service_name(s) == name) else {
        bail!(UsageError(format!(
            "service {name} is not on the Swarm; run `cargo xtask up` first"
        )));
    };
    let mut spec = service.spec.clone().unwrap_or_default();
    let from = spec::replicas(&spec).unwrap_or(0);
    if from == webapps {
        return Ok(());
    }
    // Registry logins may go to the manager.
    engine.ensure_private_transport()?;
    // New tasks may land on a node that joined since `up`.
    let images: Vec<String> = current.iter().filter_map(service_image).collect();
    let login = registry_login::for_cluster(ctx, cluster)?;
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "images");
    let spread = images::spread(ctx, cluster, engine, &images, login.as_ref(), &bar).await;
    bar.finish_and_clear();
    spread?;
    println!(
        "{}",
        ServiceAction::Scale {
            name: name.clone(),
            from,
            to: webapps
        }
    );
    if let Some(replicated) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
        replicated.replicas = Some(i64::from(webapps));
    }
    let version = service
        .version
        .as_ref()
        .and_then(|v| v.index)
        .with_context(|| format!("service {name} has no version"))?;
    engine.update_service(spec, version, login).await
}

/// The wanted tasks of every service (ha's, then each cluster service's), named as Serf and
/// HAProxy name them.
pub(crate) async fn members(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<NodeStatus>> {
    let engine = manager(ctx).await?;
    let nodes = engine.swarm_members().await?;
    let mut rows = Vec::new();
    let services = std::iter::once((cluster.clone(), Role::Balancer))
        .chain(std::iter::once((cluster.clone(), Role::Backend)))
        .chain(views(cluster).into_iter().map(|view| (view, Role::Backend)))
        .collect::<Vec<_>>();
    for (view, role) in &services {
        for task in engine
            .service_tasks(&view.swarm_service_name(*role))
            .await?
            .into_iter()
            .filter(SwarmTask::is_wanted)
        {
            let node = nodes.iter().find(|n| n.id == task.node_id);
            let hostname = node.map(|n| n.hostname.clone()).unwrap_or_default();
            let health = match (&task.container_id, node) {
                (Some(id), Some(node)) => match node_engine(ctx, cluster, engine, node).await {
                    Some(node_engine) => container_health(&node_engine, id).await,
                    None => String::new(),
                },
                _ => String::new(),
            };
            rows.push(NodeStatus {
                name: task_name(view, *role, &task),
                state: task.state.clone(),
                health,
                node: hostname,
                ip: String::new(),
            });
        }
    }
    Ok(rows)
}

/// The webapp tasks Swarm means to run (whatever their state), by name.
pub(crate) async fn wanted_webapps(
    engine: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<Vec<String>> {
    let tasks = engine
        .service_tasks(&cluster.swarm_service_name(Role::Backend))
        .await?;
    Ok(tasks
        .iter()
        .filter(|t| t.is_wanted())
        .map(|t| task_name(cluster, Role::Backend, t))
        .collect())
}

/// When each running webapp task's container started, from its node's engine (Swarm
/// reports a task running only later, in batches).
pub(crate) async fn webapps_started(
    ctx: &Ctx,
    cluster: &Cluster,
) -> anyhow::Result<BTreeMap<String, SystemTime>> {
    let engine = manager(ctx).await?;
    let nodes = engine.swarm_members().await?;
    let mut started = BTreeMap::new();
    let tasks = engine
        .service_tasks(&cluster.swarm_service_name(Role::Backend))
        .await?;
    for task in tasks.iter().filter(|t| t.is_wanted() && t.is_running()) {
        let (Some(id), Some(node)) = (
            &task.container_id,
            nodes.iter().find(|n| n.id == task.node_id),
        ) else {
            continue;
        };
        let Some(node_engine) = node_engine(ctx, cluster, engine, node).await else {
            continue;
        };
        let at = node_engine
            .inspect_container(id)
            .await?
            .and_then(|c| c.state)
            .and_then(|s| s.started_at)
            .and_then(|t| cluster::time::parse_rfc3339(&t));
        if let Some(at) = at {
            started.insert(task_name(cluster, Role::Backend, task), at);
        }
    }
    Ok(started)
}

async fn container_health(engine: &Engine, id: &str) -> String {
    engine
        .inspect_container(id)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.state)
        .and_then(|s| s.health)
        .and_then(|h| h.status)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// A task's node name: ha, or the webapp prefix and its slot.
pub(crate) fn task_name(cluster: &Cluster, role: Role, task: &SwarmTask) -> String {
    match role {
        Role::Balancer => cluster.ha.name.clone(),
        Role::Backend => cluster.webapp_name(task.slot.unwrap_or(0)),
    }
}

/// [`ha_container`], waiting up to `timeout` for Swarm to report ha's task running (a
/// restarted task shows as running some seconds after its container runs).
pub(crate) async fn ha_container_within(
    ctx: &Ctx,
    cluster: &Cluster,
    timeout: Duration,
) -> anyhow::Result<(Engine, String)> {
    Wait::new("Swarm to report ha's task running", timeout)
        .retry(async || ha_container(ctx, cluster).await)
        .await
}

/// ha's running container and the engine of its node, for `serf members` and its logs.
pub(crate) async fn ha_container(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<(Engine, String)> {
    let engine = manager(ctx).await?;
    let service = cluster.swarm_service_name(Role::Balancer);
    let task = engine
        .service_tasks(&service)
        .await?
        .into_iter()
        .find(|t| t.is_wanted() && t.is_running())
        .with_context(|| format!("service {service} has no running task"))?;
    let nodes = engine.swarm_members().await?;
    let node = nodes
        .iter()
        .find(|n| n.id == task.node_id)
        .with_context(|| format!("the node of {service}'s task is not in the Swarm"))?;
    let node_engine = node_engine(ctx, cluster, engine, node)
        .await
        .with_context(|| {
            format!(
                "{service} runs on node {}, whose engine this host cannot reach",
                node.hostname
            )
        })?;
    let container = task
        .container_id
        .with_context(|| format!("{service}'s task has no container yet"))?;
    Ok((node_engine, container))
}

/// Removes the project's services, then (once their tasks are gone) its secrets and
/// network. Returns what was removed.
pub(crate) async fn remove(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let engine = manager(ctx).await?;
    let mut removed = Vec::new();
    // The webapps' service goes first: ha serves the others while they leave.
    let mut names: Vec<String> = services(engine, cluster)
        .await?
        .iter()
        .map(service_name)
        .collect();
    names.sort_by_key(|name| *name == cluster.swarm_service_name(Role::Balancer));
    for name in names {
        engine.remove_service(&name).await?;
        removed.push(format!("service {name}"));
    }
    wait::tasks_gone(ctx, cluster, engine, Duration::from_secs(60)).await?;
    for secret in engine
        .secrets_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?
    {
        if let Some(name) = secret.spec.and_then(|s| s.name) {
            engine.remove_secret(&name).await?;
            removed.push(format!("secret {name}"));
        }
    }
    for network in engine.networks().await? {
        let ours =
            network.labels.as_ref().and_then(|l| l.get(labels::PROJECT)) == Some(&cluster.project);
        if let (true, Some(name)) = (ours, network.name) {
            wait::remove_network(engine, &name).await?;
            removed.push(format!("network {name}"));
        }
    }
    Ok(removed)
}
