//! One image's build: its context, the engine build with progress, the log file, and the
//! `--version` check of the binary it ships.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use cluster::{AppMode, Cluster};

use super::report::{self, Line};
use super::source;
use super::steps::BuildOutput;
use super::tarball::BuildContext;
use crate::context::Ctx;
use crate::engine::{BuildSpec, Engine};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Image {
    Base,
    Ha,
    Webapp,
}

impl Image {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Image::Base => "base",
            Image::Ha => "ha",
            Image::Webapp => "webapp",
        }
    }

    /// The host-built program the image ships, checked with `--version` after a build.
    fn binary(self) -> Option<&'static str> {
        match self {
            Image::Base => None,
            Image::Ha => Some("ha-agent"),
            Image::Webapp => Some("webapp"),
        }
    }
}

/// An image that built; `check` is what its binary's `--version` printed.
pub(crate) struct Built {
    pub(crate) cached: bool,
    pub(crate) size: i64,
    pub(crate) layers: Vec<String>,
    pub(crate) check: anyhow::Result<String>,
    pub(crate) time: Duration,
}

/// What every image job needs.
#[derive(Clone)]
pub(crate) struct Job<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) engine: &'a Engine,
    pub(crate) cluster: &'a Cluster,
    pub(crate) log_dir: PathBuf,
    pub(crate) no_cache: bool,
}

