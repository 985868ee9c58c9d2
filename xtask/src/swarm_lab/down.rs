//! `swarm-lab down`: every node of the project's lab, whatever `--nodes` made it, removed
//! with its volume (all its engine held) and its socket folder. No swarm is left: the
//! swarm lived only in those engines. What a node removed by hand left behind (its unused
//! volume, its socket folder, its engine's cgroups) goes too.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use cluster::{labels, Cluster};
use futures_util::future::try_join_all;

use crate::context::Ctx;
use crate::nested;

use super::plan::{node_name, node_number};
use super::{lab_nodes, NESTED_ROLE};

pub(super) async fn down(ctx: &Ctx) -> anyhow::Result<()> {
    let cluster = ctx.cluster()?;
    let engine = ctx.engine().await?;
    let start = Instant::now();
    let names: Vec<String> = lab_nodes(engine, cluster)
        .await?
        .into_iter()
        .map(|(k, _)| node_name(&cluster.project, k))
        .collect();
    try_join_all(
        names
            .iter()
            .map(|name| nested::remove(ctx, engine, cluster, name)),
    )
    .await?;
    // Only unused volumes: the engine refuses to remove one a container (the project's
    // `nested up` engine, stopped or not) still has.
    let volumes = engine
        .unused_volumes_with_labels(&[
            (labels::PROJECT, cluster.project.as_str()),
            (labels::ROLE, NESTED_ROLE),
        ])
        .await?;
    for volume in &volumes {
        engine.remove_volume(volume).await?;
    }
    let folders = leftover_socket_dirs(ctx, cluster)?;
    for folder in &folders {
        std::fs::remove_dir_all(folder)
            .with_context(|| format!("removing {}", folder.display()))?;
    }

    // Those of nodes removed just now were tried already (and warned about).
    let mut cgroups = Vec::new();
    for node in nested::cgroups::left_by(|node| {
        node_number(&cluster.project, node).is_some() && !names.iter().any(|n| n == node)
    }) {
        if nested::cgroups::remove(&nested::cgroups::parent(&node)).await {
            cgroups.push(node);
        }
    }

    let project = &cluster.project;
    if names.is_empty() && volumes.is_empty() && folders.is_empty() && cgroups.is_empty() {
        println!("swarm lab of {project}: no node to remove (nothing is left of it)");
        return Ok(());
    }
    if !names.is_empty() {
        println!(
            "swarm lab of {project}: removed {} in {:.1}s",
            names.join(", "),
            start.elapsed().as_secs_f64()
        );
    }
    if !volumes.is_empty() || !folders.is_empty() || !cgroups.is_empty() {
        println!(
            "swarm lab of {project}: removed what nodes removed by hand left: {} unused volume(s), {} socket folder(s), the cgroups of {} node(s)",
            volumes.len(),
            folders.len(),
            cgroups.len()
        );
    }
    Ok(())
}

/// Socket folders of lab nodes (`<project>-node<k>`) under the project's state: once the
/// nodes are removed, any left is a node's removed by hand.
fn leftover_socket_dirs(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<PathBuf>> {
    let one = nested::socket_dir(ctx, cluster, &node_name(&cluster.project, 1));
    let parent = one.parent().context("a socket folder has a parent")?;
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", parent.display())),
    };
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", parent.display()))?;
        let name = entry.file_name();
        let is_node = name
            .to_str()
            .and_then(|n| node_number(&cluster.project, n))
            .is_some();
        if is_node && entry.path().is_dir() {
            folders.push(entry.path());
        }
    }
    folders.sort();
    Ok(folders)
}
