//! The rounds of scenario 12b: ha and its twin, one with each table, under the same load
//! at the same time; the next round they swap.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;

use super::super::services::{with_services, NAMED};
use super::super::Runner;
use crate::bench::client::Route;
use crate::bench::load::{Recorded, Sample};
use crate::bench::stats::{round, secs, summarize_samples, Summary};
use crate::deploy::one_engine::services;
use crate::haproxy_stats;

/// Host routes in the large table.
pub(crate) const ROUTES: usize = 1000;
/// Before each window: both agents have their new tables in hand.
const SETTLE: Duration = Duration::from_secs(1);

/// One cluster with each table: one route per named service, and `ROUTES` spread over
/// them.
pub(crate) struct Tables {
    pub(crate) small: Cluster,
    pub(crate) large: Cluster,
}

impl Tables {
    pub(crate) fn of(cluster: &Cluster) -> anyhow::Result<Tables> {
        Ok(Tables {
            small: with_services(cluster, &one_each(), 0, None)?,
            large: Tables::large_with(cluster, None)?,
        })
    }

    /// The large table, with host `added` too.
    pub(crate) fn large_with(cluster: &Cluster, added: Option<&str>) -> anyhow::Result<Cluster> {
        with_services(cluster, &one_each(), ROUTES - NAMED.len(), added)
    }

    /// The published HTTP port of this cluster's balancer.
    fn target(&self) -> SocketAddr {
        let cluster = &self.small;
        SocketAddr::new(haproxy_stats::published_host(cluster), cluster.ha.http_port)
    }
}

/// One webapp in each named service.
fn one_each() -> [(&'static str, u32); 3] {
    NAMED.map(|name| (name, 1))
}

/// How the rounds run.
pub(crate) struct Plan {
    pub(crate) rounds: u32,
    /// Requests per second to each cluster.
    pub(crate) rate: u32,
    pub(crate) window: Duration,
}

/// What the rounds measured.
pub(crate) struct SideBySide {
    pub(crate) small: Windows,
    pub(crate) large: Windows,
    /// Each round's large-table window p99 per its small-table window p99.
    pub(crate) ratios: Vec<f64>,
    /// ha's first hand-over of the large table, in seconds.
    pub(crate) handover_s: Option<f64>,
}

/// `plan.rounds` rounds: one of `[ha, twin]` gets the small table and the other the
/// large one (ha the small one first), then both get `plan.rate` requests a second on
/// one route at once for `plan.window`. Only ha's requests go into the bench's timeline.
pub(crate) async fn run(
    runner: &Runner<'_>,
    [ha, twin]: [&Tables; 2],
    plan: &Plan,
) -> anyhow::Result<SideBySide> {
    let engine = runner.ctx.engine().await?;
    let probe = Route {
        host: "a.bench".into(),
        path: "/".into(),
    };
    let mut measured = SideBySide {
        small: Windows::default(),
        large: Windows::default(),
        ratios: Vec::new(),
        handover_s: None,
    };
    for n in 0..plan.rounds {
        let ha_is_large = n % 2 == 1;
        let [small, large] = match ha_is_large {
            false => [ha, twin],
            true => [twin, ha],
        };
        services::hand_to_ha(engine, &small.small).await?;
        let started = Instant::now();
        services::hand_to_ha(engine, &large.large).await?;
        if ha_is_large && measured.handover_s.is_none() {
            measured.handover_s = Some(secs(started.elapsed()));
        }
        tokio::time::sleep(SETTLE).await;
        let [small_load, large_load] = [small, large]
            .map(|side| runner.load_to(side.target(), plan.rate, plan.window, Some(probe.clone())));
        tokio::time::sleep(plan.window).await;
        let (small_recorded, large_recorded) = match ha_is_large {
            false => (runner.finish(small_load).await?, large_load.stop().await?),
            true => (small_load.stop().await?, runner.finish(large_load).await?),
        };
        let small_p99 = measured.small.record(small_recorded, NAMED.len())?;
        let large_p99 = measured.large.record(large_recorded, ROUTES)?;
        measured.ratios.push(round(large_p99 / small_p99, 3));
    }
    Ok(measured)
}

/// One table size's windows: their samples together, and each one's p99.
#[derive(Default)]
pub(crate) struct Windows {
    pub(crate) samples: Vec<Sample>,
    pub(crate) p99s: Vec<f64>,
}

impl Windows {
    /// Keeps a window's samples (with a table of `routes`); returns its p99. A window in
    /// which no request succeeded is an error, not a gap that would pair windows out of
    /// order.
    fn record(&mut self, recorded: Recorded, routes: usize) -> anyhow::Result<f64> {
        let p99 = summarize_samples(recorded.samples.iter())
            .p99_ms
            .with_context(|| format!("no request succeeded in a window with {routes} routes"))?;
        self.p99s.push(p99);
        self.samples.extend(recorded.samples);
        Ok(p99)
    }

    /// The samples of every window as one summary, at their rate over `span`.
    pub(crate) fn summary(&self, span: Duration) -> Summary {
        let mut summary = summarize_samples(self.samples.iter());
        summary.rate = round(summary.requests as f64 / span.as_secs_f64(), 1);
        summary
    }
}
