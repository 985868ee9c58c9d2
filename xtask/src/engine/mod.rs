//! Every Docker Engine API call goes through here; each error names the object it was
//! about and keeps the engine's error as its source.
mod attached;
mod containers;
mod exec;
mod images;
mod nested;
mod networks;
mod resources;
mod stats;
mod streams;
mod swarm;
mod swarm_nodes;

use anyhow::Context as _;
use bollard::Docker;

use crate::context::UsageError;

pub(crate) use attached::*;
pub use containers::*;
pub use exec::*;
pub(crate) use images::*;
pub(crate) use nested::*;
pub(crate) use networks::*;
pub(crate) use streams::*;
pub(crate) use swarm::*;
pub(crate) use swarm_nodes::*;

/// The log settings of every container the toolkit creates: bounded, whatever it prints.
pub(crate) fn bounded_logs() -> bollard::models::HostConfigLogConfig {
    bollard::models::HostConfigLogConfig {
        typ: Some(cluster::LOG_DRIVER.to_string()),
        config: Some(log_options()),
    }
}

pub(crate) fn log_options() -> std::collections::HashMap<String, String> {
    cluster::LOG_OPTIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    /// The DOCKER_HOST when it is reached over TCP without TLS: secrets sent to it cross
    /// the network in clear.
    pub(crate) plaintext: Option<String>,
}

/// What a user sets to send secrets to an engine over TCP without TLS all the same.
pub(crate) const PLAINTEXT_CONSENT: &str = "LBKIT_PLAINTEXT_SECRETS";

impl Engine {
    /// Refuses (exit 2) to go on with something that sends secrets (the gossip key, the TLS
    /// key, registry logins) to an engine reached over TCP without TLS, unless the user
    /// said so ([`PLAINTEXT_CONSENT`]=1). Called before anything is created.
    pub(crate) fn ensure_private_transport(&self) -> anyhow::Result<()> {
        let Some(host) = &self.plaintext else {
            return Ok(());
        };
        if std::env::var(PLAINTEXT_CONSENT).is_ok_and(|v| v == "1") {
            return Ok(());
        }
        Err(UsageError(format!(
            "DOCKER_HOST={host} has no TLS: the gossip key, TLS key and registry logins would cross the network in clear; use TLS (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH), a forwarded unix socket, or set {PLAINTEXT_CONSENT}=1 to send them anyway"
        ))
        .into())
    }
}

/// The DOCKER_HOST if it is spoken to in clear: `tcp://` or `http://` while
/// DOCKER_TLS_VERIFY is unset (bollard speaks TLS whenever it is set, whatever its value).
fn plaintext_tcp(host: &str) -> Option<String> {
    let tcp = host.starts_with("tcp://") || host.starts_with("http://");
    (tcp && std::env::var_os("DOCKER_TLS_VERIFY").is_none()).then(|| host.to_string())
}

impl Engine {
    /// Connects to the engine DOCKER_HOST names, as the docker CLI does (unset or empty:
    /// the local socket; `unix://`, `tcp://`, TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH,
    /// `https://`), and negotiates the API version, so an older engine (Debian's 20.10
    /// speaks 1.41) is spoken to in its own version.
    pub async fn connect() -> anyhow::Result<Engine> {
        let host = docker_host()?;
        let unreachable = || {
            format!(
                "Docker engine unreachable at {host}; start it (systemctl start docker) or point DOCKER_HOST at a running engine"
            )
        };
        let docker = Docker::connect_with_host(&host).with_context(unreachable)?;
        let docker = url_safe_registry_auth(docker);
        let docker = docker.negotiate_version().await.with_context(unreachable)?;
        docker.ping().await.with_context(unreachable)?;
        let plaintext = plaintext_tcp(&host);
        if let Some(host) = &plaintext {
            eprintln!(
                "warning: DOCKER_HOST={host} has no TLS: secrets would cross the network in clear (refused unless {PLAINTEXT_CONSENT}=1)"
            );
        }
        Ok(Engine { docker, plaintext })
    }
}

/// bollard encodes a registry login in standard base64; the engine decodes it as URL-safe
/// base64 and drops a login it cannot decode (the push then has none). Same bytes, two
/// letters apart.
pub(crate) fn url_safe_registry_auth(docker: Docker) -> Docker {
    docker.with_request_modifier(|mut request| {
        for name in ["x-registry-auth", "x-registry-config"] {
            let safe = request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.replace('+', "-").replace('/', "_"))
                .and_then(|value| hyper::header::HeaderValue::from_str(&value).ok());
            if let Some(safe) = safe {
                request.headers_mut().insert(name, safe);
            }
        }
        request
    })
}

/// The engine address from DOCKER_HOST; a scheme bollard cannot speak is bad input, never a
/// silent fall-back to the local socket (that would act on another engine).
fn docker_host() -> anyhow::Result<String> {
    let host = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host,
        _ => {
            refuse_a_context()?;
            return Ok(LOCAL_SOCKET.to_string());
        }
    };
    let supported = ["unix://", "tcp://", "http://", "https://"];
    if supported.iter().any(|scheme| host.starts_with(scheme)) {
        return Ok(host);
    }
    Err(UsageError(format!(
        "DOCKER_HOST={host}: this toolkit reaches an engine through unix://, tcp:// or https:// only; for ssh, forward the socket (ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST) and set DOCKER_HOST=unix:///tmp/docker.sock"
    ))
    .into())
}

/// Without DOCKER_HOST the docker CLI talks to its current context's engine, which may not
/// be the local socket; contexts are not read here, so one other than `default` is refused.
fn refuse_a_context() -> anyhow::Result<()> {
    let from_env = std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty());
    let context = match from_env {
        Some(context) => Some(context),
        None => crate::docker_config::read()?
            .and_then(|(_, config)| config["currentContext"].as_str().map(String::from)),
    };
    match context.filter(|c| c != "default") {
        None => Ok(()),
        Some(context) => Err(UsageError(format!(
            "the docker CLI's context is {context:?}, which this toolkit does not read; set DOCKER_HOST to its engine (docker context inspect {context} --format '{{{{.Endpoints.docker.Host}}}}') or switch to the default context"
        ))
        .into()),
    }
}

const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
