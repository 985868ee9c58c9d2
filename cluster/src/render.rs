//! One render function per template. The templates' text is passed in, so the host reads
//! `templates/` and the ha agent reads the copy baked into its image, through the same code.
use std::net::Ipv4Addr;

use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::model::{AppMode, Cluster, Node, Role};
use crate::names::natural_key;
use crate::services::DEFAULT_SERVICE;
use crate::swarm::{SwarmImages, SwarmSecret};

/// One `server` line of HAProxy's `nodes` backend.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Backend {
    pub name: String,
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl From<&Node> for Backend {
    fn from(node: &Node) -> Self {
        Backend {
            name: node.name.clone(),
            ip: node.ip,
            port: node.port,
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // The compose and stack files' clients interpolate `$NAME` in every value: a value
    // (a `command` in ha's model, say) keeps its `$` as `$$`.
    env.add_filter("no_interpolation", |value: String| value.replace('$', "$$"));
    // A one-line YAML value as a double-quoted string: JSON's escapes are YAML's.
    env.add_filter("quoted", |value: String| {
        serde_json::to_string(&value).unwrap_or_default()
    });
    env
}

fn render(name: &str, template: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    let mut env = environment();
    env.add_template(name, template)?;
    env.get_template(name)?.render(ctx)
}

/// haproxy.cfg for `backends`, in natural name order whatever order they come in, so the
/// same membership always renders the same text. The static file (`gen`): no agent keeps
/// a server state for it.
pub fn render_haproxy(
    template: &str,
    cluster: &Cluster,
    backends: &[Backend],
) -> Result<String, minijinja::Error> {
    render_haproxy_as(template, cluster, backends, false)
}

/// haproxy.cfg as ha's agent makes it live: with the server-state file it saves before
/// each reload, so servers keep their runtime state.
pub fn render_haproxy_live(
    template: &str,
    cluster: &Cluster,
    backends: &[Backend],
) -> Result<String, minijinja::Error> {
    render_haproxy_as(template, cluster, backends, true)
}

fn render_haproxy_as(
    template: &str,
    cluster: &Cluster,
    backends: &[Backend],
    live: bool,
) -> Result<String, minijinja::Error> {
    let mut backends = backends.to_vec();
    backends.sort_by(|a, b| natural_key(&a.name).cmp(&natural_key(&b.name)));
    let sections: Vec<BackendSection> = cluster
        .services()
        .iter()
        .map(|service| BackendSection {
            name: service.backend.to_string(),
            health: service.health.clone(),
            // The check kind is left out of the serialized model when it is the default.
            check: service.health.check.as_str(),
            // A server's name says its service (validation keeps the names apart).
            servers: backends
                .iter()
                .filter(|server| {
                    cluster
                        .service_of(&server.name)
                        .map_or(DEFAULT_SERVICE, |s| s.name)
                        == service.name
                })
                .cloned()
                .collect(),
        })
        .collect();
    render(
        "haproxy.cfg.j2",
        template,
        context! {
            cluster,
            ha => &cluster.ha,
            sections,
            routes => !cluster.services.is_empty(),
            routes_map => crate::services::ROUTES_MAP,
            live,
            // Published beyond this host on a Swarm: the stats page asks for a password.
            stats_auth => cluster.deploy.is_swarm(),
            stats_user => crate::swarm::STATS_USER,
        },
    )
}

/// One `backend` section of haproxy.cfg: a service's.
#[derive(Serialize)]
struct BackendSection {
    name: String,
    health: crate::model::Health,
    check: &'static str,
    servers: Vec<Backend>,
}

/// ha's routes map (`routes.map`): one line per route, in key order.
pub fn render_routes_map(template: &str, cluster: &Cluster) -> Result<String, minijinja::Error> {
    render(
        "routes.map.j2",
        template,
        context! {
            project => &cluster.project,
            entries => cluster.route_entries(),
        },
    )
}

/// Where the compose file finds what must not be in it.
#[derive(Debug, Clone, Serialize)]
pub struct ComposeInputs {
    /// The Serf gossip key file (`{"encrypt_key": ...}`), relative to the compose file.
    pub serf_secret_file: String,
    /// With `[ha.tls]`: (file relative to the compose file, path in ha) for the certificate
    /// and key, mounted read-only into ha.
    pub tls_files: Vec<(String, String)>,
}

#[derive(Serialize)]
struct ComposeService {
    node: Node,
    /// The role label: the node's role, or `sidecar`.
    role: String,
    /// A sidecar's webapp.
    #[serde(skip_serializing_if = "Option::is_none")]
    sidecar_of: Option<String>,
    env: Vec<(String, String)>,
    stop_grace_s: u32,
    image: String,
    /// A named service's webapps carry its name as a label.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    cap_add: Vec<String>,
    /// Whether Serf runs in it: only then does it get the gossip key. An app image's
    /// webapp does not (its sidecar does).
    serf: bool,
    /// (file relative to the compose file, path in the container): the s6 services `up`
    /// would upload, mounted read-only.
    s6_files: Vec<(String, String)>,
}

/// The `logging:` block of every service, as `up` sets it.
fn logging() -> minijinja::Value {
    context! {
        driver => crate::LOG_DRIVER,
        options => crate::LOG_OPTIONS.to_vec(),
    }
}

/// docker-compose.yml for the declared cluster: ha and `webapps.count` webapps, then each
/// named service's webapps as a fresh `up` places them.
pub fn render_compose(
    template: &str,
    cluster: &Cluster,
    inputs: &ComposeInputs,
) -> Result<String, minijinja::Error> {
    let views = cluster
        .fresh_views()
        .map_err(|err| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, err))?;
    let mut services = Vec::new();
    for view in std::iter::once(cluster).chain(&views) {
        let nodes = match view.view {
            None => view.declared_nodes(),
            Some(_) => view.webapp_nodes(view.webapps.count),
        };
        // A named service's webapps join ha, at its fixed address, and each other.
        let mut known = nodes.clone();
        if view.view.is_some() {
            known.push(view.ha_node());
        }
        for node in &nodes {
            let mut env = view.node_env(node, &known);
            if node.role == Role::Balancer && !cluster.services.is_empty() {
                // Compose has no `up` to hand ha its services: they start in its model.
                for (name, value) in &mut env {
                    if name == "CLUSTER_TOML" {
                        value.push('\n');
                        value.push_str(&cluster.services_toml());
                    }
                }
            }
            let image = match (node.role, view.webapps.mode()) {
                (Role::Balancer, _) => cluster.image_tag("ha"),
                (Role::Backend, AppMode::Image(image)) => image.to_string(),
                (Role::Backend, _) => view.image_tag(&view.webapp_image_name()),
            };
            let service = view.view.as_ref().map(|v| v.service.clone());
            // The s6 services go where the webapp's Serf runs: its sidecar for an app
            // image, else the webapp itself.
            let s6_files: Vec<(String, String)> = match node.role {
                Role::Balancer => Vec::new(),
                Role::Backend => view
                    .supplied_s6_files()
                    .iter()
                    .map(|file| {
                        let inside = format!("{}/{}", crate::S6_DIR, file.path);
                        (view.compose_s6_file(file), inside)
                    })
                    .collect(),
            };
            let sidecar = view.has_sidecar() && node.role == Role::Backend;
            // An app image runs unchanged: Serf, its settings and its s6 services live in
            // the sidecar.
            let (env, s6_files) = if sidecar {
                services.push(compose_sidecar(cluster, view, node, env, s6_files)?);
                (Vec::new(), Vec::new())
            } else {
                (env, s6_files)
            };
            services.push(ComposeService {
                role: node.role.as_str().to_string(),
                sidecar_of: None,
                env,
                stop_grace_s: match node.role {
                    Role::Balancer => crate::HA_STOP_TIMEOUT_S,
                    Role::Backend => view.webapps.stop_timeout_s(),
                },
                image,
                service,
                cap_add: match node.role {
                    Role::Balancer => Vec::new(),
                    Role::Backend => view.webapps.cap_add.clone(),
                },
                serf: !sidecar,
                s6_files,
                node: node.clone(),
            });
        }
    }
    render(
        "docker-compose.yml.j2",
        template,
        context! {
            cluster,
            services,
            inputs,
            logging => logging(),
            webapp_cap_drop => crate::WEBAPP_CAP_DROP,
            labels => context! {
                project => crate::labels::PROJECT,
                role => crate::labels::ROLE,
                node => crate::labels::NODE,
                service => crate::labels::SERVICE,
                sidecar_of => crate::labels::SIDECAR_OF,
            },
        },
    )
}

/// The Serf sidecar of an app image's webapp `node`, as `up` creates it: the base image
/// at the sidecar's own address, probing the app at the webapp's (`APP_HOST`).
fn compose_sidecar(
    cluster: &Cluster,
    view: &Cluster,
    node: &Node,
    mut env: Vec<(String, String)>,
    s6_files: Vec<(String, String)>,
) -> Result<ComposeService, minijinja::Error> {
    let name = Cluster::sidecar_name(&node.name);
    let ip = view.sidecar_ip(&node.name).ok_or_else(|| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("network.subnet has no address for {name}"),
        )
    })?;
    env.push(("APP_HOST".to_string(), node.ip.to_string()));
    Ok(ComposeService {
        node: Node {
            name,
            ip,
            ..node.clone()
        },
        role: crate::labels::SIDECAR_ROLE.to_string(),
        sidecar_of: Some(node.name.clone()),
        env,
        // As long as its app's: Serf must not be killed before it has left.
        stop_grace_s: view.webapps.stop_timeout_s(),
        image: cluster.image_tag("base"),
        service: view.view.as_ref().map(|v| v.service.clone()),
        cap_add: Vec::new(),
        serf: true,
        s6_files,
    })
}

