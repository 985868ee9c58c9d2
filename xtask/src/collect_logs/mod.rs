//! `cargo xtask collect-logs TASK`: replays a lab task on a fresh stack and writes its
//! evidence, with the lab's file names, to `logs/<task>/`, replaced only when the run
//! succeeded.
mod capture;
mod docker_ps;
mod output;
mod readme;
mod run;
mod scenario;
mod screenshot;

mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use cluster::Cluster;

use crate::build;
use crate::context::Ctx;
use crate::deploy::one_engine;
use crate::interrupt::Interrupt;
use scenario::Task;

/// `TASK`: one lab task, or all of them in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    Task0,
    Task1,
    Task2,
    Task3,
    Task4,
    Task5,
    Task6,
    All,
}

impl TaskArg {
    fn tasks(self) -> Vec<Task> {
        match self {
            TaskArg::All => Task::ALL.to_vec(),
            // The variants before `All` are the tasks in order.
            one => vec![Task::ALL[one as usize]],
        }
    }
}

#[derive(Args)]
pub(crate) struct CollectLogs {
    /// The lab task to replay (LAB.md), or all of them in turn.
    task: TaskArg,
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
        let cluster = ctx.engine_cluster(
            "collect-logs",
            "the lab evidence is collected on one engine (use the cluster file without [deploy])",
        )?;
        let tasks = self.task.tasks();
        let targets: Vec<(Task, PathBuf)> = tasks
            .iter()
            .map(|task| (*task, self.target(ctx, *task, tasks.len() > 1)))
            .collect();
        // Refuse before any work: a folder that is not earlier evidence is never replaced.
        for (_, target) in &targets {
            output::check_replaceable(target)?;
        }
        let most = tasks.iter().map(|t| t.max_webapps()).max().unwrap_or(0);
        one_engine::preflight(ctx, cluster, most).await?;
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
        let result = interrupt
            .guard(run::task(ctx, cluster, task, staging.path(), timeout))
            .await;
        if !self.keep {
            // Best effort, also after a failure; a second Ctrl-C skips it.
            let removal = async {
                match &result {
                    Ok(()) => one_engine::remove_stack(ctx, cluster).await,
                    // Dropped work may still land a container: remove until none does.
                    Err(_) => one_engine::remove_stack_settled(ctx, cluster).await,
                }
            };
            let removed = interrupt.guard(removal).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_arguments_name_their_tasks() {
        for (n, task) in Task::ALL.iter().enumerate() {
            let arg = TaskArg::from_str(&format!("task{n}"), false).unwrap();
            assert_eq!(arg.tasks(), [*task]);
            assert_eq!(task.name(), format!("task{n}"));
        }
        assert_eq!(TaskArg::from_str("all", false).unwrap().tasks(), Task::ALL);
        assert!(TaskArg::from_str("task7", false).is_err());
        assert!(TaskArg::from_str("5", false).is_err());
    }
}
