//! The webapps' app as the cluster file declares it, on both targets: which image they
//! run, where a build context is, and the checks made before anything is built or touched.
use std::path::PathBuf;

use cluster::{AppMode, Cluster};

use crate::context::{Ctx, UsageError};

/// The image webapps run: the user's image, or the project's webapp image (the lab's app
/// or the user's context built on our base).
pub(crate) fn webapp_image(cluster: &Cluster) -> String {
    match cluster.webapps.mode() {
        AppMode::Image(image) => image.to_string(),
        AppMode::Lab | AppMode::Build(_) => cluster.image_tag(&cluster.webapp_image_name()),
    }
}

/// `build` of `[webapps]` (or of a named service's view), relative to the folder of the cluster file.
pub(crate) fn build_context(ctx: &Ctx, cluster: &Cluster) -> Option<PathBuf> {
    let AppMode::Build(dir) = cluster.webapps.mode() else {
        return None;
    };
    let folder = ctx
        .config_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    Some(folder.join(dir))
}

/// The app's input, checked before anything is built or touched: the image exists, the
/// build context has a Dockerfile.
pub(crate) async fn check_input(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<()> {
    let file = ctx.config_file();
    let section = cluster.section();
    match cluster.webapps.mode() {
        AppMode::Lab => {}
        AppMode::Image(image) => {
            if ctx.engine().await?.image(image).await?.is_none() {
                anyhow::bail!(UsageError(format!(
                    "{file}: {section}.image: image {image:?} is not on the engine (no registry is used); build or `docker load` it first, or fix the name"
                )));
            }
        }
        AppMode::Build(dir) => {
            let context = build_context(ctx, cluster).expect("build mode has a context");
            if !context.join("Dockerfile").is_file() {
                anyhow::bail!(UsageError(format!(
                    "{file}: {section}.build: {dir:?} ({}) has no Dockerfile; add one starting `ARG BASE` / `FROM ${{BASE}}`, or fix the path",
                    context.display()
                )));
            }
        }
    }
    Ok(())
}
