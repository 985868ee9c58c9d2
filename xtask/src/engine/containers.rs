//! Containers: create from a spec, upload files before start, exec, logs, stop, remove.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bollard::body_full;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum,
    EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};

use futures_util::StreamExt;

use super::{is_not_found, Engine};

/// Everything needed to create one node's container.
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    pub network: String,
    pub ip: Ipv4Addr,
    /// Container ports published on `bind` at the same host port.
    pub published: Vec<u16>,
    pub bind: IpAddr,
    /// Replaces the image's command (lab task 0 runs one program, no supervisor).
    pub command: Option<Vec<String>>,
    pub user: Option<String>,
    /// Seconds `docker stop` waits before SIGKILL (None: the engine's 10 s).
    pub stop_timeout_s: Option<u32>,
    /// Seconds between the image's HEALTHCHECK runs (None: the image's). Each run is an
    /// exec that costs the container about 20 ms of CPU.
    pub health_interval_s: Option<u32>,
    /// Capabilities dropped from and added to Docker's default set.
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    /// `no-new-privileges`: no exec gains privileges (setuid binaries, file capabilities).
    pub no_new_privileges: bool,
}

/// A file put into a container before it starts (secrets never go into images or env).
pub(crate) struct FileUpload<'a> {
    pub(crate) dir: &'a str,
    pub(crate) name: &'a str,
    pub(crate) contents: &'a [u8],
    pub(crate) mode: u32,
}

/// True when a listed container is running.
pub(crate) fn is_running(container: &ContainerSummary) -> bool {
    container.state == Some(ContainerSummaryStateEnum::RUNNING)
}

impl Engine {
    /// All containers (running or not) carrying every one of `labels`.
    pub async fn containers_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([(
            "label".to_string(),
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .context("listing containers")
    }

    /// The container named `name`, if there is one.
    pub(crate) async fn inspect_container(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<ContainerInspectResponse>> {
        match self.docker.inspect_container(name, None).await {
            Ok(info) => Ok(Some(info)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("inspecting container {name}")),
        }
    }

    pub async fn create_container(&self, spec: &ContainerSpec) -> anyhow::Result<()> {
        let (port_bindings, exposed) = publish(&spec.published, &spec.bind.to_string());
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(spec.ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let config = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: Some(spec.name.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(exposed),
            cmd: spec.command.clone(),
            user: spec.user.clone(),
            stop_timeout: spec.stop_timeout_s.map(i64::from),
            // Only the interval: the engine keeps the image's test, timeout and retries.
            healthcheck: spec.health_interval_s.map(|s| HealthConfig {
                interval: Some(i64::from(s) * 1_000_000_000),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some(spec.network.clone()),
                port_bindings: Some(port_bindings),
                init: Some(false),
                log_config: Some(super::bounded_logs()),
                cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
                cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                security_opt: spec
                    .no_new_privileges
                    .then(|| vec!["no-new-privileges:true".to_string()]),
                // Back after a daemon restart or a reboot; a `docker stop` by hand stays
                // stopped. Serf re-forms the cluster whatever the order they come back in.
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
            }),
            ..Default::default()
        };
        self.create_named(&spec.name, config, "container").await
    }

    /// Creates container `name` from `config`; errors name it as `what name`.
    pub(super) async fn create_named(
        &self,
        name: &str,
        config: ContainerCreateBody,
        what: &str,
    ) -> anyhow::Result<()> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(options), config)
            .await
            .with_context(|| format!("creating {what} {name}"))?;
        Ok(())
    }

    pub(crate) async fn upload_file(
        &self,
        container: &str,
        file: &FileUpload<'_>,
    ) -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        let mut archive = tar::Builder::new(Vec::new());
        archive.append_data(&mut header, file.name, file.contents)?;
        let archive = archive.into_inner()?;
        let options = UploadToContainerOptionsBuilder::new()
            .path(file.dir)
            .build();
        self.docker
            .upload_to_container(container, Some(options), body_full(archive.into()))
            .await
            .with_context(|| {
                format!(
                    "copying {}/{} into container {container}",
                    file.dir, file.name
                )
            })
    }

    pub async fn start_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .start_container(name, None)
            .await
            .with_context(|| format!("starting container {name}"))
    }

    /// `docker stop`: SIGTERM to s6 (services get their down-signal: Serf leaves), then
    /// SIGKILL after `timeout_s`.
    pub(crate) async fn stop_container(&self, name: &str, timeout_s: u32) -> anyhow::Result<()> {
        let timeout_s = i32::try_from(timeout_s).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(timeout_s).build();
        self.docker
            .stop_container(name, Some(options))
            .await
            .with_context(|| format!("stopping container {name}"))
    }

