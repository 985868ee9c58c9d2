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
    /// How ha applies a membership change: `runtime` adds and removes servers through
    /// HAProxy's runtime API (no reload); `reload` renders and reloads, as before.
    UpdateMethod {
        Runtime = "runtime",
        Reload = "reload",
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

    /// How many webapps the subnet can hold.
    pub fn max_webapps(&self) -> u32 {
        let hosts = self.network.subnet.hosts().count() as u32;
        hosts.saturating_sub(2)
    }

    /// Webapp number `index` (1-based): `s1` gets the first free address, and so on, so a
    /// node's address never depends on the order containers were started in.
    pub fn webapp_node(&self, index: u32) -> Option<Node> {
        let ip = self
            .webapp_addresses()
            .nth(index.checked_sub(1)? as usize)?;
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

    /// Image tag of one of the project's images (`base`, `ha`, `webapp`).
    pub fn image_tag(&self, image: &str) -> String {
        format!("{}/{image}:latest", self.project)
    }

    /// The model in canonical `cluster.toml` form (what the ha agent is given).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a validated cluster always serializes")
    }
}
