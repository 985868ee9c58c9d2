//! The fingerprint stored on each container (label `lbkit.fingerprint`): what it was
//! created from. A container whose fingerprint differs from the declared one is replaced,
//! so the value must stay the same across releases and Rust versions for the same inputs
//! (the golden values below pin it).
use cluster::{AppMode, Cluster, Node, Role};

use crate::deploy::stable_hash::fnv1a;

/// What a node's container is created from, minus what may change without recreating it:
/// the join list (Serf gossips membership anyway) and the declared webapp count.
pub(super) fn fingerprint(cluster: &Cluster, node: &Node, image_id: &str) -> String {
    let mut stable = cluster.clone();
    stable.webapps.count = 0;
    if node.role == Role::Balancer {
        // Set in place by `converge` (`ha-agent drain-ms`): a new drain time does not
        // recreate the load balancer.
        stable.webapps.drain_ms = cluster::parse("", "defaults")
            .expect("the defaults are valid")
            .webapps
            .drain_ms;
    }
    let env: Vec<(String, String)> = stable
        .node_env(node, &[])
        .into_iter()
        .filter(|(name, _)| name != "SERF_JOIN")
        .collect();
    let mut inputs = serde_json::json!([image_id, node, env, cluster.network, cluster.ha.bind]);
    if node.role == Role::Backend {
        // The webapps' hardening: containers made before it are recreated once.
        let hardening = serde_json::json!([
            "cap-drop",
            cluster::WEBAPP_CAP_DROP,
            cluster.webapps.cap_add
        ]);
        inputs.as_array_mut().expect("an array").push(hardening);
    }
    if node.role == Role::Backend && cluster.webapps.mode() != AppMode::Lab {
        // What a foreign app runs with; left out for the lab's app so its stacks stay as
        // they are.
        let app = &cluster.webapps;
        let settings = serde_json::json!([app.image, app.build, app.command, app.drain_ms]);
        inputs.as_array_mut().expect("an array").push(settings);
    }
    if node.role == Role::Backend && matches!(cluster.webapps.mode(), AppMode::Image(_)) {
        // Since the sidecar has an address of its own: webapps made beside a sidecar in
        // their network namespace are replaced once.
        inputs
            .as_array_mut()
            .expect("an array")
            .push("sidecar-own-address".into());
    }
    format!("{:016x}", fnv1a(inputs.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change of these values recreates every container of every running cluster on the
    /// next `up`: update them only on purpose, and say so in the change.
    #[test]
    fn the_labs_fingerprints_are_pinned() {
        // The lab's cluster file as of the fixture (the root cluster.toml is the user's).
        let text = include_str!("../../../../cluster/tests/fixtures/lab.toml");
        let lab = cluster::parse(text, "cluster.toml").expect("the lab's fixture is valid");
        let image = "sha256:0123456789abcdef";
        let ha = fingerprint(&lab, &lab.ha_node(), image);
        let s1 = fingerprint(&lab, &lab.webapp_nodes(1)[0], image);
        assert_eq!(
            (ha.as_str(), s1.as_str()),
            ("e32b6306eeb845f6", "838e6e5d0e6eff8f")
        );
    }
}
