use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Serialize;

/// A validated cluster. Serializes back to the `cluster.toml` format, so the host can hand
/// the ha agent exactly the model it validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub project: String,
    pub network: Network,
    pub base: Base,
    pub ha: Ha,
    pub webapps: Webapps,
    pub serf: Serf,
    /// Where the cluster runs; left out of the canonical TOML on the default engine, so
    /// the lab's rendered files and fingerprints stay as they were.
    #[serde(skip_serializing_if = "Deploy::is_default")]
    pub deploy: Deploy,
    /// `[services.<name>]`, by name; none in the lab.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub services: std::collections::BTreeMap<String, crate::services::Service>,
    /// Set on one named service seen as a cluster of its own (`view_of`); never in a file.
    #[serde(skip)]
    pub view: Option<crate::view::View>,
}

/// The images `build` makes for a project, as `<project>/<name>:latest`: those built on
/// the base first, so removing them in this order never meets a child of the one removed.
pub const PROJECT_IMAGES: [&str; 3] = ["ha", "webapp", "base"];

/// `[deploy]`: one Docker engine (the default) or a Swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deploy {
    pub target: DeployTarget,
    /// Swarm: the placement constraint of ha's one task.
    pub ha_constraint: String,
    /// Swarm: a registry prefix the images are pushed to (`registry.example:5000/team`);
    /// without it they are loaded into every node's engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Swarm: the address the host reaches ha's published ports on.
    pub address: Ipv4Addr,
}

pub(crate) const DEFAULT_HA_CONSTRAINT: &str = "node.role == manager";

impl Deploy {
    fn is_default(&self) -> bool {
        *self == Deploy::default()
    }

