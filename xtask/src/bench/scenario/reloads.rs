//! Scenario 4, reload hitlessness side by side: the same load while `ha-agent reload`
//! forces reloads on an unchanged config, first with our method (SIGUSR2 to the HAProxy
//! master), then with the lab's (`[ha] reload = "restart"`: a new HAProxy with
//! `-sf <old pid>`). Switching method recreates only ha: the method is in its CLUSTER_TOML.
use std::time::Duration;

use cluster::ReloadMethod;
use serde::Serialize;

use super::Runner;
use crate::bench::report::{failures, opt, Section, Target};
use crate::bench::settings::Settings;
use crate::bench::stats::{round, secs, summarize, Summary};

/// Its section's number in results.md.
const NUMBER: u32 = 4;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.reloads, &r.settings),
    targets: |r| targets(&r.reloads),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
// Its runs' `&'static str` names borrow from the text read back (the golden test).
#[cfg_attr(test, serde(bound(deserialize = "'de: 'static")))]
pub(crate) struct ReloadsResult {
    pub(crate) webapps: u32,
    pub(crate) hitless: MethodRun,
    pub(crate) restart: MethodRun,
    /// Failed requests of the lab's method per failed request of ours; None when ours
    /// had none (then the lab's count stands alone).
    pub(crate) ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
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

/// Issue 7's reload target: ours fails nothing where the lab's method fails; when neither
/// fails, the run cannot tell.
pub(crate) fn targets(reloads: &ReloadsResult) -> Vec<Target> {
    let (ours, labs) = (reloads.hitless.load.failed, reloads.restart.load.failed);
    vec![Target::new(
        "failed requests under reloads: ours vs the lab's",
        "ours 0 where the lab's fails",
        format!("{ours} vs {labs}"),
        match (ours, labs) {
            (0, 0) => None,
            (0, _) => Some(true),
            _ => Some(false),
        },
    )]
}

pub(crate) fn section(md: &mut String, r: &ReloadsResult, s: &Settings) {
    md.push_str(&format!(
        "\n## {NUMBER}. Reload hitlessness, side by side\n\n{} forced reloads (`ha-agent reload`: same config) per method, \
         {} webapps, {} req/s, same run. `hitless`: SIGUSR2 to the HAProxy master, which hands the listening \
         sockets to the new worker. `restart`: the lab's method, a new HAProxy with `-sf <old pid>` \
         (`[ha] reload = \"restart\"`, which recreates ha).\n\n\
         | method | reloads | reload errors | duration (s) | requests | failed | p50 (ms) | p99 (ms) | max (ms) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        s.reloads, r.webapps, s.reload_rate
    ));
    let row = |m: &MethodRun| {
        format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
            m.method,
            m.reloads,
            m.reload_errors,
            m.duration_s,
            m.load.requests,
            m.load.failed,
            opt(m.load.p50_ms, 1),
            opt(m.load.p99_ms, 1),
            opt(m.load.max_ms, 1)
        )
    };
    md.push_str(&row(&r.hitless));
    md.push_str(&row(&r.restart));
    let ratio = match r.ratio {
        Some(ratio) => {
            format!("{ratio} failed requests with the lab's method per failed request with ours")
        }
        None if r.restart.load.failed > 0 => format!(
            "ours failed none, the lab's method {}: no finite ratio",
            r.restart.load.failed
        ),
        None => "neither method failed a request at this load: no ratio".into(),
    };
    md.push_str(&format!("\nRatio: {ratio}.\n"));
    for m in [&r.hitless, &r.restart] {
        failures(md, &format!(" ({})", m.method), &m.load);
    }
}
