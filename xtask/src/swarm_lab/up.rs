//! `swarm-lab up --nodes N`: the node containers running (created or started as needed),
//! node1's engine the manager of a swarm, every other engine a worker of it, every node
//! Ready. A node already in node1's swarm at its address is left alone, so running it
//! again changes nothing.
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;
use futures_util::future::try_join_all;
use indicatif::ProgressBar;

use crate::build::bootstrap_tag;
use crate::context::{Ctx, UsageError};
use crate::engine::{is_running, Engine, SwarmLocal, SwarmNode};
use crate::nested::{self, Nested};
use crate::progress;
use crate::table::{self, Column};
use crate::wait::{Poll, Wait};

use super::lab_nodes;
use super::plan::{self, ManagerStep, WorkerStep};

/// How long every node may take to be Ready once it joined (a few seconds, measured).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One node of the lab while `up` converges it.
struct Node {
    name: String,
    nested: Nested,
    /// Its address on the host's default bridge: what the other nodes reach it at.
    ip: Ipv4Addr,
    /// What `up` did to it, in order; empty when nothing.
    changes: Vec<String>,
    bar: ProgressBar,
}

impl Node {
    /// Its engine's swarm view; refuses the host's own engine (`host_id`), which must
    /// never be put into swarm mode.
    async fn swarm_local(&self, host_id: &str) -> anyhow::Result<SwarmLocal> {
        let local = self
            .nested
            .engine
            .swarm_local()
            .await
            .with_context(|| format!("swarm lab node {}", self.name))?;
        anyhow::ensure!(
            local.engine_id != host_id,
            "swarm lab node {}: its socket {} leads to the host's own engine; refusing to put it into swarm mode",
            self.name,
            self.nested.socket.display()
        );
        Ok(local)
    }
}

pub(super) async fn up(ctx: &Ctx, count: u32) -> anyhow::Result<()> {
    let cluster = ctx.cluster()?;
    let engine = ctx.engine().await?;
    let start = Instant::now();
    let existing: HashMap<u32, bool> = lab_nodes(engine, cluster)
        .await?
        .iter()
        .map(|(k, c)| (*k, is_running(c)))
        .collect();
    let numbers: Vec<u32> = existing.keys().copied().collect();
    plan::check_count(count, &numbers, &cluster.project).map_err(UsageError)?;
    let host_id = engine.swarm_local().await?.engine_id;
    ensure_base(ctx, engine, cluster).await?;

    let multi = progress::multi();
    let image = nested::image_tag(&cluster.base.suite);
    if nested::image_is_stale(ctx, engine, cluster).await? {
        let bar = progress::spinner(&multi, "image");
        bar.set_message(format!("building {image} (Debian's docker.io)"));
        let built = nested::ensure_image(ctx, engine, cluster).await;
        bar.finish_and_clear();
        built?;
    }
    let bars: Vec<ProgressBar> = (1..=count)
        .map(|k| progress::spinner(&multi, plan::node_name(&cluster.project, k)))
        .collect();
    let result = converge(ctx, engine, cluster, &existing, &host_id, bars.clone()).await;
    for bar in &bars {
        bar.finish_and_clear();
    }
    let (nodes, members, removed) = result?;

    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|node| {
            let member = members.iter().find(|m| m.hostname == node.name);
            let role = match member {
                Some(m) if m.leader => "manager (leader)",
                Some(m) if m.manager => "manager",
                Some(_) => "worker",
                None => "-",
            };
            let changes = match node.changes.is_empty() {
                true => "unchanged".to_string(),
                false => node.changes.join(", "),
            };
            vec![
                node.name.clone(),
                role.to_string(),
                member.map_or("-".to_string(), |m| m.state.to_string()),
                node.ip.to_string(),
                changes,
            ]
        })
        .collect();
    let columns = [
        Column::left("NODE", 4),
        Column::left("ROLE", 4).gap(2),
        Column::left("STATE", 5).gap(2),
        Column::left("ADDRESS", 7).gap(2),
        Column::left("CHANGES", 7).gap(2),
    ];
    print!("{}", table::render(&columns, &rows));
    for member in &removed {
        println!(
            "removed swarm node {} from the list: an earlier engine of {}",
            member.id, member.hostname
        );
    }
    if removed.is_empty() && nodes.iter().all(|n| n.changes.is_empty()) {
        println!(
            "swarm lab of {} is already up with {count} nodes: nothing to change",
            cluster.project
        );
    } else {
        println!(
            "swarm lab of {}: {count} nodes ready in {:.1}s",
            cluster.project,
            start.elapsed().as_secs_f64()
        );
    }
    let manager = &nodes[0];
    seed_images(engine, &manager.nested.engine, cluster).await?;
    println!(
        "export DOCKER_HOST=unix://{}",
        manager.nested.socket.display()
    );
    Ok(())
}