    pub fn is_swarm(&self) -> bool {
        self.target == DeployTarget::Swarm
    }
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            target: DeployTarget::Engine,
            ha_constraint: DEFAULT_HA_CONSTRAINT.into(),
            registry: None,
            address: Ipv4Addr::LOCALHOST,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub name: String,
    pub subnet: Ipv4Net,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Base {
    pub image: String,
    pub suite: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ha {
    pub name: String,
    pub ip: Ipv4Addr,
    pub http_port: u16,
    pub stats_port: u16,
    pub bind: IpAddr,
    pub balance: Balance,
    pub sticky: bool,
    pub reload: ReloadMethod,
    pub update: UpdateMethod,
    pub health: Health,
    /// HTTPS, published on `https_port` when `tls` is set.
    pub https_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// `[ha.tls]`: the server certificate comes from files (`cert` + `key`, PEM) or is
/// generated for the project (`generate`). The files are checked by the host, where they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub generate: bool,
    /// HTTP answers with a redirect to HTTPS.
    pub redirect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    #[serde(skip_serializing_if = "HealthCheck::is_http")]
    pub check: HealthCheck,
    pub path: String,
    pub interval_ms: u32,
    pub rise: u32,
    pub fall: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webapps {
    pub count: u32,
    pub prefix: String,
    pub port: u16,
    /// Any image, run unchanged beside a Serf sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A build context whose Dockerfile starts `FROM` the project's base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The app's command, run by s6 in a built-on-base webapp.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// How many webapps a rolling update may take out of rotation at once.
    #[serde(skip_serializing_if = "is_default_max_unavailable")]
    pub max_unavailable: u32,
    /// How long a leaving webapp keeps serving while HAProxy takes it out.
    #[serde(skip_serializing_if = "is_default_drain_ms")]
    pub drain_ms: u32,
    /// Capabilities given back to the webapps' containers (Docker's names, no `CAP_`);
    /// never one that undoes [`crate::WEBAPP_CAP_DROP`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
}

// Defaults stay out of the canonical TOML, so the lab's rendered files do not change.
pub(crate) const DEFAULT_MAX_UNAVAILABLE: u32 = 1;
pub(crate) const DEFAULT_DRAIN_MS: u32 = 2500;

fn is_default_max_unavailable(n: &u32) -> bool {
    *n == DEFAULT_MAX_UNAVAILABLE
}

fn is_default_drain_ms(ms: &u32) -> bool {
    *ms == DEFAULT_DRAIN_MS
}

impl HealthCheck {
    fn is_http(&self) -> bool {
        *self == HealthCheck::Http
    }
}

/// Where the webapps' image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode<'a> {
    /// The lab's web app, built by the toolkit (the default).
    Lab,
    /// A user's image, unchanged, with Serf in a sidecar container of its own.
    Image(&'a str),
    /// A user's build context on the project's base: s6 and Serf in the app's container.
    Build(&'a str),
}

impl Webapps {
    pub fn mode(&self) -> AppMode<'_> {
        match (&self.image, &self.build) {
            (Some(image), _) => AppMode::Image(image),
            (None, Some(context)) => AppMode::Build(context),
            (None, None) => AppMode::Lab,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serf {
    pub profile: SerfProfile,
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub(crate) fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

keyword_enum!(
    /// HAProxy `balance` algorithms that need no extra arguments.
    Balance {
        RoundRobin = "roundrobin",
        StaticRr = "static-rr",
        LeastConn = "leastconn",
        First = "first",
        Source = "source",
        Random = "random",
    }
);

keyword_enum!(
    /// How ha applies a new config: `hitless` signals the HAProxy master (SIGUSR2), which
    /// hands listeners over; `restart` is the lab's method (new process with `-sf <old pid>`),
    /// kept for side-by-side benchmarks.
    ReloadMethod {
        Hitless = "hitless",
        Restart = "restart",
    }
);

keyword_enum!(
    /// How HAProxy checks a webapp: `http` GETs the health path, `tcp` only connects (for
    /// apps without a health endpoint).
    HealthCheck {
        Http = "http",
        Tcp = "tcp",
    }
);

keyword_enum!(
    /// How ha applies a membership change: `runtime` adds and removes servers through
    /// HAProxy's runtime API (no reload); `reload` renders and reloads, as before.
    UpdateMethod {
        Runtime = "runtime",
        Reload = "reload",
    }
);

keyword_enum!(
    /// Where `up` runs the cluster: containers on one Docker engine, or services on a Swarm.
    DeployTarget {
        Engine = "engine",
        Swarm = "swarm",
    }
);

keyword_enum!(
    /// Serf's timing profiles (`serf agent -profile`).
    SerfProfile {
        Lan = "lan",
        Wan = "wan",
        Local = "local",
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Balancer,
    Backend,
}

impl Role {
    /// The Serf tag value (`role=balancer|backend`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Balancer => "balancer",
            Role::Backend => "backend",
        }
    }
}

/// One container of the cluster as the host creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub ip: Ipv4Addr,
    pub role: Role,
    /// The port the node's main process serves on (HAProxy's HTTP port for ha).
    pub port: u16,
}

impl Cluster {
    /// The address Docker gives the bridge itself: the first host of the subnet.
    pub fn gateway(&self) -> Ipv4Addr {
        self.network.subnet.hosts().next().unwrap_or(self.ha.ip)
    }

    pub fn ha_node(&self) -> Node {
        Node {
            name: self.ha.name.clone(),
            ip: self.ha.ip,
            role: Role::Balancer,
            port: self.ha.http_port,
        }
    }

    /// The container running webapp `webapp`'s Serf agent when its app is an unchanged
    /// image (`s1-serf`): named by the host, corroborated by ha's agent through DNS.
    pub fn sidecar_name(webapp: &str) -> String {
        format!("{webapp}-serf")
    }

    pub fn webapp_name(&self, index: u32) -> String {
        format!("{}{index}", self.webapps.prefix)
    }

    /// Addresses webapps get, in order: the subnet's hosts minus the gateway and ha.
    fn webapp_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let gateway = self.gateway();
        self.network
            .subnet
            .hosts()
            .filter(move |ip| *ip != gateway && *ip != self.ha.ip)
    }

    /// How many webapps the subnet can hold: an app image's webapp takes two addresses
    /// (its own and its sidecar's).
    pub fn max_webapps(&self) -> u32 {
        let hosts = self.network.subnet.hosts().count() as u32;
        let free = hosts.saturating_sub(2);
        match self.webapps.mode() {
            AppMode::Image(_) => free / 2,
            AppMode::Lab | AppMode::Build(_) => free,
        }
    }

    /// The address of webapp `webapp`'s Serf sidecar (an app image's): sidecars take
    /// the free addresses from the top of the subnet down, so neither a webapp's nor a
    /// sidecar's address depends on the count.
    pub fn sidecar_ip(&self, webapp: &str) -> Option<Ipv4Addr> {
        if let Some(view) = &self.view {
            return view.addresses.get(&Cluster::sidecar_name(webapp)).copied();
        }
        let index: u32 = webapp.strip_prefix(&self.webapps.prefix)?.parse().ok()?;
        if index == 0 || index > self.max_webapps() {
            return None;
        }
        let gateway = self.gateway();
        self.network
            .subnet
            .hosts()
            .rev()
            .filter(|ip| *ip != gateway && *ip != self.ha.ip)
            .nth(index as usize - 1)
    }

    /// Webapp number `index` (1-based): `s1` gets the first free address, and so on, so a
    /// node's address never depends on the order containers were started in.
    pub fn webapp_node(&self, index: u32) -> Option<Node> {
        let ip = match &self.view {
            // A named service's webapps are where they were placed.
            Some(view) => *view.addresses.get(&self.webapp_name(index))?,
            None => self
                .webapp_addresses()
                .nth(index.checked_sub(1)? as usize)?,
        };
        Some(Node {
            name: self.webapp_name(index),
            ip,
            role: Role::Backend,
            port: self.webapps.port,
        })
    }

    /// The first `count` webapps; stops early if the subnet is full (validation prevents
    /// that for the declared count).
    pub fn webapp_nodes(&self, count: u32) -> Vec<Node> {
        (1..=count).map_while(|i| self.webapp_node(i)).collect()
    }

    /// ha and the declared webapps.
    pub fn declared_nodes(&self) -> Vec<Node> {
        let mut nodes = vec![self.ha_node()];
        nodes.extend(self.webapp_nodes(self.webapps.count));
        nodes
    }

    /// Whether HAProxy 2.6 can take this cluster's membership changes at runtime: dynamic
    /// servers need a dynamic balance algorithm (not `static-rr`, not `source`'s map-based
    /// hash) and cannot carry a `cookie` (so not with `sticky`). Otherwise ha reloads.
    pub fn runtime_updates(&self) -> bool {
        self.ha.update == UpdateMethod::Runtime
            && !self.ha.sticky
            && !matches!(self.ha.balance, Balance::StaticRr | Balance::Source)
    }

    /// Image tag of one of the project's images ([`PROJECT_IMAGES`]).
    pub fn image_tag(&self, image: &str) -> String {
        format!("{}/{image}:latest", self.project)
    }

    /// The model in canonical `cluster.toml` form (what the ha agent is given).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a validated cluster always serializes")
    }
}
