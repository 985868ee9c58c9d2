//! One named service seen as the default one, so the host's machinery (plan, converge,
//! rollout, the serving wait) runs per service unchanged, and where its containers live:
//! the default service's webapps count up from the bottom of the subnet (the lab's
//! addresses); a named service's take free addresses from the top down, chosen when they
//! are created and kept while they exist, so adding, scaling or removing one service never
//! moves another's.
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::model::{AppMode, Cluster};
use crate::services::DEFAULT_SERVICE;

/// Which service a view is, and the addresses of its containers (webapps and sidecars).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub service: String,
    pub addresses: BTreeMap<String, Ipv4Addr>,
}

impl Cluster {
    /// The service this cluster is a view of (`webapps` for the whole cluster).
    pub fn service_name(&self) -> &str {
        self.view
            .as_ref()
            .map_or(DEFAULT_SERVICE, |view| view.service.as_str())
    }

    /// Where this view's app keys are in the file: `webapps` or `services.<name>`.
    pub fn section(&self) -> String {
        match &self.view {
            Some(view) => format!("services.{}", view.service),
            None => "webapps".to_string(),
        }
    }

    /// The HAProxy backend of this view's webapps.
    pub fn backend_name(&self) -> &str {
        match &self.view {
            Some(view) => &view.service,
            None => crate::services::DEFAULT_BACKEND,
        }
    }

    /// The name of the project's image this view's webapps run when it builds one
    /// (`image_tag` of it): a named service's own build is `webapp-<service>`; the lab
    /// app is the default service's `webapp`.
    pub fn webapp_image_name(&self) -> String {
        match (&self.view, self.webapps.mode()) {
            (Some(view), AppMode::Build(_)) => format!("webapp-{}", view.service),
            _ => "webapp".to_string(),
        }
    }

    /// The image repository a rollout of this view's webapps tags the replaced image in
    /// (`<project>/<this>:previous`, for `up --rollback`): one per service.
    pub fn rollback_repository(&self) -> String {
        match &self.view {
            Some(view) => format!("webapp-{}", view.service),
            None => "webapp".to_string(),
        }
    }

    /// Service `name` as a cluster of its own: its app and health in place of the
    /// default's, its containers at `addresses`. `webapps` is the cluster itself.
    pub fn view_of(&self, name: &str, addresses: BTreeMap<String, Ipv4Addr>) -> Option<Cluster> {
        if name == DEFAULT_SERVICE {
            return Some(self.clone());
        }
        let service = self.services.get(name)?;
        let mut view = self.clone();
        view.webapps = service.app.clone();
        view.ha.health = service.health.clone();
        view.view = Some(View {
            service: name.to_string(),
            addresses,
        });
        Some(view)
    }

    /// The container names of `count` webapps of a named service, with their sidecars.
    pub fn container_names(&self, service: &str, count: u32) -> Vec<String> {
        let Some(service) = self.service(service) else {
            return Vec::new();
        };
        let image = matches!(service.app.mode(), AppMode::Image(_));
        (1..=count)
            .flat_map(|i| {
                let webapp = service.webapp_name(i);
                let sidecar = image.then(|| Cluster::sidecar_name(&webapp));
                std::iter::once(webapp).chain(sidecar)
            })
            .collect()
    }

    /// Addresses for `names` (a named service's containers): those in `existing` keep
    /// theirs; each other takes the highest address of the subnet that is neither `in_use`
    /// nor kept for the gateway, ha or the default service's webapps and sidecars.
    pub fn allocate(
        &self,
        names: &[String],
        existing: &BTreeMap<String, Ipv4Addr>,
        in_use: &BTreeSet<Ipv4Addr>,
    ) -> Result<BTreeMap<String, Ipv4Addr>, String> {
        let mut taken: BTreeSet<Ipv4Addr> = in_use.clone();
        taken.extend(self.default_addresses());
        taken.extend(existing.values().copied());
        let mut free = self
            .network
            .subnet
            .hosts()
            .rev()
            .filter(|ip| !taken.contains(ip));
        let mut addresses = BTreeMap::new();
        for name in names {
            let ip = match existing.get(name) {
                Some(ip) => *ip,
                None => free.next().ok_or_else(|| {
                    format!(
                        "network.subnet {} has no free address left for {name}; lower a count or use a larger subnet",
                        self.network.subnet
                    )
                })?,
            };
            addresses.insert(name.clone(), ip);
        }
        Ok(addresses)
    }

