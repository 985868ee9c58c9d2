//! Scenario 7, rolling updates under load: every webapp replaced by a new image, as `up`
//! does it (drained one slot at a time), for the lab's app and for a foreign one (nginx
//! from examples/nginx, any-image mode with a Serf sidecar). Counts failed requests, the
//! rollout's duration, and the fewest servers in rotation, sampled from the stats.
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;
use serde::Serialize;
use xshell::cmd;

use super::{in_rotation, Runner};
use crate::bench::report::Section;
use crate::bench::settings::Settings;
use crate::bench::stats::{secs, summarize};
use crate::deploy::one_engine;
use crate::haproxy_stats;

/// Its section's number in results.md.
const NUMBER: u32 = 7;

/// No target: the figures are reported as measured.
pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.rolling, &r.settings),
    targets: |_| Vec::new(),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct RollingResult {
    pub(crate) app: String,
    pub(crate) webapps: u32,
    pub(crate) max_unavailable: u32,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) duration_s: f64,
    pub(crate) min_up: usize,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<Vec<RollingResult>> {
    let cluster = runner.cluster;
    let webapps = runner.settings.cycle_low;
    runner.scale(cluster, webapps).await?;
    let project = &cluster.project;
    let mut made = Vec::new();
    let rows = async {
        // The lab's app: the same program in a new image (one more label).
        let lab_v2 = format!("{project}/webapp:bench-v2");
        let from = cluster.image_tag("webapp");
        let dir = runner.ctx.path("target/xtask/bench-lab-v2");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dockerfile = format!("FROM {from}\nLABEL lbkit.bench=v2\n");
        std::fs::write(dir.join("Dockerfile"), dockerfile)
            .context("writing the bench Dockerfile")?;
        build(runner, &lab_v2, dir.to_str().context("a UTF-8 path")?, &[]).await?;
        made.push(lab_v2.clone());
        let lab = roll(runner, cluster, "lab app (built-in)", webapps, &lab_v2).await?;

        // nginx on the lab's port, so ha's settings stay as they are.
        let port = cluster.webapps.port.to_string();
        let dir = runner.ctx.path("examples/nginx");
        let dir = dir.to_str().context("a UTF-8 path")?;
        let nginx = |v: &str| format!("{project}/bench-nginx:{v}");
        for version in ["v1", "v2"] {
            let args = [("VERSION", version), ("PORT", port.as_str())];
            build(runner, &nginx(version), dir, &args).await?;
            made.push(nginx(version));
        }
        let mut foreign = cluster.clone();
        foreign.webapps.image = Some(nginx("v1"));
        // Onto nginx v1 (not measured), then v1 -> v2 (measured).
        one_engine::converge_with(
            runner.ctx,
            &foreign,
            webapps,
            &one_engine::Rollout::default(),
        )
        .await?;
        runner.wait_serving(&foreign, webapps).await?;
        let nginx_row = roll(
            runner,
            &foreign,
            "nginx (any image + sidecar)",
            webapps,
            &nginx("v2"),
        )
        .await?;
        // Back to the lab's app for the scenarios after this one.
        one_engine::converge(runner.ctx, cluster, webapps).await?;
        runner.wait_serving(cluster, webapps).await?;
        anyhow::Ok(vec![lab, nginx_row])
    }
    .await;
    // The tag each rollout put on the image it replaced, too.
    made.push(format!("{project}/webapp:previous"));
    let engine = runner.ctx.engine().await?;
    for tag in made {
        engine.remove_image(&tag).await?;
    }
    rows
}

/// `docker build` of a bench image, labelled with the project.
async fn build(
    runner: &Runner<'_>,
    tag: &str,
    context: &str,
    args: &[(&str, &str)],
) -> anyhow::Result<()> {
    let sh = &runner.ctx.sh;
    let label = format!("lbkit.project={}", runner.cluster.project);
    let build_args: Vec<String> = args
        .iter()
        .flat_map(|(k, v)| ["--build-arg".to_string(), format!("{k}={v}")])
        .collect();
    let cmd = cmd!(
        sh,
        "docker build -q -t {tag} --label {label} {build_args...} {context}"
    );
    let out = crate::process::output(cmd, Duration::from_secs(600)).await?;
    anyhow::ensure!(
        out.status.success(),
        "building bench image {tag}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Rolls `cluster`'s webapps over to `image` under load.
async fn roll(
    runner: &Runner<'_>,
    cluster: &Cluster,
    app: &str,
    webapps: u32,
    image: &str,
) -> anyhow::Result<RollingResult> {
    let engine = runner.ctx.engine().await?;
    let id = engine
        .image(image)
        .await?
        .and_then(|i| i.id)
        .with_context(|| format!("bench image {image} not found after its build"))?;
    let rollout = one_engine::Rollout {
        image: Some(id),
        ..one_engine::Rollout::default()
    };
    let load = runner.load(runner.settings.rate, Duration::from_secs(600));
    let started = Instant::now();
    let (rolled, min_up) = {
        let rolled = one_engine::converge_with(runner.ctx, cluster, webapps, &rollout);
        tokio::pin!(rolled);
        let mut min_up = usize::MAX;
        let rolled = loop {
            tokio::select! {
                rolled = &mut rolled => break rolled,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Ok(servers) = haproxy_stats::fetch(cluster).await {
                        min_up = min_up.min(servers.iter().filter(|s| in_rotation(s)).count());
                    }
                }
            }
        };
        (rolled, min_up)
    };
    let duration = started.elapsed();
    // Requests sent at the very end finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = runner.finish(load).await?;
    rolled.with_context(|| format!("rolling update of the {app}"))?;
    let summary = summarize(&recorded);
    Ok(RollingResult {
        app: app.to_string(),
        webapps,
        max_unavailable: cluster.webapps.max_unavailable,
        requests: summary.requests,
        failed: summary.failed,
        duration_s: secs(duration),
        min_up,
    })
}

pub(crate) fn section(md: &mut String, rows: &[RollingResult], s: &Settings) {
    md.push_str(&format!(
        "\n## {NUMBER}. Rolling updates under load\n\nEvery webapp replaced by a new image as `up` \
         does it (each slot drained, then replaced, `max_unavailable` at a time), under {} req/s; \
         the fewest servers in rotation is sampled from the stats every 100 ms.\n\n\
         | app | webapps | max_unavailable | requests | failed | duration | min UP |\n\
         |---|---|---|---|---|---|---|\n",
        s.rate
    ));
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            r.app, r.webapps, r.max_unavailable, r.requests, r.failed, r.duration_s, r.min_up
        ));
    }
}
