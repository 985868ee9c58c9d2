//! Serf's view of the cluster, read on ha with `serf members -format json` (docker exec).

use crate::engine::Engine;
use anyhow::Context as _;

pub(crate) use cluster::Member;

pub(crate) async fn members(engine: &Engine, ha: &str) -> anyhow::Result<Vec<Member>> {
    let out = engine
        .exec(ha, &["serf-rpc", "members", "-format", "json"])
        .await?;
    anyhow::ensure!(
        out.exit_code == 0,
        "serf members failed in {ha}: {}",
        out.stderr.trim()
    );
    cluster::parse_members(&out.stdout).with_context(|| format!("parsing `serf members` of {ha}"))
}
