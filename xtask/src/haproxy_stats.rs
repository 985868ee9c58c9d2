//! HAProxy's stats CSV (`/;csv` on the published stats port): the host's only view of
//! which servers ha is really serving.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use cluster::Cluster;

use base64::Engine as _;

use crate::{http, secrets};

pub(crate) use cluster::ServerStat;

/// The address the host reaches a published port on: on a Swarm, `deploy.address`; on the
/// engine, the bind address, or loopback when it binds every interface.
pub(crate) fn published_host(cluster: &Cluster) -> IpAddr {
    if cluster.deploy.is_swarm() {
        IpAddr::V4(cluster.deploy.address)
    } else if cluster.ha.bind.is_unspecified() {
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
    let authorization = authorization(cluster)?;
    http::get_text(addr, path, authorization.as_deref(), Duration::from_secs(3))
        .await
        .with_context(|| format!("reading HAProxy stats from http://{addr}{path}"))
}

pub(crate) async fn fetch_csv(cluster: &Cluster) -> anyhow::Result<String> {
    fetch_page(cluster, "/;csv").await
}

/// The servers of `cluster`'s backend (`nodes`, or a named service's view's), read once.
pub(crate) async fn fetch(cluster: &Cluster) -> anyhow::Result<Vec<ServerStat>> {
    let csv = fetch_csv(cluster).await?;
    Ok(cluster::parse_backend_stats(&csv, cluster.backend_name()))
}

/// The servers of every service's backend, read once.
pub(crate) async fn fetch_all(cluster: &Cluster) -> anyhow::Result<Vec<ServerStat>> {
    Ok(cluster::parse_all_stats(&fetch_csv(cluster).await?))
}

/// On a Swarm the stats page asks for the project's password (kept with its secrets).
pub(crate) fn authorization(cluster: &Cluster) -> anyhow::Result<Option<String>> {
    if !cluster.deploy.is_swarm() {
        return Ok(None);
    }
    let path = secrets::stats_password_at(&crate::context::project_root(), cluster);
    let password = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the stats password {}", path.display()))?;
    let credentials = format!("{}:{}", cluster::STATS_USER, password.trim());
    Ok(Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )))
}
