//! The declared cluster: `cluster.toml` -> validated [`Cluster`] -> rendered files.
//!
//! Pure code only (no file or network I/O) so that the host CLI and the ha agent inside
//! the load balancer share one model and one render function per template, and every
//! format that crosses the host/container boundary has one owner: the agent's records
//! ([`record`]), their time stamps ([`time`]) and HAProxy's stats CSV.

mod container;
mod error;
mod membership;
mod model;
mod names;
mod raw;
pub mod record;
mod render;
mod s6;
mod services;
mod stats;
mod swarm;
pub mod time;
mod validate;
mod validate_services;
mod view;

pub use container::{HA_STOP_TIMEOUT_S, LEAVE_MS, LOG_DRIVER, LOG_OPTIONS, WEBAPP_CAP_DROP};
pub use error::ConfigError;
pub use membership::{node_order, parse_members, Member};
pub use model::{
    AppMode, Balance, Base, Cluster, Deploy, DeployTarget, Ha, Health, HealthCheck, Network, Node,
    ReloadMethod, Role, Serf, SerfProfile, Tls, UpdateMethod, Webapps, PROJECT_IMAGES,
};
pub use names::{escape_control, is_dns_label, natural_key};
pub use render::{
    render_compose, render_haproxy, render_haproxy_live, render_routes_map, render_stack, Backend,
    ComposeInputs, StackInputs,
};
pub use s6::{S6File, S6_DIR};
pub use services::{
    Route, RouteEntry, Service, ServiceRef, DEFAULT_BACKEND, DEFAULT_SERVICE, ROUTES_MAP,
};
pub use stats::{parse_all_stats, parse_backend_stats, parse_stats_csv, ServerStat, BACKEND};
pub use swarm::{
    SwarmImages, SwarmPolicy, SwarmSecret, SwarmService, LOCAL_REGISTRY, SERF_SECRET_TARGET,
    STACK_NAMESPACE, STATS_SECRET_TARGET, STATS_USER, SWARM_POLICY,
};
pub use view::View;

/// Parses and validates the text of a cluster file. `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Cluster, ConfigError> {
    let raw: raw::RawCluster =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    validate::validate(raw).map_err(|v| v.into_config_error(file, text))
}

/// Label keys put on every Docker object the toolkit creates.
pub mod labels {
    pub const PROJECT: &str = "lbkit.project";
    pub const ROLE: &str = "lbkit.role";
    pub const NODE: &str = "lbkit.node";
    /// On a named service's webapps and sidecars: the service (none on the default's).
    pub const SERVICE: &str = "lbkit.service";
    /// On an app image's Serf sidecar: the webapp whose agent it runs.
    pub const SIDECAR_OF: &str = "lbkit.sidecar-of";
    /// The role label of a Serf sidecar.
    pub const SIDECAR_ROLE: &str = "sidecar";
}
