//! `cargo xtask scale --webapps N`: add or remove webapps (highest numbers first, stopped
//! gracefully so Serf sees a leave), wait until HAProxy shows exactly N UP, and time each
//! phase of every new node: container started, member joined, server UP.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::context::{Ctx, UsageError};
use crate::haproxy_stats::ServerStat;
use crate::stack::{self, Action};
use crate::table::{self, Column};
use crate::{progress, serf_members, swarm};

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

#[derive(Default)]
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
        let timeout = Duration::from_secs(self.timeout);
        if cluster.deploy.is_swarm() {
            return swarm::commands::scale(ctx, cluster, self.webapps, timeout).await;
        }
        stack::check_neighbours(self.webapps, self.tune_host)?;
        let engine = ctx.engine().await?;
        let start = Instant::now();
        let mut phases: BTreeMap<String, Phases> = BTreeMap::new();
        for (action, at) in stack::converge(ctx, cluster, self.webapps).await? {
            if let Action::Create(name) | Action::Recreate(name) | Action::Start(name) = action {
                if name != cluster.ha.name {
                    phases.entry(name).or_default().started = Some(at - start);
                }
            }
        }
        let expected: Vec<String> = cluster
            .webapp_nodes(self.webapps)
            .into_iter()
            .map(|n| n.name)
            .collect();
        let multi = progress::multi();
        let bar = progress::spinner(&multi, "scaling");
        // Serf is polled beside HAProxy so each phase is timed when it happens.
        let mut joined: BTreeMap<String, Duration> = BTreeMap::new();
        let poll_serf = async {
            loop {
                if let Ok(members) = serf_members::members(engine, &cluster.ha.name).await {
                    for member in members.iter().filter(|m| m.status == "alive") {
                        joined.entry(member.name.clone()).or_insert(start.elapsed());
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let mut up: BTreeMap<String, Duration> = BTreeMap::new();
        let record_up = |servers: &[ServerStat]| {
            for server in servers.iter().filter(|s| s.is_up()) {
                up.entry(server.name.clone()).or_insert(start.elapsed());
            }
        };
        tokio::select! {
            waited = stack::wait_for_servers_with(ctx, cluster, &expected, timeout, &bar, record_up) => { waited?; }
            () = poll_serf => {}
        }
        for (name, p) in phases.iter_mut() {
            p.joined = joined.get(name).copied();
            p.up = up.get(name).copied();
        }
        bar.finish_and_clear();
        print_phases(&phases);
        println!(
            "{} webapps UP in {:.1}s",
            expected.len(),
            start.elapsed().as_secs_f64()
        );
        Ok(())
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
