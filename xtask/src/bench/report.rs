//! The results: one serializable value, written as results.json, and rendered as
//! results.md (targets vs measured, then a section per scenario). Rendering is pure.
//!
//! Each scenario's file owns its result type, its targets and its section (its
//! [`Section`]); this file holds the schema, the list of sections and what sections share.
//! A new scenario: its file (result, run, targets, section), its field in [`Results`] (the
//! schema of results.json) and its line in [`SECTIONS`]; it runs where `measure` (in
//! bench/mod.rs) calls it.
use serde::Serialize;

use super::scenario::{
    self, build::BuildResult, burst::BurstResult, churn::ChurnResult, cycles::CyclesResult,
    data_path::DataPathResult, idle::IdleResult, join::JoinResult, membership::MembershipResult,
    reloads::ReloadsResult, rolling::RollingResult, routes::RoutesResult, services::ServicesResult,
    swarm::SwarmResult,
};
use super::settings::Settings;
use super::stats::Summary;
use super::timeline::Timeline;

/// Bumped when a field changes meaning or goes away.
pub(crate) const SCHEMA: u32 = 2;

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Results {
    pub(crate) schema: u32,
    /// `full` or `quick`.
    pub(crate) mode: &'static str,
    pub(crate) started_at: String,
    pub(crate) duration_s: f64,
    pub(crate) cpus: usize,
    pub(crate) project: String,
    /// Where the load went: the published HTTP port.
    pub(crate) target: String,
    pub(crate) settings: Settings,
    pub(crate) join: JoinResult,
    pub(crate) leave_crash: ChurnResult,
    pub(crate) scale_cycles: CyclesResult,
    pub(crate) reloads: ReloadsResult,
    pub(crate) burst: BurstResult,
    pub(crate) rolling: Vec<RollingResult>,
    pub(crate) membership: MembershipResult,
    pub(crate) build: BuildResult,
    pub(crate) swarm: SwarmResult,
    pub(crate) idle: IdleResult,
    pub(crate) data_path: DataPathResult,
    pub(crate) services: ServicesResult,
    pub(crate) routes: RoutesResult,
    pub(crate) targets: Vec<Target>,
    pub(crate) timeline: Timeline,
}

/// One of the issues' targets (issue 7's first): reported, not asserted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) goal: String,
    pub(crate) measured: String,
    /// None: the run cannot tell (the lab's method failed nothing either).
    pub(crate) met: Option<bool>,
}

impl Target {
    pub(crate) fn new(
        name: impl Into<String>,
        goal: &str,
        measured: String,
        met: Option<bool>,
    ) -> Target {
        Target {
            name: name.into(),
            goal: goal.into(),
            measured,
            met,
        }
    }
}

/// A scenario's part of the report, read from the results: its targets and its section.
pub(crate) struct Section {
    /// Its number in results.md, where the sections come by number.
    pub(crate) number: u32,
    /// Appends its section to results.md.
    pub(crate) markdown: fn(&mut String, &Results),
    /// Its targets, met or not; a target may read another scenario's result.
    pub(crate) targets: fn(&Results) -> Vec<Target>,
}

/// Every scenario's section, in the order of the targets table (issue 7's, as the issue
/// lists them: the burst's before the reloads'; then those of later issues).
const SECTIONS: &[Section] = &[
    scenario::join::SECTION,
    scenario::churn::SECTION,
    scenario::cycles::SECTION,
    scenario::burst::SECTION,
    scenario::reloads::SECTION,
    scenario::membership::SECTION,
    scenario::rolling::SECTION,
    scenario::build::SECTION,
    scenario::swarm::SECTION,
    scenario::idle::SECTION,
    scenario::data_path::SECTION,
    scenario::services::SECTION,
];

/// Every section's targets, met or not, in the table's order.
pub(crate) fn targets(r: &Results) -> Vec<Target> {
    SECTIONS.iter().flat_map(|s| (s.targets)(r)).collect()
}

/// results.json: the results as they are, in their fields' order.
pub(crate) fn json(r: &Results) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(r)? + "\n")
}

