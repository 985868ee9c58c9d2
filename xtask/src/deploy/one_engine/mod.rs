//! The one-engine target: observe the project's containers, plan, apply, wait. Shared by
//! `up`, `scale`, `collect-logs` and `bench` (the lab's tasks and the benches run on one
//! engine).
pub(crate) mod app;
mod certificate;
mod converge;
mod fingerprint;
pub(crate) mod ops;
mod plan;
mod preflight;
mod rollout;
pub(crate) mod services;
mod teardown;

use anyhow::Context as _;
use cluster::{labels, Cluster, Node, Role};
use std::collections::{HashMap, HashSet};

use crate::context::Ctx;
pub(crate) use crate::deploy::neighbours::{check as check_neighbours, overflow_warning};
pub(crate) use crate::deploy::serving::{wait_for_servers, wait_for_servers_with};
use crate::engine::{is_running, ContainerSpec, Engine, FileUpload};
use crate::{secrets, tls};
pub(crate) use converge::{converge, converge_with, Applied};
use fingerprint::fingerprint;
pub(crate) use plan::{Action, Desired, Observed};
pub(crate) use rollout::{previous_image, previous_tag, recorded_previous, Rollout};
pub(crate) use teardown::{remove_containers, remove_stack, remove_stack_settled};

/// Label holding the fingerprint of what a container was created from.
const FINGERPRINT: &str = "lbkit.fingerprint";
/// `docker stop` grace period of node `name`: a webapp's follows `drain_ms` (it leaves,
/// then lets in-flight requests finish); ha's is the engine's default.
pub(crate) fn stop_timeout_s(cluster: &Cluster, name: &str) -> u32 {
    match name == cluster.ha.name {
        true => cluster::HA_STOP_TIMEOUT_S,
        false => cluster.webapps.stop_timeout_s(),
    }
}

