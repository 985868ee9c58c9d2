//! The scenarios and what they share: the stack they change, the load they run, and the
//! record of every request and phase that the timeline plot is drawn from.
pub(crate) mod build;
pub(crate) mod burst;
pub(crate) mod churn;
pub(crate) mod cycles;
pub(crate) mod data_path;
pub(crate) mod idle;
pub(crate) mod join;
pub(crate) mod membership;
pub(crate) mod reloads;
pub(crate) mod rolling;
pub(crate) mod routes;
pub(crate) mod services;
pub(crate) mod swarm;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::Cluster;

use super::client::Route;
use super::load::{Load, Profile, Recorded};
use super::settings::Settings;
use super::timeline::Phase;
use crate::context::Ctx;
use crate::deploy::one_engine;
use crate::haproxy_stats::{self, ServerStat};
use crate::progress;
use crate::wait::{Poll, Wait};

pub(crate) struct Runner<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) cluster: &'a Cluster,
    pub(crate) settings: &'a Settings,
    /// Time zero of every sample, phase and plot.
    pub(crate) epoch: Instant,
    /// The published HTTP port on the host: where load is sent (scenario 12b also sends
    /// to its twin cluster's, likewise published on the host).
    pub(crate) target: SocketAddr,
    /// Every request of every load run: when it ended and whether it failed.
    requests: Mutex<Vec<(Duration, bool)>>,
    phases: Mutex<Vec<Phase>>,
    /// Set while a scenario measures ha's own cost: the stats watcher leaves ha alone.
    pub(crate) quiet: Arc<AtomicBool>,
}

impl<'a> Runner<'a> {
    pub(crate) fn new(
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        settings: &'a Settings,
        epoch: Instant,
    ) -> Runner<'a> {
        let host = haproxy_stats::published_host(cluster);
        Runner {
            ctx,
            cluster,
            settings,
            epoch,
            target: SocketAddr::new(host, cluster.ha.http_port),
            requests: Mutex::new(Vec::new()),
            phases: Mutex::new(Vec::new()),
            quiet: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Starts the constant load; it stops by itself after `limit` at the latest.
    pub(crate) fn load(&self, rate: u32, limit: Duration) -> Load {
        self.load_routed(rate, limit, None)
    }

    /// [`Runner::load`], every request for `route` (its `Host` and path).
    pub(crate) fn load_routed(&self, rate: u32, limit: Duration, route: Option<Route>) -> Load {
        self.load_to(self.target, rate, limit, route)
    }

    /// [`Runner::load_routed`] to another cluster's published HTTP port.
    pub(crate) fn load_to(
        &self,
        target: SocketAddr,
        rate: u32,
        limit: Duration,
        route: Option<Route>,
    ) -> Load {
        let profile = Profile {
            rate,
            limit,
            request_timeout: self.settings.request_timeout,
            max_in_flight: 2048,
        };
        Load::start_routed(target, profile, self.epoch, Arc::new(route))
    }

    /// Stops a load run and keeps its requests for the timeline.
    pub(crate) async fn finish(&self, load: Load) -> anyhow::Result<Recorded> {
        let recorded = load.stop().await?;
        self.requests
            .lock()
            .expect("no panic holds the lock")
            .extend(
                recorded
                    .samples
                    .iter()
                    .map(|s| (s.done(), s.outcome.failed())),
            );
        Ok(recorded)
    }

    /// Runs one scenario as a named phase of the timeline.
    pub(crate) async fn phase<T>(
        &self,
        name: &str,
        scenario: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        println!("bench: {name}");
        let start = self.now();
        let result = scenario.await.with_context(|| format!("scenario {name}"));
        self.phases
            .lock()
            .expect("no panic holds the lock")
            .push(Phase {
                name: name.to_string(),
                start,
                end: self.now(),
            });
        result
    }

    /// Runs `work` with the stats watcher paused.
    pub(crate) async fn quietly<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.quiet.store(true, Ordering::Relaxed);
        let result = work.await;
        self.quiet.store(false, Ordering::Relaxed);
        result
    }

