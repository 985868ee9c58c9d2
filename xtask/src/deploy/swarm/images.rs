//! The images on every node. Tags are the project's under `lbkit.invalid` (or the
//! configured registry) with the image id, so a service names exactly one build and a
//! node missing it fails at once instead of pulling anything from the internet.
use anyhow::Context as _;
use bollard::auth::DockerCredentials;
use cluster::{Cluster, SwarmImages};
use indicatif::ProgressBar;

use super::nodes::node_engine;
use crate::build;
use crate::context::{Ctx, UsageError};
use crate::engine::{split_tag, Engine};

/// Builds (cached) on the manager, tags for the Swarm, and loads into every ready node
/// that lacks them, or pushes them to `deploy.registry`. Returns the pinned names.
pub(crate) async fn distribute(
    ctx: &Ctx,
    cluster: &Cluster,
    manager: &Engine,
    login: Option<&DockerCredentials>,
    bar: &ProgressBar,
) -> anyhow::Result<SwarmImages> {
    bar.set_message("building (cached)");
    build::ensure_images(ctx).await?;
    let ha = pin(manager, cluster, "ha", &cluster.image_tag("ha")).await?;
    let webapp = pin(
        manager,
        cluster,
        "webapp",
        &crate::deploy::app_input::webapp_image(cluster),
    )
    .await?;
    let mut tags = vec![
        ha.clone(),
        cluster.swarm_image("ha", "latest"),
        webapp.clone(),
        cluster.swarm_image("webapp", "latest"),
    ];
    // Each named service's own build (one without runs the lab app, `webapp`).
    let mut services = std::collections::BTreeMap::new();
    for name in cluster.services.keys() {
        let Some(view) = cluster.view_of(name, Default::default()) else {
            continue;
        };
        let image = view.webapp_image_name();
        let pinned = pin(
            manager,
            cluster,
            &image,
            &crate::deploy::app_input::webapp_image(&view),
        )
        .await?;
        tags.push(pinned.clone());
        tags.push(cluster.swarm_image(&image, "latest"));
        services.insert(name.clone(), pinned);
    }
    tags.sort();
    tags.dedup();
    spread(ctx, cluster, manager, &tags, login, bar).await?;
    Ok(SwarmImages {
        ha,
        webapp,
        services,
    })
}

/// Puts the manager's images `tags` on every ready node that lacks them (or pushes them
/// to `deploy.registry`): also before `scale`, for a node that joined since `up`.
pub(crate) async fn spread(
    ctx: &Ctx,
    cluster: &Cluster,
    manager: &Engine,
    tags: &[String],
    login: Option<&DockerCredentials>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    if cluster.deploy.registry.is_some() {
        for tag in tags {
            bar.set_message(format!("pushing {tag}"));
            manager.push_image(tag, login.cloned()).await?;
        }
        return Ok(());
    }
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    for node in manager.swarm_members().await? {
        if !node.is_ready() {
            continue;
        }
        let Some(engine) = node_engine(ctx, cluster, manager, &node).await else {
            anyhow::bail!(unreachable(ctx, &node.hostname));
        };
        let mut missing = false;
        for tag in &tags {
            missing |= !engine.image_exists(tag).await?;
        }
        if missing {
            bar.set_message(format!("loading the images into {}", node.hostname));
            manager
                .copy_images(&engine, &tags)
                .await
                .with_context(|| format!("loading the images into node {}", node.hostname))?;
        }
    }
    Ok(())
}

/// Tags `source` on the manager as the Swarm's `image` pinned to its id, and as latest;
/// returns the pinned name.
async fn pin(
    manager: &Engine,
    cluster: &Cluster,
    image: &str,
    source: &str,
) -> anyhow::Result<String> {
    let id = manager
        .image(source)
        .await?
        .and_then(|i| i.id)
        .with_context(|| format!("image {source} not found; run `cargo xtask build`"))?;
    let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
    let pinned = cluster.swarm_image(image, &short);
    for name in [pinned.clone(), cluster.swarm_image(image, "latest")] {
        let (repo, tag) = split_tag(&name);
        manager.tag_image(&id, repo, tag).await?;
    }
    Ok(pinned)
}

/// A ready node whose engine this host cannot reach to load the images (exit 2).
pub(crate) fn unreachable(ctx: &Ctx, node: &str) -> UsageError {
    UsageError(format!(
        "{}: Swarm node {node} cannot be reached from this host to load the images; set deploy.registry (the images are pushed there) or run the nodes with `cargo xtask swarm-lab`",
        ctx.config_file()
    ))
}