/// The project's images this host has, copied into the manager where it lacks them, so
/// the first `up` against the Swarm builds from cache (it spreads the images to the
/// workers itself).
async fn seed_images(engine: &Engine, manager: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let mut tags = vec![bootstrap_tag(&cluster.base.suite)];
    tags.extend(cluster::PROJECT_IMAGES.map(|image| cluster.image_tag(image)));
    let mut missing = Vec::new();
    for tag in &tags {
        if engine.image_exists(tag).await? && !manager.image_exists(tag).await? {
            missing.push(tag.as_str());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    engine.copy_images(manager, &missing).await
}

/// The nested engine image is built FROM the debootstrapped base, which the project's
/// build makes (cached; the swarm's services need the project's images anyway).
async fn ensure_base(ctx: &Ctx, engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let suite = &cluster.base.suite;
    if !nested::image_is_stale(ctx, engine, cluster).await?
        || engine.image_exists(&bootstrap_tag(suite)).await?
    {
        return Ok(());
    }
    crate::build::ensure_images(ctx).await
}

/// Nodes running, swarm formed, every node Ready, stale entries removed: the nodes, the
/// manager's node list, and the entries removed.
async fn converge(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    existing: &HashMap<u32, bool>,
    host_id: &str,
    bars: Vec<ProgressBar>,
) -> anyhow::Result<(Vec<Node>, Vec<SwarmNode>, Vec<SwarmNode>)> {
    let mut nodes = try_join_all(bars.into_iter().enumerate().map(|(i, bar)| {
        let k = i as u32 + 1;
        start_node(ctx, engine, cluster, k, existing.get(&k).copied(), bar)
    }))
    .await?;
    let (manager, workers) = nodes.split_first_mut().expect("at least one node");
    form_swarm(manager, host_id).await?;
    let manager_id = manager.swarm_local(host_id).await?.node_id;
    let token = manager.nested.engine.swarm_worker_token().await?;
    let manager_ip = manager.ip;
    manager.bar.set_message("manager: the workers join");
    try_join_all(
        workers
            .iter_mut()
            .map(|worker| join(worker, manager_ip, &manager_id, &token, host_id)),
    )
    .await?;
    let (ids, members) = wait_ready(&nodes, host_id).await?;
    let manager = &nodes[0].nested.engine;
    let removed: Vec<SwarmNode> = plan::stale_members(&cluster.project, &members, &ids)
        .into_iter()
        .cloned()
        .collect();
    for member in &removed {
        manager.remove_swarm_member(member).await?;
    }
    let members = match removed.is_empty() {
        true => members,
        false => manager.swarm_members().await?,
    };
    Ok((nodes, members, removed))
}

/// Node k's container running (created, or started, as needed) and its engine answering.
async fn start_node(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    k: u32,
    running: Option<bool>,
    bar: ProgressBar,
) -> anyhow::Result<Node> {
    let name = plan::node_name(&cluster.project, k);
    let (doing, change) = match running {
        None => ("creating the node", Some("created")),
        Some(false) => ("starting the node", Some("started")),
        Some(true) => ("connecting to its engine", None),
    };
    bar.set_message(doing);
    // Only the manager publishes: ha's task runs there (host-mode ports, placement on the
    // manager by default), and the routing mesh does not work in nested engines.
    let published = match k {
        1 => ha_ports(cluster),
        _ => Vec::new(),
    };
    // A registry of the lab's own, on the nodes' bridge, may speak plain HTTP.
    let bridge = engine.bridge_subnet().await?;
    let nested = nested::ensure(ctx, engine, cluster, &name, published, Some(bridge))
        .await
        .with_context(|| format!("starting swarm lab node {name}"))?;
    let ip = engine.bridge_ip(&name).await?;
    bar.set_message(format!("engine up at {ip}"));
    Ok(Node {
        name,
        nested,
        ip,
        changes: change.into_iter().map(String::from).collect(),
        bar,
    })
}

/// ha's ports, published by node1 on the host's 127.0.0.1.
fn ha_ports(cluster: &Cluster) -> Vec<u16> {
    let mut ports = vec![cluster.ha.http_port, cluster.ha.stats_port];
    ports.extend(cluster.ha.tls.as_ref().map(|_| cluster.ha.https_port));
    ports
}

/// node1's engine the manager of a swarm advertised at its address.
async fn form_swarm(manager: &mut Node, host_id: &str) -> anyhow::Result<()> {
    let local = manager.swarm_local(host_id).await?;
    let engine = &manager.nested.engine;
    let what = || format!("swarm lab node {}", manager.name);
    match plan::manager_step(&local, manager.ip) {
        ManagerStep::Keep => return Ok(()),
        ManagerStep::Init => manager.changes.push("swarm init".to_string()),
        ManagerStep::Reinit(why) => {
            manager.bar.set_message("leaving its old swarm");
            engine.swarm_leave().await.with_context(what)?;
            manager.changes.push(format!(
                "a new swarm ({why}; the old one's services are gone)"
            ));
        }
    }
    manager.bar.set_message("swarm init");
    engine.swarm_init(manager.ip).await.with_context(what)?;
    Ok(())
}

/// A worker's engine in the manager's swarm.
async fn join(
    worker: &mut Node,
    manager_ip: Ipv4Addr,
    manager_id: &str,
    token: &str,
    host_id: &str,
) -> anyhow::Result<()> {
    let local = worker.swarm_local(host_id).await?;
    let engine = &worker.nested.engine;
    let what = || format!("swarm lab node {}", worker.name);
    match plan::worker_step(&local, worker.ip, manager_id) {
        WorkerStep::Keep => return Ok(()),
        WorkerStep::Join => worker.changes.push("joined".to_string()),
        WorkerStep::Rejoin => {
            worker.bar.set_message("leaving its old swarm");
            engine.swarm_leave().await.with_context(what)?;
            worker
                .changes
                .push("left its old swarm, joined".to_string());
        }
    }
    worker.bar.set_message(format!("joining {manager_ip}"));
    engine
        .swarm_join(manager_ip, worker.ip, token)
        .await
        .with_context(what)?;
    Ok(())
}

/// Every node Ready in the manager's list, under the node ID its own engine reports:
/// those IDs and the list.
async fn wait_ready(
    nodes: &[Node],
    host_id: &str,
) -> anyhow::Result<(Vec<String>, Vec<SwarmNode>)> {
    let manager = &nodes[0].nested.engine;
    let wait = Wait::new("every node of the swarm lab to be Ready", READY_TIMEOUT);
    wait.until(async || {
        let mut expected = Vec::with_capacity(nodes.len());
        for node in nodes {
            expected.push((node.name.clone(), node.swarm_local(host_id).await?.node_id));
        }
        let members = manager
            .swarm_members()
            .await
            .with_context(|| format!("swarm lab manager {}", nodes[0].name))?;
        let waiting = plan::not_ready(&expected, &members);
        for node in nodes {
            let why = waiting
                .iter()
                .find(|w| w.split(' ').next() == Some(node.name.as_str()));
            node.bar.set_message(match why {
                Some(why) => format!("waiting: {why}"),
                None => "ready".to_string(),
            });
        }
        if waiting.is_empty() {
            let ids = expected.into_iter().map(|(_, id)| id).collect();
            return Ok(Poll::Ready((ids, members)));
        }
        Ok(Poll::Pending(waiting.join(", ")))
    })
    .await
}
