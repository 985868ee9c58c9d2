//! The engines of a Swarm's nodes, where the host can reach them: the manager DOCKER_HOST
//! names, and the nodes of `cargo xtask swarm-lab` through their unix sockets (a node's
//! hostname is its container's name there).
use cluster::Cluster;

use crate::context::Ctx;
use crate::engine::{Engine, SwarmNode};
use crate::nested;

/// The engine of `node`, or None when the host cannot reach it.
pub(crate) async fn node_engine(
    ctx: &Ctx,
    cluster: &Cluster,
    manager: &Engine,
    node: &SwarmNode,
) -> Option<Engine> {
    if manager
        .swarm_local()
        .await
        .ok()
        .map(|l| l.node_id)
        .as_deref()
        == Some(node.id.as_str())
    {
        return Some(manager.clone());
    }
    // The name comes from the Swarm: only a plain host name becomes part of a path.
    if !cluster::is_dns_label(&node.hostname) {
        return None;
    }
    let socket = nested::socket_dir(ctx, cluster, &node.hostname).join("docker.sock");
    if !socket.exists() {
        return None;
    }
    // A node that is down answers nothing: give up quickly.
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        Engine::connect_socket(&socket),
    )
    .await
    .ok()?
    .ok()
}