pub(crate) fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let s = &r.settings;
    md.push_str("# Benchmark results\n\n");
    md.push_str(&format!(
        "`cargo xtask bench{}` on {}, {} run, {:.0} s, {} CPUs, project `{}`. \
         Generated: edit the benchmark (xtask/src/bench/), not this file.\n\n",
        if s.quick { " --quick" } else { "" },
        r.started_at,
        r.mode,
        r.duration_s,
        r.cpus,
        r.project
    ));
    md.push_str(&format!(
        "Load: `GET /` to {} only (the published HTTP port), open loop at a constant rate, \
         **a new TCP connection per request**; every request is counted. A request fails \
         unless it gets a 2xx answer (HTTP error, connect or read error, or no answer within \
         {} s). Latencies are of successful requests.\n\n",
        r.target,
        s.request_timeout.as_secs()
    ));

    md.push_str(
        "## Targets vs measured\n\n| target | goal | measured | met |\n|---|---|---|---|\n",
    );
    for t in &r.targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "cannot tell",
        };
        md.push_str(&format!(
            "| {} | {} | {} | {met} |\n",
            t.name, t.goal, t.measured
        ));
    }

    let mut sections: Vec<&Section> = SECTIONS.iter().collect();
    sections.sort_by_key(|s| s.number);
    for section in sections {
        (section.markdown)(&mut md, r);
    }

    md.push_str("\n## Timeline\n\nServers UP in HAProxy and failed requests per second over the run on the engine (not the Swarm's of section 9), one band per scenario.\n\n![servers UP and failed requests over time](timeline.svg)\n");
    md
}

pub(crate) fn load_header() -> &'static str {
    "| load | requests | failed | rate (req/s) | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|---|---|\n"
}

pub(crate) fn load_row(name: &str, s: &Summary) -> String {
    format!(
        "| {name} | {} | {} | {:.1} | {} | {} | {} |\n",
        s.requests,
        s.failed,
        s.rate,
        opt(s.p50_ms, 1),
        opt(s.p99_ms, 1),
        opt(s.max_ms, 1)
    )
}

/// A line naming the kinds of failure, when there were any.
pub(crate) fn failures(md: &mut String, of: &str, s: &Summary) {
    if s.failures.is_empty() {
        return;
    }
    let kinds: Vec<String> = s
        .failures
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect();
    md.push_str(&format!("\nFailures by kind{of}: {}.\n", kinds.join(", ")));
}

