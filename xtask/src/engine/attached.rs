//! Containers that share another container's network namespace (`network_mode:
//! container:<name>`, or none): the trial run of an app and its probe.
use std::collections::HashMap;

use anyhow::Context as _;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::TagImageOptionsBuilder;

use super::Engine;

/// A container joined to `host`'s network namespace: it gets no address of its own.
pub(crate) struct AttachedSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) image: &'a str,
    /// `container:<name>`, or `none` for a container with only a loopback interface.
    pub(crate) network_mode: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) labels: HashMap<String, String>,
    /// Overrides the image's command when set.
    pub(crate) cmd: Option<Vec<String>>,
    /// Seconds `docker stop` waits before SIGKILL (None: the engine's 10 s).
    pub(crate) stop_timeout_s: Option<u32>,
}

impl Engine {
    pub(crate) async fn create_attached(&self, spec: &AttachedSpec<'_>) -> anyhow::Result<()> {
        let config = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone()),
            cmd: spec.cmd.clone(),
            stop_timeout: spec.stop_timeout_s.map(i64::from),
            host_config: Some(HostConfig {
                network_mode: Some(spec.network_mode.clone()),
                init: Some(false),
                log_config: Some(super::bounded_logs()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create_named(spec.name, config, "container").await
    }

    /// Tags image `id` as `repo:tag` (moving the tag if it exists).
    pub(crate) async fn tag_image(&self, id: &str, repo: &str, tag: &str) -> anyhow::Result<()> {
        let options = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        self.docker
            .tag_image(id, Some(options))
            .await
            .with_context(|| format!("tagging image {id} as {repo}:{tag}"))
    }
}
