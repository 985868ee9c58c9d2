//! `cargo xtask build`: the base, ha and webapp images, through the Engine API.
//!
//! base is built FROM the cluster's `[base] image` (or a debootstrapped Debian, see
//! [`source`]); ha and webapp are built FROM base, so their layers start with base's.
//! Meanwhile cargo builds the binaries they ship. Contexts are tar archives written to a
//! temporary file and streamed to the engine.
mod binaries;
mod dockerignore;
mod job;
mod report;
mod source;
mod steps;
mod tarball;

pub(crate) use source::bootstrap_tag;
pub(crate) use tarball::{BuildContext, ContextArchive};

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use cluster::AppMode;

use crate::context::Ctx;
use crate::progress;
use binaries::Binaries;
use job::{Built, Image, Job};
use report::Line;

#[derive(Args)]
pub(crate) struct Build {
    /// Run every Dockerfile step again instead of reusing the engine's build cache
    /// (an imported Debian base image is kept).
    #[arg(long)]
    no_cache: bool,
    /// Read haproxy.cfg.j2 from this folder instead of the workspace's templates/.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
}

/// What `up` runs first: a normal build, which is all cached when nothing changed.
pub(crate) async fn ensure_images(ctx: &Ctx) -> anyhow::Result<()> {
    let build = Build {
        no_cache: false,
        templates: None,
    };
    build.run(ctx).await
}

impl Build {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let engine = ctx.engine().await?;
        let template = match &self.templates {
            Some(dir) => dir.join("haproxy.cfg.j2"),
            None => ctx.path("templates/haproxy.cfg.j2"),
        };
        anyhow::ensure!(
            template.is_file(),
            "template {} not found",
            template.display()
        );
        let log_dir = ctx.path("target/xtask");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let job = Job {
            ctx,
            engine,
            cluster,
            log_dir,
            no_cache: self.no_cache,
        };

        let started = Instant::now();
        let multi = progress::multi();
        let [cargo, base_line, ha_line, webapp_line] =
            ["binaries", "base", "ha", "webapp"].map(|name| Line::new(&multi, name));
        ha_line.step("waiting for base and binaries");
        webapp_line.step("waiting for base and binaries");

        // cargo is CPU-bound, the base build mostly waits on Debian's mirror: overlap them.
        let (binaries, base) = tokio::join!(build_binaries(ctx, &cargo), job.base(&base_line));
        let (ha, webapp) = match (&binaries, &base) {
            (Ok(binaries), Ok(_)) => {
                let ha = job.child(Image::Ha, &binaries.ha_agent, Some(&template), &ha_line);
                let webapp = async {
                    match cluster.webapps.mode() {
                        AppMode::Lab => Some(
                            job.child(Image::Webapp, &binaries.webapp, None, &webapp_line)
                                .await,
                        ),
                        AppMode::Build(_) => {
                            let dir = crate::deploy::app_input::build_context(ctx, cluster)
                                .expect("build mode has a context");
                            Some(job.user_app(&dir, &webapp_line).await)
                        }
                        AppMode::Image(image) => {
                            webapp_line.done(format!("not built: webapps run {image} as it is"));
                            None
                        }
                    }
                };
                let (ha, webapp) = tokio::join!(ha, webapp);
                (
                    Outcome::from(ha),
                    webapp.map_or(Outcome::Skipped, Outcome::from),
                )
            }
            _ => {
                for line in [&ha_line, &webapp_line] {
                    line.failed("skipped: base or binaries failed");
                }
                (Outcome::Skipped, Outcome::Skipped)
            }
        };
        drop(multi);

        let services = match (&base, &binaries) {
            (Ok(_), Ok(_)) => build_services(ctx, &job).await,
            _ => Vec::new(),
        };
        let outcomes = [
            (Image::Base, Outcome::from(base)),
            (Image::Ha, ha),
            (Image::Webapp, webapp),
        ];
        println!("\n{}", report::summary(&outcomes, started.elapsed()));
        let mut errors =
            binaries
                .err()
                .into_iter()
                .chain(services)
                .chain(
                    outcomes
                        .into_iter()
                        .filter_map(|(_, outcome)| match outcome {
                            Outcome::Built(built) => built.check.err(),
                            Outcome::Failed(err) => Some(err),
                            Outcome::Skipped => None,
                        }),
                );
        let Some(first) = errors.next() else {
            return Ok(());
        };
        // The first error is printed by main; the others would be lost.
        for other in errors {
            eprintln!("error: {other:#}");
        }
        Err(first)
    }
}

/// The named services' own contexts (`build = ...` in `[services.<name>]`), each tagged
/// `webapp-<service>`, after the base; the errors of those that failed.
async fn build_services<'a>(ctx: &'a Ctx, job: &Job<'a>) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    for name in job.cluster.services.keys() {
        let Some(view) = job.cluster.view_of(name, Default::default()) else {
            continue;
        };
        let Some(dir) = crate::deploy::app_input::build_context(ctx, &view) else {
            continue;
        };
        let line = Line::new(&progress::multi(), name);
        let service_job = Job {
            cluster: &view,
            ..job.clone()
        };
        match service_job.user_app(&dir, &line).await {
            Ok(built) => match built.check {
                Ok(_) => println!(
                    "service {name}: image {} ready",
                    view.image_tag(&view.webapp_image_name())
                ),
                Err(err) => errors.push(err),
            },
            Err(err) => errors.push(err.context(format!("building service {name}'s image"))),
        }
    }
    errors
}

/// How an image's job ended.
pub(crate) enum Outcome {
    Built(Built),
    Failed(anyhow::Error),
    /// Not attempted: what it builds on failed.
    Skipped,
}

impl From<anyhow::Result<Built>> for Outcome {
    fn from(result: anyhow::Result<Built>) -> Outcome {
        match result {
            Ok(built) => Outcome::Built(built),
            Err(err) => Outcome::Failed(err),
        }
    }
}

async fn build_binaries(ctx: &Ctx, line: &Line) -> anyhow::Result<Binaries> {
    let started = Instant::now();
    line.start("cargo build --release -p ha-agent -p webapp");
    match binaries::build(&ctx.sh).await {
        Ok(built) => {
            line.done(format!("built in {}", report::seconds(started.elapsed())));
            Ok(built)
        }
        Err(err) => {
            line.failed("cargo build failed");
            Err(err)
        }
    }
}
