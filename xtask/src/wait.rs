//! The one way the host waits for something: ask, and ask again every `interval` until the
//! answer is done or `timeout` has passed. A question that fails ends the wait with its
//! error; a timeout names what was awaited and the last state seen, so every wait's error
//! reads the same way.
use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// One answer to the question a wait asks.
pub(crate) enum Poll<T, S> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; what was seen (shown if the wait times out).
    Pending(S),
}

/// A wait: what for, for how long at most, how often it asks.
pub(crate) struct Wait {
    what: String,
    timeout: Duration,
    interval: Duration,
}

/// Why a wait ended without a result.
pub(crate) enum Stopped<S> {
    /// A question failed.
    Failed(anyhow::Error),
    /// `timeout` passed; the last state seen.
    TimedOut(S),
}

impl Wait {
    /// Waiting for `what` (said as in "waiting for {what}") up to `timeout`, asking every
    /// 500 ms.
    pub(crate) fn new(what: impl Into<String>, timeout: Duration) -> Wait {
        Wait {
            what: what.into(),
            timeout,
            interval: Duration::from_millis(500),
        }
    }

    pub(crate) fn every(mut self, interval: Duration) -> Wait {
        self.interval = interval;
        self
    }

    /// Asks `check` until it is ready: its result, or why there is none.
    pub(crate) async fn poll<T, S>(
        &self,
        mut check: impl AsyncFnMut() -> anyhow::Result<Poll<T, S>>,
    ) -> Result<T, Stopped<S>> {
        let start = Instant::now();
        loop {
            let last = match check().await {
                Ok(Poll::Ready(value)) => return Ok(value),
                Ok(Poll::Pending(state)) => state,
                Err(err) => return Err(Stopped::Failed(err)),
            };
            if start.elapsed().saturating_add(self.interval) > self.timeout {
                return Err(Stopped::TimedOut(last));
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// [`Wait::poll`], a timeout as an error: "timed out after N s waiting for WHAT (last
    /// seen: STATE)".
    pub(crate) async fn until<T, S: Display>(
        &self,
        check: impl AsyncFnMut() -> anyhow::Result<Poll<T, S>>,
    ) -> anyhow::Result<T> {
        match self.poll(check).await {
            Ok(value) => Ok(value),
            Err(stopped) => Err(self.error(stopped)),
        }
    }

    /// The error a stopped wait ends with.
    pub(crate) fn error<S: Display>(&self, stopped: Stopped<S>) -> anyhow::Error {
        match stopped {
            Stopped::Failed(err) => err,
            Stopped::TimedOut(last) => anyhow::anyhow!("{} (last seen: {last})", self.timed_out()),
        }
    }

    /// "timed out after N s waiting for WHAT": how every wait's timeout begins.
    fn timed_out(&self) -> String {
        format!(
            "timed out after {} s waiting for {}",
            self.timeout.as_secs(),
            self.what
        )
    }

    /// Asks `attempt` until it succeeds; after `timeout` its last error, with context.
    pub(crate) async fn retry<T>(
        &self,
        mut attempt: impl AsyncFnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let outcome = self
            .poll(async || {
                Ok(match attempt().await {
                    Ok(value) => Poll::Ready(value),
                    Err(err) => Poll::Pending(err),
                })
            })
            .await;
        match outcome {
            Ok(value) => Ok(value),
            Err(Stopped::TimedOut(err)) => Err(err.context(self.timed_out())),
            Err(Stopped::Failed(err)) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_after_a_few_asks() {
        let mut asked = 0;
        let wait = Wait::new("three asks", Duration::from_secs(10));
        let value = wait
            .until(async || {
                asked += 1;
                Ok(match asked {
                    3 => Poll::Ready("done"),
                    n => Poll::Pending(n),
                })
            })
            .await
            .unwrap();
        assert_eq!((value, asked), ("done", 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_names_what_and_the_last_state() {
        let wait = Wait::new("the moon", Duration::from_secs(2)).every(Duration::from_millis(250));
        let mut asked = 0;
        let err = wait
            .until(async || -> anyhow::Result<Poll<(), String>> {
                asked += 1;
                Ok(Poll::Pending(format!("{asked} asks")))
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 2 s waiting for the moon (last seen: 9 asks)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_question_ends_the_wait() {
        let wait = Wait::new("nothing", Duration::from_secs(60));
        let err = wait
            .until(async || -> anyhow::Result<Poll<(), &str>> { anyhow::bail!("broken") })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_keeps_the_last_error() {
        let wait = Wait::new("a socket", Duration::from_secs(1));
        let err = wait
            .retry(async || -> anyhow::Result<()> { anyhow::bail!("refused") })
            .await
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "timed out after 1 s waiting for a socket: refused"
        );
    }
}
