//! Waiting on a Swarm: until the declared tasks run and HAProxy serves exactly them, and
//! until removed services' tasks are gone.
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use bollard::models::{Service, ServiceUpdateStatusStateEnum};
use cluster::{labels, Cluster, Role};
use indicatif::ProgressBar;

use super::{service_image, service_name, services, task_name};
use crate::context::Ctx;
use crate::engine::Engine;
use crate::haproxy_stats::ServerStat;
use crate::wait::{Poll, Stopped, Wait};

/// Waits until ha's task and exactly `webapps` webapp tasks run the image their service
/// names (a rolling update is over), then until HAProxy serves exactly those webapps;
/// returns their names. An update Swarm rolled back since `since` (the old version keeps
/// serving) is an error.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait_serving(
    ctx: &Ctx,
    cluster: &Cluster,
    engine: &Engine,
    webapps: u32,
    since: SystemTime,
    timeout: Duration,
    bar: &ProgressBar,
    on_poll: impl FnMut(&[ServerStat]),
) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    let wait = Wait::new(
        format!("Swarm to run ha and {webapps} webapp tasks"),
        timeout,
    );
    let names = wait
        .poll(async || {
            let current = services(engine, cluster).await?;
            let updating = match update_state(&current, since) {
                UpdateState::RolledBack { service, message } => bail!(
                    "the rolling update of service {service} failed and Swarm rolled it back (the previous version keeps serving): {message}"
                ),
                UpdateState::Updating => true,
                UpdateState::Done => false,
            };
            let image = |role: Role| {
                let name = cluster.swarm_service_name(role);
                current
                    .iter()
                    .find(|s| service_name(s) == name)
                    .and_then(service_image)
                    .unwrap_or_default()
            };
            let ha = running(engine, cluster, Role::Balancer, &image(Role::Balancer)).await?;
            let tasks = running(engine, cluster, Role::Backend, &image(Role::Backend)).await?;
            bar.set_message(format!(
                "Swarm: {}/{webapps} webapp tasks running{}",
                tasks.len(),
                if updating { ", rolling update" } else { "" }
            ));
            if !updating && ha.len() == 1 && tasks.len() == webapps as usize {
                return Ok(Poll::Ready(tasks));
            }
            Ok(Poll::Pending(format!("{} running", tasks.len())))
        })
        .await
        .map_err(|stopped| match stopped {
            Stopped::TimedOut(running) => anyhow::anyhow!(
                "timed out after {}s waiting for Swarm to run ha and {webapps} webapp tasks ({running}); see `cargo xtask status` and `docker service ps {}`",
                timeout.as_secs(),
                cluster.swarm_service_name(Role::Backend)
            ),
            Stopped::Failed(err) => err,
        })?;
    let left = timeout.saturating_sub(start.elapsed());
    crate::deploy::serving::wait_for_servers_with(ctx, cluster, &names, left, bar, on_poll).await?;
    Ok(names)
}

/// The names of `role`'s tasks that run `image` and are meant to, when every wanted task
/// does (a task still starting, or of the old version, counts as not yet there).
pub(crate) async fn running(
    engine: &Engine,
    cluster: &Cluster,
    role: Role,
    image: &str,
) -> anyhow::Result<Vec<String>> {
    let tasks = engine
        .service_tasks(&cluster.swarm_service_name(role))
        .await?;
    let wanted: Vec<_> = tasks.iter().filter(|t| t.is_wanted()).collect();
    if wanted.iter().any(|t| !t.is_running() || t.image != image) {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = wanted.iter().map(|t| task_name(cluster, role, t)).collect();
    names.sort_by(|a, b| cluster::natural_key(a).cmp(&cluster::natural_key(b)));
    names.dedup();
    Ok(names)
}

enum UpdateState {
    Done,
    Updating,
    RolledBack { service: String, message: String },
}

/// Where the services' last updates stand; a rollback counts only when its update
/// started since `since` (an older one was reported then).
fn update_state(services: &[Service], since: SystemTime) -> UpdateState {
    use ServiceUpdateStatusStateEnum::*;
    let mut state = UpdateState::Done;
    for service in services {
        let Some(status) = &service.update_status else {
            continue;
        };
        let recent = status
            .started_at
            .as_deref()
            .and_then(cluster::time::parse_rfc3339)
            .is_some_and(|at| at >= since);
        match status.state {
            Some(UPDATING | ROLLBACK_STARTED) => state = UpdateState::Updating,
            Some(ROLLBACK_COMPLETED | ROLLBACK_PAUSED | PAUSED) if recent => {
                return UpdateState::RolledBack {
                    service: service_name(service),
                    message: status.message.clone().unwrap_or_default(),
                }
            }
            _ => {}
        }
    }
    state
}

/// Waits until no container of the project's tasks is left on any node this host
/// reaches (they hold the network and the secrets).
pub(crate) async fn tasks_gone(
    ctx: &Ctx,
    cluster: &Cluster,
    engine: &Engine,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut engines = Vec::new();
    for node in engine.swarm_members().await? {
        if let Some(node_engine) = super::node_engine(ctx, cluster, engine, &node).await {
            engines.push(node_engine);
        }
    }
    let what = format!("the task containers of project {} to stop", cluster.project);
    Wait::new(what, timeout)
        .until(async || {
            let mut left = 0;
            for node_engine in &engines {
                left += node_engine
                    .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
                    .await
                    .map_or(0, |c| c.len());
            }
            Ok(match left {
                0 => Poll::Ready(()),
                left => Poll::Pending(format!("{left} left")),
            })
        })
        .await
}

/// Removes an overlay network, retrying while the Swarm still detaches the last tasks.
pub(crate) async fn remove_network(engine: &Engine, name: &str) -> anyhow::Result<()> {
    Wait::new(format!("network {name} to go"), Duration::from_secs(30))
        .retry(async || engine.remove_network(name).await)
        .await
}
