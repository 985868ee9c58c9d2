//! Networks: the project's bridge with its fixed subnet, and the others (for overlap checks).
use std::collections::HashMap;

use anyhow::Context as _;
use bollard::models::{Ipam, IpamConfig, Network};
use bollard::network::{CreateNetworkOptions, ListNetworksOptions};

use super::{is_not_found, Engine};

impl Engine {
    pub(crate) async fn networks(&self) -> anyhow::Result<Vec<Network>> {
        self.docker
            .list_networks(None::<ListNetworksOptions<String>>)
            .await
            .context("listing networks")
    }

    pub(crate) async fn create_network(
        &self,
        name: &str,
        subnet: &str,
        labels: HashMap<String, String>,
    ) -> anyhow::Result<()> {
        let options = CreateNetworkOptions {
            name: name.to_string(),
            driver: "bridge".to_string(),
            check_duplicate: true,
            ipam: Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            labels,
            ..Default::default()
        };
        self.docker
            .create_network(options)
            .await
            .with_context(|| format!("creating network {name} ({subnet})"))?;
        Ok(())
    }

    pub(crate) async fn remove_network(&self, name: &str) -> anyhow::Result<()> {
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
