//! The cluster as Swarm services: one for ha (one task, pinned), one per cluster service
//! (its tasks spread over the nodes). Pure, so `up` (through the Engine API) and
//! `generated/stack.yml` (for `docker stack deploy`) declare exactly the same services.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{AppMode, Cluster, Deploy, DeployTarget, Role, Webapps};

/// Stack label Swarm puts on a stack's objects: `up` sets it too, so `docker stack ps
/// <project>` shows what `up` made, and `up` converges what `docker stack deploy` made.
pub const STACK_NAMESPACE: &str = "com.docker.stack.namespace";

/// Where a Swarm secret appears in a task: `/run/secrets/<target>`, root-only.
pub const SERF_SECRET_TARGET: &str = "lbkit-serf.json";
pub const STATS_SECRET_TARGET: &str = "lbkit-stats";
/// The user name of the stats page (the password is the project's stats secret).
pub const STATS_USER: &str = "lbkit";

/// A secret as the cluster's services use it. `name` is the Swarm object, one per project
/// and kind (`up` refuses a Swarm copy whose contents differ from this host's file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmSecret {
    /// Its key in stack.yml.
    pub key: String,
    pub name: String,
    pub target: String,
    /// Only ha reads it.
    pub ha_only: bool,
}

/// The images the services run, as every node finds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmImages {
    pub ha: String,
    /// The default service's.
    pub webapp: String,
    /// Each named service's, by name (one that builds nothing runs `webapp`).
    pub services: BTreeMap<String, String>,
}

/// How every service of the cluster runs and is updated on a Swarm: the one source for
/// the Engine API's service spec (`xtask`) and for `generated/stack.yml` (its template),
/// so the two cannot drift apart. Values are Docker's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SwarmPolicy {
    /// `any`: a task that exits is restarted, after `restart_delay_s`.
    pub restart_condition: &'static str,
    pub restart_delay_s: u32,
    /// `stop-first`: a task keeps its slot's name (Serf allows one member per name), so
    /// the old one stops first.
    pub update_order: &'static str,
    /// `rollback`: a failed update rolls back; the old version keeps serving.
    pub update_failure_action: &'static str,
    pub update_monitor_s: u32,
    /// `dnsrr`: tasks find each other through DNS (`tasks.<service>`); no virtual IP.
    pub endpoint_mode: &'static str,
    /// Secrets are files of root's, read-only: owner, group, mode (octal).
    pub secret_uid: &'static str,
    pub secret_gid: &'static str,
    pub secret_mode: &'static str,
}

pub const SWARM_POLICY: SwarmPolicy = SwarmPolicy {
    restart_condition: "any",
    restart_delay_s: 1,
    update_order: "stop-first",
    update_failure_action: "rollback",
    update_monitor_s: 10,
    endpoint_mode: "dnsrr",
    secret_uid: "0",
    secret_gid: "0",
    secret_mode: "0400",
};

/// One service of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwarmService {
    /// Its key in stack.yml: the service is `<project>_<key>`.
    pub key: String,
    pub name: String,
    pub role: Role,
    /// The task's hostname, which is also its Serf node name: `ha`, `s{{.Task.Slot}}`.
    pub hostname: String,
    pub image: String,
    pub replicas: u32,
    pub env: Vec<(String, String)>,
    pub constraints: Vec<String>,
    /// Ports published in host mode on the task's node (the routing mesh is not used).
    pub published: Vec<u16>,
    pub secrets: Vec<SwarmSecret>,
    /// Tasks a rolling update replaces at once.
    pub update_parallelism: u32,
    /// Seconds between SIGTERM and SIGKILL (webapps: [`crate::Webapps::stop_timeout_s`]).
    pub stop_grace_s: u32,
    /// Capabilities the tasks run without, and those given back (Docker's names).
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
}

impl Cluster {
    /// `<project>_<key>`, as `docker stack deploy <project>` names a stack's services: ha's,
    /// or this view's webapps' (`<project>_webapps` for the default service).
    pub fn swarm_service_name(&self, role: Role) -> String {
        self.swarm_service_of(&swarm_key(self, role))
    }

