//! A Swarm: a service for ha pinned to one node and one for the webapps spread over the
//! nodes, on an overlay; reached through the manager's engine (`DOCKER_HOST`).
use std::time::SystemTime;

use anyhow::bail;
use cluster::Cluster;
use futures_util::future::LocalBoxFuture;

use super::{timings, Observed, ScaleRequest, Scaled, Target, Timings, UpRequest};
use crate::context::{Ctx, UsageError};
use crate::{progress, swarm};

pub(crate) struct Swarm;

impl Target for Swarm {
    fn up<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a UpRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if request.rollback {
                bail!(UsageError(format!(
                    "--rollback: on a Swarm a failed update rolls back by itself; `docker service rollback {}` undoes the last one",
                    cluster.swarm_service_name(cluster::Role::Backend)
                )));
            }
            swarm::commands::up(ctx, cluster, request.timeout).await
        })
    }

    fn scale<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a ScaleRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<Scaled>> {
        Box::pin(scale_to(ctx, cluster, request))
    }

    fn observe<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Observed>> {
        Box::pin(async move {
            Ok(Observed {
                members: swarm::members(ctx, cluster).await?,
                ha: swarm::ha_container(ctx, cluster).await,
            })
        })
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Vec<String>>> {
        Box::pin(swarm::commands::down(ctx, cluster))
    }
}

/// Only the webapps' replica count changes; Swarm names the new tasks (by slot), so they
/// are timed from when they run.
async fn scale_to(ctx: &Ctx, cluster: &Cluster, request: &ScaleRequest) -> anyhow::Result<Scaled> {
    let manager = swarm::manager(ctx).await?;
    let mut timings = Timings::new();
    let begun = SystemTime::now();
    let before = swarm::wanted_webapps(manager, cluster).await?;
    swarm::scale(ctx, cluster, request.webapps).await?;
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "scaling");
    let start = timings.start;
    let (joined, up) = (&mut timings.joined, &mut timings.up);
    // The timings are best effort: ha's node may be out of this host's reach.
    let poll_serf = async {
        match swarm::ha_container_within(ctx, cluster, request.timeout).await {
            Ok((engine, ha)) => timings::poll_joined(&engine, &ha, start, joined).await,
            Err(_) => std::future::pending().await,
        }
    };
    let wait = swarm::wait_serving(
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
    let started = swarm::webapps_started(ctx, cluster)
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
