//! `cargo xtask scale --webapps N`: add or remove webapps (highest numbers first, stopped
//! gracefully so Serf sees a leave), wait until HAProxy shows exactly N UP, and time each
//! phase of every new node: container started, member joined, server UP.
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use clap::Args;
use cluster::Cluster;

use crate::context::{Ctx, UsageError};
use crate::engine::Engine;
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
        match cluster.deploy.is_swarm() {
            false => self.on_engine(ctx, cluster, timeout).await,
            true => self.on_swarm(ctx, cluster, timeout).await,
        }
    }

    async fn on_engine(
        &self,
        ctx: &Ctx,
        cluster: &Cluster,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        stack::check_neighbours(self.webapps, self.tune_host)?;
        let engine = ctx.engine().await?;
        let mut timings = Timings::new();
        let mut started = BTreeMap::new();
        for (action, at) in stack::converge(ctx, cluster, self.webapps).await? {
            if let Action::Create(name) | Action::Recreate(name) | Action::Start(name) = action {
                if name != cluster.ha.name {
                    started.insert(name, at - timings.start);
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
        let start = timings.start;
        let (joined, up) = (&mut timings.joined, &mut timings.up);
        tokio::select! {
            waited = stack::wait_for_servers_with(ctx, cluster, &expected, timeout, &bar, |s| note_up(up, start, s)) => { waited?; }
            () = poll_joined(engine, &cluster.ha.name, start, joined) => {}
        }
        bar.finish_and_clear();
        timings.print(started, expected.len());
        Ok(())
    }

    /// On a Swarm only the webapps' replica count changes; Swarm names the new tasks
    /// (by slot), so they are timed from when they run.
    async fn on_swarm(
        &self,
        ctx: &Ctx,
        cluster: &Cluster,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let manager = swarm::manager(ctx).await?;
        let mut timings = Timings::new();
        let begun = SystemTime::now();
        let before = swarm::wanted_webapps(manager, cluster).await?;
        swarm::scale(ctx, cluster, self.webapps).await?;
        let multi = progress::multi();
        let bar = progress::spinner(&multi, "scaling");
        let start = timings.start;
        let (joined, up) = (&mut timings.joined, &mut timings.up);
        // The timings are best effort: ha's node may be out of this host's reach.
        let poll_serf = async {
            match swarm::ha_container_within(ctx, cluster, timeout).await {
                Ok((engine, ha)) => poll_joined(&engine, &ha, start, joined).await,
                Err(_) => std::future::pending().await,
            }
        };
        let wait = swarm::wait_serving(
            ctx,
            cluster,
            manager,
            self.webapps,
            begun,
            timeout,
            &bar,
            |s| note_up(up, start, s),
        );
        let names = tokio::select! {
            names = wait => names?,
            () = poll_serf => unreachable!("polls forever"),
        };
        bar.finish_and_clear();
        let started = swarm::webapps_started(ctx, cluster)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _)| !before.contains(name))
            .map(|(name, at)| (name, at.duration_since(begun).unwrap_or_default()))
            .collect();
        timings.print(started, names.len());
        Ok(())
    }
}

const POLL: Duration = Duration::from_millis(200);

/// When each node joined (Serf on ha) and was first UP (HAProxy), from the command's start.
struct Timings {
    start: Instant,
    joined: BTreeMap<String, Duration>,
    up: BTreeMap<String, Duration>,
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

fn note_up(up: &mut BTreeMap<String, Duration>, start: Instant, servers: &[ServerStat]) {
    for server in servers.iter().filter(|s| s.is_up()) {
        up.entry(server.name.clone()).or_insert(start.elapsed());
    }
}

/// Notes when each member is first alive in ha's Serf; polls until dropped.
async fn poll_joined(
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
