//! The load at saturation: `connections` kept-alive connections, each sending its next
//! `GET /` as soon as the previous one is answered (closed loop), for a fixed time. It runs
//! on a thread of its own, pinned to one CPU (apart from the load balancer's), with a
//! single-threaded runtime: its whole cost lands on that CPU, and is measured.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::oneshot;

use super::load::{Recorded, Sample};
use super::{client, cpus};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    pub(crate) request_timeout: Duration,
    /// The CPU the generator runs on; None: wherever the scheduler puts it.
    pub(crate) cpu: Option<usize>,
}

pub(crate) struct Saturated {
    pub(crate) recorded: Recorded,
    /// CPU time the generator's thread used: near its wall time, the generator, not the
    /// target, was the limit.
    pub(crate) generator_cpu: Duration,
}

/// Runs the load against `target` on a thread of its own and waits for it to end;
/// `epoch` is the benchmark's time zero.
pub(crate) async fn run(
    target: SocketAddr,
    plan: Closed,
    epoch: Instant,
) -> anyhow::Result<Saturated> {
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new()
        .name("bench-closed-loop".into())
        .spawn(move || {
            let _ = done.send(generate(target, plan, epoch));
        })
        .context("starting the closed-loop load's thread")?;
    finished
        .await
        .context("the closed-loop load generator panicked")?
}

fn generate(target: SocketAddr, plan: Closed, epoch: Instant) -> anyhow::Result<Saturated> {
    if let Some(cpu) = plan.cpu {
        cpus::pin_this_thread(cpu)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the closed-loop load's runtime")?;
    let cpu_before = thread_cpu_time();
    let recorded = runtime.block_on(closed_loop(target, plan, epoch))?;
    Ok(Saturated {
        recorded,
        generator_cpu: thread_cpu_time().saturating_sub(cpu_before),
    })
}

async fn closed_loop(target: SocketAddr, plan: Closed, epoch: Instant) -> anyhow::Result<Recorded> {
    let started = Instant::now();
    let deadline = started + plan.duration;
    let connections = (0..plan.connections.max(1)).map(|_| {
        tokio::spawn(async move {
            let mut conn = None;
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = client::get_kept(&mut conn, target, plan.request_timeout).await;
                let failed = outcome.failed();
                samples.push(Sample {
                    sent: sent - epoch,
                    latency: sent.elapsed(),
                    outcome,
                });
                if failed {
                    // A refused connection fails at once: do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            samples
        })
    });
    let mut samples = Vec::new();
    for connection in futures_util::future::join_all(connections).await {
        samples.extend(connection.context("a closed-loop connection panicked")?);
    }
    let elapsed = started.elapsed();
    samples.sort_by_key(|s| s.sent);
    Ok(Recorded {
        samples,
        skipped: 0,
        elapsed,
    })
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; this clock always exists on Linux.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
