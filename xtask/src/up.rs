//! `cargo xtask up`: build (cached), create or converge the stack, wait until HAProxy
//! serves exactly the declared webapps; on the target `deploy.target` names.
use std::time::Duration;

use clap::Args;

use crate::context::Ctx;
use crate::deploy::neighbours::TuneHost;
use crate::deploy::{self, UpRequest};

#[derive(Args)]
pub(crate) struct Up {
    /// How long to wait for HAProxy to report every webapp UP.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Put a service's previous image back (the one before its last rolling update):
    /// `--rollback` the default service's, `--rollback=api` service api's alone.
    #[arg(long, value_name = "SERVICE", num_args = 0..=1, default_missing_value = cluster::DEFAULT_SERVICE, require_equals = true)]
    rollback: Option<String>,
    /// Raise the host's neighbour-table thresholds (sysctl, needs root) when the cluster
    /// needs more entries than they allow: for this boot, or `=persist` also in
    /// /etc/sysctl.d/ (after a reboot the restart policy brings every webapp back).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "boot", require_equals = true)]
    tune_host: Option<TuneHost>,
}

impl Up {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let request = UpRequest {
            timeout: Duration::from_secs(self.timeout),
            rollback: self.rollback,
            tune_host: self.tune_host,
        };
        deploy::Deploy::of(cluster).up(ctx, cluster, &request).await
    }
}
