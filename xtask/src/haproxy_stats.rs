//! HAProxy's stats CSV (`/;csv` on the published stats port): the host's only view of
//! which servers ha is really serving.
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::Context as _;
use cluster::Cluster;

pub(crate) use cluster::ServerStat;

/// The address the host reaches a published port on: the bind address, or loopback when
/// it binds every interface.
pub(crate) fn published_host(cluster: &Cluster) -> IpAddr {
    if cluster.ha.bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        cluster.ha.bind
    }
}

pub(crate) fn stats_url(cluster: &Cluster) -> String {
    format!(
        "http://{}:{}/",
        published_host(cluster),
        cluster.ha.stats_port
    )
}

pub(crate) fn lb_url(cluster: &Cluster) -> String {
    format!(
        "http://{}:{}/",
        published_host(cluster),
        cluster.ha.http_port
    )
}

/// Reads the stats CSV once.
pub(crate) fn fetch_csv(cluster: &Cluster) -> anyhow::Result<String> {
    let url = format!("{};csv", stats_url(cluster));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .build()
        .into();
    agent
        .get(&url)
        .call()
        .and_then(|mut response| response.body_mut().read_to_string())
        .with_context(|| format!("reading HAProxy stats from {url}"))
}

/// The `nodes` servers, read on a blocking thread (the HTTP client blocks) so the async
/// runtime's workers stay free.
pub(crate) async fn fetch(cluster: &Cluster) -> anyhow::Result<Vec<ServerStat>> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || {
        fetch_csv(&cluster).map(|csv| cluster::parse_stats_csv(&csv))
    })
    .await
    .context("the stats reader panicked")?
}
