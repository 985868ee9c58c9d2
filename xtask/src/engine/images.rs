//! Image operations: inspect, pull, import a root filesystem, build from an in-memory
//! context, remove, and run a binary of an image once.
use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, ImageInspect};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    LogsOptionsBuilder, PushImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use bollard::{body_full, body_try_stream};
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::Engine;

/// What to build: the tag, the tar context and the Dockerfile's build args.
pub(crate) struct BuildSpec<'a> {
    pub(crate) tag: &'a str,
    /// The context archive, streamed to the engine.
    pub(crate) context: crate::build::ContextArchive,
    pub(crate) build_args: HashMap<String, String>,
    pub(crate) labels: HashMap<String, String>,
    pub(crate) no_cache: bool,
    /// Images whose layer chain the cache must prefer (see `Job::image` in build).
    pub(crate) cache_from: Vec<String>,
}

/// What a throwaway container printed, and how it exited.
pub(crate) struct RunOutput {
    pub(crate) exit_code: i64,
    pub(crate) output: String,
}

impl Engine {
    /// The image, or `None` when the engine does not have it.
    pub async fn image(&self, name: &str) -> anyhow::Result<Option<ImageInspect>> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(Some(image)),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("inspecting image {name}")),
        }
    }

    pub async fn image_exists(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.image(name).await?.is_some())
    }

    /// Pulls `name` (`repo:tag`), giving up after `timeout`: with no registry reachable a
    /// pull can hang on the network instead of failing.
    pub(crate) async fn pull_image(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let (repo, tag) = split_tag(name);
        let options = CreateImageOptionsBuilder::new()
            .from_image(repo)
            .tag(tag)
            .build();
        let pull = self
            .docker
            .create_image(Some(options), None, None)
            .map_err(stream_error)
            .try_for_each(|_| async { Ok(()) });
        match tokio::time::timeout(timeout, pull).await {
            Ok(result) => result.with_context(|| format!("pulling image {name}")),
            Err(_) => bail!(
                "pulling image {name}: no answer within {} s",
                timeout.as_secs()
            ),
        }
    }

    /// Imports a root filesystem tar as image `name` (like `docker import`); `changes` are
    /// Dockerfile instructions applied to its config (CMD, LABEL...). Returns the image id.
    pub(crate) async fn import_rootfs(
        &self,
        name: &str,
        rootfs: Vec<u8>,
        changes: Vec<&str>,
    ) -> anyhow::Result<String> {
        let (repo, tag) = split_tag(name);
        let options = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes.into_iter().map(String::from).collect())
            .build();
        let infos: Vec<_> = self
            .docker
            .create_image(Some(options), Some(body_full(rootfs.into())), None)
            .map_err(stream_error)
            .try_collect()
            .await
            .with_context(|| format!("importing image {name}"))?;
        // The engine answers the new image id in the last status line.
        let id = infos.iter().rev().find_map(|info| info.status.clone());
        id.with_context(|| format!("importing image {name}: the engine returned no image id"))
    }

    /// Builds an image with the classic builder, calling `on_output` with every chunk of
    /// build output as it streams. Returns the image id.
    pub(crate) async fn build_image(
        &self,
        spec: BuildSpec<'_>,
        mut on_output: impl FnMut(&str),
    ) -> anyhow::Result<String> {
        let options = BuildImageOptionsBuilder::new()
            .t(spec.tag)
            .buildargs(&spec.build_args)
            .labels(&spec.labels)
            .nocache(spec.no_cache)
            .cachefrom(&spec.cache_from)
            // No intermediate container is left behind, not even by a failed step.
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream = self
            .docker
            .build_image(
                options,
                None,
                Some(body_try_stream(file_chunks(spec.context.file))),
            )
            .map_err(stream_error);
        let mut id = None;
        while let Some(info) = stream
            .try_next()
            .await
            .with_context(|| format!("building image {}", spec.tag))?
        {
            if let Some(text) = &info.stream {
                on_output(text);
            }
            if let Some(image) = info.aux.and_then(|aux| aux.id) {
                id = Some(image);
            }
        }
        match id {
            Some(id) => Ok(id),
            // Older engines only say it in the stream; the tag tells us either way.
            None => self
                .image(spec.tag)
                .await?
                .and_then(|image| image.id)
                .with_context(|| format!("building image {}: no image was produced", spec.tag)),
        }
    }

    /// True when `tag` exists and carries the project's label.
    pub(crate) async fn image_of_project(&self, tag: &str, project: &str) -> anyhow::Result<bool> {
        let labels = self
            .image(tag)
            .await?
            .and_then(|image| image.config)
            .and_then(|config| config.labels)
            .unwrap_or_default();
        Ok(labels.get(cluster::labels::PROJECT).map(String::as_str) == Some(project))
    }

    /// Removes an image by tag or id; a missing image is not an error. For `down --images`.
    pub async fn remove_image(&self, name: &str) -> anyhow::Result<()> {
        self.remove_image_forced(name, false)
            .await
            .with_context(|| format!("removing image {name}"))
    }

    /// Removes tag `name` also when it is the last one of an image a container still runs
    /// (the image then stays, untagged, for that container); a missing tag is not an
    /// error. For tags a command made for itself.
    pub(crate) async fn untag_image(&self, name: &str) -> anyhow::Result<()> {
        self.remove_image_forced(name, true)
            .await
            .with_context(|| format!("removing tag {name}"))
    }

    /// `force` also untags what a container uses, and then keeps its untagged parents.
    async fn remove_image_forced(&self, name: &str, force: bool) -> Result<(), DockerError> {
        let options = RemoveImageOptionsBuilder::new()
            .force(force)
            .noprune(force)
            .build();
        match self.docker.remove_image(name, Some(options), None).await {
            Ok(_)
            | Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// The tags (`repo:tag`) of the images in repository `repo`.
    pub(crate) async fn tags_in_repo(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([("reference", vec![format!("{repo}:*")])]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .with_context(|| format!("listing the images of {repo}"))?;
        let prefix = format!("{repo}:");
        let mut tags: Vec<String> = images
            .into_iter()
            .flat_map(|image| image.repo_tags)
            .filter(|tag| tag.starts_with(&prefix))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Ids of the untagged images carrying every one of `labels` (left by rebuilds).
    pub async fn dangling_images(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([
            ("dangling", vec!["true".to_string()]),
            (
                "label",
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ),
        ]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .context("listing dangling images")?;
        Ok(images.into_iter().map(|image| image.id).collect())
    }

    /// Runs `cmd` in a throwaway container of `image` and returns what it printed.
    /// The container is removed by us rather than with AutoRemove: AutoRemove races with
    /// reading the exit code and the output of a command that exits at once.
    pub(crate) async fn run_once(
        &self,
        image: &str,
        cmd: &[&str],
        labels: HashMap<String, String>,
    ) -> anyhow::Result<RunOutput> {
        let config = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|arg| arg.to_string()).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                log_config: Some(super::bounded_logs()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let what = || format!("running {} in a container of image {image}", cmd.join(" "));
        let created = self
            .docker
            .create_container(None, config)
            .await
            .with_context(what)?;
        let result = self.start_and_collect(&created.id).await.with_context(what);
        let removal = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await
            .with_context(|| format!("removing the throwaway container of image {image}"));
        let output = result?;
        removal?;
        Ok(output)
    }

    async fn start_and_collect(&self, id: &str) -> anyhow::Result<RunOutput> {
        self.docker.start_container(id, None).await?;
        let wait = self
            .docker
            .wait_container(id, None)
            .try_collect::<Vec<_>>()
            .await;
        // bollard reports a non-zero exit as an error carrying the code.
        let exit_code = match wait {
            Ok(responses) => responses.last().map_or(0, |r| r.status_code),
            Err(DockerError::DockerContainerWaitError { code, .. }) => code,
            Err(err) => return Err(err.into()),
        };
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let logs: Vec<LogOutput> = self.docker.logs(id, Some(options)).try_collect().await?;
        let output = logs.iter().map(ToString::to_string).collect();
        Ok(RunOutput { exit_code, output })
    }
}

/// bollard's mid-stream error says only "Docker stream error"; the engine's message (the
/// failing build step's error, why a pull failed) is in its field.
fn stream_error(err: DockerError) -> anyhow::Error {
    match err {
        DockerError::DockerStreamError { error } => anyhow::anyhow!(error),
        err => err.into(),
    }
}

impl Engine {
    /// Pushes `name` (`repo:tag`) to its registry (a Swarm's `deploy.registry`), with its
    /// login if it needs one.
    pub(crate) async fn push_image(
        &self,
        name: &str,
        login: Option<DockerCredentials>,
    ) -> anyhow::Result<()> {
        let (repo, tag) = split_tag(name);
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut push = self.docker.push_image(repo, Some(options), login);
        while let Some(info) = push.next().await {
            let info = info.with_context(|| format!("pushing image {name}"))?;
            if let Some(error) = info.error_detail.and_then(|e| e.message) {
                bail!("pushing image {name}: {error}");
            }
        }
        Ok(())
    }
}

/// `repo:tag` -> (`repo`, `tag`); a colon inside a registry host:port is not a tag.
pub(crate) fn split_tag(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "latest"),
    }
}

/// A file read in chunks, for a request body that is never held whole in memory.
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::from_std(file);
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut chunk = vec![0; 256 * 1024];
        let read = file.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        chunk.truncate(read);
        Ok(Some((bytes::Bytes::from(chunk), file)))
    })
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn splits_the_tag_but_not_a_registry_port() {
        assert_eq!(
            split_tag("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(split_tag("lab4/base"), ("lab4/base", "latest"));
        assert_eq!(
            split_tag("host:5000/lab4/base"),
            ("host:5000/lab4/base", "latest")
        );
        assert_eq!(split_tag("host:5000/base:v1"), ("host:5000/base", "v1"));
    }
}
