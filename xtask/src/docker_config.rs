//! The docker CLI's own settings file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): its logins and its current context. Read, never written.
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::Value;

/// The file and what it holds; None when there is none.
pub(crate) fn read() -> anyhow::Result<Option<(PathBuf, Value)>> {
    let Some(path) = path().filter(|p| p.exists()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the docker CLI's settings in {}", path.display()))?;
    let config = serde_json::from_str(&text)
        .with_context(|| format!("parsing the docker CLI's settings in {}", path.display()))?;
    Ok(Some((path, config)))
}

fn path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}