    pub(crate) fn into_record(self) -> (Vec<(Duration, bool)>, Vec<Phase>) {
        (
            self.requests.into_inner().expect("no panic held the lock"),
            self.phases.into_inner().expect("no panic held the lock"),
        )
    }

    /// Converges to `webapps` webapps of `cluster` (ours, or a variant of it) and waits
    /// until HAProxy serves exactly them; returns the actions with their times.
    pub(crate) async fn scale(
        &self,
        cluster: &Cluster,
        webapps: u32,
    ) -> anyhow::Result<Vec<one_engine::Applied>> {
        let actions = one_engine::converge(self.ctx, cluster, webapps).await?;
        self.wait_serving(cluster, webapps).await?;
        Ok(actions)
    }

    pub(crate) async fn wait_serving(&self, cluster: &Cluster, webapps: u32) -> anyhow::Result<()> {
        let expected = self.webapp_names(1..=webapps);
        let multi = progress::multi();
        let bar = progress::spinner(&multi, "bench");
        let waited = one_engine::wait_for_servers(
            self.ctx,
            cluster,
            &expected,
            self.settings.converge_timeout,
            &bar,
        )
        .await;
        bar.finish_and_clear();
        waited.map(|_| ())
    }

    pub(crate) fn webapp_names(&self, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
        range.map(|n| self.cluster.webapp_name(n)).collect()
    }

    /// Polls HAProxy's stats every 100 ms until `done` holds for the servers (a stats page
    /// that does not answer is not done); returns when it did, or `None` after `timeout`.
    pub(crate) async fn until_servers(
        &self,
        timeout: Duration,
        done: impl Fn(&[ServerStat]) -> bool,
    ) -> Option<Duration> {
        let wait = Wait::new("HAProxy's servers", timeout).every(Duration::from_millis(100));
        let waited = wait
            .poll(async || {
                Ok(match haproxy_stats::fetch(self.cluster).await {
                    Ok(servers) if done(&servers) => Poll::Ready(self.now()),
                    _ => Poll::Pending(()),
                })
            })
            .await;
        waited.ok()
    }

    /// ha's /var/log/serf.log as it is now (after the file it was rotated to).
    pub(crate) async fn serf_log(&self) -> anyhow::Result<String> {
        let engine = self.ctx.engine().await?;
        let log = crate::serf_log::read(engine, &self.cluster.ha.name).await?;
        Ok(log.text())
    }
}

/// The first pair (http, stats) of host ports `from` or more (up to 10) above ha's,
/// neither one of ha's own: for a second balancer publishing next to ha.
pub(crate) fn free_ports_above(cluster: &Cluster, from: u16) -> Option<(u16, u16)> {
    let mut taken = vec![cluster.ha.http_port, cluster.ha.stats_port];
    taken.extend(cluster.ha.tls.as_ref().map(|_| cluster.ha.https_port));
    (from..=10).find_map(|offset| {
        let http = cluster.ha.http_port.checked_add(offset)?;
        let stats = cluster.ha.stats_port.checked_add(offset)?;
        let free = http != stats && !taken.contains(&http) && !taken.contains(&stats);
        free.then_some((http, stats))
    })
}

/// True while HAProxy sends new requests to the server: `UP`, also `UP 1/2` (a check
/// failed but not enough to mark it DOWN; also how every server starts after a reload).
pub(crate) fn in_rotation(server: &ServerStat) -> bool {
    server.status == "UP" || server.status.starts_with("UP ")
}

/// Removes containers of the project concurrently (graceful stop, then remove): for
/// clean-up between scenarios, where the time it takes is not what is measured.
pub(crate) async fn remove_all(
    ctx: &Ctx,
    cluster: &Cluster,
    names: &[String],
) -> anyhow::Result<()> {
    let engine = ctx.engine().await?;
    let removals = names
        .iter()
        .map(|name| one_engine::stop_and_remove(engine, cluster, name));
    for result in futures_util::future::join_all(removals).await {
        result?;
    }
    Ok(())
}
