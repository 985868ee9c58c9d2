//! `cargo xtask scale --webapps N`: add or remove webapps (highest numbers first, stopped
//! gracefully so Serf sees a leave), wait until HAProxy shows exactly N UP, and time each
//! phase of every new node: container started, member joined, server UP.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::context::{Ctx, UsageError};
use crate::engine::Engine;
use crate::haproxy_stats::ServerStat;
use crate::serf_members;
use crate::table::{self, Column};
use crate::target::{self, ScaleRequest};

#[derive(Args)]
pub(crate) struct Scale {
    /// The number of webapps to run.
    #[arg(long)]
    webapps: u32,
    /// How long to wait for HAProxy to show exactly that many servers UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Raise the host's neighbour-table thresholds (sysctl, needs root) when the cluster
    /// needs more entries than they allow.
    #[arg(long)]
    tune_host: bool,
}

struct Phases {
    started: Option<Duration>,
    joined: Option<Duration>,
    up: Option<Duration>,
}

impl Scale {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        if self.webapps > cluster.max_webapps() {
            bail!(UsageError(format!(
                "--webapps {}: network.subnet {} has room for {} webapps; use fewer or a larger subnet in {}",
                self.webapps,
                cluster.network.subnet,
                cluster.max_webapps(),
                ctx.config_path.display()
            )));
        }
        let request = ScaleRequest {
            webapps: self.webapps,
            timeout: Duration::from_secs(self.timeout),
            tune_host: self.tune_host,
        };
        let mut timings = Timings::new();
        let scaled = target::of(cluster)
            .scale(ctx, cluster, &request, &mut timings)
            .await?;
        timings.print(scaled.started, scaled.serving);
        Ok(())
    }
}

const POLL: Duration = Duration::from_millis(200);

/// When each node joined (Serf on ha) and was first UP (HAProxy), from the command's start.
pub(crate) struct Timings {
    pub(crate) start: Instant,
    pub(crate) joined: BTreeMap<String, Duration>,
    pub(crate) up: BTreeMap<String, Duration>,
}

impl Timings {
    fn new() -> Timings {
        Timings {
            start: Instant::now(),
            joined: BTreeMap::new(),
            up: BTreeMap::new(),
        }
    }

    /// One row per node in `started` (the new ones), then the total.
    fn print(&self, started: BTreeMap<String, Duration>, serving: usize) {
        let phases: BTreeMap<String, Phases> = started
            .into_iter()
            .map(|(name, at)| {
                let phases = Phases {
                    started: Some(at),
                    joined: self.joined.get(&name).copied(),
                    up: self.up.get(&name).copied(),
                };
                (name, phases)
            })
            .collect();
        print_phases(&phases);
        println!(
            "{serving} webapps UP in {:.1}s",
            self.start.elapsed().as_secs_f64()
        );
    }
}

pub(crate) fn note_up(up: &mut BTreeMap<String, Duration>, start: Instant, servers: &[ServerStat]) {
    for server in servers.iter().filter(|s| s.is_up()) {
        up.entry(server.name.clone()).or_insert(start.elapsed());
    }
}

/// Notes when each member is first alive in ha's Serf; polls until dropped.
pub(crate) async fn poll_joined(
    engine: &Engine,
    ha: &str,
    start: Instant,
    joined: &mut BTreeMap<String, Duration>,
) {
    loop {
        if let Ok(members) = serf_members::members(engine, ha).await {
            for member in members.iter().filter(|m| m.status == "alive") {
                joined.entry(member.name.clone()).or_insert(start.elapsed());
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_phases(phases: &BTreeMap<String, Phases>) {
    if phases.is_empty() {
        return;
    }
    let secs =
        |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
    let mut names: Vec<&String> = phases.keys().collect();
    names.sort_by_key(|n| cluster::natural_key(n));
    let rows: Vec<Vec<String>> = names
        .into_iter()
        .map(|name| {
            let p = &phases[name];
            vec![name.clone(), secs(p.started), secs(p.joined), secs(p.up)]
        })
        .collect();
    let columns = [
        Column::left("node", 10),
        Column::right("started", 10),
        Column::right("joined", 10),
        Column::right("UP", 10),
    ];
    print!("{}", table::render(&columns, &rows));
}
