//! Waiting on a Swarm: until the declared tasks run and HAProxy serves exactly them, and
//! until removed services' tasks are gone.
use std::time::{Duration, Instant};

use anyhow::bail;
use bollard::models::ServiceUpdateStatusStateEnum;
use cluster::{labels, Cluster, Role};
use indicatif::ProgressBar;

use super::{service_name, services, task_name};
use crate::context::Ctx;
use crate::engine::Engine;
use crate::haproxy_stats::ServerStat;
use crate::stack;

/// Waits until ha's task and exactly `webapps` webapp tasks run, then until HAProxy serves
/// exactly those webapps; returns their names. A rolling update that Swarm rolled back
/// (the old version keeps serving) is an error.
pub(crate) async fn wait_serving(
    ctx: &Ctx,
    cluster: &Cluster,
    engine: &Engine,
    webapps: u32,
    timeout: Duration,
    bar: &ProgressBar,
    on_poll: impl FnMut(&[ServerStat]),
) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    let names = loop {
        if let Some(message) = rolled_back(engine, cluster).await? {
            bail!(
                "the rolling update of service {} failed and Swarm rolled it back (the previous version keeps serving): {message}",
                cluster.swarm_service_name(Role::Backend)
            );
        }
        let ha = running(engine, cluster, Role::Balancer).await?;
        let tasks = running(engine, cluster, Role::Backend).await?;
        bar.set_message(format!(
            "Swarm: {}/{webapps} webapp tasks running",
            tasks.len()
        ));
        if ha.len() == 1 && tasks.len() == webapps as usize {
            break tasks;
        }
        if start.elapsed() > timeout {
            bail!(
                "timed out after {}s waiting for Swarm to run ha and {webapps} webapp tasks ({} running); see `cargo xtask status` and `docker service ps {}`",
                timeout.as_secs(),
                tasks.len(),
                cluster.swarm_service_name(Role::Backend)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let left = timeout.saturating_sub(start.elapsed());
    stack::wait_for_servers_with(ctx, cluster, &names, left, bar, on_poll).await?;
    Ok(names)
}

/// The names of `role`'s tasks that run and are meant to, when every wanted task runs
/// (a task still starting or being replaced counts as not yet there).
pub(crate) async fn running(
    engine: &Engine,
    cluster: &Cluster,
    role: Role,
) -> anyhow::Result<Vec<String>> {
    let tasks = engine
        .service_tasks(&cluster.swarm_service_name(role))
        .await?;
    let wanted: Vec<_> = tasks.iter().filter(|t| t.is_wanted()).collect();
    if wanted.iter().any(|t| !t.is_running()) {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = wanted.iter().map(|t| task_name(cluster, role, t)).collect();
    names.sort_by(|a, b| cluster::natural_key(a).cmp(&cluster::natural_key(b)));
    names.dedup();
    Ok(names)
}

/// The message of a webapps update that Swarm rolled back (or paused).
async fn rolled_back(engine: &Engine, cluster: &Cluster) -> anyhow::Result<Option<String>> {
    let name = cluster.swarm_service_name(Role::Backend);
    let service = services(engine, cluster)
        .await?
        .into_iter()
        .find(|s| service_name(s) == name);
    let Some(status) = service.and_then(|s| s.update_status) else {
        return Ok(None);
    };
    use ServiceUpdateStatusStateEnum::*;
    Ok(match status.state {
        Some(ROLLBACK_STARTED | ROLLBACK_COMPLETED | ROLLBACK_PAUSED | PAUSED) => {
            Some(status.message.unwrap_or_default())
        }
        _ => None,
    })
}

/// Waits until no task of the project's services is left (their containers hold the
/// network and the secrets).
pub(crate) async fn tasks_gone(
    engine: &Engine,
    cluster: &Cluster,
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let left = engine
            .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
            .await?
            .len();
        let mut tasks = 0;
        for role in [Role::Balancer, Role::Backend] {
            tasks += engine
                .service_tasks(&cluster.swarm_service_name(role))
                .await?
                .len();
        }
        if left == 0 && tasks == 0 {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!(
                "timed out after {}s waiting for the tasks of project {} to stop",
                timeout.as_secs(),
                cluster.project
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Removes an overlay network, retrying while the Swarm still detaches the last tasks.
pub(crate) async fn remove_network(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        match engine.remove_network(name).await {
            Ok(()) => return Ok(()),
            Err(err) if start.elapsed() > Duration::from_secs(30) => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
