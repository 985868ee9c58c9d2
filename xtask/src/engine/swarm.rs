//! Swarm objects on a manager's engine: services, their tasks, secrets, overlay networks
//! and the nodes. Each error names the object; the engine's error stays its source.
use std::collections::HashMap;

use anyhow::Context as _;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::models::{Secret, SecretSpec, Service, ServiceSpec, Task, TaskState};
use bollard::query_parameters::{
    ListSecretsOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};

use super::{is_not_found, Engine};

/// One task of a service: its slot (the webapp's number), node and state.
#[derive(Debug, Clone)]
pub(crate) struct SwarmTask {
    pub(crate) slot: Option<u32>,
    pub(crate) node_id: String,
    pub(crate) state: String,
    /// What Swarm wants of it: `running` for a live task, `shutdown` for a replaced one.
    pub(crate) desired: String,
    pub(crate) container_id: Option<String>,
    /// The image its spec names (during a rolling update, old tasks name the old one).
    pub(crate) image: String,
}

impl SwarmTask {
    pub(crate) fn is_running(&self) -> bool {
        self.state == TaskState::RUNNING.to_string()
    }

    pub(crate) fn is_wanted(&self) -> bool {
        self.desired == TaskState::RUNNING.to_string()
    }
}

fn label_filter(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let values = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    HashMap::from([("label".to_string(), values)])
}

impl Engine {
    /// The engine's host name (`docker info`'s Name).
    pub(crate) async fn host_name(&self) -> anyhow::Result<String> {
        let info = self
            .docker
            .info()
            .await
            .context("reading the engine's info")?;
        Ok(info.name.unwrap_or_default())
    }

    pub(crate) async fn services_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<Service>> {
        let options = ListServicesOptionsBuilder::new()
            .filters(&label_filter(labels))
            .build();
        self.docker
            .list_services(Some(options))
            .await
            .context("listing services")
    }

    /// `login`: the registry's, handed to the nodes that pull the service's image.
    pub(crate) async fn create_service(
        &self,
        spec: ServiceSpec,
        login: Option<DockerCredentials>,
    ) -> anyhow::Result<()> {
        let name = spec.name.clone().unwrap_or_default();
        self.docker
            .create_service(spec, login)
            .await
            .with_context(|| format!("creating service {name}"))?;
        Ok(())
    }

    /// Replaces the spec of a service at `version` (the one it was read at); `login` as
    /// for [`Engine::create_service`].
    pub(crate) async fn update_service(
        &self,
        spec: ServiceSpec,
        version: u64,
        login: Option<DockerCredentials>,
    ) -> anyhow::Result<()> {
        let name = spec.name.clone().unwrap_or_default();
        let options = UpdateServiceOptionsBuilder::new()
            .version(i32::try_from(version).context("service version out of range")?)
            .build();
        self.docker
            .update_service(&name, spec, options, login)
            .await
            .with_context(|| format!("updating service {name}"))?;
        Ok(())
    }

    pub(crate) async fn remove_service(&self, name: &str) -> anyhow::Result<()> {
        match self.docker.delete_service(name).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing service {name}")),
        }
    }

    pub(crate) async fn service_tasks(&self, service: &str) -> anyhow::Result<Vec<SwarmTask>> {
        let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let tasks = match self.docker.list_tasks(Some(options)).await {
            // A service that is gone has no tasks.
            Err(err) if is_not_found(&err) => Vec::new(),
            result => result.with_context(|| format!("listing the tasks of service {service}"))?,
        };
        Ok(tasks.into_iter().map(swarm_task).collect())
    }

    pub(crate) async fn secrets_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<Secret>> {
        let options = ListSecretsOptionsBuilder::new()
            .filters(&label_filter(labels))
            .build();
        self.docker
            .list_secrets(Some(options))
            .await
            .context("listing secrets")
    }

    pub(crate) async fn create_secret(
        &self,
        name: &str,
        contents: &[u8],
        labels: HashMap<String, String>,
    ) -> anyhow::Result<()> {
        let spec = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            data: Some(base64::engine::general_purpose::STANDARD.encode(contents)),
            ..Default::default()
        };
        self.docker
            .create_secret(spec)
            .await
            .with_context(|| format!("creating secret {name}"))?;
        Ok(())
    }

    pub(crate) async fn remove_secret(&self, name: &str) -> anyhow::Result<()> {
        match self.docker.delete_secret(name).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing secret {name}")),
        }
    }
}

fn swarm_task(task: Task) -> SwarmTask {
    let status = task.status.unwrap_or_default();
    SwarmTask {
        slot: task.slot.and_then(|s| u32::try_from(s).ok()),
        node_id: task.node_id.unwrap_or_default(),
        state: status.state.map(|s| s.to_string()).unwrap_or_default(),
        desired: task
            .desired_state
            .map(|s| s.to_string())
            .unwrap_or_default(),
        container_id: status.container_status.and_then(|c| c.container_id),
        image: task
            .spec
            .and_then(|s| s.container_spec)
            .and_then(|c| c.image)
            .unwrap_or_default(),
    }
}
