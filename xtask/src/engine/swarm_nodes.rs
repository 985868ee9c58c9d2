//! Swarm mode on one engine: its own view of its membership (the Swarm part of `docker
//! info`), init, join and leave, and on a manager the worker token and the node list.
//! `swarm-lab` calls these on nested engines only: the host's engine never joins a swarm.
//! On the host's engine: a node's address, and the volumes nodes removed by hand left.
use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::Context as _;
use bollard::models::{
    LocalNodeState, Node, NodeSpecRoleEnum, NodeState, SwarmInitRequest, SwarmJoinRequest,
};
use bollard::query_parameters::{
    DeleteNodeOptionsBuilder, LeaveSwarmOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};

use super::{is_not_found, Engine};

/// The Swarm port managers listen on (and workers join to).
pub(crate) const SWARM_PORT: u16 = 2377;

/// One engine's own view of its Swarm membership.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SwarmLocal {
    /// The engine's ID (`docker info` ID): tells two engines apart.
    pub(crate) engine_id: String,
    pub(crate) state: LocalNodeState,
    /// Its Swarm node ID; empty outside a swarm.
    pub(crate) node_id: String,
    /// The address it advertises to the other nodes; empty outside a swarm.
    pub(crate) node_addr: String,
    /// True on a manager.
    pub(crate) control_available: bool,
    /// The node IDs of the managers it knows.
    pub(crate) managers: Vec<String>,
}

/// One node as a manager lists it (`docker node ls`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SwarmNode {
    pub(crate) id: String,
    pub(crate) hostname: String,
    pub(crate) manager: bool,
    pub(crate) leader: bool,
    pub(crate) state: NodeState,
    /// The address the manager sees it at.
    pub(crate) addr: String,
}

impl SwarmNode {
    pub(crate) fn is_ready(&self) -> bool {
        self.state == NodeState::READY
    }

    fn from_node(node: Node) -> SwarmNode {
        let status = node.status.unwrap_or_default();
        SwarmNode {
            id: node.id.unwrap_or_default(),
            hostname: node
                .description
                .and_then(|d| d.hostname)
                .unwrap_or_default(),
            manager: node.spec.and_then(|s| s.role) == Some(NodeSpecRoleEnum::MANAGER),
            leader: node.manager_status.and_then(|m| m.leader).unwrap_or(false),
            state: status.state.unwrap_or(NodeState::UNKNOWN),
            addr: status.addr.unwrap_or_default(),
        }
    }
}

impl Engine {
    /// This engine's Swarm membership, as it sees it.
    pub(crate) async fn swarm_local(&self) -> anyhow::Result<SwarmLocal> {
        let info = self
            .docker
            .info()
            .await
            .context("reading the engine's swarm state (docker info)")?;
        let swarm = info.swarm.unwrap_or_default();
        Ok(SwarmLocal {
            engine_id: info.id.unwrap_or_default(),
            state: swarm.local_node_state.unwrap_or(LocalNodeState::INACTIVE),
            node_id: swarm.node_id.unwrap_or_default(),
            node_addr: swarm.node_addr.unwrap_or_default(),
            control_available: swarm.control_available.unwrap_or(false),
            managers: swarm
                .remote_managers
                .unwrap_or_default()
                .into_iter()
                .filter_map(|peer| peer.node_id)
                .collect(),
        })
    }

    /// `docker swarm init --advertise-addr <advertise>`: this engine becomes the manager
    /// of a new swarm; returns its node ID.
    pub(crate) async fn swarm_init(&self, advertise: Ipv4Addr) -> anyhow::Result<String> {
        let request = SwarmInitRequest {
            listen_addr: Some(format!("0.0.0.0:{SWARM_PORT}")),
            advertise_addr: Some(format!("{advertise}:{SWARM_PORT}")),
            ..Default::default()
        };
        self.docker
            .init_swarm(request)
            .await
            .with_context(|| format!("initialising a swarm advertised at {advertise}:{SWARM_PORT}"))
    }

