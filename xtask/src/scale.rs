//! `cargo xtask scale --webapps N` (or `scale api=5 webapps=2`, one or more services):
//! add or remove webapps (highest numbers first, stopped gracefully so Serf sees a leave),
//! wait until HAProxy shows exactly N UP in the service's backend, and time each phase of
//! every new node: container started, member joined, server UP. Services are scaled one
//! after the other, each leaving the others untouched.
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
    /// Services and their webapp counts, e.g. `api=5 webapps=2` (`webapps` is the
    /// default service, `[webapps]`).
    #[arg(value_name = "SERVICE=N")]
    counts: Vec<String>,
    /// The number of webapps of the default service (same as `webapps=N`).
    #[arg(long)]
    webapps: Option<u32>,
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
        let counts = self.counts(cluster)?;
        if let Some((_, webapps)) = counts.iter().find(|(s, _)| s == cluster::DEFAULT_SERVICE) {
            if *webapps > cluster.max_webapps() {
                bail!(UsageError(format!(
                    "--webapps {webapps}: network.subnet {} has room for {} webapps; use fewer or a larger subnet in {}",
                    cluster.network.subnet,
                    cluster.max_webapps(),
                    ctx.config_path.display()
                )));
            }
        }
        let target = deploy::Deploy::of(cluster);
        let several = counts.len() > 1 || counts[0].0 != cluster::DEFAULT_SERVICE;
        for (service, webapps) in counts {
            let view = target.service(ctx, cluster, &service, webapps).await?;
            let request = ScaleRequest {
                webapps,
                timeout: Duration::from_secs(self.timeout),
                tune_host: self.tune_host,
            };
            if several {
                println!("service {service}: scaling to {webapps}");
            }
            let scaled = target.scale(ctx, &view, &request).await?;
            print_timings(&scaled);
        }
        Ok(())
    }

    /// The services to scale and their counts, checked before anything is touched.
    fn counts(&self, cluster: &cluster::Cluster) -> anyhow::Result<Vec<(String, u32)>> {
        let mut counts: Vec<(String, u32)> = Vec::new();
        for arg in &self.counts {
            let parsed = arg
                .split_once('=')
                .and_then(|(service, n)| Some((service.to_string(), n.parse::<u32>().ok()?)));
            let Some((service, n)) = parsed else {
                bail!(UsageError(format!(
                    "{arg:?} is not SERVICE=N; use e.g. `scale api=3 webapps=2`"
                )));
            };
            if cluster.service(&service).is_none() {
                let known: Vec<&str> = cluster.services().iter().map(|s| s.name).collect();
                bail!(UsageError(format!(
                    "{service:?} is not a service of this cluster; use one of {}",
                    known.join(", ")
                )));
            }
            counts.retain(|(s, _)| *s != service);
            counts.push((service, n));
        }
        if let Some(n) = self.webapps {
            counts.retain(|(s, _)| s != cluster::DEFAULT_SERVICE);
            counts.insert(0, (cluster::DEFAULT_SERVICE.to_string(), n));
        }
        if counts.is_empty() {
            bail!(UsageError(
                "nothing to scale; use `scale --webapps N` or `scale SERVICE=N ...`".to_string()
            ));
        }
        Ok(counts)
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
