//! `cargo xtask collect-logs TASK`: replays a lab task on a fresh stack and writes its
//! evidence, with the lab's file names, to `logs/<task>/`, replaced only when the run
//! succeeded.
mod capture;
mod docker_ps;
mod interrupt;
mod output;
mod readme;
mod run;
mod scenario;
mod screenshot;

mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::builder::PossibleValuesParser;
use clap::Args;
use cluster::Cluster;

use crate::context::Ctx;
use crate::{build, stack};
use interrupt::Interrupt;
use scenario::Task;

#[derive(Args)]
pub(crate) struct CollectLogs {
    /// The lab task to replay (LAB.md), or all of them in turn.
    #[arg(value_parser = PossibleValuesParser::new(Task::ARG_VALUES))]
    task: String,
    /// The folder to write: the task's own (default logs/<task>); with `all`, the folder
    /// that gets one sub-folder per task (default logs).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Leave the stack running afterwards, to look at it.
    #[arg(long)]
    keep: bool,
    /// Seconds to wait after each step for HAProxy to serve exactly the expected servers.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
}

impl CollectLogs {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let tasks = Task::select(&self.task).context("TASK was checked by the argument parser")?;
        let targets: Vec<(Task, PathBuf)> = tasks
            .iter()
            .map(|task| (*task, self.target(ctx, *task, tasks.len() > 1)))
            .collect();
        // Refuse before any work: a folder that is not earlier evidence is never replaced.
        for (_, target) in &targets {
            output::check_replaceable(target)?;
        }
        let most = tasks.iter().map(|t| t.max_webapps()).max().unwrap_or(0);
        stack::preflight(ctx, cluster, most).await?;
        build::ensure_images(ctx).await?;
        let mut interrupt = Interrupt::listen()?;
        for (task, target) in targets {
            self.collect(ctx, cluster, task, &target, &mut interrupt)
                .await?;
        }
        Ok(())
    }

    fn target(&self, ctx: &Ctx, task: Task, several: bool) -> PathBuf {
        match (&self.out, several) {
            (Some(out), false) => out.clone(),
            (Some(out), true) => out.join(task.name()),
            (None, _) => ctx.path("logs").join(task.name()),
        }
    }

    async fn collect(
        &self,
        ctx: &Ctx,
        cluster: &Cluster,
        task: Task,
        target: &Path,
        interrupt: &mut Interrupt,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        let staging = output::Staging::create(target)?;
        let timeout = Duration::from_secs(self.timeout);
        let result = tokio::select! {
            result = run::task(ctx, cluster, task, staging.path(), timeout) => result,
            signal = interrupt.recv() => Err(anyhow!("interrupted by {signal}")),
        };
        if !self.keep {
            // Best effort, also after a failure; a second Ctrl-C skips it.
            let removed = tokio::select! {
                removed = stack::remove_stack(ctx, cluster) => removed,
                signal = interrupt.recv() => Err(anyhow!("interrupted by {signal}")),
            };
            if let Err(err) = removed {
                eprintln!("warning: the stack of project {} is left running ({err:#}); `cargo xtask down` removes it", cluster.project);
            }
        }
        result.with_context(|| {
            format!(
                "collecting {}; {} is left as it was",
                task.name(),
                target.display()
            )
        })?;
        staging.commit()?;
        println!(
            "{}: evidence written to {} in {:.0} s",
            task.name(),
            target.strip_prefix(&ctx.root).unwrap_or(target).display(),
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }
}
