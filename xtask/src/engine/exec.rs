//! `docker exec`: a command in a running container, its output collected or streamed,
//! optionally with input on its stdin.
use anyhow::Context as _;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt as _;

use super::Engine;

/// What an exec printed and how it ended.
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// A running exec's output.
pub(super) type ExecStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// A running exec's stdin.
type ExecInput = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

impl Engine {
    /// Runs `cmd` in a running container and collects its output (`docker exec`).
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> anyhow::Result<ExecOutput> {
        let what = || format!("running `{}` in container {container}", cmd.join(" "));
        let (id, output) = self.attach_exec(container, cmd).await?;
        self.finish_exec(&id, output, what).await
    }

    /// Collects an exec's output until it ends, then its exit code.
    async fn finish_exec(
        &self,
        id: &str,
        mut output: ExecStream,
        what: impl Fn() -> String,
    ) -> anyhow::Result<ExecOutput> {
        let mut stdout = String::new();
        let mut stderr = String::new();
        while let Some(chunk) = output.next().await {
            match chunk.with_context(&what)? {
                LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
        let inspect = self.docker.inspect_exec(id).await.with_context(&what)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    /// Starts `cmd` in a running container with its output attached: the exec's id and
    /// its output as it comes.
    pub(super) async fn attach_exec(
        &self,
        container: &str,
        cmd: &[&str],
    ) -> anyhow::Result<(String, ExecStream)> {
        let (id, output, _) = self.start_exec(container, cmd, false).await?;
        Ok((id, output))
    }

    /// [`Engine::exec`] with `input` written to the command's stdin, then closed.
    pub(crate) async fn exec_with_input(
        &self,
        container: &str,
        cmd: &[&str],
        input: &[u8],
    ) -> anyhow::Result<ExecOutput> {
        let what = || format!("running `{}` in container {container}", cmd.join(" "));
        let (id, output, mut stdin) = self.start_exec(container, cmd, true).await?;
        stdin.write_all(input).await.with_context(what)?;
        stdin.shutdown().await.with_context(what)?;
        self.finish_exec(&id, output, what).await
    }

    /// Creates and starts an exec of `cmd`, its output attached (and its stdin, with
    /// `stdin`): its id, its output and its input.
    async fn start_exec(
        &self,
        container: &str,
        cmd: &[&str],
        stdin: bool,
    ) -> anyhow::Result<(String, ExecStream, ExecInput)> {
        let what = || format!("running `{}` in container {container}", cmd.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdin: Some(stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .with_context(what)?;
        match self
            .docker
            .start_exec(&exec.id, None)
            .await
            .with_context(what)?
        {
            StartExecResults::Attached { output, input } => Ok((exec.id, output, input)),
            StartExecResults::Detached => {
                anyhow::bail!("{}: the engine did not attach its output", what())
            }
        }
    }
}
