//! A Swarm: a service for ha pinned to one node and one for the webapps spread over the
//! nodes, on an overlay; reached through the manager's engine (`DOCKER_HOST`).
use std::time::SystemTime;

use anyhow::bail;
use cluster::Cluster;

use crate::context::{Ctx, UsageError};
use crate::deploy::{timings, ClusterStatus, ScaleRequest, Scaled, Timings, UpRequest};
use crate::progress;

/// `up`: the stack deployed and converged; a rollback is the Swarm's own.
pub(crate) async fn up(ctx: &Ctx, cluster: &Cluster, request: &UpRequest) -> anyhow::Result<()> {
    if request.rollback {
        bail!(UsageError(format!(
            "--rollback: on a Swarm a failed update rolls back by itself; `docker service rollback {}` undoes the last one",
            cluster.swarm_service_name(cluster::Role::Backend)
        )));
    }
    super::commands::up(ctx, cluster, request.timeout).await
}

/// `status`: the services' tasks, and ha's container on its node.
pub(crate) async fn observe(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<ClusterStatus> {
    Ok(ClusterStatus {
        members: super::members(ctx, cluster).await?,
        ha: super::ha_container(ctx, cluster).await,
    })
}

/// `down`: the stack's services, secrets and network.
pub(crate) async fn remove(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    super::commands::down(ctx, cluster).await
}

/// Only the webapps' replica count changes; Swarm names the new tasks (by slot), so they
/// are timed from when they run.
pub(crate) async fn scale_to(
    ctx: &Ctx,
    cluster: &Cluster,
    request: &ScaleRequest,
) -> anyhow::Result<Scaled> {
    let manager = super::manager(ctx).await?;
    let mut timings = Timings::new();
    let begun = SystemTime::now();
    let before = super::wanted_webapps(manager, cluster).await?;
    super::scale(ctx, cluster, request.webapps).await?;
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "scaling");
    let start = timings.start;
    let (joined, up) = (&mut timings.joined, &mut timings.up);
    // The timings are best effort: ha's node may be out of this host's reach.
    let poll_serf = async {
        match super::ha_container_within(ctx, cluster, request.timeout).await {
            Ok((engine, ha)) => timings::poll_joined(&engine, &ha, start, joined).await,
            Err(_) => std::future::pending().await,
        }
    };
    let wait = super::wait_serving(
        ctx,
        cluster,
        manager,
        request.webapps,
        begun,
        request.timeout,
        &bar,
        |s| timings::note_up(up, start, s),
    );
    let names = tokio::select! {
        names = wait => names?,
        () = poll_serf => unreachable!("polls forever"),
    };
    bar.finish_and_clear();
    let started = super::webapps_started(ctx, cluster)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| !before.contains(name))
        .map(|(name, at)| (name, at.duration_since(begun).unwrap_or_default()))
        .collect();
    Ok(Scaled {
        timings,
        started,
        serving: names.len(),
    })
}
