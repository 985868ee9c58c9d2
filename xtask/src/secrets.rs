//! The project's Serf secrets: the gossip key (a node without it cannot join) and the RPC
//! token (only root in a container may drive its agent). Generated once per project into
//! .state/<project>/serf.json (git-ignored, owner-only), never baked into an image or put
//! in the environment: containers get the file before they start.
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use cluster::Cluster;

use crate::context::Ctx;

pub(crate) fn serf_key_path(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    crate::state_dir::project_at(&ctx.root, cluster).join("serf.json")
}

/// Creates the secrets file if it does not exist yet, or completes one written by an
/// older version (gossip key only) keeping its key; returns its path.
pub(crate) fn ensure_serf_key(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<PathBuf> {
    let path = serf_key_path(ctx, cluster);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let key = existing
        .as_ref()
        .and_then(|v| v["encrypt_key"].as_str().map(String::from));
    if key.is_some() && existing.as_ref().is_some_and(|v| v["rpc_auth"].is_string()) {
        return Ok(path);
    }
    let secrets = serde_json::json!({
        "encrypt_key": key.map_or_else(|| random_base64(32), Ok)?,
        "rpc_auth": random_base64(24)?,
    });
    write_private(&path, format!("{secrets}\n").as_bytes())?;
    Ok(path)
}

/// The secrets file's contents, for copying into a container.
pub(crate) fn serf_key_file(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<u8>> {
    let path = ensure_serf_key(ctx, cluster)?;
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// The password of the stats page on a Swarm (user `lbkit`), generated once per project
/// beside the Serf secrets.
pub(crate) fn stats_password_path(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    stats_password_at(&ctx.root, cluster)
}

/// [`stats_password_path`] under the workspace `root`.
pub(crate) fn stats_password_at(root: &Path, cluster: &Cluster) -> PathBuf {
    crate::state_dir::project_at(root, cluster).join("stats-password")
}

/// The host file behind Swarm secret `key` (see [`cluster::Cluster::swarm_secrets`]).
pub(crate) fn swarm_secret_file(ctx: &Ctx, cluster: &Cluster, key: &str) -> PathBuf {
    match key {
        "stats" => stats_password_path(ctx, cluster),
        _ => serf_key_path(ctx, cluster),
    }
}

/// The stats password, generated (hex, so it needs no quoting anywhere) if missing.
pub(crate) fn stats_password(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<String> {
    let path = stats_password_path(ctx, cluster);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("reading {}", path.display()))
        }
        _ => {}
    }
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).context("generating the stats password")?;
    let password: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, password.as_bytes())?;
    Ok(password)
}

fn random_base64(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).context("generating a Serf secret")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Writes owner-only (dir 0700, file 0600), through a temporary file renamed into place,
/// so a crash never leaves a truncated key behind.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().expect("secrets path has a parent");
    crate::state_dir::create(dir)?;
    let name = path.file_name().expect("secrets path names a file");
    let temp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))
}