    pub(crate) async fn kill_container(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        self.docker
            .kill_container(
                name,
                Some(KillContainerOptionsBuilder::new().signal(signal).build()),
            )
            .await
            .with_context(|| format!("sending {signal} to container {name}"))
    }

    pub async fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing container {name}")),
        }
    }

    /// Whether container `name` exists and runs.
    pub(crate) async fn is_container_running(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self
            .inspect_container(name)
            .await?
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false))
    }

    /// Whether container `name` exists, once it is known to be one of `project`'s with
    /// `role` (its labels). A container of that name that is someone else's is a usage
    /// error naming it: nothing without the project's label is ever removed.
    pub(crate) async fn owned(
        &self,
        name: &str,
        project: &str,
        role: &str,
    ) -> anyhow::Result<bool> {
        let Some(info) = self.inspect_container(name).await? else {
            return Ok(false);
        };
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let label = |key: &str| labels.get(key).map(String::as_str);
        if label(cluster::labels::PROJECT) != Some(project)
            || label(cluster::labels::ROLE) != Some(role)
        {
            anyhow::bail!(crate::context::UsageError(format!(
                "container name {name} is taken by a container that is not project {project}'s {role} (labels {}={project}, {}={role}); remove or rename it",
                cluster::labels::PROJECT,
                cluster::labels::ROLE,
            )));
        }
        Ok(true)
    }

    /// Force-removes container `name` if it is `project`'s `role` (see [`Engine::owned`]).
    pub(crate) async fn remove_owned(
        &self,
        name: &str,
        project: &str,
        role: &str,
    ) -> anyhow::Result<()> {
        if self.owned(name, project, role).await? {
            self.remove_container(name).await?;
        }
        Ok(())
    }

    /// `docker logs` (stdout and stderr interleaved); the last `tail` lines, or all.
    pub(crate) async fn logs(
        &self,
        container: &str,
        tail: Option<usize>,
    ) -> anyhow::Result<String> {
        let tail = tail.map_or("all".to_string(), |n| n.to_string());
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        self.read_logs(container, options).await
    }

    /// The lines container `name` logged (stdout and stderr) from `from` until `to`, each
    /// with the time the engine stamped on it.
    pub(crate) async fn log_lines_between(
        &self,
        container: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> anyhow::Result<Vec<(SystemTime, String)>> {
        let unix = |t: SystemTime| {
            let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            i32::try_from(secs).unwrap_or(i32::MAX)
        };
        // Whole seconds on the wire; the stamps cut to the exact span.
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(unix(from))
            .until(unix(to).saturating_add(1))
            .build();
        let text = self.read_logs(container, options).await?;
        Ok(stamped_between(&text, from, to))
    }

    async fn read_logs(
        &self,
        container: &str,
        options: bollard::query_parameters::LogsOptions,
    ) -> anyhow::Result<String> {
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading logs of container {container}"))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
    }
}

/// The lines of a timestamped log (`<RFC 3339> <line>`) stamped in `[from, to)`.
fn stamped_between(text: &str, from: SystemTime, to: SystemTime) -> Vec<(SystemTime, String)> {
    text.lines()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
            let at = cluster::time::parse_rfc3339(stamp)?;
            (from..to).contains(&at).then(|| (at, rest.to_string()))
        })
        .collect()
}

/// Port bindings publishing each of `ports` on `host_ip` at the same host port, and the
/// matching exposed ports.
pub(super) fn publish(
    ports: &[u16],
    host_ip: &str,
) -> (HashMap<String, Option<Vec<PortBinding>>>, Vec<String>) {
    let mut bindings = HashMap::new();
    let mut exposed = Vec::new();
    for port in ports {
        let key = format!("{port}/tcp");
        let binding = PortBinding {
            host_ip: Some(host_ip.to_string()),
            host_port: Some(port.to_string()),
        };
        bindings.insert(key.clone(), Some(vec![binding]));
        exposed.push(key);
    }
    (bindings, exposed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keeps_the_lines_stamped_within_the_span() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_767_225_600 + s);
        let text = "2026-01-01T00:00:00.999999999Z before\n\
                    2026-01-01T00:00:01.000000000Z first line\n\
                    2026-01-01T00:00:02.5Z \n\
                    not stamped\n\
                    2026-01-01T00:00:03.000000001Z after\n";
        let lines = stamped_between(text, at(1), at(3));
        let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(texts, ["first line", ""]);
        assert_eq!(lines[0].0, at(1));
    }
}
