//! `cargo xtask bench [--quick] [--out DIR]`: measures, on the real engine, how fast the
//! cluster reconfigures itself and whether a request fails meanwhile, next to the lab's
//! reload method; writes results.md, results.json and timeline.svg (default `bench/`).
//!
//! It builds the images (timing the builds), starts the project's stack fresh, runs the
//! scenarios one after another under load from [`load`], and removes the stack at the end,
//! also after a failure or Ctrl-C. Last, the same cluster runs on a local Swarm (scenario
//! 9, its own derived project), whose nodes are likewise removed whatever happens.
mod cgroup_cpu;
mod client;
mod closed_loop;
mod cpus;
#[cfg(test)]
mod golden;
mod load;
mod only;
mod plot;
mod report;
mod scenario;
mod settings;
mod stats;
mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use cluster::Cluster;

use crate::context::{Ctx, UsageError};
use crate::deploy::one_engine;
use crate::haproxy_stats;
use crate::interrupt::Interrupt;
use report::Results;
use scenario::swarm::SwarmBench;
use scenario::{
    build, burst, churn, cycles, data_path, idle, join, membership, reloads, rolling, routes,
    services, swarm, Runner,
};
use settings::Settings;
use timeline::Watch;

#[derive(Args)]
pub(crate) struct Bench {
    /// A reduced run for CI (a few minutes): fewer nodes, cycles and reloads, shorter
    /// loads, no cold build.
    #[arg(long)]
    quick: bool,
    /// Where to write results.md, results.json and timeline.svg [default: bench/ in the
    /// workspace; with --quick, target/bench-quick/, so a quick run never overwrites the
    /// committed full results].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// For development: only these scenarios, on a fresh stack; prints their sections
    /// and targets, writes nothing.
    #[arg(long, value_enum, value_delimiter = ',', hide = true)]
    only: Vec<only::Only>,
}

impl Bench {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        // Before anything else: the bench drives the one engine, whatever the file says.
        let cluster = ctx.engine_cluster(
            "bench",
            "its Swarm rows start their own swarm-lab; use a cluster file with deploy.target = \"engine\"",
        )?;
        let settings = Settings::new(self.quick);
        if settings.max_webapps() > cluster.max_webapps() {
            bail!(UsageError(format!(
                "the benchmark runs up to {} webapps but network.subnet {} has room for {}; use a larger subnet in {}",
                settings.max_webapps(),
                cluster.network.subnet,
                cluster.max_webapps(),
                ctx.config_path.display()
            )));
        }
        let out = match &self.out {
            // Relative to where the user ran the command, like --config.
            Some(out) => {
                std::path::absolute(out).with_context(|| format!("resolving {}", out.display()))?
            }
            None if self.quick => ctx.path("target/bench-quick"),
            None => ctx.path("bench"),
        };
        one_engine::check_neighbours(settings.max_webapps(), None)?;
        one_engine::preflight(ctx, cluster, settings.max_webapps()).await?;
        if !self.only.is_empty() {
            return only::run(ctx, cluster, &settings, &self.only).await;
        }
        let swarm = SwarmBench::prepare(ctx, cluster, &settings)?;

        let mut interrupt = Interrupt::listen()?;
        let measured = interrupt
            .guard(measure(ctx, cluster, &settings, &swarm))
            .await;
        // Also after a failure; a second Ctrl-C skips them.
        let swarm_removed = interrupt.guard(swarm.clean_up(ctx)).await;
        if let Err(err) = swarm_removed {
            eprintln!(
                "warning: the swarm lab of project {} may be left running ({err:#}); `cargo xtask --config {} swarm-lab down` removes it",
                swarm.cluster.project,
                swarm.config.display()
            );
        }
        let removed = interrupt
            .guard(remove_stack_after(ctx, cluster, measured.is_ok()))
            .await;
        if let Err(err) = removed {
            eprintln!(
                "warning: the stack of project {} is left running ({err:#}); `cargo xtask down` removes it",
                cluster.project
            );
        }
        let results = measured.context("benchmark failed; no results written")?;
        write(&out, &results)?;
        print_targets(&results);
        println!(
            "bench: results in {} ({:.0} s)",
            out.display(),
            results.duration_s
        );
        Ok(())
    }
}

