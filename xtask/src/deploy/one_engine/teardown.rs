//! Removing the project's stack: `down`, and the fresh start and cleanup of
//! `collect-logs` and `bench`. Only what carries the project's labels is touched.
use std::time::Duration;

use cluster::{labels, Cluster};

use super::{app, observe, stop_and_remove};
use crate::context::Ctx;
use crate::engine::Engine;
use crate::wait::{Poll, Stopped, Wait};

/// Stops and removes the project's containers: the webapps together (each stop lets
/// Serf leave), then ha, which keeps serving the others meanwhile. Returns their names.
pub(crate) async fn remove_containers(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let engine = ctx.engine().await?;
    // The named services' first: ha keeps serving them while they leave.
    let services = super::services::remove_all(engine, cluster).await?;
    let (ha, webapps): (Vec<String>, Vec<String>) = observe(engine, cluster)
        .await?
        .into_iter()
        .map(|c| c.name)
        .partition(|name| *name == cluster.ha.name);
    for group in [&webapps, &ha] {
        let removals = group
            .iter()
            .map(|name| stop_and_remove(engine, cluster, name));
        for result in futures_util::future::join_all(removals).await {
            result?;
        }
    }
    // A sidecar whose app was removed by hand: it has an address of its own and would
    // keep the network busy.
    let sidecars = engine
        .containers_with_labels(&[
            (labels::PROJECT, &cluster.project),
            (labels::ROLE, app::SIDECAR),
        ])
        .await?;
    let mut orphans = Vec::new();
    for webapp in sidecars
        .iter()
        .filter_map(|c| c.labels.as_ref()?.get(app::SIDECAR_OF).cloned())
    {
        app::remove_sidecar(engine, cluster, &webapp).await?;
        orphans.push(Cluster::sidecar_name(&webapp));
    }
    Ok(services
        .into_iter()
        .chain(webapps)
        .chain(ha)
        .chain(orphans)
        .collect())
}

/// The containers, then the project's network. Returns what was removed.
pub(crate) async fn remove_stack(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let mut removed: Vec<String> = remove_containers(ctx, cluster)
        .await?
        .into_iter()
        .map(|name| format!("container {name}"))
        .collect();
    let engine = ctx.engine().await?;
    for name in project_networks(engine, cluster).await? {
        engine.remove_network(&name).await?;
        removed.push(format!("network {name}"));
    }
    Ok(removed)
}

/// How long the project must show no container before an interrupted run's cleanup ends.
const QUIET: Duration = Duration::from_secs(3);
/// How many removals an interrupted run's cleanup tries before it gives up.
const ROUNDS: usize = 5;

/// The stack's removal after its work was dropped mid-way (an interrupt, a timeout, an
/// error): a create that work had sent may still land in the engine after the first
/// removal, so this removes again until the project has shown no node container and no
/// network for `QUIET`. A failed round that left nothing behind still counts as removed.
pub(crate) async fn remove_stack_settled(
    ctx: &Ctx,
    cluster: &Cluster,
) -> anyhow::Result<Vec<String>> {
    let engine = ctx.engine().await?;
    let mut removed = Vec::new();
    let mut failure = None;
    let mut rounds = 0;
    let what = format!("project {} to stay removed", cluster.project);
    // A round, QUIET, a look: settled, or (a container that landed meanwhile keeps the
    // network busy) the next round; bounded by rounds, not time (a round of 50 webapps'
    // stops takes a while).
    let wait = Wait::new(what, Duration::MAX).every(QUIET);
    let settled = wait
        .poll(async || {
            if rounds > 0
                && observe(engine, cluster).await?.is_empty()
                && project_networks(engine, cluster).await?.is_empty()
            {
                return Ok(Poll::Ready(true));
            }
            if rounds == ROUNDS {
                return Ok(Poll::Ready(false));
            }
            rounds += 1;
            match remove_stack(ctx, cluster).await {
                Ok(names) => {
                    removed.extend(names);
                    failure = None;
                }
                Err(err) => failure = Some(err),
            }
            Ok(Poll::Pending(()))
        })
        .await;
    match settled {
        Ok(true) => Ok(removed),
        Err(Stopped::Failed(err)) => Err(err),
        Ok(false) | Err(Stopped::TimedOut(())) => Err(failure.unwrap_or_else(|| {
            anyhow::anyhow!(
                "containers or networks of project {} kept appearing",
                cluster.project
            )
        })),
    }
}

/// The names of the networks carrying the project's label.
async fn project_networks(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    Ok(engine
        .networks()
        .await?
        .into_iter()
        .filter(|n| {
            n.labels.as_ref().and_then(|l| l.get(labels::PROJECT)) == Some(&cluster.project)
        })
        .filter_map(|n| n.name)
        .collect())
}
