//! A local multi-node Docker Swarm for users and tests: N nested engines (see
//! [`crate::nested`]) in containers of the host's engine, `<project>-node1` ..
//! `<project>-nodeN`. Each node's hostname is its container name, so the Swarm node
//! name of a node is also the name of the folder holding its engine's socket
//! (`nested::socket_dir`). node1 is the manager and publishes ha's ports on the host's
//! 127.0.0.1; the others are workers. Swarm traffic flows between the node containers on
//! the host's default bridge; the host talks only to the engines' unix sockets, and its
//! own engine never joins a swarm.
pub(crate) mod command;
mod down;
mod plan;
mod up;

use bollard::models::ContainerSummary;
use cluster::{labels, Cluster};

use crate::engine::Engine;

/// `lbkit.role` of nested engine nodes (as `nested` labels them).
const NESTED_ROLE: &str = "nested-engine";

/// This project's lab nodes on the host's engine, by number: nested engine nodes carrying
/// the project's labels and named `<project>-node<k>`. The project's `nested up` engine
/// (`<project>-engine`) is not one of them.
async fn lab_nodes(
    engine: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<Vec<(u32, ContainerSummary)>> {
    let found = engine
        .containers_with_labels(&[
            (labels::PROJECT, cluster.project.as_str()),
            (labels::ROLE, NESTED_ROLE),
        ])
        .await?;
    let mut nodes: Vec<(u32, ContainerSummary)> = found
        .into_iter()
        .filter_map(|c| {
            let k = c
                .names
                .iter()
                .flatten()
                .find_map(|n| plan::node_number(&cluster.project, n))?;
            Some((k, c))
        })
        .collect();
    nodes.sort_by_key(|(k, _)| *k);
    Ok(nodes)
}
