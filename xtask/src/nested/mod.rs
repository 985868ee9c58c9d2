//! Nested engines: a Docker engine run in a container of the host's engine, reached only
//! through its unix socket (a host folder under .state/). Used to restart a daemon for
//! real in tests; the Swarm lab builds its nodes from the same pieces.
//!
//! The image is Debian's docker.io on the debootstrapped base; the node gets SYS_ADMIN,
//! NET_ADMIN and SYS_PTRACE, unconfined seccomp/AppArmor and the host's cgroup tree, and its dockerd a
//! cgroup parent of its own. Images are copied in with save/load (no registry).
pub(crate) mod cgroups;
pub(crate) mod command;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context as _;
use cluster::{labels, Cluster};

use crate::build::{bootstrap_tag, BuildContext};
use crate::context::{Ctx, UsageError};
use crate::engine::{BuildSpec, Engine, NodeSpec, NESTED_START_TIMEOUT};
use crate::wait::Wait;

/// Label value (`lbkit.role`) of nested engine nodes and of their image.
const ROLE: &str = "nested-engine";

/// The nested engine image for `suite`; shared by every project, like the bootstrap.
pub(crate) fn image_tag(suite: &str) -> String {
    format!("lbkit/nested-engine-{suite}:latest")
}

/// Label of the nested engine image: the hash of the images/nested files it was built from.
const SOURCES: &str = "lbkit.sources";

/// Whether the nested engine image is missing or built from other files than those now
/// in images/nested.
pub(crate) async fn image_is_stale(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<bool> {
    let built = built_from(engine, &image_tag(&cluster.base.suite)).await?;
    Ok(built.as_deref() != Some(sources_hash(ctx)?.as_str()))
}

async fn built_from(engine: &Engine, tag: &str) -> anyhow::Result<Option<String>> {
    Ok(engine
        .image(tag)
        .await?
        .and_then(|i| i.config?.labels?.remove(SOURCES)))
}

/// The names, modes and contents of the files in images/nested (a flat folder), hashed.
fn sources_hash(ctx: &Ctx) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ctx.path("images/nested");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .with_context(|| format!("listing {}", dir.display()))?;
    files.retain(|file| file.is_file());
    files.sort();
    let mut bytes = Vec::new();
    for file in files {
        let what = || format!("reading {}", file.display());
        let mode = std::fs::metadata(&file)
            .with_context(what)?
            .permissions()
            .mode();
        bytes.extend(file.file_name().unwrap_or_default().as_encoded_bytes());
        bytes.extend(mode.to_le_bytes());
        bytes.extend(std::fs::read(&file).with_context(what)?);
    }
    Ok(format!(
        "{:016x}",
        crate::deploy::stable_hash::fnv1a(&bytes)
    ))
}

/// One running nested engine.
pub(crate) struct Nested {
    pub(crate) node: String,
    pub(crate) socket: PathBuf,
    pub(crate) engine: Engine,
}

