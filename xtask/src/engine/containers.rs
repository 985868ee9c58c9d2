//! Containers: create from a spec, upload files before start, exec, logs, stop, remove.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context as _;
use bollard::container::{
    Config, CreateContainerOptions, KillContainerOptions, ListContainersOptions, LogOutput,
    LogsOptions, NetworkingConfig, RemoveContainerOptions, StopContainerOptions,
    UploadToContainerOptions,
};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerInspectResponse, ContainerSummary, EndpointIpamConfig, EndpointSettings, HostConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
};

use futures_util::StreamExt;

use super::{is_not_found, Engine};

/// Everything needed to create one node's container.
pub(crate) struct ContainerSpec {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) labels: HashMap<String, String>,
    pub(crate) network: String,
    pub(crate) ip: Ipv4Addr,
    /// Container ports published on `bind` at the same host port.
    pub(crate) published: Vec<u16>,
    pub(crate) bind: IpAddr,
}

/// A file put into a container before it starts (secrets never go into images or env).
pub(crate) struct FileUpload<'a> {
    pub(crate) dir: &'a str,
    pub(crate) name: &'a str,
    pub(crate) contents: &'a [u8],
    pub(crate) mode: u32,
}

pub(crate) struct ExecOutput {
    pub(crate) exit_code: i64,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Engine {
    /// All containers (running or not) carrying every one of `labels`.
    pub(crate) async fn containers_with_labels(
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
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
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

    pub(crate) async fn create_container(&self, spec: &ContainerSpec) -> anyhow::Result<()> {
        let mut port_bindings = HashMap::new();
        let mut exposed = HashMap::new();
        for port in &spec.published {
            let key = format!("{port}/tcp");
            port_bindings.insert(
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(spec.bind.to_string()),
                    host_port: Some(port.to_string()),
                }]),
            );
            exposed.insert(key, HashMap::new());
        }
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(spec.ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let config = Config {
            image: Some(spec.image.clone()),
            hostname: Some(spec.name.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                network_mode: Some(spec.network.clone()),
                port_bindings: Some(port_bindings),
                init: Some(false),
                // Back after a daemon restart or a reboot; a `docker stop` by hand stays
                // stopped. Serf re-forms the cluster whatever the order they come back in.
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: HashMap::from([(spec.network.clone(), endpoint)]),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            platform: None,
        };
        self.docker
            .create_container(Some(options), config)
            .await
            .with_context(|| format!("creating container {}", spec.name))?;
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
        let options = UploadToContainerOptions {
            path: file.dir.to_string(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(container, Some(options), archive.into())
            .await
            .with_context(|| {
                format!(
                    "copying {}/{} into container {container}",
                    file.dir, file.name
                )
            })
    }

    pub(crate) async fn start_container(&self, name: &str) -> anyhow::Result<()> {
        self.docker
            .start_container::<String>(name, None)
            .await
            .with_context(|| format!("starting container {name}"))
    }

    /// `docker stop`: SIGTERM to s6 (services get their down-signal: Serf leaves), then
    /// SIGKILL after `timeout_s`.
    pub(crate) async fn stop_container(&self, name: &str, timeout_s: i64) -> anyhow::Result<()> {
        self.docker
            .stop_container(name, Some(StopContainerOptions { t: timeout_s }))
            .await
            .with_context(|| format!("stopping container {name}"))
    }

    pub(crate) async fn kill_container(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        self.docker
            .kill_container(name, Some(KillContainerOptions { signal }))
            .await
            .with_context(|| format!("sending {signal} to container {name}"))
    }

    pub(crate) async fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(options)).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing container {name}")),
        }
    }

    /// Runs `cmd` in a running container and collects its output (`docker exec`).
    pub(crate) async fn exec(&self, container: &str, cmd: &[&str]) -> anyhow::Result<ExecOutput> {
        let what = || format!("running `{}` in container {container}", cmd.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .with_context(what)?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .with_context(what)?
        {
            while let Some(chunk) = output.next().await {
                match chunk.with_context(what)? {
                    LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .with_context(what)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    /// `docker logs` (stdout and stderr interleaved); the last `tail` lines, or all.
    pub(crate) async fn logs(
        &self,
        container: &str,
        tail: Option<usize>,
    ) -> anyhow::Result<String> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.map_or("all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading logs of container {container}"))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
    }
}
