//! The results: one serializable value, written as results.json, and rendered as
//! results.md (a table per scenario, then targets vs measured). Rendering is pure.
use serde::Serialize;

use super::scenario::build::BuildResult;
use super::scenario::burst::BurstResult;
use super::scenario::churn::{ChurnResult, Departure};
use super::scenario::cycles::CyclesResult;
use super::scenario::data_path::{self, DataPathResult};
use super::scenario::idle::{self, IdleResult};
use super::scenario::join::JoinResult;
use super::scenario::membership::{MembershipResult, UpdateRun};
use super::scenario::reloads::{MethodRun, ReloadsResult};
use super::scenario::rolling::RollingResult;
use super::scenario::swarm::{SwarmResult, SETTLE as SWARM_SETTLE};
use super::settings::Settings;
use super::stats::Summary;
use super::timeline::Timeline;

/// Bumped when a field changes meaning or goes away.
pub(crate) const SCHEMA: u32 = 1;

#[derive(Debug, Serialize)]
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
    pub(crate) targets: Vec<Target>,
    pub(crate) timeline: Timeline,
}

/// One of issue 7's targets: reported, not asserted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) goal: String,
    pub(crate) measured: String,
    /// None: the run cannot tell (the lab's method failed nothing either).
    pub(crate) met: Option<bool>,
}

pub(crate) fn targets(
    join: &JoinResult,
    churn: &ChurnResult,
    cycles: &CyclesResult,
    reloads: &ReloadsResult,
    burst: &BurstResult,
) -> Vec<Target> {
    let target = |name: &str, goal: &str, measured: String, met: Option<bool>| Target {
        name: name.into(),
        goal: goal.into(),
        measured,
        met,
    };
    let all_joined = join.nodes.iter().all(|n| n.to_first_answer_s.is_some());
    let (ours, labs) = (reloads.hitless.load.failed, reloads.restart.load.failed);
    vec![
        target(
            "join to serving, p95",
            "<= 3 s",
            match join.p95_s {
                Some(p95) if all_joined => format!("{p95:.2} s"),
                Some(p95) => format!("{p95:.2} s (some nodes never served)"),
                None => "no node served".into(),
            },
            Some(all_joined && join.p95_s.is_some_and(|p| p <= 3.0)),
        ),
        // Every scale-down of the cycles is graceful stops too: they count here as well.
        target(
            "failed requests on graceful stop",
            "0",
            format!(
                "{} (one stop); {} over the {} stops of the scale cycles",
                churn.graceful_stop.failed,
                cycles.failed_scaling_down,
                cycles.cycles * (cycles.high - cycles.low)
            ),
            Some(churn.graceful_stop.failed == 0 && cycles.failed_scaling_down == 0),
        ),
        target(
            "failed idempotent requests on SIGKILL",
            "0",
            churn.sigkill.failed.to_string(),
            Some(churn.sigkill.failed == 0),
        ),
        target(
            "failed requests over the scale cycles",
            "0",
            format!("{} of {}", cycles.scaling.failed, cycles.scaling.requests),
            Some(cycles.scaling.failed == 0),
        ),
        target(
            &format!("HAProxy reloads for a burst of {} joins", burst.started),
            "<= 2",
            burst.reloads.to_string(),
            Some(burst.reloads <= 2),
        ),
        target(
            "failed requests under reloads: ours vs the lab's",
            "ours 0 where the lab's fails",
            format!("{ours} vs {labs}"),
            match (ours, labs) {
                (0, 0) => None,
                (0, _) => Some(true),
                _ => Some(false),
            },
        ),
    ]
}

