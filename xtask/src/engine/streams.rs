//! Output that keeps coming: a container's log (optionally followed) and a command's
//! output in a running container, each as a stream of whole lines.
use anyhow::Context as _;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;

use super::Engine;

/// Lines of a stream of chunks; a chunk may hold several lines or part of one.
pub(crate) type Lines = BoxStream<'static, anyhow::Result<String>>;

impl Engine {
    /// `docker logs --timestamps [--since S] [--follow]`: each line starts with the
    /// engine's RFC 3339 timestamp.
    pub(crate) fn log_lines(&self, container: &str, since: i64, follow: bool) -> Lines {
        let options = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .since(i32::try_from(since).unwrap_or(i32::MAX))
            .timestamps(true)
            .build();
        let what = format!("reading logs of container {container}");
        let chunks = self
            .docker
            .logs(container, Some(options))
            .map(move |chunk| {
                chunk
                    .with_context(|| what.clone())
                    .map(|out| out.into_bytes().to_vec())
            });
        split_lines(chunks.boxed())
    }

    /// The output of `cmd` run in `container`, line by line, while it runs.
    pub(crate) async fn exec_lines(&self, container: &str, cmd: &[&str]) -> anyhow::Result<Lines> {
        let what = format!("running `{}` in container {container}", cmd.join(" "));
        let (_, output) = self.attach_exec(container, cmd).await?;
        let chunks = output.map(move |chunk| {
            chunk
                .with_context(|| what.clone())
                .map(|out| out.into_bytes().to_vec())
        });
        Ok(split_lines(chunks.boxed()))
    }
}

/// Regroups chunks into lines (without their newline); a last unterminated line is kept.
fn split_lines(chunks: BoxStream<'static, anyhow::Result<Vec<u8>>>) -> Lines {
    stream::unfold(
        (chunks, Vec::<u8>::new(), false),
        |(mut chunks, mut pending, mut ended)| async move {
            loop {
                if let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line[..end]).into_owned();
                    return Some((Ok(text), (chunks, pending, ended)));
                }
                if ended {
                    if pending.is_empty() {
                        return None;
                    }
                    let text = String::from_utf8_lossy(&pending).into_owned();
                    pending.clear();
                    return Some((Ok(text), (chunks, pending, ended)));
                }
                match chunks.next().await {
                    Some(Ok(bytes)) => pending.extend_from_slice(&bytes),
                    Some(Err(err)) => return Some((Err(err), (chunks, pending, true))),
                    None => ended = true,
                }
            }
        },
    )
    .boxed()
}
