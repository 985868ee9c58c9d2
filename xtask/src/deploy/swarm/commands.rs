//! `up` and `down` on a Swarm, printing what they do as on the engine (`scale` times its
//! phases in the command).
use std::time::{Duration, Instant, SystemTime};

use cluster::{Cluster, Role};

use crate::context::Ctx;
use crate::deploy::summary;
use crate::{haproxy_stats, progress, secrets};

/// `up`: converge, wait until HAProxy serves exactly the declared webapps.
pub(crate) async fn up(ctx: &Ctx, cluster: &Cluster, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let since = SystemTime::now();
    let actions = super::converge(ctx, cluster, cluster.webapps.count).await?;
    if actions.is_empty() {
        summary::nothing_to_change(cluster);
    }
    let names = wait(ctx, cluster, cluster.webapps.count, since, timeout).await?;
    summary::serving(
        cluster,
        names.len(),
        start.elapsed(),
        Some(&names.join(", ")),
    );
    // Each named service: its own tasks, in its own backend.
    for view in super::views(cluster) {
        let count = view.webapps.count;
        let left = timeout.saturating_sub(start.elapsed());
        let names = wait(ctx, &view, count, since, left).await?;
        // Only a service an action named changed; the others are as declared.
        let name = view.swarm_service_name(Role::Backend);
        let changed = actions.iter().any(|a| a.service() == name);
        let took = changed.then(|| start.elapsed());
        summary::service_serving(cluster, view.service_name(), names.len(), took);
    }
    print_published(ctx, cluster);
    Ok(())
}

async fn wait(
    ctx: &Ctx,
    cluster: &Cluster,
    webapps: u32,
    since: SystemTime,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let engine = super::manager(ctx).await?;
    let multi = progress::multi();
    let bar = progress::spinner(&multi, "waiting");
    let names =
        super::wait_serving(ctx, cluster, engine, webapps, since, timeout, &bar, |_| {}).await;
    bar.finish_and_clear();
    names
}

/// Swarm publishes on every interface of ha's node: say so, and where the password is.
fn print_published(ctx: &Ctx, cluster: &Cluster) {
    println!(
        "  load balancer: {}\n  stats:         {} (user {}, password in {})\n  metrics:       {}metrics (same credentials)",
        haproxy_stats::lb_url(cluster),
        haproxy_stats::stats_url(cluster),
        cluster::STATS_USER,
        secrets::stats_password_path(ctx, cluster).display(),
        haproxy_stats::stats_url(cluster),
    );
    println!(
        "  note: Swarm cannot publish on 127.0.0.1: ports {} (HTTP) and {} (stats, password only) are published in host mode on every interface of ha's node ({}); firewall them there if that node is reachable from networks you do not trust",
        cluster.ha.http_port, cluster.ha.stats_port, cluster.deploy.ha_constraint
    );
}

/// `down`: services, secrets, network; what was removed.
pub(crate) async fn down(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    super::remove(ctx, cluster).await
}
