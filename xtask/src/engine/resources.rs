//! Changes to a running container's resources (`docker update`).
use anyhow::Context as _;
use bollard::models::ContainerUpdateBody;

use super::Engine;

impl Engine {
    /// Pins every process of container `name` to `cpus` (a cpuset list such as `0` or
    /// `0-1`), now and for what it starts later.
    pub(crate) async fn set_cpuset(&self, name: &str, cpus: &str) -> anyhow::Result<()> {
        let update = ContainerUpdateBody {
            cpuset_cpus: Some(cpus.to_string()),
            ..Default::default()
        };
        self.docker
            .update_container(name, update)
            .await
            .with_context(|| format!("pinning container {name} to CPUs {cpus}"))
    }
}
