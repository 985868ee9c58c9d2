//! Ctrl-C (SIGINT) and SIGTERM end a long run (bench, collect-logs) through its normal
//! error path, so its staging folder is discarded and its stack removed instead of both
//! being left behind.
use std::future::Future;

use anyhow::{anyhow, Context as _};
use tokio::signal::unix::{signal, Signal, SignalKind};

pub(crate) struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    /// From here on the signals no longer end the process: `guard` reports them.
    pub(crate) fn listen() -> anyhow::Result<Interrupt> {
        Ok(Interrupt {
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Runs `work` to its end, unless a signal comes first: then `work` is dropped and the
    /// result is an error naming the signal.
    pub(crate) async fn guard<T>(
        &mut self,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            result = work => result,
            signal = self.received() => Err(anyhow!("interrupted by {signal}")),
        }
    }

    /// Waits for the next SIGINT or SIGTERM; names it.
    pub(crate) async fn received(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}
