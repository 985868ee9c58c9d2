//! The project's network, on both targets: a bridge on one engine, an overlay on a
//! Swarm; made once with the declared subnet, and refused (exit 2) when one of that name
//! exists with another driver or subnet.
use std::collections::HashMap;

use anyhow::bail;
use cluster::{labels, Cluster};

use crate::context::UsageError;
use crate::engine::{network_subnets, Engine, NetworkDriver};

/// Creates the project's network with `driver` unless it is already there as declared.
pub(crate) async fn ensure_network_of(
    engine: &Engine,
    cluster: &Cluster,
    driver: NetworkDriver,
) -> anyhow::Result<()> {
    if check_network_of(engine, cluster, driver).await? {
        return Ok(());
    }
    let name = &cluster.network.name;
    let mut labels = HashMap::from([(labels::PROJECT.to_string(), cluster.project.clone())]);
    if driver == NetworkDriver::Overlay {
        // Part of the stack `docker stack deploy <project>` manages, as it makes it.
        labels.insert(cluster::STACK_NAMESPACE.into(), cluster.project.clone());
    }
    engine
        .create_network_of(driver, name, &cluster.network.subnet.to_string(), labels)
        .await
}

/// Whether the project's network exists as declared (false: it is missing); one of
/// another driver or subnet is refused (exit 2).
pub(crate) async fn check_network_of(
    engine: &Engine,
    cluster: &Cluster,
    driver: NetworkDriver,
) -> anyhow::Result<bool> {
    let name = &cluster.network.name;
    let existing = engine
        .networks()
        .await?
        .into_iter()
        .find(|n| n.name.as_deref() == Some(name.as_str()));
    let Some(network) = existing else {
        return Ok(false);
    };
    if network.driver.as_deref() != Some(driver.as_str()) {
        bail!(UsageError(format!(
            "network {name} exists with driver {} but the cluster needs a {} network; run `cargo xtask down` first, or choose another network.name",
            network.driver.as_deref().unwrap_or("?"),
            driver.as_str()
        )));
    }
    let subnets = network_subnets(&network);
    if !subnets.contains(&cluster.network.subnet.to_string()) {
        bail!(UsageError(format!(
            "network {name} exists with subnet {} but the cluster file declares {}; run `cargo xtask down` first",
            subnets.join(","),
            cluster.network.subnet
        )));
    }
    Ok(true)
}
