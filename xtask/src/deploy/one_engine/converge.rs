//! Converging the stack to the model: plan against what the engine runs, then removals
//! together, ha, new webapps a few at a time, and the rolling update last.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::bail;
use cluster::{Cluster, Node};
use futures_util::StreamExt as _;

use super::{apply, desired_with, observe, plan, preflight, rollout, Action, Rollout};
use crate::context::{Ctx, UsageError};
use crate::engine::Engine;
use crate::secrets;

/// Webapps created (or started) at once. Two overlap the engine's waits (namespace,
/// mounts, the key upload): 2 -> 50 under load all UP in 16-20 s instead of 35 s one by
/// one, while each new webapp still serves within 0.8-0.9 s (p95) of its creation
/// request; at four the daemon's contention made that 1.45 s (bench, 2 cores).
const PARALLEL_STARTS: usize = 2;

/// An action as `converge` carried it out: when it was asked of the engine and when the
/// engine had done it (for a webapp: its container started).
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) action: Action,
    pub(crate) requested: Instant,
    pub(crate) done: Instant,
}

impl Applied {
    /// The webapp this action brought up (created, recreated or started), if any.
    pub(crate) fn started_webapp(&self, cluster: &Cluster) -> Option<&str> {
        match &self.action {
            Action::Create(name) | Action::Recreate(name) | Action::Start(name)
                if *name != cluster.ha.name =>
            {
                Some(name)
            }
            _ => None,
        }
    }
}

/// Brings the stack to ha + `webapps` webapps; returns the actions taken (empty when it
/// was already there).
pub(crate) async fn converge(
    ctx: &Ctx,
    cluster: &Cluster,
    webapps: u32,
) -> anyhow::Result<Vec<Applied>> {
    converge_with(ctx, cluster, webapps, &Rollout::default()).await
}

/// [`converge`]; webapps whose image or settings changed are rolled over as `rollout`
/// says, after every other change.
pub(crate) async fn converge_with(
    ctx: &Ctx,
    cluster: &Cluster,
    webapps: u32,
    rollout: &Rollout,
) -> anyhow::Result<Vec<Applied>> {
    let engine = ctx.engine().await?;
    let image = match &rollout.image {
        Some(image) => image.clone(),
        None => crate::deploy::app_input::webapp_image(cluster),
    };
    let desired = desired_with(engine, cluster, webapps, &image).await?;
    let observed = observe(engine, cluster).await?;
    let actions = plan::plan(&desired, &observed);
    // Only what takes a webapp away drains: a scale up costs no exec in ha.
    let drains = actions.iter().any(|a| match a {
        Action::Remove(name) | Action::Recreate(name) => *name != cluster.ha.name,
        _ => false,
    });
    // A named service's drain time reaches ha with its services (`ha-agent services`).
    if drains && cluster.view.is_none() {
        set_drain_time(engine, cluster).await;
    }
    if !actions.is_empty() {
        let nodes: Vec<Node> = desired.iter().map(|d| d.node.clone()).collect();
        preflight::check(engine, cluster, &nodes, &ctx.config_file()).await?;
        let key = secrets::serf_key_path(ctx, cluster);
        if !observed.is_empty() && !key.exists() {
            // A new key would split the cluster: running nodes keep the old one.
            bail!(UsageError(format!(
                "{} is missing while containers of project {} exist; run `cargo xtask down`, then `up` again",
                key.display(),
                cluster.project
            )));
        }
        preflight::ensure_network(engine, cluster).await?;
        secrets::ensure_serf_key(ctx, cluster)?;
    }
    let mut removals = Vec::new();
    let mut balancer = Vec::new();
    let mut webapp_starts = Vec::new();
    let mut rolling = Vec::new();
    for action in actions {
        match action {
            Action::Remove(_) => removals.push(action),
            Action::Recreate(name) if name != cluster.ha.name => rolling.push(name),
            Action::Create(ref name) | Action::Recreate(ref name) | Action::Start(ref name)
                if *name == cluster.ha.name =>
            {
                balancer.push(action)
            }
            action => webapp_starts.push(action),
        }
    }
    let apply_timed = |action: Action| {
        let desired = &desired;
        async move {
            println!("{}", action.describe());
            let requested = Instant::now();
            let result = apply(ctx, cluster, &action, desired).await;
            (
                Applied {
                    action,
                    requested,
                    done: Instant::now(),
                },
                result,
            )
        }
    };
    let mut done = Vec::new();
    // Removals together: each waits for its node to drain and leave (a few seconds).
    for (applied, result) in
        futures_util::future::join_all(removals.into_iter().map(apply_timed)).await
    {
        result?;
        done.push(applied);
    }
    // ha before the webapps that join it. A running ha keeps serving: its certificate,
    // if it changed, is swapped in place.
    if balancer.is_empty() && cluster.view.is_none() {
        super::certificate::refresh(ctx, engine, cluster).await?;
    }
    for action in balancer {
        let (applied, result) = apply_timed(action).await;
        result?;
        done.push(applied);
    }
    // Then the webapps a few at a time. After a failure no new one is begun (a broken
    // image fails once, not N times); each one begun runs to its end before the error
    // is returned, so none is left half-made.
    let failed = AtomicBool::new(false);
    let started: Vec<_> = futures_util::stream::iter(webapp_starts)
        .map(|action| {
            let failed = &failed;
            let apply_timed = &apply_timed;
            async move {
                if failed.load(Ordering::Relaxed) {
                    return None;
                }
                let (applied, result) = apply_timed(action).await;
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                Some((applied, result))
            }
        })
        .buffer_unordered(PARALLEL_STARTS)
        .collect()
        .await;
    for (applied, result) in started.into_iter().flatten() {
        result?;
        done.push(applied);
    }
    done.sort_by_key(|applied| applied.done);
    done.extend(rollout::run(ctx, cluster, &rolling, &desired, rollout).await?);
    Ok(done)
}

/// Tells a running ha the declared `webapps.drain_ms` before anything is removed or rolled,
/// so those drains already use it; ha is not recreated for it (see `fingerprint`). A new
/// ha gets it from its model.
async fn set_drain_time(engine: &Engine, cluster: &Cluster) {
    let ms = cluster.webapps.drain_ms.to_string();
    match engine
        .exec(&cluster.ha.name, &["ha-agent", "drain-ms", &ms])
        .await
    {
        Ok(out) if out.exit_code != 0 => println!(
            "warning: {} did not take drain_ms {ms}: {}",
            cluster.ha.name,
            cluster::escape_control(out.stderr.trim())
        ),
        // Done, or no ha running yet.
        _ => {}
    }
}
