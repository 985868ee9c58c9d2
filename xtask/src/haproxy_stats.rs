//! HAProxy's stats CSV (`/;csv` on the published stats port): the host's only view of
//! which servers ha is really serving.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use cluster::Cluster;

use crate::http;

/// One server of the `nodes` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerStat {
    pub(crate) name: String,
    /// `UP`, `DOWN`, `MAINT`, `no check`, ... as HAProxy reports it.
    pub(crate) status: String,
    /// Requests (sessions) the server has handled since the last reload.
    pub(crate) total: u64,
}

impl ServerStat {
    pub(crate) fn is_up(&self) -> bool {
        self.status == "UP"
    }
}

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
    Ok(parse_csv(&fetch_csv(cluster).await?))
}

/// The servers of backend `nodes`, from the CSV HAProxy serves (header `# pxname,svname,...`).
pub(crate) fn parse_csv(csv: &str) -> Vec<ServerStat> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let column = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(status), Some(total)) = (
        column("pxname"),
        column("svname"),
        column("status"),
        column("stot"),
    ) else {
        return Vec::new();
    };
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|fields| fields.len() > total.max(status))
        .filter(|fields| {
            fields[px] == "nodes" && fields[sv] != "FRONTEND" && fields[sv] != "BACKEND"
        })
        .map(|fields| ServerStat {
            name: fields[sv].to_string(),
            status: fields[status].to_string(),
            total: fields[total].parse().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n\
stats,FRONTEND,,,1,1,4096,3,0,0,0,0,0,,,,,OPEN,\n\
nodes,s1,0,0,0,1,,12,0,0,,0,,0,0,0,0,UP,1\n\
nodes,s2,0,0,0,1,,7,0,0,,0,,0,0,0,0,DOWN,1\n\
nodes,BACKEND,0,0,0,1,410,19,0,0,0,0,,0,0,0,0,UP,2\n";

    #[test]
    fn reads_the_servers_of_backend_nodes() {
        let servers = parse_csv(CSV);
        assert_eq!(
            servers,
            [
                ServerStat {
                    name: "s1".into(),
                    status: "UP".into(),
                    total: 12
                },
                ServerStat {
                    name: "s2".into(),
                    status: "DOWN".into(),
                    total: 7
                },
            ]
        );
        assert!(servers[0].is_up() && !servers[1].is_up());
    }

    #[test]
    fn garbage_gives_no_servers() {
        assert!(parse_csv("").is_empty());
        assert!(parse_csv("<html>503</html>").is_empty());
    }
}