    /// The Swarm service of cluster service `service` (`webapps` is the default one), or
    /// of ha (its name).
    pub fn swarm_service_of(&self, service: &str) -> String {
        format!("{}_{service}", self.project)
    }

    /// ha's service, the default service's (`webapps` tasks), then one per named service
    /// (its `count` tasks), in the order they are created.
    pub fn swarm_services(
        &self,
        images: &SwarmImages,
        secrets: &[SwarmSecret],
        webapps: u32,
    ) -> Vec<SwarmService> {
        let ha = SwarmService {
            key: swarm_key(self, Role::Balancer),
            name: self.swarm_service_name(Role::Balancer),
            role: Role::Balancer,
            hostname: self.ha.name.clone(),
            image: images.ha.clone(),
            replicas: 1,
            env: self.swarm_env(Role::Balancer),
            constraints: vec![self.deploy.ha_constraint.clone()],
            published: vec![self.ha.http_port, self.ha.stats_port],
            secrets: secrets.to_vec(),
            update_parallelism: 1,
            stop_grace_s: crate::HA_STOP_TIMEOUT_S,
            cap_drop: Vec::new(),
            cap_add: Vec::new(),
        };
        // An engine file's image or command service cannot run on a Swarm (validation
        // refuses them there): gen's stack.yml leaves it out.
        let named = self.services.iter().filter_map(|(name, service)| {
            let swarm_ready = matches!(service.app.mode(), AppMode::Lab | AppMode::Build(_))
                && service.app.command.is_empty();
            let view = self
                .view_of(name, Default::default())
                .filter(|_| swarm_ready)?;
            let image = images.services.get(name).unwrap_or(&images.webapp);
            Some(view.swarm_webapps(image, secrets, service.app.count))
        });
        std::iter::once(ha)
            .chain(std::iter::once(self.swarm_webapps(
                &images.webapp,
                secrets,
                webapps,
            )))
            .chain(named)
            .collect()
    }

    /// This view's webapps as a Swarm service of `replicas` tasks running `image`.
    fn swarm_webapps(&self, image: &str, secrets: &[SwarmSecret], replicas: u32) -> SwarmService {
        SwarmService {
            key: swarm_key(self, Role::Backend),
            name: self.swarm_service_name(Role::Backend),
            role: Role::Backend,
            hostname: format!("{}{{{{.Task.Slot}}}}", self.webapps.prefix),
            image: image.to_string(),
            replicas,
            env: self.swarm_env(Role::Backend),
            constraints: Vec::new(),
            published: Vec::new(),
            secrets: secrets.iter().filter(|s| !s.ha_only).cloned().collect(),
            update_parallelism: self.webapps.max_unavailable,
            stop_grace_s: self.webapps.stop_timeout_s(),
            cap_drop: crate::WEBAPP_CAP_DROP.map(String::from).to_vec(),
            cap_add: self.webapps.cap_add.clone(),
        }
    }