    /// `docker swarm join --token <token> <manager>:2377` as a node reachable at `advertise`.
    pub(crate) async fn swarm_join(
        &self,
        manager: Ipv4Addr,
        advertise: Ipv4Addr,
        token: &str,
    ) -> anyhow::Result<()> {
        let request = SwarmJoinRequest {
            listen_addr: Some(format!("0.0.0.0:{SWARM_PORT}")),
            advertise_addr: Some(advertise.to_string()),
            remote_addrs: Some(vec![format!("{manager}:{SWARM_PORT}")]),
            join_token: Some(token.to_string()),
            ..Default::default()
        };
        self.docker
            .join_swarm(request)
            .await
            .with_context(|| format!("joining the swarm of {manager}:{SWARM_PORT} as {advertise}"))
    }

    /// `docker swarm leave --force`: out of whatever swarm this engine was in.
    pub(crate) async fn swarm_leave(&self) -> anyhow::Result<()> {
        let options = LeaveSwarmOptionsBuilder::new().force(true).build();
        self.docker
            .leave_swarm(Some(options))
            .await
            .context("leaving the engine's swarm")
    }

    /// On a manager: the token a worker joins with.
    pub(crate) async fn swarm_worker_token(&self) -> anyhow::Result<String> {
        let what = "reading the swarm's worker join token";
        let swarm = self.docker.inspect_swarm().await.context(what)?;
        swarm
            .join_tokens
            .and_then(|t| t.worker)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{what}: the manager returned none"))
    }

    /// On a manager: every node of the swarm (`docker node ls`).
    pub(crate) async fn swarm_members(&self) -> anyhow::Result<Vec<SwarmNode>> {
        let nodes = self
            .docker
            .list_nodes(None)
            .await
            .context("listing the swarm's nodes")?;
        Ok(nodes.into_iter().map(SwarmNode::from_node).collect())
    }

    /// On a manager: `docker node rm --force <id>`.
    pub(crate) async fn remove_swarm_member(&self, member: &SwarmNode) -> anyhow::Result<()> {
        let options = DeleteNodeOptionsBuilder::new().force(true).build();
        self.docker
            .delete_node(&member.id, Some(options))
            .await
            .with_context(|| {
                format!(
                    "removing swarm node {} ({}) from the swarm",
                    member.id, member.hostname
                )
            })
    }

    /// The default bridge's IPv4 subnet: where the lab's node containers get addresses.
    pub(crate) async fn bridge_subnet(&self) -> anyhow::Result<String> {
        self.networks()
            .await?
            .iter()
            .find(|n| n.name.as_deref() == Some("bridge"))
            .and_then(|n| {
                super::networks::network_subnets(n)
                    .into_iter()
                    .find(|subnet| !subnet.contains(':'))
            })
            .context("the engine's default bridge has no IPv4 subnet")
    }

    /// The address of container `name` on the engine's default bridge (`docker inspect
    /// -f '{{.NetworkSettings.IPAddress}}'`).
    pub(crate) async fn bridge_ip(&self, name: &str) -> anyhow::Result<Ipv4Addr> {
        let what = || format!("reading the address of container {name} on the default bridge");
        let info = self
            .inspect_container(name)
            .await?
            .with_context(|| format!("{}: no such container", what()))?;
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove("bridge"))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .with_context(|| format!("{}: it has none (is it running?)", what()))?;
        ip.parse()
            .with_context(|| format!("{}: {ip:?} is not an IPv4 address", what()))
    }

    /// Volumes no container uses that carry every one of `labels`: what a node container
    /// removed without its volume (`docker rm` without `-v`) left behind.
    pub(crate) async fn unused_volumes_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([
            ("dangling".to_string(), vec!["true".to_string()]),
            (
                "label".to_string(),
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            ),
        ]);
        let list = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .context("listing unused volumes")?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// Removes volume `name` (refused by the engine while a container uses it).
    pub(crate) async fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveVolumeOptionsBuilder::new().force(false).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing volume {name}")),
        }
    }
}
