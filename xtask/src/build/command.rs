//! External programs, run off the async runtime so image builds keep streaming meanwhile.
use std::process::Output;

use anyhow::Context as _;

/// Runs a command built with `xshell::cmd!` on a blocking thread and captures its output
/// (the progress lines stay readable). The caller decides what a failure means.
pub(crate) async fn output(cmd: xshell::Cmd<'_>) -> anyhow::Result<Output> {
    let shown = cmd.to_string();
    let mut command = std::process::Command::from(cmd);
    tokio::task::spawn_blocking(move || command.output())
        .await
        .context("waiting for a blocking task")?
        .with_context(|| format!("running {shown}"))
}
