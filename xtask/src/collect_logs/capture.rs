//! One piece of evidence into one file, all through the Engine API (the docker CLI is
//! not needed): logs, files read inside ha, `docker ps`, `docker inspect`, the stats page.
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context as _};
use cluster::{labels, Cluster};
use serde::Serialize;

use super::scenario::{Capture, LabNode, What};
use super::{docker_ps, screenshot};
use crate::context::Ctx;
use crate::engine::Engine;
use crate::serf_log;

pub(crate) use crate::serf_log::CURRENT as SERF_LOG;
pub(crate) const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";

/// `ls -l /nodes`, then each file with its contents (`/nodes/s1: 192.168.42.2:3000`).
/// The status is that of `ls`: a missing /nodes fails the capture.
const LIST_NODES: &str = r#"ls -l /nodes || exit 1
for f in /nodes/*; do
  if [ -f "$f" ]; then printf '%s: %s\n' "$f" "$(cat "$f")"; fi
done"#;

/// Takes `capture` into `dir`; returns the files written, relative to `dir`.
pub(crate) async fn take(
    ctx: &Ctx,
    cluster: &Cluster,
    capture: &Capture,
    dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let engine = ctx.engine().await?;
    let ha = cluster.ha.name.as_str();
    let file = capture.file.as_str();
    if let Some(parent) = dir.join(file).parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = match capture.what {
        What::Logs(node) => engine.logs(&node.container(cluster), None).await?,
        What::SerfLog => serf_log::read(engine, ha).await?.text(),
        What::HaproxyCfg => read_in(engine, ha, &["cat", HAPROXY_CFG]).await?,
        What::Nodes => read_in(engine, ha, &["sh", "-c", LIST_NODES]).await?,
        What::DockerPs => docker_ps_table(engine, cluster).await?,
        What::Inspect(node) => inspect_json(engine, cluster, node).await?,
        What::Stats => return screenshot::stats_page(&ctx.sh, cluster, dir, file).await,
    };
    write(dir, file, &text)?;
    Ok(vec![file.to_string()])
}

/// ha's serf.log for the timeline, where a missing file is not fatal: `None` then.
pub(crate) async fn serf_log(engine: &Engine, cluster: &Cluster) -> Option<String> {
    let log = serf_log::read(engine, &cluster.ha.name).await.ok()?;
    Some(log.text())
}

pub(crate) fn write(dir: &Path, file: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The stdout of a command run in `container`; a failure carries its stderr.
async fn read_in(engine: &Engine, container: &str, cmd: &[&str]) -> anyhow::Result<String> {
    let out = engine.exec(container, cmd).await?;
    ensure!(
        out.exit_code == 0,
        "`{}` in container {container} exited with {}: {}",
        cmd.join(" "),
        out.exit_code,
        out.stderr.trim()
    );
    Ok(out.stdout)
}

/// `docker ps -a`, limited to the project's containers: other users' containers are
/// none of the evidence's business.
async fn docker_ps_table(engine: &Engine, cluster: &Cluster) -> anyhow::Result<String> {
    let containers = engine
        .containers_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    Ok(docker_ps::render(&containers, now))
}

/// The JSON array `docker inspect NAME` prints (4-space indent).
async fn inspect_json(engine: &Engine, cluster: &Cluster, node: LabNode) -> anyhow::Result<String> {
    let name = node.container(cluster);
    let info = engine
        .inspect_container(&name)
        .await?
        .with_context(|| format!("container {name} does not exist"))?;
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    [info]
        .serialize(&mut serializer)
        .with_context(|| format!("serializing the inspection of {name}"))?;
    out.push(b'\n');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}
