//! `cargo xtask up`: build (cached), create or converge the stack, wait until HAProxy
//! serves exactly the declared webapps.
use std::time::{Duration, Instant};

use clap::Args;

use crate::context::{Ctx, UsageError};
use crate::{build, haproxy_stats, progress, stack, swarm, tls};

#[derive(Args)]
pub(crate) struct Up {
    /// How long to wait for HAProxy to report every webapp UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Put the webapps' previous image back (the one before the last rolling update).
    #[arg(long)]
    rollback: bool,
    /// Raise the host's neighbour-table thresholds (sysctl, needs root) when the cluster
    /// needs more entries than they allow.
    #[arg(long)]
    tune_host: bool,
}

impl Up {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        if cluster.deploy.is_swarm() {
            if self.rollback {
                anyhow::bail!(UsageError(format!(
                    "--rollback: on a Swarm a failed update rolls back by itself; `docker service rollback {}` undoes the last one",
                    cluster.swarm_service_name(cluster::Role::Backend)
                )));
            }
            return swarm::commands::up(ctx, cluster, Duration::from_secs(self.timeout)).await;
        }
        let start = Instant::now();
        stack::check_neighbours(cluster.webapps.count, self.tune_host)?;
        stack::app::check_input(ctx, cluster).await?;
        let image = match self.rollback {
            true => Some(stack::previous_image(ctx, cluster).await?),
            false => None,
        };
        stack::preflight(ctx, cluster, cluster.webapps.count).await?;
        // A rollback runs images that exist: the context may be broken right now.
        if image.is_none() {
            build::ensure_images(ctx).await?;
            check_new_app(ctx, cluster).await?;
        }
        let rollout = stack::Rollout {
            timeout: Duration::from_secs(self.timeout),
            image,
        };
        let actions = stack::converge_with(ctx, cluster, cluster.webapps.count, &rollout).await?;
        if actions.is_empty() {
            println!(
                "stack {} is already as declared: nothing to change",
                cluster.project
            );
        }
        let expected: Vec<String> = cluster
            .webapp_nodes(cluster.webapps.count)
            .into_iter()
            .map(|n| n.name)
            .collect();
        let multi = progress::multi();
        let bar = progress::spinner(&multi, "waiting");
        let wait = stack::wait_for_servers(
            ctx,
            cluster,
            &expected,
            Duration::from_secs(self.timeout),
            &bar,
        )
        .await;
        bar.finish_and_clear();
        wait?;
        println!(
            "{} webapps UP behind {} in {:.1}s\n  load balancer: {}\n  stats:         {}",
            expected.len(),
            cluster.ha.name,
            start.elapsed().as_secs_f64(),
            haproxy_stats::lb_url(cluster),
            haproxy_stats::stats_url(cluster),
        );
        if let Some(settings) = &cluster.ha.tls {
            let ca = match settings.generate {
                true => format!(" (CA: {})", tls::ca_path(ctx, cluster).display()),
                false => String::new(),
            };
            println!(
                "  https:         https://{}:{}/{ca}",
                haproxy_stats::published_host(cluster),
                cluster.ha.https_port,
            );
        }
        println!(
            "  metrics:       {}metrics",
            haproxy_stats::stats_url(cluster)
        );
        Ok(())
    }
}

/// A new app image must listen on its port before it replaces a serving webapp.
async fn check_new_app(ctx: &Ctx, cluster: &cluster::Cluster) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let image = stack::app::webapp_image(cluster);
    let new = engine.image(&image).await?.and_then(|i| i.id);
    let first = cluster.webapp_name(1);
    let running = engine
        .inspect_container(&first)
        .await?
        .and_then(|c| c.image);
    if new.is_some() && new == running {
        return Ok(());
    }
    stack::app::check_listens(ctx, cluster, &image).await
}
