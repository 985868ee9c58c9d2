//! HAProxy's stats CSV (`/;csv` on the published stats port): the host's only view of
//! which servers ha is really serving.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use cluster::Cluster;

use crate::http;

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

/// Reads the stats page once: `path` `/` is the HTML page, `/;csv` the CSV.
pub(crate) async fn fetch_page(cluster: &Cluster, path: &str) -> anyhow::Result<String> {
    let addr = SocketAddr::new(published_host(cluster), cluster.ha.stats_port);
    http::get_text(addr, path, Duration::from_secs(3))
        .await
        .with_context(|| format!("reading HAProxy stats from http://{addr}{path}"))
}

pub(crate) async fn fetch_csv(cluster: &Cluster) -> anyhow::Result<String> {
    fetch_page(cluster, "/;csv").await
}

/// The `nodes` servers, read once.
pub(crate) async fn fetch(cluster: &Cluster) -> anyhow::Result<Vec<ServerStat>> {
    Ok(cluster::parse_stats_csv(&fetch_csv(cluster).await?))
}
