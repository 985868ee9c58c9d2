//! The cluster as Swarm services: one for ha (one task, pinned), one for the webapps
//! (N tasks spread over the nodes). Pure, so `up` (through the Engine API) and
//! `generated/stack.yml` (for `docker stack deploy`) declare exactly the same services.
use serde::Serialize;

use crate::model::{Cluster, Deploy, DeployTarget, Role};

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
    pub webapp: String,
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
    /// `<project>_<key>`, as `docker stack deploy <project>` names a stack's services.
    pub fn swarm_service_name(&self, role: Role) -> String {
        format!("{}_{}", self.project, swarm_key(self, role))
    }

    /// ha's service and the webapps' service, `webapps` tasks.
    pub fn swarm_services(
        &self,
        images: &SwarmImages,
        secrets: &[SwarmSecret],
        webapps: u32,
    ) -> Vec<SwarmService> {
        [Role::Balancer, Role::Backend]
            .into_iter()
            .map(|role| {
                let balancer = role == Role::Balancer;
                SwarmService {
                    key: swarm_key(self, role),
                    name: self.swarm_service_name(role),
                    role,
                    hostname: match balancer {
                        true => self.ha.name.clone(),
                        false => format!("{}{{{{.Task.Slot}}}}", self.webapps.prefix),
                    },
                    image: match balancer {
                        true => images.ha.clone(),
                        false => images.webapp.clone(),
                    },
                    replicas: if balancer { 1 } else { webapps },
                    env: self.swarm_env(role),
                    constraints: match balancer {
                        true => vec![self.deploy.ha_constraint.clone()],
                        false => Vec::new(),
                    },
                    published: match balancer {
                        true => vec![self.ha.http_port, self.ha.stats_port],
                        false => Vec::new(),
                    },
                    secrets: secrets
                        .iter()
                        .filter(|s| balancer || !s.ha_only)
                        .cloned()
                        .collect(),
                    update_parallelism: match balancer {
                        true => 1,
                        false => self.webapps.max_unavailable,
                    },
                    stop_grace_s: match balancer {
                        true => crate::HA_STOP_TIMEOUT_S,
                        false => self.webapps.stop_timeout_s(),
                    },
                    cap_drop: match balancer {
                        true => Vec::new(),
                        false => crate::WEBAPP_CAP_DROP.map(String::from).to_vec(),
                    },
                    cap_add: match balancer {
                        true => Vec::new(),
                        false => self.webapps.cap_add.clone(),
                    },
                }
            })
            .collect()
    }

    /// A task's environment: who it is and whom to join, through Swarm's DNS (tasks get
    /// no fixed addresses). Serf advertises the address it has on the overlay, found
    /// through the route to the overlay's gateway (a task has other interfaces too).
    fn swarm_env(&self, role: Role) -> Vec<(String, String)> {
        let port = match role {
            Role::Balancer => self.ha.http_port,
            Role::Backend => self.webapps.port,
        };
        // ha joins the webapps too: a restarted ha finds them at once.
        let join = match role {
            Role::Balancer => format!("tasks.{}", self.swarm_service_name(Role::Backend)),
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
        }
        if role == Role::Balancer {
            // The model says Swarm even when rendered from an engine cluster file (gen's
            // stack.yml): ha then asks for the stats password.
            // What ha never uses stays out, so editing it does not restart ha's only
            // task: the count (Serf says who is there), the host-side deploy settings.
            let mut model = self.for_balancer();
            let defaults = crate::parse("", "defaults").expect("the defaults are valid");
            model.webapps.count = 0;
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
        Role::Backend => "webapps".to_string(),
    }
}
