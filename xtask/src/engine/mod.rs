//! Every Docker Engine API call goes through here; each error names the object it was
//! about and keeps the engine's error as its source.
mod attached;
mod containers;
mod images;
mod nested;
mod networks;
mod stats;
mod streams;
mod swarm;
mod swarm_nodes;

use anyhow::Context as _;
use bollard::Docker;

pub(crate) use attached::*;
pub use containers::*;
pub(crate) use images::*;
pub(crate) use nested::*;
pub(crate) use networks::*;
pub(crate) use streams::*;
pub(crate) use swarm::*;
pub(crate) use swarm_nodes::*;

#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
}

impl Engine {
    /// Connects through the local socket (or DOCKER_HOST) and negotiates the API version,
    /// so an older engine (Debian's 20.10 speaks 1.41) is spoken to in its own version.
    pub async fn connect() -> anyhow::Result<Engine> {
        let unreachable =
            "Docker engine unreachable; start it (systemctl start docker) or set DOCKER_HOST";
        let docker = Docker::connect_with_local_defaults().context(unreachable)?;
        let docker = docker.negotiate_version().await.context(unreachable)?;
        docker.ping().await.context(unreachable)?;
        Ok(Engine { docker })
    }
}

pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
