//! Waiting for HAProxy to serve exactly the expected servers, read from the stats CSV on
//! the published port: what a user of the load balancer would see.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster::{natural_key, Cluster};
use indicatif::ProgressBar;

use crate::context::Ctx;
use crate::haproxy_stats::{self, ServerStat};
use crate::wait::{Poll, Stopped, Wait};

/// Polls until the `nodes` backend lists exactly `expected`, all UP; returns how long it
/// took. On timeout, names the missing and unexpected servers and shows their last logs.
pub(crate) async fn wait_for_servers(
    ctx: &Ctx,
    cluster: &Cluster,
    expected: &[String],
    timeout: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<Duration> {
    wait_for_servers_with(ctx, cluster, expected, timeout, bar, |_| {}).await
}

/// [`wait_for_servers`], showing every poll's servers to `on_poll` (to time each one).
pub(crate) async fn wait_for_servers_with(
    ctx: &Ctx,
    cluster: &Cluster,
    expected: &[String],
    timeout: Duration,
    bar: &ProgressBar,
    on_poll: impl FnMut(&[ServerStat]),
) -> anyhow::Result<Duration> {
    wait_until(ctx, cluster, expected, &[], timeout, bar, on_poll).await
}

/// Polls until every one of `expected` is UP and the backend lists nothing but them and
/// `also`, in whatever state (a rollout's batch: the others' health is not its business).
pub(crate) async fn wait_for_servers_among(
    ctx: &Ctx,
    cluster: &Cluster,
    expected: &[String],
    also: &[String],
    timeout: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<Duration> {
    wait_until(ctx, cluster, expected, also, timeout, bar, |_| {}).await
}

async fn wait_until(
    ctx: &Ctx,
    cluster: &Cluster,
    expected: &[String],
    also: &[String],
    timeout: Duration,
    bar: &ProgressBar,
    mut on_poll: impl FnMut(&[ServerStat]),
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let allowed: BTreeSet<&str> = expected
        .iter()
        .copied()
        .chain(also.iter().map(String::as_str))
        .collect();
    let wait = Wait::new("HAProxy to serve exactly the expected servers", timeout)
        .every(Duration::from_millis(250));
    let served = wait
        .poll(async || {
            let last = haproxy_stats::fetch(cluster)
                .await
                .map_err(|e| format!("{e:#}"));
            if let Ok(servers) = &last {
                on_poll(servers);
                let up: BTreeSet<&str> = servers
                    .iter()
                    .filter(|s| s.is_up())
                    .map(|s| s.name.as_str())
                    .collect();
                let listed: BTreeSet<&str> = servers.iter().map(|s| s.name.as_str()).collect();
                bar.set_message(format!(
                    "HAProxy: {}/{} UP",
                    up.intersection(&expected).count(),
                    expected.len()
                ));
                if up.is_superset(&expected) && listed.is_subset(&allowed) {
                    return Ok(Poll::Ready(start.elapsed()));
                }
            }
            Ok(Poll::Pending(last))
        })
        .await;
    match served {
        Ok(took) => Ok(took),
        Err(Stopped::TimedOut(last)) => {
            Err(timeout_error(ctx, cluster, &expected, &allowed, &last, timeout).await)
        }
        Err(Stopped::Failed(err)) => Err(err),
    }
}

async fn timeout_error(
    ctx: &Ctx,
    cluster: &Cluster,
    expected: &BTreeSet<&str>,
    allowed: &BTreeSet<&str>,
    last: &Result<Vec<ServerStat>, String>,
    timeout: Duration,
) -> anyhow::Error {
    let servers = match last {
        Ok(servers) => servers.clone(),
        Err(err) => {
            return anyhow::anyhow!(
                "timed out after {}s waiting for HAProxy stats ({err}); see `docker logs {}`",
                timeout.as_secs(),
                cluster.ha.name
            )
        }
    };
    let mut missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|name| !servers.iter().any(|s| s.name == *name && s.is_up()))
        .collect();
    missing.sort_by_key(|n| natural_key(n));
    // Server names come from gossip: escaped before they reach a terminal.
    let unexpected: Vec<String> = servers
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !allowed.contains(name))
        .map(|name| cluster::escape_control(name).into_owned())
        .collect();
    let mut message = format!(
        "timed out after {}s waiting for HAProxy to serve exactly the expected servers",
        timeout.as_secs()
    );
    if !missing.is_empty() {
        message.push_str(&format!("; not UP: {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        message.push_str(&format!("; unexpected: {}", unexpected.join(", ")));
    }
    message.push_str("; see `cargo xtask status`");
    if let Ok(engine) = ctx.engine().await {
        for name in missing.iter().copied().chain([cluster.ha.name.as_str()]) {
            if let Ok(logs) = engine.logs(name, Some(5)).await {
                let logs: Vec<_> = logs
                    .trim_end()
                    .lines()
                    .map(cluster::escape_control)
                    .collect();
                message.push_str(&format!("\nlast log lines of {name}:\n{}", logs.join("\n")));
            }
        }
    }
    anyhow::anyhow!(message)
}
