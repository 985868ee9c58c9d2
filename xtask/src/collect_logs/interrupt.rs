//! Ctrl-C (SIGINT) and SIGTERM end a run through its normal error path, so the staging
//! folder is discarded and the stack removed instead of both being left behind.
use anyhow::Context as _;
use tokio::signal::unix::{signal, Signal, SignalKind};

pub(crate) struct Interrupt {
    int: Signal,
    term: Signal,
}

impl Interrupt {
    /// From here on the signals no longer end the process: `recv` reports them.
    pub(crate) fn listen() -> anyhow::Result<Interrupt> {
        Ok(Interrupt {
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Waits for the next signal; returns its name.
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}
