//! The Rust programs the images ship, built on the host in the release profile.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use xshell::{cmd, Shell};

use crate::process;

/// A cold release build of both on two cores takes a few minutes.
const CARGO_LIMIT: Duration = Duration::from_secs(30 * 60);

pub(crate) struct Binaries {
    pub(crate) ha_agent: PathBuf,
    pub(crate) webapp: PathBuf,
}

/// Builds ha-agent and webapp; returns where cargo put them (it knows the target dir).
pub(crate) async fn build(sh: &Shell) -> anyhow::Result<Binaries> {
    // The cargo that runs `cargo xtask`, so toolchain overrides carry over.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = process::output(
        cmd!(
            sh,
            "{cargo} build --release -p ha-agent -p webapp --message-format=json-render-diagnostics"
        ),
        CARGO_LIMIT,
    )
    .await
    .context("building ha-agent and webapp")?;
    if !output.status.success() {
        bail!(
            "building ha-agent and webapp: cargo failed ({})\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(Binaries {
        ha_agent: executable(&stdout, "ha-agent")?,
        webapp: executable(&stdout, "webapp")?,
    })
}

/// The path of binary `name` in cargo's JSON messages.
fn executable(messages: &str, name: &str) -> anyhow::Result<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo built no {name} binary"))
}

#[cfg(test)]
mod tests {
    use super::executable;

    #[test]
    fn finds_the_executable_among_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"cluster","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"webapp","kind":["bin"]},"executable":"/t/release/webapp"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable(messages, "webapp").unwrap().to_str(),
            Some("/t/release/webapp")
        );
        assert!(executable(messages, "ha-agent").is_err());
    }
}
