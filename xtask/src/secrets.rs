//! The Serf gossip key: generated once per project, kept under .state/ (git-ignored),
//! never baked into an image; containers get it as a file before they start.
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use cluster::Cluster;

use crate::context::Ctx;

pub(crate) fn serf_key_path(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    ctx.path(".state").join(&cluster.project).join("serf.json")
}

/// Creates the key file if it does not exist yet; returns its path.
pub(crate) fn ensure_serf_key(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<PathBuf> {
    let path = serf_key_path(ctx, cluster);
    if path.exists() {
        return Ok(path);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).context("generating the Serf gossip key")?;
    let json =
        serde_json::json!({ "encrypt_key": base64::engine::general_purpose::STANDARD.encode(key) });
    let dir = path.parent().expect("key path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, format!("{json}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The key file's contents, for uploading into a container.
pub(crate) fn serf_key_file(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<u8>> {
    let path = ensure_serf_key(ctx, cluster)?;
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}
