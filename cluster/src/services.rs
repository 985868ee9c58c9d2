//! Several services behind one ha: `[webapps]` is the default service (what no route
//! matches), `[services.<name>]` are further ones, each with its own webapps, HAProxy
//! backend and routes.
use serde::Serialize;

use crate::model::{Cluster, Health, Webapps};

/// The name the default service (`[webapps]`) goes by in `status`, `logs` and `scale`.
pub const DEFAULT_SERVICE: &str = "webapps";

/// HAProxy backend of the default service: the lab's name, kept.
pub const DEFAULT_BACKEND: &str = crate::stats::BACKEND;

/// Where ha reads its routes (host and path -> backend), inside its container.
pub const ROUTES_MAP: &str = "/etc/haproxy/routes.map";

/// Names a service cannot take: the default service's, and HAProxy's own sections.
pub(crate) const RESERVED_NAMES: &[&str] = &[DEFAULT_SERVICE, DEFAULT_BACKEND, "stats", "http"];

/// `[services.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    #[serde(flatten)]
    pub app: Webapps,
    /// Lowercase host names; a leading `*.` matches one label.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Path prefixes, each starting with `/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    pub health: Health,
}

/// One service as every command sees it, the default one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRef<'a> {
    pub name: &'a str,
    /// The HAProxy backend its webapps serve in.
    pub backend: &'a str,
    pub app: &'a Webapps,
    pub health: &'a Health,
    pub hosts: &'a [String],
    pub paths: &'a [String],
}

impl ServiceRef<'_> {
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_SERVICE
    }

    /// Its webapp number `index` (`api3`).
    pub fn webapp_name(&self, index: u32) -> String {
        format!("{}{index}", self.app.prefix)
    }

    /// The number of `webapp` if it is one of this service's webapps (`api3` -> 3).
    pub fn index_of(&self, webapp: &str) -> Option<u32> {
        let digits = webapp.strip_prefix(self.app.prefix.as_str())?;
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        digits.parse().ok()
    }

    /// The routes this service answers: every host with every path when both are given.
    pub fn routes(&self) -> Vec<Route> {
        let hosts: Vec<Option<&String>> = match self.hosts {
            [] => vec![None],
            hosts => hosts.iter().map(Some).collect(),
        };
        let paths: Vec<Option<&String>> = match self.paths {
            [] => vec![None],
            paths => paths.iter().map(Some).collect(),
        };
        let mut routes = Vec::new();
        for host in &hosts {
            for path in &paths {
                if host.is_none() && path.is_none() {
                    continue;
                }
                routes.push(Route {
                    host: host.cloned(),
                    path: path.cloned(),
                });
            }
        }
        routes
    }
}

/// One rule of the frontend: a host, a path prefix, or both.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Route {
    pub host: Option<String>,
    pub path: Option<String>,
}

impl Route {
    /// Its key in ha's routes map, looked up by longest prefix (`map_beg`, a prefix tree
    /// in HAProxy) with `<host><path>`, then `*.<parent><path>`, then `<path>`: a host
    /// key ends in its path (or `/`), so `api.localhost/` never matches `api.localhost.x`;
    /// a longer path wins; a path-only key starts with `/` and so never matches a host.
    pub fn map_key(&self) -> String {
        match (&self.host, &self.path) {
            (Some(host), Some(path)) => format!("{host}{path}"),
            (Some(host), None) => format!("{host}/"),
            (None, Some(path)) => path.clone(),
            (None, None) => String::from("/"),
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.host, &self.path) {
            (Some(host), Some(path)) => write!(f, "host {host} path {path}"),
            (Some(host), None) => write!(f, "host {host}"),
            (None, Some(path)) => write!(f, "path {path}"),
            (None, None) => write!(f, "everything"),
        }
    }
}

/// One line of ha's routes map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteEntry {
    pub key: String,
    pub backend: String,
}

impl Cluster {
    /// The default service, then the named ones in name order.
    pub fn services(&self) -> Vec<ServiceRef<'_>> {
        let default = ServiceRef {
            name: DEFAULT_SERVICE,
            backend: DEFAULT_BACKEND,
            app: &self.webapps,
            health: &self.ha.health,
            hosts: &[],
            paths: &[],
        };
        std::iter::once(default)
            .chain(self.services.iter().map(|(name, service)| ServiceRef {
                name,
                backend: name,
                app: &service.app,
                health: &service.health,
                hosts: &service.hosts,
                paths: &service.paths,
            }))
            .collect()
    }

    /// The service called `name` (`webapps` is the default one).
    pub fn service(&self, name: &str) -> Option<ServiceRef<'_>> {
        self.services().into_iter().find(|s| s.name == name)
    }

    /// The service webapp `webapp` belongs to, by its name (validation keeps the names of
    /// two services apart).
    pub fn service_of(&self, webapp: &str) -> Option<ServiceRef<'_>> {
        self.services()
            .into_iter()
            .find(|s| s.index_of(webapp).is_some())
    }

    /// The `[services.*]` tables alone, canonical: what the host hands ha's agent
    /// (`ha-agent services`), which adds them to the model it started with.
    pub fn services_toml(&self) -> String {
        #[derive(Serialize)]
        struct Services<'a> {
            services: &'a std::collections::BTreeMap<String, Service>,
        }
        if self.services.is_empty() {
            return String::new();
        }
        toml::to_string(&Services {
            services: &self.services,
        })
        .expect("a validated cluster always serializes")
    }

    /// ha's routes map, one entry per route, in key order.
    pub fn route_entries(&self) -> Vec<RouteEntry> {
        let mut entries: Vec<RouteEntry> = self
            .services()
            .iter()
            .flat_map(|service| {
                service.routes().into_iter().map(|route| RouteEntry {
                    key: route.map_key(),
                    backend: service.backend.to_string(),
                })
            })
            .collect();
        entries.sort();
        entries.dedup();
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        crate::parse(
            "[services.api]\nhosts = [\"api.localhost\"]\npaths = [\"/api\", \"/v2\"]\n\n[services.static]\nhosts = [\"*.static.localhost\"]\n\n[services.admin]\npaths = [\"/admin\"]\n",
            "x.toml",
        )
        .unwrap()
    }

    #[test]
    fn routes_are_keys_of_one_prefix_map() {
        let keys: Vec<(String, String)> = cluster()
            .route_entries()
            .into_iter()
            .map(|e| (e.key, e.backend))
            .collect();
        let expected = [
            ("*.static.localhost/", "static"),
            ("/admin", "admin"),
            ("api.localhost/api", "api"),
            ("api.localhost/v2", "api"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, b)| (k.to_string(), b.to_string()))
            .collect();
        assert_eq!(keys, expected);
    }

    #[test]
    fn a_webapp_belongs_to_the_service_of_its_prefix() {
        let cluster = cluster();
        let service = |name: &str| cluster.service_of(name).map(|s| s.name);
        assert_eq!(service("s1"), Some(DEFAULT_SERVICE));
        assert_eq!(service("api12"), Some("api"));
        assert_eq!(service("static1"), Some("static"));
        assert_eq!(service("api"), None);
        assert_eq!(service("api01"), None);
        assert_eq!(service("ha"), None);
    }
}