/// The project's containers of `cluster`'s service (ha with the default one's), by node
/// name.
pub(crate) async fn observe(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Vec<Observed>> {
    let service = cluster.view.as_ref().map(|view| view.service.as_str());
    let containers: Vec<_> = engine
        .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?
        .into_iter()
        .filter(|c| {
            let labels = c.labels.as_ref();
            labels
                .and_then(|l| l.get(labels::SERVICE))
                .map(String::as_str)
                == service
        })
        .collect();
    // A webapp of an app image serves only with its sidecar: without it, it is not a member.
    let sidecars_running: HashSet<String> = containers
        .iter()
        .filter(|c| is_running(c))
        .filter_map(|c| c.labels.as_ref()?.get(app::SIDECAR_OF).cloned())
        .collect();
    let needs_sidecar = cluster.has_sidecar();
    Ok(containers
        .iter()
        .filter_map(|c| {
            let labels = c.labels.clone().unwrap_or_default();
            let name = labels.get(labels::NODE)?.clone();
            let backend = labels.get(labels::ROLE).map(String::as_str) == Some("backend");
            let sidecar_ok = !(needs_sidecar && backend) || sidecars_running.contains(&name);
            Some(Observed {
                running: is_running(c) && sidecar_ok,
                name,
                fingerprint: labels.get(FINGERPRINT).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

/// ha and `webapps` webapps, each with the fingerprint of its container.
pub(crate) async fn desired(
    engine: &Engine,
    cluster: &Cluster,
    webapps: u32,
) -> anyhow::Result<Vec<Desired>> {
    desired_with(
        engine,
        cluster,
        webapps,
        &crate::deploy::app_input::webapp_image(cluster),
    )
    .await
}

/// [`desired`], the webapps running `webapp_image` (a tag or an image id).
async fn desired_with(
    engine: &Engine,
    cluster: &Cluster,
    webapps: u32,
    webapp_image: &str,
) -> anyhow::Result<Vec<Desired>> {
    let ha_image = image_id(engine, &cluster.image_tag("ha")).await?;
    let webapp_image = image_id(engine, webapp_image).await?;
    // ha goes with the default service; a named service's view is its webapps only.
    let mut nodes = match cluster.view {
        None => vec![cluster.ha_node()],
        Some(_) => Vec::new(),
    };
    nodes.extend(cluster.webapp_nodes(webapps));
    Ok(nodes
        .into_iter()
        .map(|node| {
            let image = match node.role {
                Role::Balancer => &ha_image,
                Role::Backend => &webapp_image,
            };
            Desired {
                fingerprint: fingerprint(cluster, &node, image),
                image: image.clone(),
                node,
            }
        })
        .collect())
}

fn spec(cluster: &Cluster, desired: &Desired, known: &[Node]) -> ContainerSpec {
    let node = &desired.node;
    let published = match node.role {
        Role::Balancer => {
            let mut ports = vec![cluster.ha.http_port, cluster.ha.stats_port];
            ports.extend(cluster.ha.tls.as_ref().map(|_| cluster.ha.https_port));
            ports
        }
        Role::Backend => vec![],
    };
    // An app image runs unchanged: Serf and its settings live in the sidecar.
    let env = if node.role == Role::Backend && cluster.has_sidecar() {
        Vec::new()
    } else {
        cluster.node_env(node, known)
    };
    let mut labels = HashMap::from([
        (labels::PROJECT.to_string(), cluster.project.clone()),
        (labels::ROLE.to_string(), node.role.as_str().to_string()),
        (labels::NODE.to_string(), node.name.clone()),
        (FINGERPRINT.to_string(), desired.fingerprint.clone()),
    ]);
    labels.extend(service_label(cluster));
    ContainerSpec {
        name: node.name.clone(),
        image: desired.image.clone(),
        env,
        labels,
        network: cluster.network.name.clone(),
        ip: node.ip,
        published,
        bind: cluster.ha.bind,
        command: None,
        user: None,
        stop_timeout_s: Some(stop_timeout_s(cluster, &node.name)),
        health_interval_s: Some(health_interval_s(node.role)),
        // A webapp runs the app: no raw sockets (they would read what Serf sends on the
        // loopback), no privilege gained by exec; only what `cap_add` gives back.
        cap_drop: match node.role {
            Role::Backend => cluster::WEBAPP_CAP_DROP.map(String::from).to_vec(),
            Role::Balancer => Vec::new(),
        },
        cap_add: match node.role {
            Role::Backend => cluster.webapps.cap_add.clone(),
            Role::Balancer => Vec::new(),
        },
        no_new_privileges: node.role == Role::Backend,
    }
}

/// The service label of a named service's containers (none on the default's, whose
/// containers stay as the lab made them).
pub(crate) fn service_label(cluster: &Cluster) -> Option<(String, String)> {
    let view = cluster.view.as_ref()?;
    Some((labels::SERVICE.to_string(), view.service.clone()))
}

/// How often `docker ps`'s health of a container is refreshed on one engine. HAProxy's
/// own checks decide traffic; this one only informs `status`, and each run is an exec
/// that costs the container about 20 ms of CPU: at rest, ha checks every 30 s (its idle
/// cost is measured), a webapp every 15 s (unhealthy within a minute). On a Swarm the
/// images' 5 s stay: a task counts as running only once it is healthy.
pub(crate) fn health_interval_s(role: Role) -> u32 {
    match role {
        Role::Balancer => 30,
        Role::Backend => 15,
    }
}

/// Lab task 0 as the lab ran it: ha and `webapps` webapps with no supervisor, no Serf and
/// no agent. HAProxy runs alone on `haproxy_cfg`, the static config with the servers
/// listed by hand; each web app runs alone. Their fingerprint marks them, so a later `up`
/// replaces them with the self-configuring stack.
pub(crate) async fn start_static(
    ctx: &Ctx,
    cluster: &Cluster,
    webapps: u32,
    haproxy_cfg: &str,
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let desired = desired(engine, cluster, webapps).await?;
    let nodes: Vec<Node> = desired.iter().map(|d| d.node.clone()).collect();
    preflight::check(engine, cluster, &nodes, &ctx.config_file()).await?;
    preflight::ensure_network(engine, cluster).await?;
    for node in &desired {
        create_static(engine, cluster, node, &nodes, haproxy_cfg).await?;
    }
    Ok(())
}

/// Only the balancer of lab task 0 (`cluster`'s ha, HAProxy alone on `haproxy_cfg`), next
/// to webapps already running: the benchmark's reference for the data path. `cluster` is
/// a variant whose ha has a name, address and ports of its own.
pub(crate) async fn start_static_balancer(
    ctx: &Ctx,
    cluster: &Cluster,
    haproxy_cfg: &str,
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let desired = desired(engine, cluster, 0).await?;
    let nodes: Vec<Node> = desired.iter().map(|d| d.node.clone()).collect();
    preflight::check(engine, cluster, &nodes, &ctx.config_file()).await?;
    create_static(engine, cluster, &desired[0], &nodes, haproxy_cfg).await
}

/// Creates and starts one node of lab task 0: a single program, no supervisor.
async fn create_static(
    engine: &Engine,
    cluster: &Cluster,
    node: &Desired,
    nodes: &[Node],
    haproxy_cfg: &str,
) -> anyhow::Result<()> {
    let mut spec = spec(cluster, node, nodes);
    let static_print = format!("{}-static", node.fingerprint);
    spec.labels.insert(FINGERPRINT.to_string(), static_print);
    let command: &[&str] = match node.node.role {
        // The stats socket's folder is made by s6's run script in the normal stack.
        Role::Balancer => &[
            "sh",
            "-c",
            "mkdir -p /run/haproxy && exec haproxy -db -f /etc/haproxy/haproxy.cfg",
        ],
        Role::Backend => {
            spec.user = Some("webapp".into());
            &["/usr/local/bin/webapp"]
        }
    };
    spec.command = Some(command.iter().map(|s| s.to_string()).collect());
    println!("create {} (static, as in lab task 0)", spec.name);
    engine.create_container(&spec).await?;
    if node.node.role == Role::Balancer {
        let upload = FileUpload {
            dir: "/etc/haproxy",
            name: "haproxy.cfg",
            contents: haproxy_cfg.as_bytes(),
            mode: 0o644,
        };
        if let Err(err) = engine.upload_file(&spec.name, &upload).await {
            engine.remove_container(&spec.name).await?;
            return Err(err);
        }
    }
    engine.start_container(&spec.name).await
}

/// Checks that nothing outside the project stands in the way of ha + `webapps` webapps:
/// container names, host ports, the subnet. Run before building or creating anything.
pub(crate) async fn preflight(ctx: &Ctx, cluster: &Cluster, webapps: u32) -> anyhow::Result<()> {
    let mut nodes = vec![cluster.ha_node()];
    nodes.extend(cluster.webapp_nodes(webapps));
    // Bad certificate files are the user's to fix: before anything is built or created.
    tls::server_pem(ctx, cluster)?;
    preflight::check(ctx.engine().await?, cluster, &nodes, &ctx.config_file()).await
}

/// Applies one action. The gossip key is copied in before the container first starts.
pub(crate) async fn apply(
    ctx: &Ctx,
    cluster: &Cluster,
    action: &Action,
    desired: &[Desired],
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let find = |name: &str| {
        desired
            .iter()
            .find(|d| d.node.name == name)
            .with_context(|| format!("{name} is not declared"))
    };
    let mut known: Vec<Node> = desired.iter().map(|d| d.node.clone()).collect();
    // A named service's webapps join ha (not in their view) and each other.
    if cluster.view.is_some() {
        known.push(cluster.ha_node());
    }
    match action {
        Action::Create(name) => create(ctx, engine, cluster, find(name)?, &known).await,
        Action::Recreate(name) => {
            retire(engine, cluster, name).await?;
            create(ctx, engine, cluster, find(name)?, &known).await
        }
        Action::Start(name) => start(ctx, engine, cluster, find(name)?, &known).await,
        Action::Remove(name) => retire(engine, cluster, name).await,
    }
}

async fn create(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    desired: &Desired,
    known: &[Node],
) -> anyhow::Result<()> {
    let spec = spec(cluster, desired, known);
    engine.create_container(&spec).await?;
    if desired.node.role == Role::Backend && cluster.has_sidecar() {
        engine.start_container(&spec.name).await?;
        return start_sidecar(ctx, engine, cluster, desired, known).await;
    }
    // A container that cannot get its secrets must not linger half-made.
    if let Err(err) = prepare(ctx, engine, cluster, &spec.name).await {
        engine.remove_container(&spec.name).await?;
        return Err(err);
    }
    engine.start_container(&spec.name).await
}

/// Starts a stopped node; an app image's sidecar is made anew (with the environment of
/// today's cluster).
async fn start(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    desired: &Desired,
    known: &[Node],
) -> anyhow::Result<()> {
    let name = &desired.node.name;
    if desired.node.role == Role::Backend && cluster.has_sidecar() {
        let running = engine.is_container_running(name).await?;
        if !running {
            engine.start_container(name).await?;
        }
        return start_sidecar(ctx, engine, cluster, desired, known).await;
    }
    // An interrupted `up` may have created it without its secrets.
    prepare(ctx, engine, cluster, name).await?;
    engine.start_container(name).await
}

/// (Re)creates and starts the Serf sidecar of a running app-image webapp.
async fn start_sidecar(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    desired: &Desired,
    known: &[Node],
) -> anyhow::Result<()> {
    app::remove_sidecar(engine, cluster, &desired.node.name).await?;
    let env = cluster.node_env(&desired.node, known);
    let sidecar = app::create_sidecar(engine, cluster, &desired.node, env).await?;
    if let Err(err) = prepare(ctx, engine, cluster, &sidecar).await {
        engine.remove_container(&sidecar).await?;
        return Err(err);
    }
    engine.start_container(&sidecar).await
}

/// What a container running Serf gets before it starts: the secrets, and the s6 services
/// the toolkit supplies.
async fn prepare(ctx: &Ctx, engine: &Engine, cluster: &Cluster, name: &str) -> anyhow::Result<()> {
    upload_secrets(ctx, engine, cluster, name).await?;
    if name != cluster.ha.name {
        app::upload_services(engine, cluster, name).await?;
    }
    Ok(())
}

/// Drains a webapp (see [`app::drain`]), then stops and removes it.
async fn retire(engine: &Engine, cluster: &Cluster, name: &str) -> anyhow::Result<()> {
    if name != cluster.ha.name {
        app::drain(engine, cluster, name).await?;
    }
    stop_and_remove(engine, cluster, name).await
}

/// Copies the Serf secrets (and, into ha, the TLS certificate and key) into a created
/// container (before it first starts).
async fn upload_secrets(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<()> {
    let secrets = secrets::serf_key_file(ctx, cluster)?;
    let upload = FileUpload {
        dir: "/etc/serf",
        name: "encrypt.json",
        contents: &secrets,
        mode: 0o600,
    };
    engine.upload_file(name, &upload).await?;
    if name != cluster.ha.name {
        return Ok(());
    }
    if let Some(pem) = tls::server_pem(ctx, cluster)? {
        certificate::upload(engine, name, &pem).await?;
    }
    // A new ha routes to the services from its first config (as `ha-agent services`
    // would keep them), not to the default service until `up` hands them over.
    let services = cluster.services_toml();
    if !services.is_empty() {
        let upload = FileUpload {
            dir: "/var/lib/ha-agent",
            name: "services.toml",
            contents: services.as_bytes(),
            mode: 0o644,
        };
        engine.upload_file(name, &upload).await?;
    }
    Ok(())
}

pub(crate) async fn stop_and_remove(
    engine: &Engine,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<()> {
    // The sidecar first: Serf leaves while the app still has its network.
    app::remove_sidecar(engine, cluster, name).await?;
    if engine.inspect_container(name).await?.is_some() {
        engine
            .stop_container(name, stop_timeout_s(cluster, name))
            .await?;
        engine.remove_container(name).await?;
    }
    Ok(())
}

async fn image_id(engine: &Engine, tag: &str) -> anyhow::Result<String> {
    engine
        .image(tag)
        .await?
        .and_then(|image| image.id)
        .with_context(|| format!("image {tag} not found; run `cargo xtask build`"))
}