/// The bench's stack removed at the end of a run. After a failure or an interrupt,
/// dropped work may still land a container: remove until none does, and what scenario 12b
/// may have left of its twin cluster too.
async fn remove_stack_after(
    ctx: &Ctx,
    cluster: &Cluster,
    succeeded: bool,
) -> anyhow::Result<Vec<String>> {
    match succeeded {
        true => one_engine::remove_stack(ctx, cluster).await,
        false => {
            let removed = one_engine::remove_stack_settled(ctx, cluster).await;
            routes::clean_up_twin(ctx, cluster).await;
            removed
        }
    }
}

async fn measure(
    ctx: &Ctx,
    cluster: &Cluster,
    settings: &Settings,
    swarm_bench: &SwarmBench,
) -> anyhow::Result<Results> {
    let started = Instant::now();
    let started_at = cluster::time::rfc3339(std::time::SystemTime::now());
    let removed = one_engine::remove_containers(ctx, cluster).await?;
    if !removed.is_empty() {
        println!(
            "bench: removed the {} containers of project {} to start fresh",
            removed.len(),
            cluster.project
        );
    }
    // First, while no stack runs: it also leaves the images the stack is made from.
    let build = build::run(ctx, settings.cold_build)
        .await
        .context("scenario 6 (build and size)")?;
    let runner = Runner::new(ctx, cluster, settings, Instant::now());
    let watch = Watch::start(
        cluster,
        runner.epoch,
        Duration::from_millis(250),
        runner.quiet.clone(),
    );
    let scenarios = async {
        let low = settings.join_from;
        runner
            .phase("start", async {
                runner.scale(cluster, low).await.map(|_| ())
            })
            .await?;
        let join = runner.phase("1 join", join::run(&runner)).await?;
        let churn = runner.phase("2 leave, crash", churn::run(&runner)).await?;
        let cycles = cycles::run(&runner).await?;
        let burst = runner.phase("5 burst", burst::run(&runner)).await?;
        let idle = runner.phase("10 idle cost", idle::run(&runner)).await?;
        let data_path = runner
            .phase("11 data-path cost", data_path::run(&runner))
            .await?;
        let rolling = runner
            .phase("7 rolling update", rolling::run(&runner))
            .await?;
        let services = runner
            .phase("12 several services", services::run(&runner))
            .await?;
        let routes = runner
            .phase("12b route-table scale", routes::run(&runner))
            .await?;
        let membership = membership::run(&runner).await?;
        // Last: it recreates ha with the lab's reload method.
        let reloads = reloads::run(&runner).await?;
        anyhow::Ok((
            join, churn, cycles, burst, idle, data_path, rolling, services, routes, membership,
            reloads,
        ))
    }
    .await;
    let up = watch.stop().await?;
    let (
        join,
        churn,
        cycles,
        burst,
        idle,
        data_path,
        rolling,
        services,
        routes,
        membership,
        reloads,
    ) = scenarios?;
    let (requests, phases) = runner.into_record();
    // The engine's part is done: its stack goes now, so the Swarm's engines have the
    // cores to themselves (and the end of the run finds nothing left to remove).
    one_engine::remove_stack(ctx, cluster).await?;
    println!("bench: 9 Swarm ({} nodes)", settings.swarm_nodes);
    let swarm = swarm::run(ctx, swarm_bench, settings)
        .await
        .context("scenario 9 (Swarm)")?;
    let mut results = Results {
        schema: report::SCHEMA,
        mode: if settings.quick { "quick" } else { "full" },
        started_at,
        duration_s: stats::round(started.elapsed().as_secs_f64(), 1),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        project: cluster.project.clone(),
        target: haproxy_stats::lb_url(cluster),
        settings: settings.clone(),
        join,
        leave_crash: churn,
        scale_cycles: cycles,
        reloads,
        burst,
        rolling,
        membership,
        build,
        swarm,
        idle,
        data_path,
        services,
        routes,
        targets: Vec::new(),
        timeline: timeline::bucket(&up, &requests, phases),
    };
    results.targets = report::targets(&results);
    Ok(results)
}

fn write(out: &Path, results: &Results) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = report::json(results).context("serializing the results")?;
    let files = [
        ("results.json", json),
        ("results.md", report::markdown(results)),
        ("timeline.svg", plot::svg(&results.timeline)),
    ];
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_targets(results: &Results) {
    print_target_rows(&results.targets);
}

fn print_target_rows(targets: &[report::Target]) {
    println!("\n{:<52} {:<30} {:<26} met", "target", "goal", "measured");
    for t in targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "cannot tell",
        };
        println!("{:<52} {:<30} {:<26} {met}", t.name, t.goal, t.measured);
    }
}
