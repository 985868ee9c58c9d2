//! Scenario 6, build and size: `cargo xtask build` as a user runs it (this same binary,
//! in a child process, its output kept in target/xtask/bench-<project>/): cold (every
//! step again with `--no-cache`; the imported bootstrap base is kept), warm (nothing
//! changed), after a template change (a modified copy given with `--templates`, never the
//! real templates/), and back to the real template. Then the images' sizes.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::Serialize;
use xshell::cmd;

use crate::bench::report::{opt, Section};
use crate::bench::stats::{round, secs};
use crate::context::Ctx;
use crate::process;

/// Its section's number in results.md.
const NUMBER: u32 = 8;

/// No target: the figures are reported as measured.
pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.build),
    targets: |_| Vec::new(),
};

/// A cold build (every step again) takes minutes; one that is still going after this hangs.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct BuildResult {
    /// None when skipped (`--quick`).
    pub(crate) cold_s: Option<f64>,
    pub(crate) warm_s: f64,
    pub(crate) template_change_s: f64,
    /// Rebuilding with the real template again afterwards.
    pub(crate) template_restore_s: f64,
    pub(crate) images: Vec<ImageSize>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct ImageSize {
    pub(crate) image: String,
    pub(crate) size_mb: f64,
    /// What it adds on top of base (for base: on top of what it is built FROM).
    pub(crate) own_mb: Option<f64>,
}

pub(crate) async fn run(ctx: &Ctx, cold: bool) -> anyhow::Result<BuildResult> {
    let builder = Builder::new(ctx)?;
    let cold_s = if cold {
        Some(secs(builder.build("cold", &["--no-cache"]).await?))
    } else {
        // Not measured: makes sure the warm build below has something to be warm from.
        builder.build("prepare", &[]).await?;
        None
    };
    let warm = builder.build("warm", &[]).await?;

    let dir = builder.dir.join("templates");
    let template = modified_template(ctx, &dir)?;
    let changed = builder
        .build("template", &["--templates", &dir.display().to_string()])
        .await;
    let _ = std::fs::remove_file(&template);
    let changed = changed?;
    // The project's ha image must carry the real template again before the stack starts.
    let restored = builder.build("restore", &[]).await?;

    Ok(BuildResult {
        cold_s,
        warm_s: secs(warm),
        template_change_s: secs(changed),
        template_restore_s: secs(restored),
        images: sizes(ctx).await?,
    })
}

/// Runs `xtask build` for this cluster file, as a child process.
struct Builder<'a> {
    ctx: &'a Ctx,
    /// Resolved once, up front: a rebuild of xtask meanwhile replaces the file, and the
    /// running process's own path then names a deleted file.
    exe: PathBuf,
    config: PathBuf,
    /// Scratch space of this project's benchmark: two projects can run one at a time.
    dir: PathBuf,
}

impl<'a> Builder<'a> {
    fn new(ctx: &'a Ctx) -> anyhow::Result<Builder<'a>> {
        let exe = std::env::current_exe().context("finding the xtask binary")?;
        let config = std::path::absolute(&ctx.config_path)
            .with_context(|| format!("resolving {}", ctx.config_path.display()))?;
        let dir = ctx.path(format!("target/xtask/bench-{}", ctx.cluster()?.project));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Builder {
            ctx,
            exe,
            config,
            dir,
        })
    }

    /// Runs `xtask build ARGS`; returns how long it took. Its output goes to a log file.
    async fn build(&self, name: &str, args: &[&str]) -> anyhow::Result<Duration> {
        let log = self.dir.join(format!("build-{name}.log"));
        println!("bench: build ({name})");
        let (sh, exe, config) = (&self.ctx.sh, &self.exe, &self.config);
        let command = cmd!(sh, "{exe} build {args...} --config {config}");
        let started = Instant::now();
        let output = process::output(command, BUILD_LIMIT).await?;
        let took = started.elapsed();
        process::logged(&output, &format!("xtask build {}", args.join(" ")), &log)?;
        Ok(took)
    }
}

/// A copy of the real template with one more comment line, different on every run so the
/// build cannot find it in its cache.
fn modified_template(ctx: &Ctx, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let real = ctx.path("templates/haproxy.cfg.j2");
    let mut text =
        std::fs::read_to_string(&real).with_context(|| format!("reading {}", real.display()))?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    text.push_str(&format!("# cargo xtask bench: template change {stamp}\n"));
    let copy = dir.join("haproxy.cfg.j2");
    std::fs::write(&copy, text).with_context(|| format!("writing {}", copy.display()))?;
    // ha's image takes the routes map's template from the same folder.
    let routes = dir.join("routes.map.j2");
    std::fs::copy(ctx.path("templates/routes.map.j2"), &routes)
        .with_context(|| format!("writing {}", routes.display()))?;
    Ok(copy)
}

async fn sizes(ctx: &Ctx) -> anyhow::Result<Vec<ImageSize>> {
    let cluster = ctx.cluster()?;
    let engine = ctx.engine().await?;
    let mb = |bytes: i64| round(bytes as f64 / 1e6, 1);
    let mut sizes = Vec::new();
    let mut base_size = None;
    for name in ["base", "ha", "webapp"] {
        let tag = cluster.image_tag(name);
        let image = engine
            .image(&tag)
            .await?
            .with_context(|| format!("image {tag} is missing after the build"))?;
        let size = image.size.unwrap_or_default();
        let own = match name {
            "base" => from_size(engine, cluster).await?.map(|from| size - from),
            _ => base_size.map(|base| size - base),
        };
        if name == "base" {
            base_size = Some(size);
        }
        sizes.push(ImageSize {
            image: tag,
            size_mb: mb(size),
            own_mb: own.map(mb),
        });
    }
    Ok(sizes)
}

/// The size of the image base is built FROM: the cluster's base image, else the
/// bootstrapped one.
async fn from_size(
    engine: &crate::engine::Engine,
    cluster: &cluster::Cluster,
) -> anyhow::Result<Option<i64>> {
    let bootstrap = format!("lbkit/bootstrap-{}:latest", cluster.base.suite);
    for tag in [cluster.base.image.as_str(), bootstrap.as_str()] {
        if let Some(image) = engine.image(tag).await? {
            return Ok(image.size);
        }
    }
    Ok(None)
}

pub(crate) fn section(md: &mut String, b: &BuildResult) {
    md.push_str(&format!(
        "\n## {NUMBER}. Build and size\n\n`cargo xtask build` as a user runs it (host binaries by cargo, then base, ha, webapp).\n\n\
         | build | time (s) |\n|---|---|\n\
         | cold (`--no-cache`; the imported Debian base is kept) | {} |\n\
         | warm (nothing changed) | {:.1} |\n\
         | after a template change (`--templates` with a modified copy) | {:.1} |\n\
         | back to the real template | {:.1} |\n\n\
         | image | size (MB) | on top of its base (MB) |\n|---|---|---|\n",
        b.cold_s
            .map_or("skipped (`--quick`)".into(), |s| format!("{s:.1}")),
        b.warm_s,
        b.template_change_s,
        b.template_restore_s
    ));
    for image in &b.images {
        md.push_str(&format!(
            "| {} | {:.1} | {} |\n",
            image.image,
            image.size_mb,
            opt(image.own_mb, 1)
        ));
    }
}
