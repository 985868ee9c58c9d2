//! Before creating anything: names, ports and subnet must not belong to someone else.
//! Each failure is one line that names the other owner and the fix; nothing is touched.
use std::collections::HashMap;
use std::net::TcpListener;

use anyhow::bail;
use cluster::{labels, Cluster, Node};
use ipnet::Ipv4Net;

use crate::context::UsageError;
use crate::engine::{network_subnets, Engine};

pub(crate) async fn check(
    engine: &Engine,
    cluster: &Cluster,
    nodes: &[Node],
) -> anyhow::Result<()> {
    let mut ha_running = false;
    for node in nodes {
        let Some(info) = engine.inspect_container(&node.name).await? else {
            continue;
        };
        // Only a container we created carries the node label: image labels (project, role)
        // are inherited by any container made from our images, so they prove nothing.
        let labels = info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
        let ours = labels.get(labels::PROJECT) == Some(&cluster.project)
            && labels.get(labels::NODE) == Some(&node.name);
        if !ours {
            let owner = match (labels.get(labels::PROJECT), labels.get(labels::NODE)) {
                (Some(project), Some(_)) => format!("belongs to project {project}"),
                _ => "not created by this toolkit".to_string(),
            };
            bail!(UsageError(format!(
                "container name {} is taken by another container ({owner}); remove it, or choose other names in cluster.toml (ha.name, webapps.prefix)",
                node.name
            )));
        }
        if node.name == cluster.ha.name {
            ha_running = info.state.and_then(|s| s.running).unwrap_or(false);
        }
    }
    if !ha_running {
        check_ports(engine, cluster).await?;
    }
    check_subnet(engine, cluster).await
}

async fn check_ports(engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    for (key, port) in [
        ("ha.http_port", cluster.ha.http_port),
        ("ha.stats_port", cluster.ha.stats_port),
    ] {
        if TcpListener::bind((cluster.ha.bind, port)).is_ok() {
            continue;
        }
        let holder = port_holder(engine, port).await?;
        bail!(UsageError(format!(
            "port {port} on {} ({key}) is already in use by {holder}; stop it or choose another {key} in cluster.toml",
            cluster.ha.bind
        )));
    }
    Ok(())
}

/// Names the container publishing `port`, if a container does.
async fn port_holder(engine: &Engine, port: u16) -> anyhow::Result<String> {
    for container in engine.containers_with_labels(&[]).await? {
        let publishes = container
            .ports
            .unwrap_or_default()
            .iter()
            .any(|p| p.public_port == Some(port));
        if publishes {
            let name = container
                .names
                .and_then(|names| names.first().cloned())
                .unwrap_or_default();
            return Ok(format!("container {}", name.trim_start_matches('/')));
        }
    }
    Ok(format!(
        "another process (see `ss -ltnp 'sport = :{port}'`)"
    ))
}

async fn check_subnet(engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let ours = cluster.network.subnet;
    for network in engine.networks().await? {
        let name = network.name.clone().unwrap_or_default();
        if is_ours(&network.labels, cluster) && name == cluster.network.name {
            continue;
        }
        if name == cluster.network.name {
            bail!(UsageError(format!(
                "network {name} already exists and was not created for project {}; remove it or set another network.name in cluster.toml",
                cluster.project
            )));
        }
        for subnet in network_subnets(&network) {
            let Ok(theirs) = subnet.parse::<Ipv4Net>() else {
                continue;
            };
            if theirs.contains(&ours.network()) || ours.contains(&theirs.network()) {
                bail!(UsageError(format!(
                    "network.subnet {ours} overlaps network {name} ({theirs}); choose another network.subnet in cluster.toml"
                )));
            }
        }
    }
    Ok(())
}

fn is_ours(labels: &Option<HashMap<String, String>>, cluster: &Cluster) -> bool {
    labels.as_ref().and_then(|l| l.get(labels::PROJECT)) == Some(&cluster.project)
}

/// Creates the project's network unless it is already there with the declared subnet.
pub(crate) async fn ensure_network(engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let name = &cluster.network.name;
    let existing = engine
        .networks()
        .await?
        .into_iter()
        .find(|n| n.name.as_deref() == Some(name.as_str()));
    match existing {
        Some(network) => {
            let subnets = network_subnets(&network);
            if !subnets.contains(&cluster.network.subnet.to_string()) {
                bail!(UsageError(format!(
                    "network {name} exists with subnet {} but cluster.toml declares {}; run `cargo xtask down` first",
                    subnets.join(","),
                    cluster.network.subnet
                )));
            }
            Ok(())
        }
        None => {
            let labels = HashMap::from([(labels::PROJECT.to_string(), cluster.project.clone())]);
            engine
                .create_network(name, &cluster.network.subnet.to_string(), labels)
                .await
        }
    }
}
