//! `cargo xtask scale --webapps N`: add or remove webapps (highest numbers first, stopped
//! gracefully so Serf sees a leave), wait until HAProxy shows exactly N UP, and time each
//! phase of every new node: container started, member joined, server UP.
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::context::{Ctx, UsageError};
use crate::deploy::neighbours::TuneHost;
use crate::deploy::{self, ScaleRequest, Scaled};
use crate::table::{self, Column};

#[derive(Args)]
pub(crate) struct Scale {
    /// The number of webapps to run.
    #[arg(long)]
    webapps: u32,
    /// How long to wait for HAProxy to show exactly that many servers UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Raise the host's neighbour-table thresholds (sysctl, needs root) when the cluster
    /// needs more entries than they allow: for this boot, or `=persist` also in
    /// /etc/sysctl.d/ (after a reboot the restart policy brings every webapp back).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "boot", require_equals = true)]
    tune_host: Option<TuneHost>,
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
        let scaled = deploy::Deploy::of(cluster)
            .scale(ctx, cluster, &request)
            .await?;
        print_timings(&scaled);
        Ok(())
    }
}

/// One row per new node (`scaled.started`), then the total since the target connected.
fn print_timings(scaled: &Scaled) {
    let timings = &scaled.timings;
    let phases: BTreeMap<String, Phases> = scaled
        .started
        .iter()
        .map(|(name, at)| {
            let phases = Phases {
                started: Some(*at),
                joined: timings.joined.get(name).copied(),
                up: timings.up.get(name).copied(),
            };
            (name.clone(), phases)
        })
        .collect();
    print_phases(&phases);
    println!(
        "{} webapps UP in {:.1}s",
        scaled.serving,
        timings.start.elapsed().as_secs_f64()
    );
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
