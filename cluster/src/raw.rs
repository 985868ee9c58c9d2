//! The file as written: every section optional, defaults reproduce the lab. Values that
//! need a precise message (addresses, ports, enums) stay loose here and are checked in
//! `validate`, where the error can say what would be valid.
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    #[serde(default = "default_project")]
    pub project: String,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub base: RawBase,
    #[serde(default)]
    pub ha: RawHa,
    #[serde(default)]
    pub webapps: RawWebapps,
    #[serde(default)]
    pub serf: RawSerf,
    #[serde(default)]
    pub deploy: RawDeploy,
    /// `[services.<name>]`: further services, each with its routes.
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, RawService>,
}

fn default_project() -> String {
    "lab4".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawNetwork {
    pub name: String,
    pub subnet: String,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            name: "heig".into(),
            subnet: "192.168.42.0/24".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawBase {
    pub image: String,
    pub suite: String,
}

impl Default for RawBase {
    fn default() -> Self {
        RawBase {
            image: "debian:bookworm-slim".into(),
            suite: "bookworm".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHa {
    pub name: String,
    pub ip: String,
    pub http_port: i64,
    pub stats_port: i64,
    pub bind: String,
    pub balance: String,
    pub sticky: bool,
    pub reload: String,
    pub update: String,
    pub health: RawHealth,
    pub https_port: i64,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub generate: bool,
    pub redirect: bool,
}

impl Default for RawHa {
    fn default() -> Self {
        RawHa {
            name: "ha".into(),
            ip: "192.168.42.42".into(),
            http_port: 80,
            stats_port: 1936,
            bind: "127.0.0.1".into(),
            balance: "roundrobin".into(),
            sticky: false,
            reload: "hitless".into(),
            update: "runtime".into(),
            health: RawHealth::default(),
            https_port: 443,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHealth {
    pub check: String,
    pub path: String,
    pub interval_ms: i64,
    pub rise: i64,
    pub fall: i64,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth {
            check: "http".into(),
            path: "/health".into(),
            interval_ms: 30_000,
            rise: 1,
            fall: 2,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawWebapps {
    pub count: i64,
    pub prefix: String,
    pub port: i64,
    pub image: Option<String>,
    pub build: Option<String>,
    pub command: Vec<String>,
    pub max_unavailable: i64,
    pub drain_ms: i64,
    pub cap_add: Vec<String>,
}

impl Default for RawWebapps {
    fn default() -> Self {
        RawWebapps {
            count: 2,
            prefix: "s".into(),
            port: 3000,
            image: None,
            build: None,
            command: Vec::new(),
            max_unavailable: crate::model::DEFAULT_MAX_UNAVAILABLE.into(),
            drain_ms: crate::model::DEFAULT_DRAIN_MS.into(),
            cap_add: Vec::new(),
        }
    }
}

/// `[services.<name>]`: the keys of `[webapps]` (the prefix defaults to the name, the
/// count to 1), the service's own health check (default: `[ha.health]`) and its routes.
/// Written out rather than `#[serde(flatten)]`ed: serde cannot flatten into a struct that
/// denies unknown fields, and an unknown key must be an error naming it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawService {
    pub count: i64,
    pub prefix: Option<String>,
    pub port: i64,
    pub image: Option<String>,
    pub build: Option<String>,
    pub command: Vec<String>,
    pub max_unavailable: i64,
    pub drain_ms: i64,
    pub cap_add: Vec<String>,
    pub health: Option<RawHealth>,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
}

impl Default for RawService {
    fn default() -> Self {
        let webapps = RawWebapps::default();
        RawService {
            count: 1,
            prefix: None,
            port: webapps.port,
            image: None,
            build: None,
            command: Vec::new(),
            max_unavailable: webapps.max_unavailable,
            drain_ms: webapps.drain_ms,
            cap_add: Vec::new(),
            health: None,
            hosts: Vec::new(),
            paths: Vec::new(),
        }
    }
}

impl RawService {
    /// The keys this service shares with `[webapps]`, checked by the same rules.
    pub(crate) fn app_keys(&self, name: &str) -> RawWebapps {
        RawWebapps {
            count: self.count,
            prefix: self.prefix.clone().unwrap_or_else(|| name.to_string()),
            port: self.port,
            image: self.image.clone(),
            build: self.build.clone(),
            command: self.command.clone(),
            max_unavailable: self.max_unavailable,
            drain_ms: self.drain_ms,
            cap_add: self.cap_add.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSerf {
    pub profile: String,
}

impl Default for RawSerf {
    fn default() -> Self {
        RawSerf {
            profile: "lan".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDeploy {
    pub target: String,
    pub ha_constraint: String,
    pub registry: Option<String>,
    pub address: String,
}

impl Default for RawDeploy {
    fn default() -> Self {
        RawDeploy {
            target: "engine".into(),
            ha_constraint: crate::model::DEFAULT_HA_CONSTRAINT.into(),
            registry: None,
            address: "127.0.0.1".into(),
        }
    }
}
