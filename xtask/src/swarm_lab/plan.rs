//! What `swarm-lab` decides, without the engine: node names, how many nodes, what each
//! node's engine must do to be in node1's swarm, which nodes are not ready yet, and which
//! list entries are stale.
use std::net::Ipv4Addr;

use bollard::models::{LocalNodeState, NodeState};

use crate::engine::{SwarmLocal, SwarmNode};

/// Nodes `swarm-lab up` runs when `--nodes` is not given.
pub(crate) const DEFAULT_NODES: u32 = 3;
/// Each node is a whole engine (about 100 MB of memory idle): a lab needs no more.
pub(crate) const MAX_NODES: u32 = 9;

/// `<project>-node<k>`: node k's container, its hostname and so its Swarm node name.
pub(crate) fn node_name(project: &str, k: u32) -> String {
    format!("{project}-node{k}")
}

/// k when `name` (a container name, with or without the engine's leading `/`) is
/// `<project>-node<k>` exactly as [`node_name`] writes it.
pub(crate) fn node_number(project: &str, name: &str) -> Option<u32> {
    let digits = name
        .strip_prefix('/')
        .unwrap_or(name)
        .strip_prefix(project)?
        .strip_prefix("-node")?;
    let canonical = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Why `--nodes requested` cannot be applied when nodes `existing` are there, if it cannot.
pub(crate) fn check_count(requested: u32, existing: &[u32], project: &str) -> Result<(), String> {
    if !(1..=MAX_NODES).contains(&requested) {
        return Err(format!(
            "--nodes {requested}: a swarm lab has 1 to {MAX_NODES} nodes"
        ));
    }
    match existing.iter().max() {
        Some(&most) if most > requested => Err(format!(
            "--nodes {requested}: the swarm lab of {project} already runs {} node(s), up to {}; it does not shrink: run `cargo xtask swarm-lab down` first",
            existing.len(),
            node_name(project, most)
        )),
        _ => Ok(()),
    }
}

/// What node1's engine must do to be the swarm's manager at `ip`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ManagerStep {
    /// Already the manager, advertised at `ip`.
    Keep,
    /// Not in a swarm: `swarm init`.
    Init,
    /// In a swarm it cannot manage at `ip` (its address changed since, or it is not a
    /// manager): leave it, then `swarm init`; the workers rejoin.
    Reinit(String),
}

pub(crate) fn manager_step(local: &SwarmLocal, ip: Ipv4Addr) -> ManagerStep {
    match local.state {
        LocalNodeState::INACTIVE | LocalNodeState::EMPTY => ManagerStep::Init,
        LocalNodeState::ACTIVE if !local.control_available => {
            ManagerStep::Reinit("it is a worker, not a manager".to_string())
        }
        LocalNodeState::ACTIVE if advertised(&local.node_addr) != Some(ip) => ManagerStep::Reinit(
            format!("its address changed from {} to {ip}", local.node_addr),
        ),
        LocalNodeState::ACTIVE => ManagerStep::Keep,
        other => ManagerStep::Reinit(format!("its swarm state is {other}")),
    }
}

/// What a worker's engine must do to be in the swarm of the manager `manager_id`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WorkerStep {
    /// Already in it (or joining it), advertised at its address.
    Keep,
    /// Not in a swarm: `swarm join`.
    Join,
    /// In another swarm, or advertised at an old address: leave, then `swarm join`.
    Rejoin,
}

pub(crate) fn worker_step(local: &SwarmLocal, ip: Ipv4Addr, manager_id: &str) -> WorkerStep {
    match local.state {
        LocalNodeState::INACTIVE | LocalNodeState::EMPTY => WorkerStep::Join,
        LocalNodeState::ACTIVE | LocalNodeState::PENDING
            if !local.control_available
                && local.managers.iter().any(|m| m == manager_id)
                && advertised(&local.node_addr) == Some(ip) =>
        {
            WorkerStep::Keep
        }
        _ => WorkerStep::Rejoin,
    }
}

