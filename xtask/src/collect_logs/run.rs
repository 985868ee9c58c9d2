//! Replays one task's scenario on a fresh stack: each step changes the stack, waits until
//! HAProxy serves exactly what the step leaves, then captures; the README comes last.
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use cluster::Cluster;

use super::capture;
use super::readme::{self, FileRecord, Report, StepRecord};
use super::scenario::{self, Action, Task};
use crate::context::Ctx;
use crate::deploy::one_engine;
use crate::progress;

/// Writes the evidence of `task` into `dir` (the staging folder).
pub(crate) async fn task(
    ctx: &Ctx,
    cluster: &Cluster,
    task: Task,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let name = task.name();
    let removed = one_engine::remove_containers(ctx, cluster)
        .await
        .context("removing the previous stack")?;
    if !removed.is_empty() {
        println!(
            "{name}: removed {} of project {} to start fresh",
            removed.join(", "),
            cluster.project
        );
    }
    let steps = scenario::steps(task);
    let multi = progress::multi();
    let mut records = Vec::new();
    let mut files = Vec::new();
    for (i, (step, serving)) in steps
        .iter()
        .zip(scenario::serving_after_each(&steps))
        .enumerate()
    {
        let what = || format!("step {} ({})", i + 1, step.title);
        let bar = progress::spinner(&multi, name.as_str());
        bar.set_message(step.title.clone());
        let started = SystemTime::now();
        apply(ctx, cluster, step.action).await.with_context(what)?;
        let expected: Vec<String> = serving.iter().map(|n| cluster.webapp_name(*n)).collect();
        let wait = one_engine::wait_for_servers(ctx, cluster, &expected, timeout, &bar).await;
        bar.finish_and_clear();
        let waited = wait.with_context(what)?;
        let converged = SystemTime::now();
        // From the step's start: what a user waits for, the container's creation included.
        let took = converged.duration_since(started).unwrap_or_default();
        println!(
            "{name}: {}. {}: HAProxy serves {} ({:.1} s)",
            i + 1,
            step.title,
            readme::serving(&expected),
            took.as_secs_f64()
        );
        for c in &step.captures {
            let written = capture::take(ctx, cluster, c, dir)
                .await
                .with_context(|| format!("capturing {} after {}", c.file, what()))?;
            files.extend(written.into_iter().map(|file| FileRecord {
                file,
                step: i,
                what: c.what,
            }));
        }
        records.push(StepRecord {
            title: step.title.clone(),
            started,
            converged,
            took,
            waited,
            serving: expected,
        });
    }
    let serf_log = if task.is_static() {
        None
    } else {
        capture::serf_log(ctx.engine().await?, cluster).await
    };
    let report = Report {
        task,
        cluster,
        config: ctx.config_path.display().to_string(),
        steps: records,
        files,
        serf_log,
    };
    capture::write(dir, "README.md", &readme::render(&report))
}

async fn apply(ctx: &Ctx, cluster: &Cluster, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Run { webapps } => {
            one_engine::converge(ctx, cluster, webapps).await?;
        }
        Action::RunStatic { webapps } => {
            let config = crate::gen::static_haproxy(ctx, cluster, webapps)?;
            one_engine::start_static(ctx, cluster, webapps, &config).await?;
        }
        Action::Observe => {}
        Action::Stop(n) => {
            // `docker stop`: s6 gives Serf its down-signal, so the node leaves gracefully.
            let name = cluster.webapp_name(n);
            ctx.engine()
                .await?
                .stop_container(&name, one_engine::stop_timeout_s(cluster, &name))
                .await?;
        }
    }
    Ok(())
}
