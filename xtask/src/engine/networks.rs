//! Networks: the project's bridge (or, on a Swarm, overlay) with its fixed subnet, and the
//! others (for overlap checks).
use std::collections::HashMap;

use anyhow::Context as _;
use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest};

use super::{is_not_found, Engine};

/// A bridge on one engine, an overlay across a Swarm's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkDriver {
    Bridge,
    Overlay,
}

impl NetworkDriver {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NetworkDriver::Bridge => "bridge",
            NetworkDriver::Overlay => "overlay",
        }
    }
}

impl Engine {
    pub(crate) async fn networks(&self) -> anyhow::Result<Vec<Network>> {
        self.docker
            .list_networks(None)
            .await
            .context("listing networks")
    }

    pub async fn create_network(
        &self,
        name: &str,
        subnet: &str,
        labels: HashMap<String, String>,
    ) -> anyhow::Result<()> {
        self.create_network_of(NetworkDriver::Bridge, name, subnet, labels)
            .await
    }

    /// A network of `driver`; an overlay is attachable (tests and tools may attach plain
    /// containers to it).
    pub(crate) async fn create_network_of(
        &self,
        driver: NetworkDriver,
        name: &str,
        subnet: &str,
        labels: HashMap<String, String>,
    ) -> anyhow::Result<()> {
        // No CheckDuplicate (gone from the API): preflight creates it only when absent, and
        // a second one would be refused anyway since its subnet overlaps the first.
        let options = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(driver.as_str().to_string()),
            attachable: Some(driver == NetworkDriver::Overlay),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_network(options)
            .await
            .with_context(|| format!("creating {} network {name} ({subnet})", driver.as_str()))?;
        Ok(())
    }

    pub async fn remove_network(&self, name: &str) -> anyhow::Result<()> {
        match self.docker.remove_network(name).await {
            Err(err) if is_not_found(&err) => Ok(()),
            result => result.with_context(|| format!("removing network {name}")),
        }
    }
}

/// The IPv4 subnets a network uses.
pub(crate) fn network_subnets(network: &Network) -> Vec<String> {
    network
        .ipam
        .as_ref()
        .and_then(|ipam| ipam.config.as_ref())
        .map(|configs| configs.iter().filter_map(|c| c.subnet.clone()).collect())
        .unwrap_or_default()
}