/// Issue 11's targets, on the runtime API's figures; the reload path's stand beside them.
pub(crate) fn membership_targets(m: &MembershipResult) -> Vec<Target> {
    let (rt, rl) = (&m.runtime, &m.reload);
    let s = |v: Option<f64>| opt(v, 2) + " s";
    let target = |name: String, goal: &str, measured: String, met: bool| Target {
        name,
        goal: goal.into(),
        measured,
        met: Some(met),
    };
    let all_joined = rt.joins.iter().all(|n| n.to_first_answer_s.is_some());
    let all_out = rt.kill_out_of_rotation_s.iter().all(Option::is_some);
    vec![
        target(
            "runtime API: join to serving, p95".into(),
            "<= 1.0 s",
            format!(
                "{} (reloads: {}); from started: {} (reloads: {})",
                s(rt.join_p95_s),
                s(rl.join_p95_s),
                s(rt.join_after_start_p95_s),
                s(rl.join_after_start_p95_s)
            ),
            all_joined && rt.join_p95_s.is_some_and(|p| p <= 1.0),
        ),
        target(
            "runtime API: reloads caused by membership changes".into(),
            "0",
            format!(
                "{} (reloads: {})",
                rt.membership_reloads, rl.membership_reloads
            ),
            rt.membership_reloads == 0,
        ),
        target(
            "runtime API: SIGKILL under load, out of rotation p95".into(),
            "<= 1 s",
            format!(
                "{} (reloads: {})",
                s(rt.kill_out_of_rotation_p95_s),
                s(rl.kill_out_of_rotation_p95_s)
            ),
            all_out && rt.kill_out_of_rotation_p95_s.is_some_and(|p| p <= 1.0),
        ),
        target(
            "runtime API: failed idempotent requests on SIGKILL".into(),
            "0",
            format!("{} (reloads: {})", rt.kill_failed, rl.kill_failed),
            rt.kill_failed == 0,
        ),
        target(
            format!(
                "runtime API: scale {} -> {} -> {} at {:.0} req/s",
                rt.big.low, rt.big.high, rt.big.low, rt.big.load.rate
            ),
            "0 failed, all UP <= 25 s",
            format!(
                "{} failed, all UP in {:.1} s (reloads: {} failed, {:.1} s)",
                rt.big.load.failed, rt.big.all_up_s, rl.big.load.failed, rl.big.all_up_s
            ),
            rt.big.load.failed == 0 && rt.big.all_up_s <= 25.0,
        ),
    ]
}

/// Scenario 9's targets: a node loss costs no request and heals within a minute and a half.
pub(crate) fn swarm_targets(s: &SwarmResult) -> Vec<Target> {
    let (join, loss) = (&s.join, &s.node_loss);
    vec![
        Target {
            name: format!(
                "Swarm: failed requests while scaling {} -> {}",
                join.from, join.to
            ),
            goal: "0".into(),
            measured: format!("{} of {}", join.load.failed, join.load.requests),
            met: Some(join.load.failed == 0),
        },
        Target {
            name: "Swarm node loss: failed requests".into(),
            goal: "0".into(),
            measured: format!(
                "{} of {} ({} webapps lost with {})",
                loss.load.failed,
                loss.load.requests,
                loss.lost.len(),
                loss.node
            ),
            met: Some(loss.load.failed == 0),
        },
        Target {
            name: "Swarm: back to N serving after a node loss".into(),
            goal: "<= 90 s".into(),
            measured: format!(
                "{:.1} s (out of rotation after {:.1} s)",
                loss.back_s, loss.out_of_rotation_s
            ),
            met: Some(loss.back_s <= 90.0),
        },
    ]
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

    join_section(&mut md, &r.join, s);
    churn_section(&mut md, &r.leave_crash, s);
    cycles_section(&mut md, &r.scale_cycles, s);
    reloads_section(&mut md, &r.reloads, s);
    burst_section(&mut md, &r.burst);
    membership_section(&mut md, &r.membership, s);
    rolling_section(&mut md, &r.rolling, s);
    build_section(&mut md, &r.build);
    swarm_section(&mut md, &r.swarm, s);
    idle::section(&mut md, &r.idle, s.idle_settle);
    data_path::section(&mut md, &r.data_path);

    md.push_str("\n## Timeline\n\nServers UP in HAProxy and failed requests per second over the run on the engine (not the Swarm's of section 9), one band per scenario.\n\n![servers UP and failed requests over time](timeline.svg)\n");
    md
}

