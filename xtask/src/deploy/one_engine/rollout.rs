//! Rolling updates: webapps whose image or settings changed are replaced
//! `max_unavailable` at a time, each batch served by HAProxy before the next one starts.
//!
//! A webapp keeps its name, address and Serf node name, and Serf allows one member per
//! name, so a replacement cannot run beside the container it replaces. Each slot is
//! therefore drained first (Serf leaves, ha drops the server, in-flight requests finish),
//! then replaced: at most `max_unavailable` servers are out of rotation at any moment,
//! and no request is sent to a server on its way out.
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;

use super::{create, retire, Action, Applied, Desired};
use crate::context::{Ctx, UsageError};
use crate::deploy::serving::wait_for_servers_among;
use crate::engine::Engine;
use crate::wait::{Poll, Wait};
use crate::{haproxy_stats, progress};

/// How `up` rolls webapps over.
pub(crate) struct Rollout {
    /// How long one batch may take to be served.
    pub(crate) timeout: Duration,
    /// Run this image (an id) instead of the declared one: `up --rollback`.
    pub(crate) image: Option<String>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            timeout: Duration::from_secs(180),
            image: None,
        }
    }
}

/// Tag that keeps the image webapps ran before the last rollout (for `--rollback`).
const PREVIOUS_TAG: &str = "previous";

fn state_path(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    let file = format!("{}-image.json", cluster.rollback_repository());
    crate::state_dir::project_at(&ctx.root, cluster).join(file)
}

/// The image id the last rollout recorded (and tagged `previous`), if any.
pub(crate) fn recorded_previous(ctx: &Ctx, cluster: &Cluster) -> Option<String> {
    let text = std::fs::read_to_string(state_path(ctx, cluster)).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["previous"].as_str().map(str::to_string)
}

/// The tag a rollout puts on the image it replaced: `<project>/webapp:previous` (a
/// named service's: `<project>/webapp-<service>:previous`).
pub(crate) fn previous_tag(cluster: &Cluster) -> String {
    format!(
        "{}/{}:{PREVIOUS_TAG}",
        cluster.project,
        cluster.rollback_repository()
    )
}

