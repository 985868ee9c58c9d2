//! Scenario 1, join to serving: scale up under load, the way `scale` does (one node after
//! another), and time each new node from its container's creation request to the first
//! answer it serves through the load balancer, as the load generator sees it.
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Runner;
use crate::bench::load::Sample;
use crate::bench::stats::{percentile, round, secs, summarize, Summary};
use crate::stack::Action;

#[derive(Debug, Serialize)]
pub(crate) struct JoinResult {
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// Seconds from each new node's creation request to its first answer through the LB.
    pub(crate) nodes: Vec<NodeJoin>,
    pub(crate) p50_s: Option<f64>,
    pub(crate) p95_s: Option<f64>,
    pub(crate) max_s: Option<f64>,
    /// The load that ran meanwhile (it is also what detects the first answers).
    pub(crate) load: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NodeJoin {
    pub(crate) name: String,
    /// None: it served nothing before the load stopped.
    pub(crate) to_first_answer_s: Option<f64>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<JoinResult> {
    let (from, to) = (runner.settings.join_from, runner.settings.join_to);
    runner.scale(runner.cluster, from).await?;
    let load = runner.load(runner.settings.rate, Duration::from_secs(600));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let called = Instant::now();
    let actions = runner.scale(runner.cluster, to).await;
    // Every new node is UP in HAProxy: give round robin time to reach each one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = runner.finish(load).await?;
    let actions = actions?;
    let started = creation_requests(runner, called, &actions);
    let nodes = first_answers(&started, &recorded.samples);
    let mut times: Vec<f64> = nodes.iter().filter_map(|n| n.to_first_answer_s).collect();
    times.sort_by(f64::total_cmp);
    let at = |p| percentile(&times, p).map(|v| round(v, 2));
    Ok(JoinResult {
        from,
        to,
        p50_s: at(50.0),
        p95_s: at(95.0),
        max_s: times.last().copied(),
        nodes,
        load: summarize(&recorded),
    })
}

/// When each new node's creation was requested, since the epoch: converge creates nodes
/// one after another, so a node's request follows the completion of the previous action.
fn creation_requests(
    runner: &Runner<'_>,
    called: Instant,
    actions: &[(Action, Instant)],
) -> Vec<(String, Duration)> {
    let mut previous = called;
    let mut started = Vec::new();
    for (action, done) in actions {
        if let Action::Create(name) | Action::Recreate(name) | Action::Start(name) = action {
            if *name != runner.cluster.ha.name {
                started.push((name.clone(), previous - runner.epoch));
            }
        }
        previous = *done;
    }
    started
}

/// For each node, the time from its start to the end of the first request it served.
pub(crate) fn first_answers(started: &[(String, Duration)], samples: &[Sample]) -> Vec<NodeJoin> {
    started
        .iter()
        .map(|(name, at)| NodeJoin {
            name: name.clone(),
            to_first_answer_s: samples
                .iter()
                .filter(|s| s.outcome.served_by() == Some(name.as_str()) && s.done() >= *at)
                .map(|s| s.done() - *at)
                .min()
                .map(secs),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::tests::{sample, served};

    #[test]
    fn first_answer_counts_from_the_node_start_to_the_end_of_its_first_request() {
        let samples = [
            sample(100, 5, served("s1")),
            sample(1500, 10, served("s3")),
            sample(1200, 400, served("s3")),
            sample(2000, 5, served("s1")),
        ];
        let started = [
            ("s3".to_string(), Duration::from_millis(1000)),
            ("s4".to_string(), Duration::from_millis(1100)),
        ];
        assert_eq!(
            first_answers(&started, &samples),
            [
                NodeJoin {
                    name: "s3".into(),
                    to_first_answer_s: Some(0.51)
                },
                NodeJoin {
                    name: "s4".into(),
                    to_first_answer_s: None
                },
            ]
        );
    }
}
