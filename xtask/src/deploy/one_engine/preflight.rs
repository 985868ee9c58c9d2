//! Before creating anything: names, ports and subnet must not belong to someone else.
//! Each failure is one line that names the other owner and the fix; nothing is touched.
use std::collections::HashMap;
use std::net::TcpListener;

use anyhow::bail;
use cluster::{labels, Cluster, Node};
use ipnet::Ipv4Net;

use crate::context::UsageError;
use crate::engine::{network_subnets, Engine, NetworkDriver};

/// `file` names the cluster file in messages.
pub(crate) async fn check(
    engine: &Engine,
    cluster: &Cluster,
    nodes: &[Node],
    file: &str,
) -> anyhow::Result<()> {
    // Every node gets the gossip key (ha the TLS key too).
    engine.ensure_private_transport()?;
    // An app image's webapps need their sidecars' names too.
    if cluster.has_sidecar() {
        for node in nodes.iter().filter(|n| n.role == cluster::Role::Backend) {
            super::app::sidecar_exists(engine, cluster, &node.name).await?;
        }
    }
    // Host ports the project's running ha already publishes are ours, not a conflict.
    let mut published_by_ha: Vec<u16> = Vec::new();
    for node in nodes {
        let Some(info) = engine.inspect_container(&node.name).await? else {
            continue;
        };
        // Only a container we created carries the node label: image labels (project, role)
        // are inherited by any container made from our images, so they prove nothing.
        let labels = info
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let ours = labels.get(labels::PROJECT) == Some(&cluster.project)
            && labels.get(labels::NODE) == Some(&node.name);
        if !ours {
            let owner = match (labels.get(labels::PROJECT), labels.get(labels::NODE)) {
                (Some(project), Some(_)) => format!("belongs to project {project}"),
                _ => "not created by this toolkit".to_string(),
            };
            bail!(UsageError(format!(
                "container name {} is taken by another container ({owner}); remove it, or choose other names in {file} (ha.name, webapps.prefix)",
                node.name
            )));
        }
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if node.name == cluster.ha.name && running {
            let bindings = info
                .host_config
                .and_then(|h| h.port_bindings)
                .unwrap_or_default();
            published_by_ha = bindings
                .into_values()
                .flatten()
                .flatten()
                .filter(|b| b.host_ip.as_deref() == Some(cluster.ha.bind.to_string().as_str()))
                .filter_map(|b| b.host_port?.parse().ok())
                .collect();
        }
    }
    // A named service's view has no ha: the default service's pass checked its ports.
    if cluster.view.is_none() {
        check_ports(engine, cluster, &published_by_ha, file).await?;
        check_addresses(engine, cluster, nodes, file).await?;
    }
    check_subnet(engine, cluster, file).await
}

/// The default service's addresses are fixed (`s<n>` the n-th of the subnet, an app
/// image's sidecars from the top): one a named service's container holds (they take free
/// addresses from the top) is refused before anything is touched.
async fn check_addresses(
    engine: &Engine,
    cluster: &Cluster,
    nodes: &[Node],
    file: &str,
) -> anyhow::Result<()> {
    let placed = super::services::addresses(engine, cluster).await?;
    for node in nodes.iter().filter(|n| n.role == cluster::Role::Backend) {
        let sidecar = cluster
            .sidecar_ip(&node.name)
            .filter(|_| cluster.has_sidecar())
            .map(|ip| (Cluster::sidecar_name(&node.name), ip));
        for (name, ip) in std::iter::once((node.name.clone(), node.ip)).chain(sidecar) {
            let holder = placed
                .iter()
                .find(|(other, (_, held))| **other != name && *held == ip);
            if let Some((other, (service, _))) = holder {
                bail!(UsageError(format!(
                    "{name}'s address {ip} is held by {other} (service {service}); lower webapps.count in {file}, use a larger network.subnet, or `down` and `up` to place the services anew"
                )));
            }
        }
    }
    Ok(())
}

async fn check_ports(
    engine: &Engine,
    cluster: &Cluster,
    ours: &[u16],
    file: &str,
) -> anyhow::Result<()> {
    let https = cluster
        .ha
        .tls
        .as_ref()
        .map(|_| ("ha.https_port", cluster.ha.https_port));
    for (key, port) in [
        ("ha.http_port", cluster.ha.http_port),
        ("ha.stats_port", cluster.ha.stats_port),
    ]
    .into_iter()
    .chain(https)
    {
        // An engine behind DOCKER_HOST (e.g. a nested engine) publishes on its own host,
        // whose ports this host cannot probe: that engine refuses a taken port itself.
        if ours.contains(&port) || std::env::var_os("DOCKER_HOST").is_some() {
            continue;
        }
        // Only "in use" means taken: binding a low port as a non-root user fails
        // otherwise, while dockerd (root) can still publish it.
        match TcpListener::bind((cluster.ha.bind, port)) {
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {}
            _ => continue,
        }
        let holder = port_holder(engine, port).await?;
        bail!(UsageError(format!(
            "port {port} on {} ({key}) is already in use by {holder}; stop it or choose another {key} in {file}",
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

async fn check_subnet(engine: &Engine, cluster: &Cluster, file: &str) -> anyhow::Result<()> {
    let ours = cluster.network.subnet;
    for network in engine.networks().await? {
        let name = network.name.clone().unwrap_or_default();
        if is_ours(&network.labels, cluster) && name == cluster.network.name {
            continue;
        }
        if name == cluster.network.name {
            bail!(UsageError(format!(
                "network {name} already exists and was not created for project {}; remove it or set another network.name in {file}",
                cluster.project
            )));
        }
        for subnet in network_subnets(&network) {
            let Ok(theirs) = subnet.parse::<Ipv4Net>() else {
                continue;
            };
            if theirs.contains(&ours.network()) || ours.contains(&theirs.network()) {
                bail!(UsageError(format!(
                    "network.subnet {ours} overlaps network {name} ({theirs}); choose another network.subnet in {file}"
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
    crate::deploy::network::ensure_network_of(engine, cluster, NetworkDriver::Bridge).await
}