fn join_section(md: &mut String, j: &JoinResult, s: &Settings) {
    md.push_str(&format!(
        "\n## 1. Join to serving\n\nScale {} -> {} webapps under {} req/s, a few nodes at a time as `scale` does. \
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

fn churn_section(md: &mut String, c: &ChurnResult, s: &Settings) {
    md.push_str(&format!(
        "\n## 2. Leave and crash under load\n\n{} webapps under {} req/s: `docker stop` of one (Serf leaves on SIGINT), then \
         SIGKILL of another. Failed requests count from the event to the next one; times are from the stop/kill request. \
         HAProxy retries a failed connection (`retries 3`, `option redispatch`).\n\n\
         | event | node | failed requests | answered after | last answer (s) | out of rotation (s) | removed from config (s) |\n\
         |---|---|---|---|---|---|---|\n",
        c.webapps, s.rate
    ));
    let row = |md: &mut String, event: &str, d: &Departure| {
        md.push_str(&format!(
            "| {event} | {} | {} | {} | {:.2} | {} | {} |\n",
            d.node,
            d.failed,
            d.answered_after,
            d.last_answer_s,
            opt(d.out_of_rotation_s, 2),
            opt(d.removed_s, 2)
        ))
    };
    row(md, "graceful stop", &c.graceful_stop);
    row(md, "SIGKILL", &c.sigkill);
    md.push_str(&format!(
        "\nWhole run: {} requests, {} failed.\n",
        c.load.requests, c.load.failed
    ));
    failures(md, "", &c.load);
}

fn cycles_section(md: &mut String, c: &CyclesResult, s: &Settings) {
    md.push_str(&format!(
        "\n## 3. Scale cycles under load\n\n{} cycles of {} -> {} -> {} webapps at a constant {} req/s, compared with the \
         same load for {} s on {} webapps without scaling.\n\n{}",
        c.cycles,
        c.low,
        c.high,
        c.low,
        s.rate,
        s.baseline.as_secs(),
        c.low,
        load_header()
    ));
    md.push_str(&load_row("no scaling", &c.baseline));
    md.push_str(&load_row("scale cycles", &c.scaling));
    let cycles: Vec<String> = c
        .failed_per_cycle
        .iter()
        .zip(&c.cycle_s)
        .enumerate()
        .map(|(i, (failed, secs))| format!("{}: {failed} failed in {secs:.1} s", i + 1))
        .collect();
    md.push_str(&format!(
        "\nPer cycle: {}. Failed while scaling up: {}; while scaling down (graceful stops): {}.\n",
        cycles.join("; "),
        c.failed_scaling_up,
        c.failed_scaling_down
    ));
    failures(md, "", &c.scaling);
}

fn reloads_section(md: &mut String, r: &ReloadsResult, s: &Settings) {
    md.push_str(&format!(
        "\n## 4. Reload hitlessness, side by side\n\n{} forced reloads (`ha-agent reload`: same config) per method, \
         {} webapps, {} req/s, same run. `hitless`: SIGUSR2 to the HAProxy master, which hands the listening \
         sockets to the new worker. `restart`: the lab's method, a new HAProxy with `-sf <old pid>` \
         (`[ha] reload = \"restart\"`, which recreates ha).\n\n\
         | method | reloads | reload errors | duration (s) | requests | failed | p50 (ms) | p99 (ms) | max (ms) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        s.reloads, r.webapps, s.reload_rate
    ));
    let row = |m: &MethodRun| {
        format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
            m.method,
            m.reloads,
            m.reload_errors,
            m.duration_s,
            m.load.requests,
            m.load.failed,
            opt(m.load.p50_ms, 1),
            opt(m.load.p99_ms, 1),
            opt(m.load.max_ms, 1)
        )
    };
    md.push_str(&row(&r.hitless));
    md.push_str(&row(&r.restart));
    let ratio = match r.ratio {
        Some(ratio) => {
            format!("{ratio} failed requests with the lab's method per failed request with ours")
        }
        None if r.restart.load.failed > 0 => format!(
            "ours failed none, the lab's method {}: no finite ratio",
            r.restart.load.failed
        ),
        None => "neither method failed a request at this load: no ratio".into(),
    };
    md.push_str(&format!("\nRatio: {ratio}.\n"));
    for m in [&r.hitless, &r.restart] {
        failures(md, &format!(" ({})", m.method), &m.load);
    }
}

fn burst_section(md: &mut String, b: &BurstResult) {
    md.push_str(&format!(
        "\n## 5. Reloads per burst\n\n{} webapps started at once (concurrent create and start) next to {}; HAProxy reloads \
         counted as the `reload #n` lines ha-agent added to ha's /var/log/serf.log until no new one came for 6 s.\n\n\
         | webapps started at once | HAProxy reloads | all UP after (s) |\n|---|---|---|\n| {} | {} | {:.2} |\n",
        b.started, b.from, b.started, b.reloads, b.all_up_s
    ));
    if !b.reload_lines.is_empty() {
        md.push_str("\n```\n");
        for line in &b.reload_lines {
            md.push_str(line);
            md.push('\n');
        }
        md.push_str("```\n");
    }
}

pub(crate) fn membership_section(md: &mut String, m: &MembershipResult, s: &Settings) {
    let rt = &m.runtime;
    md.push_str(&format!(
        "\n## 6. Membership: runtime API vs reloads, side by side\n\nThe same steps with `[ha] update = \"runtime\"` \
         (servers added, drained and deleted through HAProxy's runtime API) and `update = \"reload\"` (every change \
         rendered and reloaded), same run, {} req/s: scale {} -> {} a few nodes at a time (join to the first answer, \
         from the creation request), {} SIGKILLs one after another (out of rotation: HAProxy no longer shows it UP), \
         then scale {} -> {} -> {}. Reloads are the HAProxy master's counter over the joins, kills and removals.\n\n\
         | update | join p95 (s) | from started, p95 (s) | membership reloads | SIGKILL out of rotation (s) | p95 (s) | failed on SIGKILL | failed (joins, kills) | \
         {} UP after (s) | failed over {} -> {} -> {} | memory of {} webapps + ha (MB) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        s.rate, rt.join_from, rt.join_to, s.kills, rt.big.low, rt.big.high, rt.big.low,
        rt.big.high, rt.big.low, rt.big.high, rt.big.low, rt.big.high
    ));
    for run in [&m.runtime, &m.reload] {
        md.push_str(&update_row(run));
    }
    for run in [&m.runtime, &m.reload] {
        failures(
            md,
            &format!(" ({}, joins and kills)", run.update),
            &run.load,
        );
        failures(md, &format!(" ({}, big scale)", run.update), &run.big.load);
    }
}

fn update_row(u: &UpdateRun) -> String {
    let kills: Vec<String> = u
        .kill_out_of_rotation_s
        .iter()
        .map(|k| opt(*k, 2))
        .collect();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} of {} | {:.1} | {} of {} | {:.0} |\n",
        u.update,
        opt(u.join_p95_s, 2),
        opt(u.join_after_start_p95_s, 2),
        u.membership_reloads,
        kills.join(", "),
        opt(u.kill_out_of_rotation_p95_s, 2),
        u.kill_failed,
        u.load.failed,
        u.load.requests,
        u.big.all_up_s,
        u.big.load.failed,
        u.big.load.requests,
        u.big.memory_mb
    )
}

