//! The engine calls behind a nested engine (a Docker engine in a container): its node
//! container, with what an engine needs and no more (not --privileged), a client on its
//! socket, and images copied into it (no registry: save from one engine, load into the other).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use bollard::body_full;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::ImportImageOptionsBuilder;
use bollard::Docker;
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::containers::publish;
use super::Engine;

/// Everything needed to create one node container.
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) labels: HashMap<String, String>,
    /// Host folder mounted at /lbkit-nested, where the inner engine makes docker.sock.
    pub(crate) socket_dir: PathBuf,
    /// The inner engine's cgroup parent: unique, so its containers never mix with ours.
    pub(crate) cgroup: String,
    /// Node ports published on 127.0.0.1 at the same host port.
    pub(crate) published: Vec<u16>,
    /// A subnet whose registries the inner engine may reach over plain HTTP.
    pub(crate) insecure_registry: Option<String>,
}

impl Engine {
    pub(crate) async fn create_engine_node(&self, spec: &NodeSpec) -> anyhow::Result<()> {
        let (port_bindings, exposed) = publish(&spec.published, "127.0.0.1");
        let socket_dir = spec.socket_dir.display();
        let host_config = HostConfig {
            // What dockerd needs here (measured): mounts, netfilter, cgroups, and
            // SYS_PTRACE for runc to open a non-root process's namespaces (a container
            // joining an app's network, e.g. `up`'s trial probe); seccomp and AppArmor
            // profiles would refuse its mounts. --privileged is refused on this host.
            cap_add: Some(vec![
                "SYS_ADMIN".into(),
                "NET_ADMIN".into(),
                "SYS_PTRACE".into(),
            ]),
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
            ]),
            binds: Some(vec![
                "/sys/fs/cgroup:/sys/fs/cgroup:rw".to_string(),
                format!("{socket_dir}:/lbkit-nested"),
            ]),
            // Images and containers on a volume (overlay2 cannot nest on overlay2),
            // anonymous so removing the node removes it, labelled like the node.
            mounts: Some(vec![Mount {
                target: Some("/var/lib/docker".into()),
                typ: Some(MountType::VOLUME),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(spec.labels.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            tmpfs: Some(HashMap::from([("/run".to_string(), String::new())])),
            port_bindings: Some(port_bindings),
            init: Some(true),
            log_config: Some(super::bounded_logs()),
            ..Default::default()
        };
        let config = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: Some(spec.name.clone()),
            env: Some(
                std::iter::once(format!("NESTED_CGROUP={}", spec.cgroup))
                    .chain(
                        spec.insecure_registry
                            .iter()
                            .map(|subnet| format!("NESTED_INSECURE_REGISTRY={subnet}")),
                    )
                    .collect(),
            ),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(exposed),
            host_config: Some(host_config),
            ..Default::default()
        };
        self.create_named(&spec.name, config, "nested engine node")
            .await
    }

    /// A client on a nested engine's socket, once that engine answers.
    pub(crate) async fn connect_socket(socket: &Path) -> anyhow::Result<Engine> {
        let what = || format!("connecting to the engine at {}", socket.display());
        let docker = Docker::connect_with_unix(
            &socket.display().to_string(),
            600,
            bollard::API_DEFAULT_VERSION,
        )
        .with_context(what)?;
        let docker = super::url_safe_registry_auth(docker);
        let docker = docker.negotiate_version().await.with_context(what)?;
        docker.ping().await.with_context(what)?;
        Ok(Engine {
            docker,
            plaintext: None,
        })
    }

    /// `docker save IMAGES | docker -H <target> load`, in memory.
    pub(crate) async fn copy_images(&self, target: &Engine, images: &[&str]) -> anyhow::Result<()> {
        let what = || format!("copying images {} into a nested engine", images.join(", "));
        let chunks: Vec<_> = self
            .docker
            .export_images(images)
            .try_collect()
            .await
            .with_context(what)?;
        let archive: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut load = target.docker.import_image(
            ImportImageOptionsBuilder::new().quiet(true).build(),
            body_full(archive.into()),
            None,
        );
        while let Some(info) = load.next().await {
            let info = info.with_context(what)?;
            if let Some(error) = info.error_detail.and_then(|e| e.message) {
                anyhow::bail!("{}: {error}", what());
            }
        }
        Ok(())
    }
}

/// How long a fresh nested engine may take to answer on its socket.
pub(crate) const NESTED_START_TIMEOUT: Duration = Duration::from_secs(90);
