//! Scenario 1, join to serving: scale up under load, the way `scale` does (a few nodes
//! at a time), and time each new node to the first answer it serves through the load
//! balancer, as the load generator sees it. The engine calls for a node (create, upload
//! the gossip key, start) go through one function, so the start request itself is not
//! observable: the time is given from the creation request (an upper bound) and from the
//! return of the start call (a lower bound).
use std::time::Duration;

use serde::Serialize;

use super::Runner;
use crate::bench::load::Sample;
use crate::bench::report::{failures, opt, Section, Target};
use crate::bench::settings::Settings;
use crate::bench::stats::{percentile, secs, summarize, Summary};
use crate::deploy::one_engine::Applied;

/// Its section's number in results.md.
const NUMBER: u32 = 1;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.join, &r.settings),
    targets: |r| targets(&r.join),
};

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
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
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct NodeJoin {
    pub(crate) name: String,
    /// From the creation request (create, key upload, start: what `scale` does for a
    /// node) to the end of its first answer; None: it served nothing before the load
    /// stopped. An upper bound of the time from the start request.
    pub(crate) to_first_answer_s: Option<f64>,
    /// The same, from when the engine had started the container: a lower bound.
    pub(crate) after_start_s: Option<f64>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<JoinResult> {
    let (from, to) = (runner.settings.join_from, runner.settings.join_to);
    runner.scale(runner.cluster, from).await?;
    let load = runner.load(runner.settings.rate, Duration::from_secs(600));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let actions = runner.scale(runner.cluster, to).await;
    // Every new node is UP in HAProxy: give round robin time to reach each one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = runner.finish(load).await?;
    let actions = actions?;
    let started = creation_requests(runner, &actions);
    let nodes = first_answers(&started, &recorded.samples);
    let mut times: Vec<f64> = nodes.iter().filter_map(|n| n.to_first_answer_s).collect();
    times.sort_by(f64::total_cmp);
    // Nearest rank: a measured time (to the ms), so p50 <= p95 <= max also as written.
    let at = |p| percentile(&times, p);
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

/// A new node: when its creation was requested and when the engine had started it,
/// since the epoch.
pub(crate) struct Started {
    pub(crate) name: String,
    pub(crate) requested: Duration,
    pub(crate) running: Duration,
}

/// Each webapp `converge` brought up: its creation request and when it was started.
pub(crate) fn creation_requests(runner: &Runner<'_>, applied: &[Applied]) -> Vec<Started> {
    applied
        .iter()
        .filter_map(|a| {
            a.started_webapp(runner.cluster).map(|name| Started {
                name: name.to_string(),
                requested: a.requested - runner.epoch,
                running: a.done - runner.epoch,
            })
        })
        .collect()
}

/// For each node, the time from its creation request (and from its start) to the end of
/// the first request it served.
pub(crate) fn first_answers(started: &[Started], samples: &[Sample]) -> Vec<NodeJoin> {
    started
        .iter()
        .map(|node| {
            let first = samples
                .iter()
                .filter(|s| {
                    s.outcome.served_by() == Some(node.name.as_str()) && s.done() >= node.requested
                })
                .map(|s| s.done())
                .min();
            NodeJoin {
                name: node.name.clone(),
                to_first_answer_s: first.map(|t| secs(t - node.requested)),
                after_start_s: first.map(|t| secs(t.saturating_sub(node.running))),
            }
        })
        .collect()
}

/// Issue 7's join target: every new node served, the p95 within 3 s.
pub(crate) fn targets(join: &JoinResult) -> Vec<Target> {
    let all_joined = join.nodes.iter().all(|n| n.to_first_answer_s.is_some());
    vec![Target::new(
        "join to serving, p95",
        "<= 3 s",
        match join.p95_s {
            Some(p95) if all_joined => format!("{p95:.2} s"),
            Some(p95) => format!("{p95:.2} s (some nodes never served)"),
            None => "no node served".into(),
        },
        Some(all_joined && join.p95_s.is_some_and(|p| p <= 3.0)),
    )]
}

pub(crate) fn section(md: &mut String, j: &JoinResult, s: &Settings) {
    md.push_str(&format!(
        "\n## {NUMBER}. Join to serving\n\nScale {} -> {} webapps under {} req/s, a few nodes at a time as `scale` does. \
         Time to the end of the first request a new node answered through the load balancer (its JSON `host`), \
         from its creation request (create, gossip key upload, start: the figure the target is checked on) and, \
         as a lower bound, from the return of the start call.\n\n\
         | node | from creation request (s) | from started (s) |\n|---|---|---|\n",
        j.from, j.to, s.rate
    ));
    for n in &j.nodes {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            n.name,
            opt(n.to_first_answer_s, 2),
            opt(n.after_start_s, 2)
        ));
    }
    md.push_str(&format!(
        "\n| p50 (s) | p95 (s) | max (s) | requests | failed |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n",
        opt(j.p50_s, 2),
        opt(j.p95_s, 2),
        opt(j.max_s, 2),
        j.load.requests,
        j.load.failed
    ));
    failures(md, "", &j.load);
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
            Started {
                name: "s3".into(),
                requested: Duration::from_millis(1000),
                running: Duration::from_millis(1300),
            },
            Started {
                name: "s4".into(),
                requested: Duration::from_millis(1100),
                running: Duration::from_millis(1400),
            },
        ];
        assert_eq!(
            first_answers(&started, &samples),
            [
                NodeJoin {
                    name: "s3".into(),
                    to_first_answer_s: Some(0.51),
                    after_start_s: Some(0.21),
                },
                NodeJoin {
                    name: "s4".into(),
                    to_first_answer_s: None,
                    after_start_s: None,
                },
            ]
        );
    }
}