fn build_section(md: &mut String, b: &BuildResult) {
    md.push_str(&format!(
        "\n## 8. Build and size\n\n`cargo xtask build` as a user runs it (host binaries by cargo, then base, ha, webapp).\n\n\
         | build | time (s) |\n|---|---|\n\
         | cold (`--no-cache`; the imported Debian base is kept) | {} |\n\
         | warm (nothing changed) | {:.1} |\n\
         | after a template change (`--templates` with a modified copy) | {:.1} |\n\
         | back to the real template | {:.1} |\n\n\
         | image | size (MB) | on top of its base (MB) |\n|---|---|---|\n",
        b.cold_s
            .map_or("skipped (`--quick`)".into(), |s| format!("{s:.1}")),
        b.warm_s,
        b.template_change_s,
        b.template_restore_s
    ));
    for image in &b.images {
        md.push_str(&format!(
            "| {} | {:.1} | {} |\n",
            image.image,
            image.size_mb,
            opt(image.own_mb, 1)
        ));
    }
}

fn swarm_section(md: &mut String, w: &SwarmResult, s: &Settings) {
    let (j, l) = (&w.join, &w.node_loss);
    md.push_str(&format!(
        "\n## 9. Swarm ({} nodes)\n\nThe same cluster on a local Swarm: `cargo xtask swarm-lab up --nodes {}` runs {} Docker \
         engines in containers of this host's engine (node1 the manager, running ha, the others workers), and the toolkit \
         drives it as a user does, in child processes: `--config` a cluster file derived from the bench's (project `{}`, \
         its own ports, `[deploy] target = \"swarm\"`), DOCKER_HOST the manager's engine. Load: {} req/s to {} (the \
         manager's published port: every request crosses the host's port publication, the manager's and the overlay). \
         Join: `scale --webapps {} -> {}` under load, each new task timed from the command to UP in HAProxy and to \
         its first answer (the stats are read every 250 ms: a first answer can come before the read showing the \
         server UP). Node loss: with {} webapps under load, the engine of the worker running \
         the most of them SIGKILLed on the host (`docker kill`): until HAProxy shows none of its webapps UP (out of \
         rotation), then until it shows all {} UP again with `status --json` placing every one on a surviving node \
         (Swarm reschedules the tasks; they come back under their names once Serf has reaped the dead members); \
         requests from the kill to {} s after. Not in the timeline below.\n\n\
         | new webapp | to UP in HAProxy (s) | to first answer (s) |\n|---|---|---|\n",
        w.nodes,
        w.nodes,
        w.nodes,
        w.project,
        s.swarm_rate,
        w.target,
        j.from,
        j.to,
        l.webapps,
        l.webapps,
        SWARM_SETTLE.as_secs()
    ));
    for n in &j.nodes {
        md.push_str(&format!(
            "| {} | {:.2} | {} |\n",
            n.name,
            n.up_s,
            opt(n.first_answer_s, 2)
        ));
    }
    md.push_str(&format!(
        "\n| p50 (s) | p95 (s) | max (s) | `scale` (s) | requests | failed |\n|---|---|---|---|---|---|\n\
         | {} | {} | {} | {:.1} | {} | {} |\n",
        opt(j.p50_s, 2),
        opt(j.p95_s, 2),
        opt(j.max_s, 2),
        j.scale_s,
        j.load.requests,
        j.load.failed
    ));
    failures(md, " (scale)", &j.load);
    let placed = |placement: &std::collections::BTreeMap<String, String>| {
        placement
            .iter()
            .map(|(webapp, node)| format!("{webapp}: {node}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    md.push_str(&format!(
        "\n| node killed | webapps lost | out of rotation (s) | back to {} serving (s) | requests | failed | p99 (ms) | max (ms) |\n\
         |---|---|---|---|---|---|---|---|\n| {} | {} | {:.1} | {:.1} | {} | {} | {} | {} |\n\n\
         Before: {}. After: {}.\n",
        l.webapps,
        l.node,
        l.lost.join(", "),
        l.out_of_rotation_s,
        l.back_s,
        l.load.requests,
        l.load.failed,
        opt(l.load.p99_ms, 1),
        opt(l.load.max_ms, 1),
        placed(&l.before),
        placed(&l.after)
    ));
    failures(md, " (node loss)", &l.load);
    md.push_str(&format!(
        "\n| command | time (s) |\n|---|---|\n\
         | `build` (on the host: the Swarm project's images, from the build cache) | {:.1} |\n\
         | `swarm-lab up --nodes {}` | {:.1} |\n\
         | `up` ({} webapps) | {:.1} |\n\
         | `down` (after the node loss) | {:.1} |\n\
         | `swarm-lab down` | {:.1} |\n",
        w.build_s, w.nodes, w.lab_up_s, j.from, w.up_s, w.down_s, w.lab_down_s
    ));
}

fn load_header() -> &'static str {
    "| load | requests | failed | rate (req/s) | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|---|---|\n"
}

