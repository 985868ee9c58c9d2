//! `cargo xtask scale --webapps N`: add or remove webapps (highest numbers first, stopped
//! gracefully so Serf sees a leave), wait until HAProxy shows exactly N UP, and time each
//! phase of every new node: container started, member joined, server UP.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::context::{Ctx, UsageError};
use crate::stack::{self, Action};
use crate::{haproxy_stats, progress, serf_members};

#[derive(Args)]
pub(crate) struct Scale {
    /// The number of webapps to run.
    #[arg(long)]
    webapps: u32,
    /// How long to wait for HAProxy to show exactly that many servers UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
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
        let deadline = start + Duration::from_secs(self.timeout);
        // Poll Serf and HAProxy together so each phase is timed when it happens.
        loop {
            if let Ok(members) = serf_members::members(engine, &cluster.ha.name).await {
                for member in members.iter().filter(|m| m.status == "alive") {
                    if let Some(p) = phases.get_mut(&member.name) {
                        p.joined.get_or_insert(start.elapsed());
                    }
                }
            }
            let servers = haproxy_stats::fetch(cluster).unwrap_or_default();
            for server in servers.iter().filter(|s| s.is_up()) {
                if let Some(p) = phases.get_mut(&server.name) {
                    p.up.get_or_insert(start.elapsed());
                }
            }
            let up: Vec<&str> = servers
                .iter()
                .filter(|s| s.is_up())
                .map(|s| s.name.as_str())
                .collect();
            bar.set_message(format!("HAProxy: {}/{} UP", up.len(), expected.len()));
            let exact = servers.len() == expected.len()
                && expected.iter().all(|e| up.contains(&e.as_str()));
            if exact && phases.values().all(|p| p.up.is_some()) {
                break;
            }
            if Instant::now() > deadline {
                bar.finish_and_clear();
                // Reuse the wait's diagnostics: names the missing servers and shows their logs.
                stack::wait_for_servers(ctx, cluster, &expected, Duration::from_secs(1), &bar)
                    .await?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
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
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "node", "started", "joined", "UP"
    );
    let mut names: Vec<&String> = phases.keys().collect();
    names.sort_by_key(|n| cluster::natural_key(n));
    for name in names {
        let p = &phases[name];
        println!(
            "{name:<10} {:>10} {:>10} {:>10}",
            secs(p.started),
            secs(p.joined),
            secs(p.up)
        );
    }
}