/// Where stack.yml finds what must not be in it: each secret's file, relative to the
/// stack file.
#[derive(Debug, Clone, Serialize)]
pub struct StackInputs {
    pub images: SwarmImages,
    /// (secret, its file).
    pub secrets: Vec<(SwarmSecret, String)>,
}

/// stack.yml (compose v3, for `docker stack deploy -c stack.yml <project>`): the services
/// `up` creates on a Swarm, from the same [`Cluster::swarm_services`].
pub fn render_stack(
    template: &str,
    cluster: &Cluster,
    inputs: &StackInputs,
) -> Result<String, minijinja::Error> {
    let secrets: Vec<SwarmSecret> = inputs.secrets.iter().map(|(s, _)| s.clone()).collect();
    let services = cluster.swarm_services(&inputs.images, &secrets, cluster.webapps.count);
    render(
        "stack.yml.j2",
        template,
        context! {
            cluster,
            services,
            policy => crate::swarm::SWARM_POLICY,
            secrets => &inputs.secrets,
            logging => logging(),
            labels => context! {
                project => crate::labels::PROJECT,
                role => crate::labels::ROLE,
            },
        },
    )
}

impl crate::model::Webapps {
    /// What ha reads of a service's app: its names, port and drain; not how it is built
    /// or rolled out, so changing those never touches ha.
    pub(crate) fn for_balancer(&self) -> crate::model::Webapps {
        crate::model::Webapps {
            image: None,
            build: None,
            command: Vec::new(),
            max_unavailable: crate::model::DEFAULT_MAX_UNAVAILABLE,
            ..self.clone()
        }
    }
}

