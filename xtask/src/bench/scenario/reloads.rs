//! Scenario 4, reload hitlessness side by side: the same load while `ha-agent reload`
//! forces reloads on an unchanged config, first with our method (SIGUSR2 to the HAProxy
//! master), then with the lab's (`[ha] reload = "restart"`: a new HAProxy with
//! `-sf <old pid>`). Switching method recreates only ha: the method is in its CLUSTER_TOML.
use std::time::Duration;

use cluster::ReloadMethod;
use serde::Serialize;

use super::Runner;
use crate::bench::stats::{round, secs, summarize, Summary};

#[derive(Debug, Serialize)]
pub(crate) struct ReloadsResult {
    pub(crate) webapps: u32,
    pub(crate) hitless: MethodRun,
    pub(crate) restart: MethodRun,
    /// Failed requests of the lab's method per failed request of ours; None when ours
    /// had none (then the lab's count stands alone).
    pub(crate) ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct MethodRun {
    pub(crate) method: &'static str,
    pub(crate) reloads: u32,
    /// `ha-agent reload` runs that reported an error.
    pub(crate) reload_errors: u32,
    pub(crate) duration_s: f64,
    pub(crate) load: Summary,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<ReloadsResult> {
    let webapps = runner.settings.cycle_low;
    let hitless = runner
        .phase(
            "4 hitless reloads",
            method_run(runner, ReloadMethod::Hitless, webapps),
        )
        .await?;
    let restart = runner
        .phase(
            "4 restart reloads (lab)",
            method_run(runner, ReloadMethod::Restart, webapps),
        )
        .await?;
    let ratio = (hitless.load.failed > 0)
        .then(|| round(restart.load.failed as f64 / hitless.load.failed as f64, 1));
    Ok(ReloadsResult {
        webapps,
        hitless,
        restart,
        ratio,
    })
}

async fn method_run(
    runner: &Runner<'_>,
    method: ReloadMethod,
    webapps: u32,
) -> anyhow::Result<MethodRun> {
    let mut cluster = runner.cluster.clone();
    cluster.ha.reload = method;
    runner.scale(&cluster, webapps).await?;
    let engine = runner.ctx.engine().await?;
    let settings = runner.settings;
    let load = runner.load(settings.reload_rate, Duration::from_secs(600));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = runner.now();
    let mut errors = 0;
    let mut failure = None;
    for _ in 0..settings.reloads {
        match engine.exec(&cluster.ha.name, &["ha-agent", "reload"]).await {
            Ok(out) if out.exit_code == 0 => {}
            Ok(out) => {
                errors += 1;
                eprintln!(
                    "bench: ha-agent reload ({}) failed: {}",
                    method.as_str(),
                    out.stderr.trim()
                );
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
        // Room for the old process to wind down, as between real membership changes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let duration = runner.now() - start;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = runner.finish(load).await?;
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(MethodRun {
        method: method.as_str(),
        reloads: settings.reloads - errors,
        reload_errors: errors,
        duration_s: secs(duration),
        load: summarize(&recorded),
    })
}
