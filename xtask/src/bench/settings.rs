//! How much each scenario does: the full run (issue 7's numbers) or `--quick`, a reduced
//! run for CI that exercises every scenario and writes a complete report in minutes.
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    /// Constant load, requests per second, every request on a new connection: what a
    /// 2-core host sustains next to containers starting (the report gives the achieved
    /// rate; the load alone reaches about 1,500/s there).
    pub(crate) rate: u32,
    /// Load while forcing reloads: near the host's limit, so a connection refused during
    /// a reload has the most chances to show.
    pub(crate) reload_rate: u32,
    /// Scenario 1: scale from `join_from` to `join_to` webapps.
    pub(crate) join_from: u32,
    pub(crate) join_to: u32,
    /// Scenario 3: `cycles` times `cycle_low` -> `cycle_high` -> `cycle_low` webapps.
    pub(crate) cycles: u32,
    pub(crate) cycle_low: u32,
    pub(crate) cycle_high: u32,
    /// Scenario 3: how long the same load runs without scaling, for comparison.
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) baseline: Duration,
    /// Scenario 4: forced reloads per method.
    pub(crate) reloads: u32,
    /// Scenario 5: webapps started at once.
    pub(crate) burst: u32,
    /// Scenario 7: webapps SIGKILLed one after another under load, per update method.
    pub(crate) kills: u32,
    /// Scenario 7: the big scale, `join_from` -> `big_scale` -> `join_from` under load.
    pub(crate) big_scale: u32,
    /// Scenario 6: also time a `build --no-cache` (minutes of apt-get).
    pub(crate) cold_build: bool,
    /// Scenario 9: the Swarm lab's nodes (1 manager, the others workers).
    pub(crate) swarm_nodes: u32,
    /// Scenario 9: `up` with `swarm_from` webapps, `scale` to `swarm_to` under load, then a
    /// worker's engine killed with `swarm_to` running.
    pub(crate) swarm_from: u32,
    pub(crate) swarm_to: u32,
    /// Scenario 9's load: every request crosses two port publications (the host's, then
    /// the manager's engine's) and the overlay, all on the same cores as three engines.
    pub(crate) swarm_rate: u32,
    /// Scenario 9: longest wait for a task to be UP, out of rotation or back after a node
    /// loss (Swarm reschedules, Serf reaps the dead member first: about a minute).
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) swarm_timeout: Duration,
    /// Scenario 10: webapps UP while nothing happens, after `idle_settle`, for `idle_window`.
    pub(crate) idle_webapps: u32,
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) idle_settle: Duration,
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) idle_window: Duration,
    /// Scenario 11: rounds, each a run of `data_path_run` on ha then on the static
    /// balancer, with `data_path_connections` kept-alive connections in a closed loop.
    pub(crate) data_path_rounds: u32,
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) data_path_run: Duration,
    pub(crate) data_path_connections: usize,
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) request_timeout: Duration,
    /// Longest wait for HAProxy to serve the expected servers after a change.
    #[serde(serialize_with = "as_secs")]
    #[cfg_attr(test, serde(deserialize_with = "from_secs"))]
    pub(crate) converge_timeout: Duration,
}

impl Settings {
    pub(crate) fn new(quick: bool) -> Settings {
        let full = Settings {
            quick,
            rate: 500,
            reload_rate: 1200,
            join_from: 2,
            join_to: 10,
            cycles: 5,
            cycle_low: 2,
            cycle_high: 8,
            baseline: Duration::from_secs(30),
            reloads: 50,
            burst: 6,
            kills: 3,
            big_scale: 50,
            cold_build: true,
            swarm_nodes: 3,
            swarm_from: 2,
            swarm_to: 6,
            swarm_rate: 200,
            swarm_timeout: Duration::from_secs(300),
            idle_webapps: 50,
            // Longer than the agent's 5 s safety net: the joins' last reconciles are over.
            idle_settle: Duration::from_secs(10),
            idle_window: Duration::from_secs(60),
            data_path_rounds: 9,
            data_path_run: Duration::from_secs(5),
            data_path_connections: 32,
            // Longer than HAProxy's worst case for a dead server (3 retries of a 2 s
            // connect timeout, then redispatch): slow answers are answers.
            request_timeout: Duration::from_secs(15),
            converge_timeout: Duration::from_secs(180),
        };
        if !quick {
            return full;
        }
        Settings {
            rate: 200,
            reload_rate: 500,
            join_to: 4,
            cycles: 1,
            cycle_high: 4,
            baseline: Duration::from_secs(5),
            reloads: 10,
            burst: 3,
            kills: 1,
            big_scale: 6,
            cold_build: false,
            swarm_to: 4,
            swarm_rate: 100,
            idle_webapps: 6,
            idle_settle: Duration::from_secs(6),
            idle_window: Duration::from_secs(15),
            data_path_rounds: 2,
            data_path_run: Duration::from_secs(2),
            ..full
        }
    }

    /// The most webapps any scenario runs at once.
    pub(crate) fn max_webapps(&self) -> u32 {
        self.join_to
            .max(self.cycle_high)
            .max(self.cycle_low + self.burst)
            .max(self.big_scale)
            .max(self.swarm_to)
            .max(self.idle_webapps)
    }
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
fn from_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_secs_f64(serde::Deserialize::deserialize(d)?))
}