impl Job<'_> {
    pub(crate) async fn base(&self, line: &Line) -> anyhow::Result<Built> {
        let started = Instant::now();
        line.start("finding the image to build FROM");
        let from = source::resolve(&self.ctx.sh, self.engine, self.cluster, &self.log_dir, line)
            .await
            .inspect_err(|_| line.failed("no image to build FROM"))
            .context("building image base")?;
        let mut context = BuildContext::new()?;
        context.add_dir(&self.ctx.path("images/base"))?;
        let built = self
            .image(Image::Base, context, ("FROM_IMAGE", from), line)
            .await;
        finish(line, built, started)
    }

    /// ha or webapp: the image folder, the binary and, for ha, the template at the root.
    pub(crate) async fn child(
        &self,
        image: Image,
        binary: &Path,
        template: Option<&Path>,
        line: &Line,
    ) -> anyhow::Result<Built> {
        let started = Instant::now();
        line.start("assembling the build context");
        let name = image.binary().expect("ha and webapp ship a binary");
        let mut context = BuildContext::new()?;
        context.add_dir(&self.ctx.path("images").join(image.name()))?;
        context.add_file(name, binary)?;
        if let Some(template) = template {
            context.add_file("haproxy.cfg.j2", template)?;
            // ha's routes map is rendered from its template beside haproxy.cfg's.
            let routes = template.with_file_name("routes.map.j2");
            context.add_file("routes.map.j2", &routes)?;
        }
        let base = self.cluster.image_tag(Image::Base.name());
        let built = self.image(image, context, ("BASE", base), line).await;
        finish(line, built, started)
    }

    /// webapp from the user's context (`[webapps] build`), FROM our base.
    pub(crate) async fn user_app(&self, dir: &Path, line: &Line) -> anyhow::Result<Built> {
        let started = Instant::now();
        line.start(format!("assembling the build context {}", dir.display()));
        let mut context = BuildContext::new()?;
        context.add_user_dir(dir, &self.ctx.path(".state"))?;
        let base = self.cluster.image_tag(Image::Base.name());
        let built = self
            .image(Image::Webapp, context, ("BASE", base), line)
            .await;
        finish(line, built, started)
    }

    /// The binary to check in an image: the user's app ships none of ours.
    fn shipped_binary(&self, image: Image) -> Option<&'static str> {
        match (image, self.cluster.webapps.mode()) {
            (Image::Webapp, AppMode::Build(_)) => None,
            _ => image.binary(),
        }
    }

    async fn image(
        &self,
        image: Image,
        context: BuildContext,
        (arg, value): (&str, String),
        line: &Line,
    ) -> anyhow::Result<Built> {
        // A named service's own build (`webapp-<service>`) is tagged as its view says.
        let name = match image {
            Image::Webapp => self.cluster.webapp_image_name(),
            _ => image.name().to_string(),
        };
        let name = name.as_str();
        let tag = self.cluster.image_tag(name);
        let labels = HashMap::from([
            (
                cluster::labels::PROJECT.to_string(),
                self.cluster.project.clone(),
            ),
            (cluster::labels::ROLE.to_string(), name.to_string()),
        ]);
        // The classic builder takes, at each step, the newest cached image with that step's
        // config. Another project building the same Dockerfile makes newer ones that lack
        // our LABEL steps: so a rebuild would run those, get a new base id and rebuild ha
        // and webapp. Naming our previous image makes the cache follow its chain.
        let previous = !self.no_cache && self.engine.image_exists(&tag).await?;
        let spec = BuildSpec {
            cache_from: if previous {
                vec![tag.clone()]
            } else {
                Vec::new()
            },
            tag: &tag,
            context: {
                let archive = context.finish()?;
                if image == Image::Webapp && self.cluster.webapps.mode() != AppMode::Lab {
                    // The user's context: what .dockerignore left in, and how much.
                    println!(
                        "build context of the app: {:.1} MB (after .dockerignore)",
                        archive.size as f64 / 1e6
                    );
                }
                archive
            },
            build_args: HashMap::from([(arg.to_string(), value)]),
            labels: labels.clone(),
            no_cache: self.no_cache,
        };
        let mut output = BuildOutput::default();
        let result = self
            .engine
            .build_image(spec, |chunk| {
                if let Some(step) = output.push(chunk) {
                    line.step(step);
                }
            })
            .await;
        let log = self.log_dir.join(format!("build-{name}.log"));
        std::fs::write(&log, &output.log).with_context(|| format!("writing {}", log.display()))?;
        if let Err(err) = result {
            return Err(failure(&output, err, &log, line))
                .with_context(|| format!("building image {name}"));
        }

        let inspect = self
            .engine
            .image(&tag)
            .await?
            .with_context(|| format!("image {tag} vanished after its build"))?;
        let check = match self.shipped_binary(image) {
            Some(binary) => {
                line.say(format!("checking that {binary} runs in the image"));
                self.check(&tag, binary, labels).await
            }
            None => Ok(String::new()),
        };
        Ok(Built {
            cached: output.all_cached(),
            size: inspect.size.unwrap_or_default(),
            layers: inspect.root_fs.and_then(|fs| fs.layers).unwrap_or_default(),
            check,
            time: Duration::ZERO,
        })
    }

    /// A binary built on the host may not run on the base image (e.g. a newer glibc on
    /// the host): `<binary> --version` in a throwaway container proves it starts.
    async fn check(
        &self,
        tag: &str,
        binary: &str,
        mut labels: HashMap<String, String>,
    ) -> anyhow::Result<String> {
        labels.insert(cluster::labels::ROLE.to_string(), "check".to_string());
        let path = format!("/usr/local/bin/{binary}");
        let run = self
            .engine
            .run_once(tag, &[&path, "--version"], labels)
            .await?;
        let output = run.output.trim();
        if run.exit_code != 0 {
            anyhow::bail!(
                "image {tag} cannot run {binary}: `{binary} --version` exited with {}: {output}\n\
                 (a binary built on this host must run on the base image; is the host's glibc newer?)",
                run.exit_code
            );
        }
        if !output.starts_with(binary) {
            anyhow::bail!("image {tag}: `{binary} --version` printed {output:?}; it must print `{binary} <version>`");
        }
        Ok(output.lines().next().unwrap_or_default().to_string())
    }
}

/// Prints the failing step and its output; the error names the step and the log file.
fn failure(output: &BuildOutput, err: anyhow::Error, log: &Path, line: &Line) -> anyhow::Error {
    let (step, lines) = output
        .last_step(40)
        .unwrap_or_else(|| ("before the first step".to_string(), Vec::new()));
    line.failed(format!("failed at {step}"));
    line.print(format!("--- {step}\n{}\n---", lines.join("\n")));
    // The root cause is the engine's own message; the context around it names the image.
    let cause = err.root_cause();
    anyhow!("{step} failed: {cause}; full log in {}", log.display())
}

fn finish(line: &Line, built: anyhow::Result<Built>, started: Instant) -> anyhow::Result<Built> {
    let time = started.elapsed();
    let built = built.map(|built| Built { time, ..built });
    match &built {
        Ok(built) => {
            let result = if built.cached { "cached" } else { "built" };
            match &built.check {
                Ok(_) => line.done(format!("{result} in {}", report::seconds(time))),
                Err(_) => line.failed(format!("{result}, but its binary does not run")),
            }
        }
        Err(_) => line.failed("failed"),
    }
    built
}
