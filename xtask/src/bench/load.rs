//! The load generator: GET / at a constant rate (open loop: a slow answer does not slow
//! the sender down, as with real users), each on a new connection, to the published HTTP
//! port only. Every request is recorded. It is bounded three ways: requests in flight,
//! run time (it stops by itself) and so request count; `stop` ends it earlier.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::client::{self, Outcome};

/// One request as the generator saw it.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// When it was sent, since the benchmark's start.
    pub(crate) sent: Duration,
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
}

impl Sample {
    /// When its outcome was known, since the benchmark's start.
    pub(crate) fn done(&self) -> Duration {
        self.sent + self.latency
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    /// Requests per second.
    pub(crate) rate: u32,
    /// The generator stops by itself after this long.
    pub(crate) limit: Duration,
    pub(crate) request_timeout: Duration,
    /// Beyond this many unanswered requests, ticks are skipped (and counted) rather than
    /// piling up connections without end.
    pub(crate) max_in_flight: usize,
}

/// What a finished run recorded.
pub(crate) struct Recorded {
    pub(crate) samples: Vec<Sample>,
    /// Ticks with `max_in_flight` requests already waiting: not sent, not counted as failed.
    pub(crate) skipped: u64,
    pub(crate) elapsed: Duration,
}

pub(crate) struct Load {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Recorded>,
}

impl Load {
    /// Starts sending now, every request for `route` (its `Host` and path; `None`: `GET
    /// /`); `epoch` is the benchmark's time zero.
    pub(crate) fn start_routed(
        target: SocketAddr,
        profile: Profile,
        epoch: Instant,
        route: Arc<Option<client::Route>>,
    ) -> Load {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(generate(target, profile, epoch, route, stopped));
        Load { stop, task }
    }

    /// Stops sending and waits for the requests in flight (each bounded by its timeout).
    pub(crate) async fn stop(self) -> anyhow::Result<Recorded> {
        // The generator may already have stopped at its time limit.
        let _ = self.stop.send(());
        self.task.await.context("the load generator panicked")
    }
}

async fn generate(
    target: SocketAddr,
    profile: Profile,
    epoch: Instant,
    route: Arc<Option<client::Route>>,
    mut stop: oneshot::Receiver<()>,
) -> Recorded {
    let rate = profile.rate.max(1);
    let expected = (f64::from(rate) * profile.limit.as_secs_f64()) as usize;
    let samples = Arc::new(Mutex::new(Vec::with_capacity(expected.min(1 << 20))));
    let slots = Arc::new(Semaphore::new(profile.max_in_flight));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    // After a stall (2 cores shared with the containers), keep the rate rather than firing
    // the missed requests in one burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut skipped = 0;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        if started.elapsed() >= profile.limit {
            break;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let samples = samples.clone();
        let route = route.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let outcome =
                client::get_routed(target, route.as_ref().as_ref(), profile.request_timeout).await;
            let sample = Sample {
                sent: sent - epoch,
                latency: sent.elapsed(),
                outcome,
            };
            samples
                .lock()
                .expect("no panic holds the lock")
                .push(sample);
            drop(slot);
        });
    }
    let elapsed = started.elapsed();
    // Every slot back means every request has ended.
    let all = u32::try_from(profile.max_in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    let mut samples = std::mem::take(&mut *samples.lock().expect("no panic holds the lock"));
    samples.sort_by_key(|s| s.sent);
    Recorded {
        samples,
        skipped,
        elapsed,
    }
}
