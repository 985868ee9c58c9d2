//! `bench --only SCENARIO,...` (hidden, for development): the named scenarios alone on a
//! fresh stack, their sections and targets printed; no build timing, no Swarm, no file
//! written, the stack removed at the end as after a full run.
use std::time::Instant;

use anyhow::Context as _;
use clap::ValueEnum;
use cluster::Cluster;

use super::report::Target;
use super::scenario::{data_path, idle, membership, routes, services, Runner};
use super::settings::Settings;
use crate::build;
use crate::context::Ctx;
use crate::deploy::one_engine;
use crate::interrupt::Interrupt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Only {
    Idle,
    DataPath,
    Membership,
    /// Several services (scenario 12).
    Services,
    /// Route-table scale (scenario 12b).
    Routes,
}

pub(crate) async fn run(
    ctx: &Ctx,
    cluster: &Cluster,
    settings: &Settings,
    only: &[Only],
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut interrupt = Interrupt::listen()?;
    let measured = interrupt.guard(measure(ctx, cluster, settings, only)).await;
    let removal = super::remove_stack_after(ctx, cluster, measured.is_ok());
    if let Err(err) = interrupt.guard(removal).await {
        eprintln!(
            "warning: the stack of project {} is left running ({err:#}); `cargo xtask down` removes it",
            cluster.project
        );
    }
    let (md, targets) = measured.context("benchmark failed")?;
    print!("{md}");
    super::print_target_rows(&targets);
    println!("bench: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn measure(
    ctx: &Ctx,
    cluster: &Cluster,
    settings: &Settings,
    only: &[Only],
) -> anyhow::Result<(String, Vec<Target>)> {
    one_engine::remove_containers(ctx, cluster).await?;
    build::ensure_images(ctx).await?;
    let runner = Runner::new(ctx, cluster, settings, Instant::now());
    runner
        .phase("start", async {
            runner.scale(cluster, settings.join_from).await.map(|_| ())
        })
        .await?;
    let (mut md, mut targets) = (String::new(), Vec::new());
    for scenario in only {
        match scenario {
            Only::Idle => {
                let result = runner.phase("10 idle cost", idle::run(&runner)).await?;
                idle::section(&mut md, &result, settings.idle_settle);
                targets.extend(idle::targets(&result));
            }
            Only::DataPath => {
                let result = runner
                    .phase("11 data-path cost", data_path::run(&runner))
                    .await?;
                data_path::section(&mut md, &result);
                targets.extend(data_path::targets(&result));
            }
            Only::Membership => {
                let result = membership::run(&runner).await?;
                membership::section(&mut md, &result, settings);
                targets.extend(membership::targets(&result));
            }
            Only::Services => {
                let result = runner
                    .phase("12 several services", services::run(&runner))
                    .await?;
                let mut section = String::new();
                services::section(&mut section, &result);
                md.push_str(&section);
                targets.extend(services::targets(&result));
            }
            Only::Routes => {
                let result = runner
                    .phase("route-table scale", routes::run(&runner))
                    .await?;
                routes::section(&mut md, &result);
                targets.extend(routes::targets(&result));
            }
        }
    }
    Ok((md, targets))
}