    /// What the default service's declared webapps (and an app image's sidecars) and ha
    /// hold, with the gateway.
    fn default_addresses(&self) -> BTreeSet<Ipv4Addr> {
        let default = self.view_of(DEFAULT_SERVICE, BTreeMap::new());
        let default = default.as_ref().unwrap_or(self);
        let mut held: BTreeSet<Ipv4Addr> = [self.gateway(), self.ha.ip].into();
        for node in default.webapp_nodes(default.webapps.count) {
            held.insert(node.ip);
            if let Some(ip) = default.sidecar_ip(&node.name) {
                held.insert(ip);
            }
        }
        held
    }

    /// Every named service's view as a fresh `up` lays it out (nothing exists yet): what
    /// `gen` writes.
    pub fn fresh_views(&self) -> Result<Vec<Cluster>, String> {
        let mut in_use = BTreeSet::new();
        let mut views = Vec::new();
        for name in self.services.keys() {
            let count = self.services[name].app.count;
            let names = self.container_names(name, count);
            let addresses = self.allocate(&names, &BTreeMap::new(), &in_use)?;
            in_use.extend(addresses.values().copied());
            views.extend(self.view_of(name, addresses));
        }
        Ok(views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        crate::parse(
            "[network]\nsubnet = \"10.9.0.0/24\"\n[ha]\nip = \"10.9.0.42\"\n[webapps]\nimage = \"nginx\"\n[services.api]\ncount = 2\nbuild = \"api\"\npaths = [\"/api\"]\n[services.web]\nimage = \"nginx\"\nhosts = [\"web.localhost\"]\n",
            "x.toml",
        )
        .unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn named_services_take_addresses_from_the_top_below_the_default_sidecars() {
        let views = cluster().fresh_views().unwrap();
        let api = &views[0];
        assert_eq!(api.service_name(), "api");
        assert_eq!(api.backend_name(), "api");
        let nodes = api.webapp_nodes(2);
        // s1-serf and s2-serf hold .254 and .253.
        assert_eq!(nodes[0].name, "api1");
        assert_eq!(
            (nodes[0].ip, nodes[1].ip),
            (ip("10.9.0.252"), ip("10.9.0.251"))
        );
        let web = &views[1];
        assert_eq!(web.webapp_nodes(1)[0].ip, ip("10.9.0.250"));
        assert_eq!(web.sidecar_ip("web1"), Some(ip("10.9.0.249")));
        let env = web.node_env(&web.webapp_nodes(1)[0], &[]);
        assert!(
            env.contains(&("NODE_SERVICE".into(), "web".into())),
            "{env:?}"
        );
    }

    #[test]
    fn existing_containers_keep_their_addresses() {
        let cluster = cluster();
        let names = cluster.container_names("api", 3);
        let existing = BTreeMap::from([("api2".to_string(), ip("10.9.0.100"))]);
        let in_use = BTreeSet::from([ip("10.9.0.252")]);
        let addresses = cluster.allocate(&names, &existing, &in_use).unwrap();
        assert_eq!(addresses["api1"], ip("10.9.0.251"));
        assert_eq!(addresses["api2"], ip("10.9.0.100"));
        assert_eq!(addresses["api3"], ip("10.9.0.250"));
    }

    #[test]
    fn a_full_subnet_is_one_line() {
        let cluster = cluster();
        let in_use: BTreeSet<Ipv4Addr> = cluster.network.subnet.hosts().collect();
        let err = cluster
            .allocate(
                &cluster.container_names("api", 1),
                &BTreeMap::new(),
                &in_use,
            )
            .unwrap_err();
        assert_eq!(err, "network.subnet 10.9.0.0/24 has no free address left for api1; lower a count or use a larger subnet");
    }
}