pub(crate) fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::churn::Departure;
    use crate::bench::scenario::join::NodeJoin;
    use crate::bench::scenario::reloads::MethodRun;
    use crate::bench::stats::tests::load;

    /// Issue 7's targets, in the table's order, from the sections that check them.
    fn targets(
        join: &JoinResult,
        churn: &ChurnResult,
        cycles: &CyclesResult,
        reloads: &ReloadsResult,
        burst: &BurstResult,
    ) -> Vec<Target> {
        let mut all = scenario::join::targets(join);
        all.extend(scenario::churn::targets(churn, cycles));
        all.extend(scenario::cycles::targets(cycles));
        all.extend(scenario::burst::targets(burst));
        all.extend(scenario::reloads::targets(reloads));
        all
    }

    fn departure(failed: u64) -> Departure {
        Departure {
            node: "s3".into(),
            failed,
            answered_after: 0,
            last_answer_s: 0.1,
            out_of_rotation_s: Some(1.0),
            removed_s: Some(1.5),
        }
    }

    fn method(method: &'static str, failed: u64) -> MethodRun {
        MethodRun {
            method,
            reloads: 10,
            reload_errors: 0,
            duration_s: 5.0,
            load: load(1000, failed),
        }
    }

    /// A run that meets every target; each test spoils one figure.
    struct Run {
        join: JoinResult,
        churn: ChurnResult,
        cycles: CyclesResult,
        reloads: ReloadsResult,
        burst: BurstResult,
    }

    impl Run {
        fn good() -> Run {
            let node = |name: &str, s: f64| NodeJoin {
                name: name.into(),
                to_first_answer_s: Some(s),
                after_start_s: Some(s / 2.0),
            };
            Run {
                join: JoinResult {
                    from: 2,
                    to: 4,
                    nodes: vec![node("s3", 1.2), node("s4", 2.9)],
                    p50_s: Some(1.2),
                    p95_s: Some(2.9),
                    max_s: Some(2.9),
                    load: load(500, 0),
                },
                churn: ChurnResult {
                    webapps: 4,
                    graceful_stop: departure(0),
                    sigkill: departure(0),
                    load: load(500, 0),
                },
                cycles: CyclesResult {
                    cycles: 1,
                    low: 2,
                    high: 4,
                    baseline: load(100, 0),
                    scaling: load(400, 0),
                    failed_per_cycle: vec![0],
                    failed_scaling_up: 0,
                    failed_scaling_down: 0,
                    cycle_s: vec![20.0],
                },
                reloads: ReloadsResult {
                    webapps: 2,
                    hitless: method("hitless", 0),
                    restart: method("restart", 5),
                    ratio: None,
                },
                burst: BurstResult {
                    from: 2,
                    started: 3,
                    reloads: 2,
                    reload_lines: vec![],
                    all_up_s: 4.0,
                },
            }
        }

        /// The `met` verdicts, in the order of the targets.
        fn met(&self) -> Vec<Option<bool>> {
            targets(
                &self.join,
                &self.churn,
                &self.cycles,
                &self.reloads,
                &self.burst,
            )
            .into_iter()
            .map(|t| t.met)
            .collect()
        }
    }

    const ALL_MET: [Option<bool>; 6] = [Some(true); 6];

    /// `ALL_MET` with target `i` set to `verdict`.
    fn except(i: usize, verdict: Option<bool>) -> Vec<Option<bool>> {
        let mut met = ALL_MET.to_vec();
        met[i] = verdict;
        met
    }

    #[test]
    fn a_good_run_meets_every_target() {
        assert_eq!(Run::good().met(), ALL_MET);
    }

    #[test]
    fn join_is_met_at_3_s_and_only_when_every_node_served() {
        let mut run = Run::good();
        run.join.p95_s = Some(3.0);
        assert_eq!(run.met(), ALL_MET);
        run.join.p95_s = Some(3.01);
        assert_eq!(run.met(), except(0, Some(false)));
        let mut run = Run::good();
        run.join.nodes[1].to_first_answer_s = None;
        assert_eq!(run.met(), except(0, Some(false)));
        run.join.p95_s = None;
        assert_eq!(run.met(), except(0, Some(false)));
    }

    #[test]
    fn any_failed_request_on_stops_kills_or_cycles_is_not_met() {
        let mut run = Run::good();
        run.churn.graceful_stop.failed = 1;
        assert_eq!(run.met(), except(1, Some(false)));
        let mut run = Run::good();
        run.cycles.failed_scaling_down = 1;
        assert_eq!(run.met(), except(1, Some(false)));
        let mut run = Run::good();
        run.churn.sigkill.failed = 1;
        assert_eq!(run.met(), except(2, Some(false)));
        let mut run = Run::good();
        run.cycles.scaling = load(400, 1);
        assert_eq!(run.met(), except(3, Some(false)));
    }

    #[test]
    fn a_burst_may_cost_two_reloads() {
        let mut run = Run::good();
        run.burst.reloads = 3;
        assert_eq!(run.met(), except(4, Some(false)));
        run.burst.reloads = 0;
        assert_eq!(run.met(), ALL_MET);
    }

    #[test]
    fn hitless_wins_only_where_the_labs_method_fails() {
        let mut run = Run::good();
        run.reloads.restart = method("restart", 0);
        assert_eq!(run.met(), except(5, None), "neither failed: cannot tell");
        run.reloads.hitless = method("hitless", 1);
        assert_eq!(run.met(), except(5, Some(false)));
        run.reloads.restart = method("restart", 50);
        assert_eq!(run.met(), except(5, Some(false)), "ours must fail none");
    }
}