/// Builds the nested engine image unless it is built from the files now in
/// images/nested (FROM the debootstrapped base, which `cargo xtask build` makes).
pub(crate) async fn ensure_image(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<String> {
    let tag = image_tag(&cluster.base.suite);
    let sources = sources_hash(ctx)?;
    if built_from(engine, &tag).await?.as_deref() == Some(sources.as_str()) {
        return Ok(tag);
    }
    let from = bootstrap_tag(&cluster.base.suite);
    anyhow::ensure!(
        engine.image_exists(&from).await?,
        "image {from} not found; run `cargo xtask build` first"
    );
    let mut context = BuildContext::new()?;
    context.add_dir(&ctx.path("images/nested"))?;
    let spec = BuildSpec {
        tag: &tag,
        context: context.finish()?,
        build_args: HashMap::from([("FROM_IMAGE".to_string(), from)]),
        labels: HashMap::from([
            (labels::ROLE.to_string(), ROLE.to_string()),
            (SOURCES.to_string(), sources),
        ]),
        no_cache: false,
        cache_from: Vec::new(),
    };
    engine
        .build_image(spec, |_| {})
        .await
        .with_context(|| format!("building image {tag}"))?;
    Ok(tag)
}

/// The folder holding node `name`'s docker.sock on the host.
pub(crate) fn socket_dir(ctx: &Ctx, cluster: &Cluster, name: &str) -> PathBuf {
    crate::state_dir::project_at(&ctx.root, cluster)
        .join("nested")
        .join(name)
}

/// Node `name` running, created (labelled with the project) if missing; waits for its
/// engine. Run again, it only starts a stopped node. `insecure_registry`: a subnet whose
/// registries its engine may reach over plain HTTP.
pub(crate) async fn ensure(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    name: &str,
    published: Vec<u16>,
    insecure_registry: Option<String>,
) -> anyhow::Result<Nested> {
    let socket_dir = socket_dir(ctx, cluster, name);
    let socket = socket_dir.join("docker.sock");
    if let Some(info) = engine.inspect_container(name).await? {
        ensure_ours(&info, cluster, name)?;
        // A node keeps the image (and settings) it was made with: say when that is old.
        let made_from = info
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref()?.get(SOURCES).cloned());
        if made_from.as_deref() != Some(sources_hash(ctx)?.as_str()) {
            eprintln!(
                "note: node {name} was made from an older images/nested; remove it (`cargo xtask swarm-lab down` or `nested down`) and bring it up again to take the new one"
            );
        }
        if !info.state.and_then(|s| s.running).unwrap_or(false) {
            engine.start_container(name).await?;
        }
        return Ok(Nested {
            node: name.to_string(),
            engine: wait(&socket).await?,
            socket,
        });
    }
    let image = ensure_image(ctx, engine, cluster).await?;
    // Owner-only: the socket inside is root on the nested engine.
    crate::state_dir::create(&socket_dir)?;
    let spec = NodeSpec {
        name: name.to_string(),
        image,
        labels: HashMap::from([
            (labels::PROJECT.to_string(), cluster.project.clone()),
            (labels::ROLE.to_string(), ROLE.to_string()),
        ]),
        socket_dir: socket_dir.clone(),
        cgroup: cgroups::parent(name),
        published,
        insecure_registry,
    };
    engine.create_engine_node(&spec).await?;
    engine.start_container(name).await?;
    let nested = wait(&socket).await?;
    Ok(Nested {
        node: name.to_string(),
        socket,
        engine: nested,
    })
}

/// A container by that name that this project's `nested up` did not create is not ours to
/// start or remove.
fn ensure_ours(
    info: &bollard::models::ContainerInspectResponse,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<()> {
    let labels = info.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    if label(labels::PROJECT) == Some(cluster.project.as_str()) && label(labels::ROLE) == Some(ROLE)
    {
        return Ok(());
    }
    Err(UsageError(format!(
        "container name {name} is taken by another container (not a nested engine of project {}); remove or rename it",
        cluster.project
    ))
    .into())
}

/// The engine behind `socket`, once it answers.
pub(crate) async fn wait(socket: &std::path::Path) -> anyhow::Result<Engine> {
    Wait::new("the nested engine to answer", NESTED_START_TIMEOUT)
        .retry(async || Engine::connect_socket(socket).await)
        .await
}

/// Copies the project's images (and the base they are built FROM) into a nested engine,
/// so `cargo xtask up` there finds its build cache.
pub(crate) async fn load_project_images(
    engine: &Engine,
    nested: &Engine,
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let tags = [
        bootstrap_tag(&cluster.base.suite),
        cluster.image_tag("base"),
        cluster.image_tag("ha"),
        cluster.image_tag("webapp"),
    ];
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    engine.copy_images(nested, &tags).await
}

/// Removes node `name` with its volume (everything the inner engine held), its cgroups and
/// its socket folder.
pub(crate) async fn remove(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<()> {
    if let Some(info) = engine.inspect_container(name).await? {
        ensure_ours(&info, cluster, name)?;
    }
    engine.remove_container(name).await?;
    // A cgroup left is warned about, not an error: the node is gone.
    let _ = cgroups::remove(&cgroups::parent(name)).await;
    let dir = socket_dir(ctx, cluster, name);
    match std::fs::remove_dir_all(&dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}
