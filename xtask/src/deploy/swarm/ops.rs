//! A Swarm: a service for ha pinned to one node and one per cluster service, spread over
//! the nodes, on an overlay; reached through the manager's engine (`DOCKER_HOST`).
use std::time::SystemTime;

use anyhow::bail;
use cluster::Cluster;

use crate::context::{Ctx, UsageError};
use crate::deploy::neighbours::TuneHost;
use crate::deploy::{timings, ClusterStatus, ScaleRequest, Scaled, Timings, UpRequest};
use crate::progress;

/// `up`: the stack deployed and converged; a rollback is the Swarm's own.
pub(crate) async fn up(ctx: &Ctx, cluster: &Cluster, request: &UpRequest) -> anyhow::Result<()> {
    refuse_tune_host(request.tune_host)?;
    if let Some(service) = &request.rollback {
        if cluster.service(service).is_none() {
            bail!(UsageError(format!(
                "--rollback={service}: {service:?} is not a service of this cluster"
            )));
        }
        bail!(UsageError(format!(
            "--rollback: on a Swarm a failed update rolls back by itself; `docker service rollback {}` undoes the last one",
            cluster.swarm_service_of(service)
        )));
    }
    super::commands::up(ctx, cluster, request.timeout).await
}

/// `--tune-host` changes this host's kernel; a Swarm's tasks run on its nodes' kernels.
fn refuse_tune_host(tune_host: Option<TuneHost>) -> anyhow::Result<()> {
    if tune_host.is_some() {
        bail!(UsageError(
            "--tune-host: on a Swarm the webapps run on the nodes' kernels, not this host's; raise net.ipv4.neigh.default.gc_thresh1/2/3 on each node (see the README's 50+ webapps), or drop --tune-host".into()
        ));
    }
    Ok(())
}

/// `status`: the services' tasks, and ha's container on its node.
pub(crate) async fn observe(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<ClusterStatus> {
    Ok(ClusterStatus {
        members: super::members(ctx, cluster).await?,
        ha: super::ha_container(ctx, cluster).await,
    })
}

/// `down --images`: on the manager, the Swarm tags `up` made (`<registry>/<project>/<image>:*`
/// for ha, the webapps and each declared service's own build)
/// and the images the build made there; the copies loaded into the other nodes stay, and
/// the last line says how to remove them.
pub(crate) async fn remove_images(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let manager = super::manager(ctx).await?;
    let mut done = Vec::new();
    // ha's, the default service's, and each named service's own build.
    let mut images = vec!["ha".to_string(), "webapp".to_string()];
    images.extend(super::views(cluster).iter().map(Cluster::webapp_image_name));
    images.sort();
    images.dedup();
    let mut swarm_tags = Vec::new();
    for image in &images {
        let latest = cluster.swarm_image(image, "latest");
        let (repo, _) = crate::engine::split_tag(&latest);
        swarm_tags.extend(manager.tags_in_repo(repo).await?);
    }
    for tag in &swarm_tags {
        manager.remove_image(tag).await?;
        done.push(format!("removed image tag {tag} (on the manager)"));
    }
    for image in images.iter().map(String::as_str).chain(["base"]) {
        let tag = cluster.image_tag(image);
        if manager.image_of_project(&tag, &cluster.project).await? {
            manager.remove_image(&tag).await?;
            done.push(format!("removed image {tag} (on the manager)"));
        }
    }
    if !swarm_tags.is_empty() {
        done.push(format!(
            "the other nodes keep their copies: `docker image rm {}` on each",
            swarm_tags.join(" ")
        ));
    }
    Ok(done)
}

/// `down`: the stack's services, secrets and network.
pub(crate) async fn remove(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    super::commands::down(ctx, cluster).await
}

/// Only this service's replica count changes; Swarm names the new tasks (by slot), so
/// they are timed from when they run.
pub(crate) async fn scale_to(
    ctx: &Ctx,
    cluster: &Cluster,
    request: &ScaleRequest,
) -> anyhow::Result<Scaled> {
    refuse_tune_host(request.tune_host)?;
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
