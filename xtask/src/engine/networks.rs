//! Networks: the project's bridge with its fixed subnet, and the others (for overlap checks).
use std::collections::HashMap;

use anyhow::Context as _;
use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest};

use super::{is_not_found, Engine};

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
        // No CheckDuplicate (gone from the API): preflight creates it only when absent, and
        // a second one would be refused anyway since its subnet overlaps the first.
        let options = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
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
            .with_context(|| format!("creating network {name} ({subnet})"))?;
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
