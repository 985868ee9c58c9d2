//! Serf's view of the cluster, read on ha with `serf members -format json` (docker exec).
use serde::Deserialize;

use crate::engine::Engine;
use anyhow::Context as _;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) status: String,
}

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

pub(crate) async fn members(engine: &Engine, ha: &str) -> anyhow::Result<Vec<Member>> {
    let out = engine
        .exec(ha, &["serf", "members", "-format", "json"])
        .await?;
    anyhow::ensure!(
        out.exit_code == 0,
        "serf members failed in {ha}: {}",
        out.stderr.trim()
    );
    let parsed: Members = serde_json::from_str(&out.stdout)
        .with_context(|| format!("parsing `serf members` of {ha}"))?;
    Ok(parsed.members)
}