fn load_row(name: &str, s: &Summary) -> String {
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
fn failures(md: &mut String, of: &str, s: &Summary) {
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

fn rolling_section(md: &mut String, rows: &[RollingResult], s: &Settings) {
    md.push_str(&format!(
        "\n## 7. Rolling updates under load\n\nEvery webapp replaced by a new image as `up` \
         does it (each slot drained, then replaced, `max_unavailable` at a time), under {} req/s; \
         the fewest servers in rotation is sampled from the stats every 100 ms.\n\n\
         | app | webapps | max_unavailable | requests | failed | duration | min UP |\n\
         |---|---|---|---|---|---|---|\n",
        s.rate
    ));
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            r.app, r.webapps, r.max_unavailable, r.requests, r.failed, r.duration_s, r.min_up
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::join::NodeJoin;

    fn load(requests: u64, failed: u64) -> Summary {
        Summary {
            requests,
            ok: requests - failed,
            failed,
            ..Summary::default()
        }
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

    fn swarm_run() -> SwarmResult {
        use crate::bench::scenario::swarm::{NodeLoss, SwarmJoin, SwarmNodeJoin};
        let placed = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(w, n)| (w.to_string(), n.to_string()))
                .collect()
        };
        SwarmResult {
            project: "lab4-swarm".into(),
            nodes: 3,
            target: "http://127.0.0.1:81/".into(),
            build_s: 30.0,
            lab_up_s: 20.0,
            up_s: 40.0,
            join: SwarmJoin {
                from: 2,
                to: 4,
                scale_s: 9.0,
                nodes: vec![SwarmNodeJoin {
                    name: "s3".into(),
                    up_s: 6.0,
                    first_answer_s: Some(6.1),
                }],
                p50_s: Some(6.0),
                p95_s: Some(6.0),
                max_s: Some(6.0),
                load: load(1000, 0),
            },
            node_loss: NodeLoss {
                webapps: 4,
                node: "lab4-swarm-node3".into(),
                lost: vec!["s3".into()],
                out_of_rotation_s: 3.0,
                back_s: 45.0,
                before: placed(&[("s3", "lab4-swarm-node3")]),
                after: placed(&[("s3", "lab4-swarm-node2")]),
                load: load(5000, 0),
            },
            down_s: 5.0,
            lab_down_s: 4.0,
        }
    }

    fn swarm_met(s: &SwarmResult) -> Vec<Option<bool>> {
        swarm_targets(s).into_iter().map(|t| t.met).collect()
    }

    #[test]
    fn a_swarm_node_loss_must_fail_nothing_and_heal_within_90_s() {
        let mut run = swarm_run();
        assert_eq!(swarm_met(&run), [Some(true); 3]);
        run.node_loss.back_s = 90.0;
        assert_eq!(swarm_met(&run), [Some(true); 3]);
        run.node_loss.back_s = 90.1;
        assert_eq!(swarm_met(&run), [Some(true), Some(true), Some(false)]);
        let mut run = swarm_run();
        run.node_loss.load = load(5000, 1);
        assert_eq!(swarm_met(&run), [Some(true), Some(false), Some(true)]);
        let mut run = swarm_run();
        run.join.load = load(1000, 2);
        assert_eq!(swarm_met(&run), [Some(false), Some(true), Some(true)]);
        let names: Vec<String> = swarm_targets(&run).into_iter().map(|t| t.name).collect();
        assert_eq!(names[0], "Swarm: failed requests while scaling 2 -> 4");
    }

    #[test]
    fn the_swarm_section_names_what_was_killed_and_where_the_webapps_went() {
        let mut md = String::new();
        swarm_section(&mut md, &swarm_run(), &Settings::new(true));
        assert!(md.starts_with("\n## 9. Swarm (3 nodes)\n"), "{md}");
        assert!(
            md.contains("| lab4-swarm-node3 | s3 | 3.0 | 45.0 | 5000 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| s3 | 6.00 | 6.10 |"), "{md}");
        assert!(
            md.contains("Before: s3: lab4-swarm-node3. After: s3: lab4-swarm-node2."),
            "{md}"
        );
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
