//! Removing the project's stack: `down`, and the fresh start and cleanup of
//! `collect-logs` and `bench`. Only what carries the project's labels is touched.
use cluster::{labels, Cluster};

use super::{observe, stop_and_remove};
use crate::context::Ctx;

/// Stops and removes the project's containers: the webapps together (each stop lets
/// Serf leave), then ha, which keeps serving the others meanwhile. Returns their names.
pub(crate) async fn remove_containers(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let engine = ctx.engine().await?;
    let (ha, webapps): (Vec<String>, Vec<String>) = observe(engine, cluster)
        .await?
        .into_iter()
        .map(|c| c.name)
        .partition(|name| *name == cluster.ha.name);
    for group in [&webapps, &ha] {
        let removals = group.iter().map(|name| stop_and_remove(engine, name));
        for result in futures_util::future::join_all(removals).await {
            result?;
        }
    }
    Ok(webapps.into_iter().chain(ha).collect())
}

/// The containers, then the project's network. Returns what was removed.
pub(crate) async fn remove_stack(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let mut removed: Vec<String> = remove_containers(ctx, cluster)
        .await?
        .into_iter()
        .map(|name| format!("container {name}"))
        .collect();
    let engine = ctx.engine().await?;
    for network in engine.networks().await? {
        let ours =
            network.labels.as_ref().and_then(|l| l.get(labels::PROJECT)) == Some(&cluster.project);
        if let (true, Some(name)) = (ours, network.name) {
            engine.remove_network(&name).await?;
            removed.push(format!("network {name}"));
        }
    }
    Ok(removed)
}
