//! `cargo xtask status`: one row per node, from the engine, Serf (on ha) and HAProxy's stats.
use std::collections::BTreeMap;

use clap::Args;
use cluster::record::{self, Record};
use cluster::Cluster;
use serde::Serialize;

use crate::context::Ctx;
use crate::deploy;
use crate::deploy::one_engine;
use crate::table::{self, Column};
use crate::{haproxy_stats, serf_log, serf_members};

#[derive(Args)]
pub(crate) struct Status {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize, Default)]
struct Row {
    /// The service the node serves (`webapps` is the default one); empty for ha.
    service: String,
    name: String,
    container: String,
    /// The image's HEALTHCHECK as Docker reports it: healthy, unhealthy or starting.
    health: String,
    /// The engine's host, or on a Swarm the node running the task.
    node: String,
    ip: String,
    serf: String,
    haproxy: String,
    requests: Option<u64>,
    /// Times Serf declared the member failed and then saw it alive again.
    flaps: u32,
}

impl Status {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let observed = deploy::Deploy::of(cluster).observe(ctx, cluster).await?;
        let mut rows: BTreeMap<String, Row> = observed
            .members
            .into_iter()
            .map(|m| {
                let row = Row {
                    name: m.name.clone(),
                    container: m.state,
                    health: m.health,
                    node: m.node,
                    ip: m.ip,
                    ..Row::default()
                };
                (m.name, row)
            })
            .collect();
        let ha = observed.ha;
        // ha's Serf view and its log, where its container can be reached.
        if let Ok((engine, ha)) = &ha {
            if let Ok(members) = serf_members::members(engine, ha).await {
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
            if let Ok(log) = serf_log::read(engine, ha).await {
                for (name, flaps) in flaps(&log.text()) {
                    if let Some(entry) = rows.get_mut(&name) {
                        entry.flaps = flaps;
                    }
                }
            }
        }
        if let Ok(servers) = haproxy_stats::fetch_all(cluster).await {
            for server in servers {
                let entry = row(&mut rows, &server.name);
                entry.haproxy = server.status;
                entry.requests = Some(server.total);
            }
        }
        // Webapps that outgrew the host's neighbour table flap; say so once, beside the
        // table (on stderr: the JSON stays clean).
        let running = rows
            .values()
            .filter(|r| r.name != cluster.ha.name && r.container == "running")
            .count();
        let warning = one_engine::overflow_warning(u32::try_from(running).unwrap_or(u32::MAX));
        for row in rows.values_mut() {
            row.service = cluster
                .service_of(&row.name)
                .map(|s| s.name.to_string())
                .unwrap_or_default();
        }
        print(self.json, cluster, rows)?;
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        Ok(())
    }
}

fn print(json: bool, cluster: &Cluster, rows: BTreeMap<String, Row>) -> anyhow::Result<()> {
    let mut rows: Vec<Row> = rows.into_values().collect();
    // ha, then each service's nodes together, in the file's service order.
    let services: Vec<&str> = cluster.services().iter().map(|s| s.name).collect();
    let group = |r: &Row| services.iter().position(|s| *s == r.service);
    rows.sort_by(|a, b| {
        let (a_ha, b_ha) = (a.name == cluster.ha.name, b.name == cluster.ha.name);
        (!a_ha, group(a)).cmp(&(!b_ha, group(b))).then_with(|| {
            cluster::node_order(a_ha, &a.name).cmp(&cluster::node_order(b_ha, &b.name))
        })
    });
    if json {
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
        Column::left("SERVICE", 10),
        Column::left("NODE", 12),
        Column::left("CONTAINER", 20),
        Column::left("RUNS ON", 12),
        Column::left("IP", 16),
        Column::left("SERF", 8),
        Column::left("HAPROXY", 9),
        Column::right("REQUESTS", 8),
        Column::right("FLAPS", 6),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            // Names, addresses and states come from gossip too: never raw to a terminal.
            let dash = |s: &str| cluster::escape_control(&dash(s)).into_owned();
            // Like `docker ps`: "running (healthy)".
            let container = match (r.container.as_str(), r.health.as_str()) {
                (state, "" | "none") => dash(state),
                (state, health) => format!("{state} ({health})"),
            };
            vec![
                dash(&r.service),
                dash(&r.name),
                dash(&container),
                dash(&r.node),
                dash(&r.ip),
                dash(&r.serf),
                dash(&r.haproxy),
                r.requests.map_or("-".to_string(), |n| n.to_string()),
                // Declared failed, then back: the sign of an overflowing ARP table.
                match r.flaps {
                    0 => "-".to_string(),
                    n => format!("{n}!"),
                },
            ]
        })
        .collect();
    print!("{}", table::render(&columns, &cells));
    Ok(())
}

/// The row of `name`; a node Serf or HAProxy knows but the engine does not is "absent".
fn row<'a>(rows: &'a mut BTreeMap<String, Row>, name: &str) -> &'a mut Row {
    rows.entry(name.to_string()).or_insert_with(|| Row {
        name: name.to_string(),
        container: "absent".into(),
        ..Row::default()
    })
}

/// Per member, how often ha's /var/log/serf.log shows it declared failed and then joining
/// again: a flapping member, usually a host whose neighbour table overflows.
fn flaps(log: &str) -> BTreeMap<String, u32> {
    let mut failed: BTreeMap<String, bool> = BTreeMap::new();
    let mut flaps = BTreeMap::new();
    for line in record::parse_log(log).into_iter().flatten() {
        let Record::Event { event, member, .. } = line.record else {
            continue;
        };
        match event.as_str() {
            "member-failed" => {
                failed.insert(member, true);
            }
            "member-join" if failed.insert(member.clone(), false) == Some(true) => {
                *flaps.entry(member).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    flaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_followed_by_a_join() {
        let log = "2026-01-01T00:00:00.000Z member-join s1 backend\n\
                   2026-01-01T00:00:01.000Z member-failed s1 backend\n\
                   2026-01-01T00:00:02.000Z member-join s1 backend\n\
                   2026-01-01T00:00:03.000Z member-failed s1 backend\n\
                   2026-01-01T00:00:04.000Z member-join s1 backend\n\
                   2026-01-01T00:00:05.000Z member-failed s2 backend\n\
                   2026-01-01T00:00:06.000Z reload #3: -s2\n";
        assert_eq!(flaps(log), BTreeMap::from([("s1".to_string(), 2)]));
    }
}
