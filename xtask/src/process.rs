//! External programs the async commands wait for. Every program is built with
//! `xshell::cmd!` (each value one argument, no shell); where a command simply blocks on it,
//! xshell runs it too. Here it is spawned by tokio instead, so the runtime keeps working
//! meanwhile (builds stream, progress ticks, Ctrl-C is heard), with a time limit, and is
//! killed when dropped: a timeout, an interrupt or an error elsewhere never leaves it running.
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};

/// Runs `cmd` to its end, at most `limit`, and captures its output (progress lines stay
/// readable). A non-zero exit is not an error here: the caller decides what it means.
pub(crate) async fn output(cmd: xshell::Cmd<'_>, limit: Duration) -> anyhow::Result<Output> {
    let shown = cmd.to_string();
    let mut command = tokio::process::Command::from(std::process::Command::from(cmd));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .with_context(|| format!("running {shown}"))?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.with_context(|| format!("running {shown}")),
        Err(_) => bail!("{shown}: still running after {} s, killed", limit.as_secs()),
    }
}

/// Keeps what a long program printed in `log`; when it failed, the error quotes its last
/// lines and points at the log.
pub(crate) fn logged(output: &Output, what: &str, log: &Path) -> anyhow::Result<()> {
    let text = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
    std::fs::write(log, &text).with_context(|| format!("writing {}", log.display()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        bail!(
            "{what} failed ({}):\n{}\nfull log: {}",
            output.status,
            lines[lines.len().saturating_sub(15)..].join("\n"),
            log.display()
        );
    }
    Ok(())
}