/// The image webapps ran before the last rollout, for `up --rollback`.
pub(crate) async fn previous_image(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<String> {
    let path = state_path(ctx, cluster);
    let missing = || {
        UsageError(format!(
            "no previous webapp image recorded in {}: nothing to roll back to (a rollout records it)",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(&path).map_err(|_| missing())?;
    let state: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let id = state["previous"].as_str().ok_or_else(missing)?.to_string();
    let engine = ctx.engine().await?;
    if engine.image(&id).await?.is_none() {
        anyhow::bail!(UsageError(format!(
            "the previous webapp image {id} (recorded in {}) is no longer on the engine; run `up` with a working image instead",
            path.display()
        )));
    }
    Ok(id)
}

/// Remembers the image the first replaced webapp ran, unless it is the new one, and tags
/// it so it survives the rebuild of its tag.
async fn remember_previous(
    ctx: &Ctx,
    engine: &Engine,
    cluster: &Cluster,
    name: &str,
    new_image: &str,
) -> anyhow::Result<()> {
    let Some(old) = engine.inspect_container(name).await?.and_then(|c| c.image) else {
        return Ok(());
    };
    if old == new_image {
        return Ok(());
    }
    engine
        .tag_image(
            &old,
            &format!("{}/{}", cluster.project, cluster.rollback_repository()),
            PREVIOUS_TAG,
        )
        .await?;
    let path = state_path(ctx, cluster);
    let dir = path.parent().expect("a state file has a folder");
    crate::state_dir::create(dir)?;
    let state = serde_json::json!({ "previous": old, "next": new_image });
    std::fs::write(&path, format!("{state:#}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

/// Replaces the webapps `names` batch by batch. After each batch every webapp UP before
/// and every one replaced so far must be served; a batch that is not stops the rollout
/// (the others keep serving).
pub(crate) async fn run(
    ctx: &Ctx,
    cluster: &Cluster,
    names: &[String],
    desired: &[Desired],
    rollout: &Rollout,
) -> anyhow::Result<Vec<Applied>> {
    let engine = ctx.engine().await?;
    let mut done = Vec::new();
    let Some(first) = names.first() else {
        return Ok(done);
    };
    let known: Vec<_> = desired.iter().map(|d| d.node.clone()).collect();
    let find = |name: &str| {
        desired
            .iter()
            .find(|d| d.node.name == name)
            .with_context(|| format!("{name} is not declared"))
    };
    if rollout.image.is_none() {
        remember_previous(ctx, engine, cluster, first, &find(first)?.image).await?;
    }
    // After each batch: the webapps UP in HAProxy before it began, and every one replaced
    // so far; the others (stopped by hand, restarting, hung) may be listed in any state.
    let declared: Vec<String> = desired
        .iter()
        .filter(|d| d.node.name != cluster.ha.name)
        .map(|d| d.node.name.clone())
        .collect();
    // Stats not answering yet (ha just made): only the replaced ones are waited for.
    let up_before: HashSet<String> = haproxy_stats::fetch(cluster)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.is_up())
        .map(|s| s.name)
        .collect();
    let mut expected: Vec<String> = declared
        .iter()
        .filter(|name| up_before.contains(*name))
        .cloned()
        .collect();
    let width = cluster.webapps.max_unavailable.max(1) as usize;
    let mut replaced = 0;
    for batch in names.chunks(width) {
        let started = Instant::now();
        replaced += batch.len();
        let which = batch.join(", ");
        for name in batch {
            if !expected.contains(name) {
                expected.push(name.clone());
            }
        }
        println!(
            "rolling update {replaced}/{}: draining and replacing {which}",
            names.len()
        );
        let retired =
            futures_util::future::join_all(batch.iter().map(|n| retire(engine, cluster, n))).await;
        for result in retired {
            result?;
        }
        let multi = progress::multi();
        let bar = progress::spinner(&multi, which.clone());
        let served = async {
            for name in batch {
                create(ctx, engine, cluster, find(name)?, &known).await?;
            }
            tokio::select! {
                served = wait_for_servers_among(ctx, cluster, &expected, &declared, rollout.timeout, &bar) => served.map(|_| ()),
                exited = first_exit(engine, batch) => Err(exited),
            }
        }
        .await;
        bar.finish_and_clear();
        served.with_context(|| {
            format!(
                "rolling update stopped at {which}: the replacement is not served; the other webapps keep serving; fix the app and run `up` again, or `up --rollback` for the previous image"
            )
        })?;
        println!(
            "  {which} serving in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let served_at = Instant::now();
        done.extend(batch.iter().map(|n| Applied {
            action: Action::Recreate(n.clone()),
            requested: started,
            done: served_at,
        }));
    }
    Ok(done)
}

/// Resolves when one of `names` stops running (an app that exits at start), with an
/// error naming it and its last log lines. Never resolves while they all run.
async fn first_exit(engine: &Engine, names: &[String]) -> anyhow::Error {
    let wait = Wait::new("a replacement to exit", Duration::MAX).every(Duration::from_secs(1));
    let exited = wait
        .poll(async || {
            for name in names {
                let state = engine.inspect_container(name).await?.and_then(|c| c.state);
                let running = state.as_ref().and_then(|s| s.running).unwrap_or(false);
                if !running {
                    let code = state.and_then(|s| s.exit_code).unwrap_or_default();
                    let logs = engine.logs(name, Some(10)).await.unwrap_or_default();
                    return Ok(Poll::Ready(anyhow::anyhow!(
                        "{name} exited with code {code}; its last log lines:\n{}",
                        logs.trim_end()
                    )));
                }
            }
            Ok(Poll::Pending("all running"))
        })
        .await;
    match exited {
        Ok(exit) => exit,
        Err(stopped) => wait.error(stopped),
    }
}
