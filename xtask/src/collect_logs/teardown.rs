//! Removing the project's stack: before a task (every task starts fresh, so its logs
//! and serf.log hold only its own story) and after it unless `--keep`.
use cluster::{labels, natural_key, Cluster};

use crate::context::Ctx;
use crate::stack;

/// Removes the project's containers, webapps first (ha keeps serving meanwhile). Returns
/// how many there were. Only containers carrying the project's label are touched.
pub(crate) async fn remove_containers(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<usize> {
    let engine = ctx.engine().await?;
    let mut names: Vec<String> = stack::observe(engine, cluster)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort_by_key(|n| (*n == cluster.ha.name, std::cmp::Reverse(natural_key(n).1)));
    for name in &names {
        stack::stop_and_remove(engine, name).await?;
    }
    Ok(names.len())
}

/// The containers, then the project's network.
pub(crate) async fn remove_stack(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    remove_containers(ctx, cluster).await?;
    let engine = ctx.engine().await?;
    for network in engine.networks().await? {
        let ours =
            network.labels.as_ref().and_then(|l| l.get(labels::PROJECT)) == Some(&cluster.project);
        if let (true, Some(name)) = (ours, network.name) {
            engine.remove_network(&name).await?;
        }
    }
    Ok(())
}