    /// A task's environment: who it is and whom to join, through Swarm's DNS (tasks get
    /// no fixed addresses). Serf advertises the address it has on the overlay, found
    /// through the route to the overlay's gateway (a task has other interfaces too).
    fn swarm_env(&self, role: Role) -> Vec<(String, String)> {
        let port = match role {
            Role::Balancer => self.ha.http_port,
            Role::Backend => self.webapps.port,
        };
        // ha joins every service's webapps too: a restarted ha finds them at once.
        let join = match role {
            Role::Balancer => self
                .services()
                .iter()
                .map(|service| format!("tasks.{}", self.swarm_service_of(service.name)))
                .collect::<Vec<_>>()
                .join(" "),
            Role::Backend => format!("tasks.{}", self.swarm_service_name(Role::Balancer)),
        };
        let mut env = vec![
            ("NODE_ROLE".to_string(), role.as_str().to_string()),
            ("NODE_PORT".to_string(), port.to_string()),
            ("SERF_JOIN".to_string(), join.clone()),
            // When ha leaves or fails, the webapps rejoin it by name: a new ha task has a
            // new address.
            ("SERF_REJOIN".to_string(), join),
            ("SERF_ADVERTISE_VIA".to_string(), self.gateway().to_string()),
            (
                "SERF_PROFILE".to_string(),
                self.serf.profile.as_str().to_string(),
            ),
        ];
        if role == Role::Backend {
            // Only ha's task counts as a balancer to rejoin: by name, and at an address
            // Swarm's DNS gives ha's service (resolved when ha leaves or fails).
            env.push(("SERF_BALANCER".to_string(), self.ha.name.clone()));
            env.push((
                "SERF_BALANCER_DNS".to_string(),
                format!("tasks.{}", self.swarm_service_name(Role::Balancer)),
            ));
            env.extend(self.drain_env());
            // A named service's webapps say so in their Serf tags; ha checks the claim
            // against their names and the service's tasks.
            if let Some(view) = &self.view {
                env.push(("NODE_SERVICE".to_string(), view.service.clone()));
            }
        }
        if role == Role::Balancer {
            // The model says Swarm even when rendered from an engine cluster file (gen's
            // stack.yml): ha then asks for the stats password.
            // What ha never uses stays out, so editing it does not restart ha's only
            // task: the count (Serf says who is there), the host-side deploy settings.
            let mut model = self.for_balancer();
            let defaults = crate::parse("", "defaults").expect("the defaults are valid");
            model.webapps.count = 0;
            // On a Swarm ha learns its services from its spec: a task Swarm restarts on
            // another node has no state to find them in. Their counts stay out, as above.
            model.services = self.services.clone();
            for service in model.services.values_mut() {
                service.app = Webapps {
                    count: 0,
                    cap_add: Vec::new(),
                    ..service.app.for_balancer()
                };
            }
            model.ha.bind = defaults.ha.bind;
            model.deploy = Deploy {
                target: DeployTarget::Swarm,
                ..defaults.deploy
            };
            env.push(("NODE_NAME".to_string(), self.ha.name.clone()));
            env.push(("CLUSTER_TOML".to_string(), model.to_toml()));
        }
        env
    }

    /// Where every node finds image `image` (`ha`, `webapp`) with `tag`: under the
    /// registry prefix, or under `lbkit.invalid` (a name that never resolves, RFC 2606),
    /// so an image missing on a node is never pulled from the internet instead.
    pub fn swarm_image(&self, image: &str, tag: &str) -> String {
        let prefix = self.deploy.registry.as_deref().unwrap_or(LOCAL_REGISTRY);
        format!("{prefix}/{}/{image}:{tag}", self.project)
    }

    /// The images as stack.yml names them (`latest`; `up` pins image ids).
    pub fn swarm_latest_images(&self) -> SwarmImages {
        SwarmImages {
            ha: self.swarm_image("ha", "latest"),
            webapp: self.swarm_image("webapp", "latest"),
            services: self
                .services
                .keys()
                .filter_map(|name| self.view_of(name, Default::default()))
                .map(|view| {
                    let image = self.swarm_image(&view.webapp_image_name(), "latest");
                    (view.service_name().to_string(), image)
                })
                .collect(),
        }
    }

    /// The secrets of the cluster's services (names stable per project; `up` checks that
    /// the Swarm's copy is the one on this host).
    pub fn swarm_secrets(&self) -> Vec<SwarmSecret> {
        vec![
            SwarmSecret {
                key: "serf".into(),
                name: format!("{}-serf", self.project),
                target: SERF_SECRET_TARGET.into(),
                ha_only: false,
            },
            SwarmSecret {
                key: "stats".into(),
                name: format!("{}-stats", self.project),
                target: STATS_SECRET_TARGET.into(),
                ha_only: true,
            },
        ]
    }
}

/// The registry part of image names when images are loaded into every node.
pub const LOCAL_REGISTRY: &str = "lbkit.invalid";

fn swarm_key(cluster: &Cluster, role: Role) -> String {
    match role {
        Role::Balancer => cluster.ha.name.clone(),
        Role::Backend => cluster.service_name().to_string(),
    }
}