/// The IP of an advertised address (`172.17.0.2` or `172.17.0.2:2377`).
fn advertised(addr: &str) -> Option<Ipv4Addr> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.parse().ok()
}

/// One line per node that is not a ready member yet: `<hostname> (<why>)`. `nodes` are
/// (hostname, node ID as its own engine reports it, empty while it joins).
pub(crate) fn not_ready(nodes: &[(String, String)], members: &[SwarmNode]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|(hostname, id)| {
            let member = members.iter().find(|m| !id.is_empty() && &m.id == id);
            let why = match member {
                Some(m) if m.state == NodeState::READY => return None,
                Some(m) => m.state.to_string(),
                None if id.is_empty() => "joining".to_string(),
                None => "not listed by the manager".to_string(),
            };
            Some(format!("{hostname} ({why})"))
        })
        .collect()
}

/// The list entries of this lab's nodes that no running node engine is behind any more
/// (a node removed and created again joins under a new ID; the old one stays `down`).
pub(crate) fn stale_members<'a>(
    project: &str,
    members: &'a [SwarmNode],
    current_ids: &[String],
) -> Vec<&'a SwarmNode> {
    members
        .iter()
        .filter(|m| node_number(project, &m.hostname).is_some())
        .filter(|m| !current_ids.contains(&m.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(state: LocalNodeState, addr: &str, manager: bool, managers: &[&str]) -> SwarmLocal {
        SwarmLocal {
            engine_id: "E".into(),
            state,
            node_id: "self".into(),
            node_addr: addr.into(),
            control_available: manager,
            managers: managers.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn member(id: &str, hostname: &str, state: NodeState) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            hostname: hostname.into(),
            manager: false,
            leader: false,
            state,
            addr: String::new(),
        }
    }

    const IP: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 3);

    #[test]
    fn node_names_round_trip() {
        assert_eq!(node_name("lab4", 1), "lab4-node1");
        for k in 1..=MAX_NODES + 3 {
            assert_eq!(node_number("lab4", &node_name("lab4", k)), Some(k));
        }
        assert_eq!(node_number("lab4", "/lab4-node12"), Some(12));
    }

    #[test]
    fn node_numbers_only_for_this_projects_node_names() {
        for name in [
            "lab4-node",
            "lab4-node0",
            "lab4-node01",
            "lab4-node+1",
            "lab4-node1a",
            "lab4-node 1",
            "lab4-engine",
            "lab4x-node1",
            "lab-node1",
            "other-node1",
            "lab4-node99999999999",
        ] {
            assert_eq!(node_number("lab4", name), None, "{name}");
        }
        // A project whose name ends like a node name is still told apart.
        assert_eq!(node_number("lab4-node1", "lab4-node1-node2"), Some(2));
        assert_eq!(node_number("lab4-node1", "lab4-node1"), None);
    }

    #[test]
    fn node_count_is_bounded_and_never_shrinks() {
        assert_eq!(check_count(3, &[], "p"), Ok(()));
        assert_eq!(check_count(1, &[1], "p"), Ok(()));
        assert_eq!(check_count(5, &[1, 2, 3], "p"), Ok(()));
        assert_eq!(check_count(MAX_NODES, &[], "p"), Ok(()));
        assert_eq!(
            check_count(0, &[], "p"),
            Err("--nodes 0: a swarm lab has 1 to 9 nodes".to_string())
        );
        assert!(check_count(MAX_NODES + 1, &[], "p").is_err());
        let shrink = check_count(2, &[1, 2, 3], "p").unwrap_err();
        assert!(shrink.contains("up to p-node3"), "{shrink}");
        assert!(shrink.contains("swarm-lab down"), "{shrink}");
        // A gap (node2 removed by hand) counts by the highest node.
        assert!(check_count(2, &[1, 3], "p").is_err());
    }

    #[test]
    fn manager_is_kept_only_when_it_manages_at_its_address() {
        let ip = Ipv4Addr::new(172, 17, 0, 2);
        let active = |addr, manager| local(LocalNodeState::ACTIVE, addr, manager, &[]);
        assert_eq!(
            manager_step(&local(LocalNodeState::INACTIVE, "", false, &[]), ip),
            ManagerStep::Init
        );
        assert_eq!(
            manager_step(&active("172.17.0.2", true), ip),
            ManagerStep::Keep
        );
        assert_eq!(
            manager_step(&active("172.17.0.2:2377", true), ip),
            ManagerStep::Keep
        );
        assert_eq!(
            manager_step(&active("172.17.0.5", true), ip),
            ManagerStep::Reinit("its address changed from 172.17.0.5 to 172.17.0.2".into())
        );
        assert!(matches!(
            manager_step(&active("172.17.0.2", false), ip),
            ManagerStep::Reinit(_)
        ));
        assert!(matches!(
            manager_step(&local(LocalNodeState::ERROR, "", false, &[]), ip),
            ManagerStep::Reinit(_)
        ));
    }

    #[test]
    fn worker_is_kept_only_in_the_managers_swarm_at_its_address() {
        let w = |state, addr, managers: &[&str]| local(state, addr, false, managers);
        use LocalNodeState::*;
        assert_eq!(
            worker_step(&w(INACTIVE, "", &[]), IP, "M"),
            WorkerStep::Join
        );
        assert_eq!(
            worker_step(&w(ACTIVE, "172.17.0.3", &["M"]), IP, "M"),
            WorkerStep::Keep
        );
        assert_eq!(
            worker_step(&w(PENDING, "172.17.0.3", &["M"]), IP, "M"),
            WorkerStep::Keep
        );
        // node1 was formed again: another manager.
        assert_eq!(
            worker_step(&w(ACTIVE, "172.17.0.3", &["OLD"]), IP, "M"),
            WorkerStep::Rejoin
        );
        // Its address changed when it was started again.
        assert_eq!(
            worker_step(&w(ACTIVE, "172.17.0.9", &["M"]), IP, "M"),
            WorkerStep::Rejoin
        );
        assert_eq!(worker_step(&w(ERROR, "", &[]), IP, "M"), WorkerStep::Rejoin);
        // A manager of its own swarm is no worker of ours.
        let own = local(ACTIVE, "172.17.0.3", true, &["M"]);
        assert_eq!(worker_step(&own, IP, "M"), WorkerStep::Rejoin);
    }

    #[test]
    fn not_ready_names_each_node_and_why() {
        let nodes = vec![
            ("p-node1".to_string(), "A".to_string()),
            ("p-node2".to_string(), "B".to_string()),
            ("p-node3".to_string(), String::new()),
            ("p-node4".to_string(), "D".to_string()),
        ];
        let members = vec![
            member("A", "p-node1", NodeState::READY),
            member("B", "p-node2", NodeState::DOWN),
            // node2's entry from before it was created again does not count for it.
            member("OLD", "p-node2", NodeState::READY),
        ];
        assert_eq!(
            not_ready(&nodes, &members),
            vec![
                "p-node2 (down)",
                "p-node3 (joining)",
                "p-node4 (not listed by the manager)"
            ]
        );
        let ready = vec![member("A", "p-node1", NodeState::READY)];
        assert!(not_ready(&nodes[..1], &ready).is_empty());
    }

    #[test]
    fn stale_members_are_old_entries_of_this_labs_nodes_only() {
        let members = vec![
            member("A", "p-node1", NodeState::READY),
            member("OLD", "p-node2", NodeState::DOWN),
            member("B", "p-node2", NodeState::READY),
            member("X", "someone-else", NodeState::DOWN),
        ];
        let current = vec!["A".to_string(), "B".to_string()];
        let stale: Vec<&str> = stale_members("p", &members, &current)
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(stale, vec!["OLD"]);
    }
}
