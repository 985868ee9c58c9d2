//! `cargo xtask up`: build (cached), create or converge the stack, wait until HAProxy
//! serves exactly the declared webapps.
use std::time::{Duration, Instant};

use clap::Args;

use crate::context::Ctx;
use crate::{build, haproxy_stats, progress, stack, tls};

#[derive(Args)]
pub(crate) struct Up {
    /// How long to wait for HAProxy to report every webapp UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Raise the host's neighbour-table thresholds (sysctl, needs root) when the cluster
    /// needs more entries than they allow.
    #[arg(long)]
    tune_host: bool,
}

impl Up {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let start = Instant::now();
        stack::check_neighbours(cluster.webapps.count, self.tune_host)?;
        stack::preflight(ctx, cluster, cluster.webapps.count).await?;
        build::ensure_images(ctx).await?;
        let actions = stack::converge(ctx, cluster, cluster.webapps.count).await?;
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
