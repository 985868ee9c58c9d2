//! The cluster scenario 12b measures beside ha, at the same time: the bench's cluster as
//! a second project (`<project>-twin`, the bench's own name, like `<project>-swarm`) on
//! its own network, addresses and ports, with no default webapps, brought up by `up` from
//! the bench's images (tagged for it) and removed with its tags and state afterwards.
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context as _;
use cluster::Cluster;
use ipnet::Ipv4Net;

use crate::bench::scenario::free_ports_above;
use crate::context::Ctx;
use crate::deploy::one_engine;
use crate::deploy::UpRequest;
use crate::engine::Engine;

/// `cluster` as project `<project>-twin` on `subnet` (ha at the same host number), on
/// the first free ports two or more above ha's, without TLS and default webapps.
pub(crate) fn derive(cluster: &Cluster, subnet: Ipv4Net) -> anyhow::Result<Cluster> {
    let mut twin = cluster.clone();
    twin.project = format!("{}-twin", cluster.project);
    twin.network.name = format!("{}-twin", cluster.network.name);
    twin.network.subnet = subnet;
    twin.ha.name = format!("{}-twin", cluster.ha.name);
    let host = u32::from(cluster.ha.ip) - u32::from(cluster.network.subnet.network());
    twin.ha.ip = Ipv4Addr::from(u32::from(subnet.network()) + host);
    anyhow::ensure!(
        subnet.contains(&twin.ha.ip),
        "ha's address {} is beyond a /24: the twin cluster needs one at host number 255 or below",
        cluster.ha.ip
    );
    (twin.ha.http_port, twin.ha.stats_port) = free_ports_above(cluster, 2)
        .context("no free host ports above ha's for the twin cluster's balancer")?;
    twin.ha.tls = None;
    twin.webapps.count = 0;
    // Checked as a file would be: names, addresses and ports.
    cluster::parse(&twin.to_toml(), "bench twin cluster").map_err(|e| anyhow::anyhow!("{e}"))
}

/// The first /24 after `cluster`'s (up to 32 on) that no network of the engine overlaps.
pub(crate) async fn free_subnet(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Ipv4Net> {
    let taken: Vec<Ipv4Net> = engine
        .networks()
        .await?
        .into_iter()
        .flat_map(|n| n.ipam.and_then(|i| i.config).unwrap_or_default())
        .filter_map(|c| c.subnet?.parse().ok())
        .collect();
    let first = u32::from(cluster.network.subnet.network());
    (1..=32u32)
        .filter_map(|k| {
            let start = first.checked_add(k << 8)?;
            Ipv4Net::new(Ipv4Addr::from(start), 24).ok()
        })
        .find(|candidate| {
            !taken
                .iter()
                .any(|t| t.contains(&candidate.network()) || candidate.contains(&t.network()))
        })
        .context("no free /24 after the bench's subnet for the twin cluster")
}

/// Tags the bench's images for `twin` and runs `up` on it (`twin` carries its services).
pub(crate) async fn start(
    ctx: &Ctx,
    cluster: &Cluster,
    twin: &Cluster,
    timeout: Duration,
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    for image in cluster::PROJECT_IMAGES {
        engine
            .tag_image(
                &cluster.image_tag(image),
                &format!("{}/{image}", twin.project),
                "latest",
            )
            .await?;
    }
    let request = UpRequest {
        timeout,
        rollback: None,
        tune_host: None,
    };
    one_engine::ops::up(ctx, twin, &request)
        .await
        .with_context(|| format!("starting the twin cluster {}", twin.project))
}

/// Removes `twin`'s containers, network, image tags and local state: each step also
/// when one before it failed; the first failure is returned. Cheap when there is none.
pub(crate) async fn remove(ctx: &Ctx, twin: &Cluster) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let labels = [(cluster::labels::PROJECT, twin.project.as_str())];
    let running = !engine.containers_with_labels(&labels).await?.is_empty()
        || engine.networks().await?.iter().any(|n| {
            n.labels
                .as_ref()
                .and_then(|l| l.get(cluster::labels::PROJECT))
                == Some(&twin.project)
        });
    let stack = match running {
        true => one_engine::remove_stack_settled(ctx, twin)
            .await
            .map(|_| ()),
        false => Ok(()),
    };
    let mut tags = Ok(());
    for image in cluster::PROJECT_IMAGES {
        // `up` may have rebuilt the bench's images meanwhile: a twin tag can be the last
        // name of an image the bench's own containers still run.
        let untagged = engine.untag_image(&twin.image_tag(image)).await;
        tags = tags.and(untagged);
    }
    let state = crate::state_dir::project_at(&ctx.root, twin);
    let folder = match std::fs::remove_dir_all(&state) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", state.display()))
        }
        _ => Ok(()),
    };
    stack.and(tags).and(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twin_is_the_bench_cluster_apart_from_it() {
        let lab = cluster::parse("", "x.toml").unwrap();
        let subnet: Ipv4Net = "192.168.43.0/24".parse().unwrap();
        let twin = derive(&lab, subnet).unwrap();
        assert_eq!(twin.project, format!("{}-twin", lab.project));
        assert_eq!(twin.ha.name, format!("{}-twin", lab.ha.name));
        assert_eq!(twin.ha.ip, Ipv4Addr::new(192, 168, 43, 42));
        assert_eq!(twin.network.subnet, subnet);
        assert_ne!(twin.network.name, lab.network.name);
        assert_eq!(
            (twin.ha.http_port, twin.ha.stats_port),
            (lab.ha.http_port + 2, lab.ha.stats_port + 2)
        );
        assert_eq!(twin.webapps.count, 0);
        assert_eq!(
            twin.image_tag("ha"),
            format!("{}-twin/ha:latest", lab.project)
        );
    }
}
