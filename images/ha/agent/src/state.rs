//! What the agent remembers between runs: which config is live and whether HAProxy still
//! has to load it. Losing the file costs at most one extra reload.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use cluster::Backend;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Number of the live config; counts every config made live (`reload #n`).
    pub(crate) generation: u64,
    /// The live config is on disk but HAProxy has not confirmed loading it.
    pub(crate) pending: bool,
    /// The servers of the live config: name -> `ip:port`.
    pub(crate) servers: BTreeMap<String, String>,
}

pub(crate) fn servers_of(backends: &[Backend]) -> BTreeMap<String, String> {
    backends
        .iter()
        .map(|b| (b.name.clone(), format!("{}:{}", b.ip, b.port)))
        .collect()
}

impl State {
    /// The saved state; a missing or unreadable file is a fresh start.
    pub(crate) fn load(path: &Path) -> State {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("state serializes");
        crate::files::write_atomically(path, text.as_bytes())
            .with_context(|| format!("saving the agent state to {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_starts_fresh_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/state.json");
        assert_eq!(State::load(&path), State::default());
        let state = State {
            generation: 7,
            pending: true,
            servers: servers_of(&[Backend {
                name: "s1".into(),
                ip: [192, 168, 42, 2].into(),
                port: 3000,
            }]),
        };
        state.save(&path).unwrap();
        assert_eq!(State::load(&path), state);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(State::load(&path), State::default());
    }
}
