//! `cargo xtask status`: one row per node, from the engine, Serf (on ha) and HAProxy's stats.
use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use crate::context::Ctx;
use crate::table::{self, Column};
use crate::{haproxy_stats, serf_members, stack};

#[derive(Args)]
pub(crate) struct Status {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Default)]
struct Row {
    name: String,
    container: String,
    /// The image's HEALTHCHECK as Docker reports it: healthy, unhealthy or starting.
    health: String,
    ip: String,
    serf: String,
    haproxy: String,
    requests: Option<u64>,
}

impl Status {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let engine = ctx.engine().await?;
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        for observed in stack::observe(engine, cluster).await? {
            let info = engine.inspect_container(&observed.name).await?;
            let state = info
                .as_ref()
                .and_then(|i| i.state.as_ref())
                .and_then(|s| s.status)
                .map(|s| s.to_string());
            let health = info
                .as_ref()
                .and_then(|i| i.state.as_ref())
                .and_then(|s| s.health.as_ref())
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .unwrap_or_default();
            let ip = info
                .as_ref()
                .and_then(|i| i.network_settings.as_ref())
                .and_then(|n| n.networks.as_ref())
                .and_then(|n| n.get(&cluster.network.name))
                .and_then(|e| e.ip_address.clone())
                .unwrap_or_default();
            rows.insert(
                observed.name.clone(),
                Row {
                    name: observed.name,
                    container: state.unwrap_or_default(),
                    health,
                    ip,
                    ..Row::default()
                },
            );
        }
        if let Ok(members) = serf_members::members(engine, &cluster.ha.name).await {
            for member in members {
                let entry = row(&mut rows, &member.name);
                entry.serf = member.status;
                if entry.ip.is_empty() {
                    entry.ip = member
                        .addr
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
            }
        }
        if let Ok(servers) = haproxy_stats::fetch(cluster).await {
            for server in servers {
                let entry = row(&mut rows, &server.name);
                entry.haproxy = server.status;
                entry.requests = Some(server.total);
            }
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            cluster::node_order(a.name == cluster.ha.name, &a.name)
                .cmp(&cluster::node_order(b.name == cluster.ha.name, &b.name))
        });
        if self.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let columns = [
            Column::left("NODE", 12),
            Column::left("CONTAINER", 20),
            Column::left("IP", 16),
            Column::left("SERF", 8),
            Column::left("HAPROXY", 9),
            Column::right("REQUESTS", 8),
        ];
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                // Like `docker ps`: "running (healthy)".
                let container = match (r.container.as_str(), r.health.as_str()) {
                    (state, "" | "none") => dash(state),
                    (state, health) => format!("{state} ({health})"),
                };
                vec![
                    r.name.clone(),
                    container,
                    dash(&r.ip),
                    dash(&r.serf),
                    dash(&r.haproxy),
                    r.requests.map_or("-".to_string(), |n| n.to_string()),
                ]
            })
            .collect();
        print!("{}", table::render(&columns, &cells));
        Ok(())
    }
}

/// The row of `name`; a node Serf or HAProxy knows but the engine does not is "absent".
fn row<'a>(rows: &'a mut BTreeMap<String, Row>, name: &str) -> &'a mut Row {
    rows.entry(name.to_string()).or_insert_with(|| Row {
        name: name.to_string(),
        container: "absent".into(),
        ..Row::default()
    })
}