impl Cluster {
    /// The model ha is given: without where the webapps' app comes from, which ha never
    /// uses, so a new app version does not recreate the load balancer mid-rollout.
    /// `drain_ms` stays: ha drains a leaving server for up to that long.
    pub(crate) fn for_balancer(&self) -> Cluster {
        let mut cluster = self.clone();
        cluster.webapps = self.webapps.for_balancer();
        // ha is handed the services at runtime (`ha-agent services`), so adding one never
        // recreates it.
        cluster.services = Default::default();
        cluster.view = None;
        cluster
    }

    /// The environment a node's container starts with: who it is, whom to join. `known` is
    /// every node known when it is created; Serf keeps retrying them, so start order does
    /// not matter.
    pub fn node_env(&self, node: &Node, known: &[Node]) -> Vec<(String, String)> {
        let mut join: Vec<&Node> = known.iter().filter(|n| n.name != node.name).collect();
        // ha first: it is the node most likely to be up.
        join.sort_by_key(|n| n.role != Role::Balancer);
        let join = join
            .iter()
            .map(|n| self.serf_ip(n).to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let mut env = vec![
            ("NODE_NAME".to_string(), node.name.clone()),
            ("NODE_ROLE".to_string(), node.role.as_str().to_string()),
            ("NODE_PORT".to_string(), node.port.to_string()),
            ("SERF_JOIN".to_string(), join),
            (
                "SERF_PROFILE".to_string(),
                self.serf.profile.as_str().to_string(),
            ),
        ];
        match node.role {
            Role::Balancer => {
                env.push(("CLUSTER_TOML".to_string(), self.for_balancer().to_toml()));
            }
            Role::Backend => {
                // Only the declared ha, at its fixed address, is a balancer to rejoin.
                env.push(("SERF_BALANCER".to_string(), self.ha.name.clone()));
                env.push((
                    "SERF_BALANCER_ADDRS".to_string(),
                    self.ha_node().ip.to_string(),
                ));
                env.extend(self.drain_env());
                // A named service's webapps say so in their Serf tags; ha checks the claim
                // against their names.
                if let Some(view) = &self.view {
                    env.push(("NODE_SERVICE".to_string(), view.service.clone()));
                }
            }
        }
        env
    }

    /// The address node `node`'s Serf agent gossips on: an app image's webapp's is its
    /// sidecar's.
    pub fn serf_ip(&self, node: &Node) -> Ipv4Addr {
        match (node.role, self.webapps.mode()) {
            (Role::Backend, AppMode::Image(_)) => self.sidecar_ip(&node.name).unwrap_or(node.ip),
            _ => node.ip,
        }
    }

    /// How long the lab app lets in-flight requests finish once it stops accepting.
    pub(crate) fn drain_env(&self) -> [(String, String); 1] {
        [("DRAIN_MS".to_string(), self.webapps.drain_ms.to_string())]
    }
}
