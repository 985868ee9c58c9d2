//! How much each scenario does: the full run (issue 7's numbers) or `--quick`, a reduced
//! run for CI that exercises every scenario and writes a complete report in minutes.
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
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
    #[serde(serialize_with = "as_secs")]
    pub(crate) request_timeout: Duration,
    /// Longest wait for HAProxy to serve the expected servers after a change.
    #[serde(serialize_with = "as_secs")]
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
            ..full
        }
    }

    /// The most webapps any scenario runs at once.
    pub(crate) fn max_webapps(&self) -> u32 {
        self.join_to
            .max(self.cycle_high)
            .max(self.cycle_low + self.burst)
            .max(self.big_scale)
    }
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
