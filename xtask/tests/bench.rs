//! `cargo xtask bench --quick` on the real engine, on its own project: the report must be
//! complete (every scenario, every field, the plot), every figure measured and plausible
//! (non-null, in a range the run can produce), and the stack and the Swarm lab of scenario 9
//! gone afterwards. Whether the figures meet the targets is the benchmark's business, not
//! the test's.
mod support;

use std::time::Instant;

use serde_json::Value;
use support::{docker, root, xtask, Scratch, Stack};

const SECTIONS: &[&str] = &[
    "## Targets vs measured",
    "## 1. Join to serving",
    "## 2. Leave and crash under load",
    "## 3. Scale cycles under load",
    "## 4. Reload hitlessness, side by side",
    "## 5. Reloads per burst",
    "## 6. Membership: runtime API vs reloads, side by side",
    "## 7. Rolling updates under load",
    "## 8. Build and size",
    "## 9. Swarm (3 nodes)",
    "## 10. Idle cost",
    "## 11. Data-path cost, side by side",
    "## 12. Several services",
    "### Route-table scale",
    "## Timeline",
];

/// `path` (`a.b.c`) in `json`, failing the test with the path when it is missing.
#[track_caller]
fn at<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(json, |value, key| match value.get(key) {
            Some(inner) => inner,
            None => panic!("results.json has no {path}:\n{json:#}"),
        })
}

#[track_caller]
fn number(json: &Value, path: &str) -> f64 {
    at(json, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {}", at(json, path)))
}

/// A number in `range`: what a run that measured something real can give.
#[track_caller]
fn within(json: &Value, path: &str, range: std::ops::RangeInclusive<f64>) -> f64 {
    let value = number(json, path);
    assert!(
        range.contains(&value),
        "{path} = {value}, expected within {range:?}"
    );
    value
}

/// Longest any step may take to converge (settings.converge_timeout), in seconds.
const CONVERGE_S: f64 = 180.0;
/// Longest a request may take (settings.request_timeout), in milliseconds.
const REQUEST_MS: f64 = 15_000.0;
/// Longest any wait of the Swarm scenario may take (settings.swarm_timeout), in seconds.
const SWARM_S: f64 = 300.0;

/// The Swarm lab of the bench's scenario 9 (project `<project>-swarm`), removed through the
/// cluster file the bench derived when the test ends: the bench removes it itself, this is
/// for a bench that died.
struct SwarmLab(String);

impl SwarmLab {
    fn config(&self) -> std::path::PathBuf {
        root()
            .join("target/bench-swarm")
            .join(&self.0)
            .join("cluster.toml")
    }
}

impl Drop for SwarmLab {
    fn drop(&mut self) {
        let config = self.config();
        if config.exists() {
            let down = xtask(&["swarm-lab", "down", "--config", config.to_str().unwrap()]);
            if !down.status.success() {
                eprintln!("cleanup: swarm-lab down failed:\n{}", down.all_text());
            }
        }
    }
}

/// `docker LIST --filter label=lbkit.project=<project> --format FORMAT`, one per line.
fn labelled(list: &[&str], project: &str, format: &str) -> Vec<String> {
    let filter = format!("label=lbkit.project={project}");
    let mut args = list.to_vec();
    args.extend(["--filter", &filter, "--format", format]);
    let run = docker(&args);
    run.assert_success();
    run.stdout_text().lines().map(String::from).collect()
}

#[track_caller]
fn load_summary(json: &Value, path: &str) {
    let requests = within(json, &format!("{path}.requests"), 1.0..=1e7);
    let ok = within(json, &format!("{path}.ok"), 0.0..=requests);
    let failed = within(json, &format!("{path}.failed"), 0.0..=requests);
    assert_eq!(ok + failed, requests, "{path}: every request counted once");
    let failures: f64 = at(json, &format!("{path}.failures"))
        .as_object()
        .unwrap_or_else(|| panic!("{path}.failures is not a map"))
        .values()
        .map(|n| n.as_f64().unwrap())
        .sum();
    assert_eq!(failures, failed, "{path}: failures by kind add up");
    within(json, &format!("{path}.rate"), 1.0..=100_000.0);
    within(json, &format!("{path}.skipped"), 0.0..=1e7);
    // Latencies of successful requests: measured, ordered, below the request timeout.
    let mut last = 0.0;
    for field in ["p50_ms", "p95_ms", "p99_ms", "max_ms"] {
        last = within(json, &format!("{path}.{field}"), last..=REQUEST_MS);
    }
}

#[test]
fn quick_bench_writes_a_complete_report_and_cleans_up() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-bench", 41, 2);
    let swarm = SwarmLab(format!("{}-swarm", stack.name));
    let scratch = Scratch::new("e2e-bench-out");
    let out = scratch.path("bench");
    let started = Instant::now();
    let run = stack.xtask(&["bench", "--quick", "--out", out.to_str().unwrap()]);
    eprintln!(
        "bench --quick took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    run.assert_success();
    assert!(
        run.stdout_text().contains("join to serving, p95"),
        "the targets are printed: {}",
        run.all_text()
    );

    let md = std::fs::read_to_string(out.join("results.md")).expect("results.md");
    // The figures of this run, for `--nocapture`: the folder goes with the test.
    eprintln!("{md}");
    for section in SECTIONS {
        assert!(md.contains(section), "results.md lacks {section:?}:\n{md}");
    }
    let targets = md
        .split("## Targets vs measured")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let rows = targets.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, 24, "header + 23 targets:\n{targets}");

    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(at(&json, "mode"), "quick");
    assert_eq!(at(&json, "project"), stack.name.as_str());
    number(&json, "schema");
    let started_at = at(&json, "started_at").as_str().unwrap();
    let started_at = cluster::time::parse_rfc3339(started_at)
        .unwrap_or_else(|| panic!("started_at {started_at:?} is an RFC 3339 time"));
    let age = std::time::SystemTime::now()
        .duration_since(started_at)
        .expect("started_at is in the past");
    let took = within(
        &json,
        "duration_s",
        10.0..=started.elapsed().as_secs_f64() + 1.0,
    );
    assert!(
        age.as_secs_f64() >= took - 1.0,
        "started_at is when it started"
    );
    within(&json, "cpus", 1.0..=1024.0);
    within(&json, "settings.rate", 1.0..=100_000.0);

    let nodes = at(&json, "join.nodes").as_array().unwrap();
    let joined = number(&json, "join.to") - number(&json, "join.from");
    assert!(joined >= 1.0, "the join scenario adds nodes");
    assert_eq!(nodes.len() as f64, joined, "one entry per new node");
    for node in nodes {
        assert!(at(node, "name").is_string());
        // Every new node served: from its creation request, and from its start.
        let answer = within(node, "to_first_answer_s", 0.0..=CONVERGE_S);
        within(node, "after_start_s", 0.0..=answer);
    }
    let p50 = within(&json, "join.p50_s", 0.0..=CONVERGE_S);
    let p95 = within(&json, "join.p95_s", p50..=CONVERGE_S);
    within(&json, "join.max_s", p95..=CONVERGE_S);
    load_summary(&json, "join.load");

    for event in ["graceful_stop", "sigkill"] {
        let path = format!("leave_crash.{event}");
        assert!(at(&json, &format!("{path}.node")).is_string());
        within(&json, &format!("{path}.failed"), 0.0..=1e6);
        within(&json, &format!("{path}.answered_after"), 0.0..=1e6);
        within(&json, &format!("{path}.last_answer_s"), 0.0..=CONVERGE_S);
        // HAProxy took the node out, and the agent removed it from the config.
        let out = within(
            &json,
            &format!("{path}.out_of_rotation_s"),
            0.0..=CONVERGE_S,
        );
        assert!(out > 0.0, "{path}: taken out after the event");
        within(&json, &format!("{path}.removed_s"), 0.0..=CONVERGE_S);
    }
    load_summary(&json, "leave_crash.load");

    load_summary(&json, "scale_cycles.baseline");
    load_summary(&json, "scale_cycles.scaling");
    let scaling_failed = number(&json, "scale_cycles.scaling.failed");
    let up = within(
        &json,
        "scale_cycles.failed_scaling_up",
        0.0..=scaling_failed,
    );
    within(
        &json,
        "scale_cycles.failed_scaling_down",
        0.0..=scaling_failed - up,
    );
    let cycles = within(&json, "scale_cycles.cycles", 1.0..=100.0) as usize;
    let per_cycle = at(&json, "scale_cycles.failed_per_cycle")
        .as_array()
        .unwrap();
    assert_eq!(per_cycle.len(), cycles);
    let durations = at(&json, "scale_cycles.cycle_s").as_array().unwrap();
    assert_eq!(durations.len(), cycles);
    for d in durations {
        let d = d.as_f64().expect("a cycle's duration");
        assert!(d > 0.0 && d <= 4.0 * CONVERGE_S, "cycle of {d} s");
    }

    let forced = number(&json, "settings.reloads");
    for method in ["hitless", "restart"] {
        let path = format!("reloads.{method}");
        assert_eq!(at(&json, &format!("{path}.method")), method);
        let done = within(&json, &format!("{path}.reloads"), 1.0..=forced);
        within(&json, &format!("{path}.reload_errors"), 0.0..=done);
        within(&json, &format!("{path}.duration_s"), 0.0..=CONVERGE_S);
        load_summary(&json, &format!("{path}.load"));
    }
    assert_eq!(
        number(&json, "reloads.hitless.reload_errors"),
        0.0,
        "every hitless reload was confirmed by the HAProxy master"
    );
    let ratio = at(&json, "reloads.ratio");
    assert!(ratio.is_null() || ratio.as_f64().is_some_and(|r| r >= 0.0));

    assert_eq!(
        number(&json, "burst.started"),
        number(&json, "settings.burst")
    );
    // Joins go through the runtime API: a burst may cause no reload at all.
    let reloads = within(&json, "burst.reloads", 0.0..=number(&json, "burst.started"));
    let lines = at(&json, "burst.reload_lines").as_array().unwrap();
    assert_eq!(lines.len() as f64, reloads, "one line per counted reload");
    for line in lines {
        let line = line.as_str().unwrap();
        let record = cluster::record::Record::parse(line);
        assert!(
            record.as_ref().is_some_and(|r| r.is_reload()),
            "{line:?} is a reload record"
        );
    }
    within(&json, "burst.all_up_s", 0.0..=CONVERGE_S);

    for update in ["runtime", "reload"] {
        let path = |field: &str| format!("membership.{update}.{field}");
        assert_eq!(at(&json, &path("update")), update);
        within(&json, &path("join_p95_s"), 0.0..=CONVERGE_S);
        within(&json, &path("join_after_start_p95_s"), 0.0..=CONVERGE_S);
        let kills = at(&json, &path("kill_out_of_rotation_s"))
            .as_array()
            .unwrap();
        assert_eq!(kills.len() as f64, number(&json, "settings.kills"));
        within(&json, &path("kill_out_of_rotation_p95_s"), 0.0..=30.0);
        number(&json, &path("kill_failed"));
        load_summary(&json, &path("load"));
        assert_eq!(
            number(&json, &path("big.high")),
            number(&json, "settings.big_scale")
        );
        within(&json, &path("big.all_up_s"), 0.0..=CONVERGE_S);
        within(&json, &path("big.memory_mb"), 1.0..=100_000.0);
        load_summary(&json, &path("big.load"));
    }
    assert_eq!(
        number(&json, "membership.runtime.membership_reloads"),
        0.0,
        "joins and failures through the runtime API reload nothing"
    );
    number(&json, "membership.reload.membership_reloads");

    assert!(at(&json, "build.cold_s").is_null(), "--quick skips it");
    for path in [
        "build.warm_s",
        "build.template_change_s",
        "build.template_restore_s",
    ] {
        within(&json, path, 0.0..=1800.0);
    }
    let images = at(&json, "build.images").as_array().unwrap();
    let names: Vec<&str> = images
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["base", "ha", "webapp"].map(|image| format!("{}/{image}:latest", stack.name))
    );
    for image in images {
        let size = within(image, "size_mb", 1.0..=5000.0);
        let own = at(image, "own_mb");
        assert!(
            own.is_null() || own.as_f64().is_some_and(|mb| (0.0..=size).contains(&mb)),
            "{image}"
        );
    }

    swarm_figures(&json, &swarm.0, &stack);
    idle_figures(&json);
    data_path_figures(&json, &stack);
    services_figures(&json);

    let targets = at(&json, "targets").as_array().unwrap();
    assert_eq!(targets.len(), 23);
    for target in targets {
        for field in ["name", "goal", "measured"] {
            let text = at(target, field).as_str().unwrap_or_default();
            assert!(!text.is_empty(), "target {field}: {target}");
        }
        let met = at(target, "met");
        assert!(met.is_null() || met.is_boolean(), "{target}");
    }

    let phases: Vec<&str> = at(&json, "timeline.phases")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases.len(), 15, "{phases:?}");
    let points = at(&json, "timeline.points").as_array().unwrap();
    assert!(points.len() > 10, "one point per second");
    let most = (number(&json, "settings.join_to").max(number(&json, "settings.cycle_high"))
        + number(&json, "settings.burst"))
    .max(number(&json, "settings.big_scale"))
    .max(number(&json, "settings.idle_webapps"));
    // Null where the stats page did not answer that second.
    let peak = points
        .iter()
        .filter(|p| !p["servers_up"].is_null())
        .map(|p| within(p, "servers_up", 0.0..=most))
        .fold(0.0, f64::max);
    assert!(peak >= 2.0, "the timeline saw servers UP (peak {peak})");
    let svg = std::fs::read_to_string(out.join("timeline.svg")).expect("timeline.svg");
    assert!(svg.starts_with("<svg") && svg.contains("<path "), "{svg}");

    assert!(
        stack.containers().is_empty(),
        "the bench removes its stack: {:?}",
        stack.containers()
    );
    assert!(stack.networks().is_empty(), "and its network");

    // Nothing is left of the Swarm: its nodes (the Swarm's services, secrets and network
    // lived in their engines), their volumes and socket folders, its images on the host.
    let project = &swarm.0;
    let containers = labelled(&["ps", "-a"], project, "{{.Names}}");
    assert!(
        containers.is_empty(),
        "swarm lab nodes left: {containers:?}"
    );
    let volumes = labelled(&["volume", "ls"], project, "{{.Name}}");
    assert!(volumes.is_empty(), "swarm lab volumes left: {volumes:?}");
    let images = labelled(&["image", "ls"], project, "{{.Repository}}:{{.Tag}}");
    assert!(images.is_empty(), "Swarm project images left: {images:?}");
    let nested = root().join(".state").join(project).join("nested");
    let folders: Vec<_> = std::fs::read_dir(&nested)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(folders.is_empty(), "socket folders left: {folders:?}");

    // Nor of scenario 12b's twin cluster: its containers, network, image tags and state.
    let twin = format!("{}-twin", stack.name);
    assert_eq!(at(&json, "routes.twin"), twin.as_str());
    let containers = labelled(&["ps", "-a"], &twin, "{{.Names}}");
    assert!(
        containers.is_empty(),
        "twin containers left: {containers:?}"
    );
    let networks = labelled(&["network", "ls"], &twin, "{{.Name}}");
    assert!(networks.is_empty(), "twin networks left: {networks:?}");
    let tags = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    tags.assert_success();
    let listed = tags.stdout_text();
    let prefix = format!("{twin}/");
    let left: Vec<&str> = listed
        .lines()
        .filter(|tag| tag.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "twin image tags left: {left:?}");
    assert!(
        !root().join(".state").join(&twin).exists(),
        "the twin's state folder is left"
    );
}

/// Scenario 10: the idle window as long as set, every count measured, the rates its counts
/// scaled to a minute.
#[track_caller]
fn idle_figures(json: &Value) {
    assert_eq!(
        number(json, "idle.webapps"),
        number(json, "settings.idle_webapps")
    );
    let set = number(json, "settings.idle_window");
    let window = within(json, "idle.window_s", set..=set + 5.0);
    let cpu = within(json, "idle.cpu_s", 0.0..=2.0 * window);
    assert!(cpu > 0.0, "ha used some CPU: Serf alone does");
    within(json, "idle.cpu_percent", 0.0..=200.0);
    let file = at(json, "idle.cpu_file").as_str().unwrap();
    assert!(
        file.ends_with("cpuacct.usage") || file.ends_with("cpu.stat"),
        "{file}"
    );
    for count in ["rpc_connections", "log_lines", "pids"] {
        let n = within(json, &format!("idle.{count}"), 0.0..=1e6);
        let per_min = number(json, &format!("idle.{count}_per_min"));
        let expected = n * 60.0 / window;
        assert!(
            (per_min - expected).abs() <= 0.1 + expected * 0.01,
            "idle.{count}_per_min = {per_min}, {n} in {window} s"
        );
    }
    let rpc = number(json, "idle.rpc_connections");
    assert!(
        rpc <= number(json, "idle.log_lines"),
        "every RPC connection is a log line"
    );
    let sample = at(json, "idle.log_sample").as_array().unwrap();
    assert!(sample.len() <= 5);
}

/// Scenario 12: each of the three services served, none misrouted or failed (the
/// routing is exact by design, so a quick run can say so too); 12b: both tables measured,
/// the added host answered without a reload.
fn services_figures(json: &Value) {
    let services = at(json, "services.services").as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webapps", "a", "b"]);
    for service in services {
        load_summary(service, "load");
        assert_eq!(number(service, "misrouted"), 0.0, "{service}");
        assert_eq!(number(service, "load.failed"), 0.0, "{service}");
        let joined = service["nodes"].as_array().unwrap();
        assert!(!joined.is_empty(), "new webapps timed: {service}");
        within(service, "join_p95_s", 0.0..=60.0);
    }
    within(json, "services.added_first_answer_s", 0.0..=60.0);
    let rounds = number(json, "routes.rounds");
    for table in ["small", "large"] {
        load_summary(json, &format!("routes.{table}"));
        let windows = at(json, &format!("routes.{table}_window_p99_ms"))
            .as_array()
            .unwrap_or_else(|| panic!("routes.{table}_window_p99_ms is not a list"));
        assert_eq!(
            windows.len() as f64,
            rounds,
            "one p99 per window: {windows:?}"
        );
        assert!(windows
            .iter()
            .all(|v| v.as_f64().is_some_and(|ms| ms > 0.0)));
    }
    let ratios = at(json, "routes.ratios").as_array().unwrap();
    assert_eq!(
        ratios.len() as f64,
        rounds,
        "one ratio per round: {ratios:?}"
    );
    assert_eq!(rounds % 2.0, 0.0, "each cluster has each table as often");
    within(json, "routes.handover_s", 0.0..=60.0);
    assert_eq!(number(json, "routes.routes"), 1000.0);
    within(json, "routes.added_first_answer_s", 0.0..=10.0);
    assert_eq!(at(json, "routes.reloaded").as_bool(), Some(false));
}

/// Scenario 11: both balancers measured over every round, the ratio their medians'.
#[track_caller]
fn data_path_figures(json: &Value, stack: &Stack) {
    let rounds = number(json, "settings.data_path_rounds");
    assert_eq!(number(json, "data_path.rounds"), rounds);
    assert_eq!(
        at(json, "data_path.pinned").as_bool(),
        Some(number(json, "cpus") >= 2.0),
        "pinned apart whenever the host has two CPUs"
    );
    for side in ["ours", "lab"] {
        let path = |field: &str| format!("data_path.{side}.{field}");
        let rates = at(json, &path("rates")).as_array().unwrap();
        assert_eq!(rates.len() as f64, rounds, "one rate per round");
        let median = within(json, &path("median_rate"), 1.0..=1e6);
        let (low, high) = rates
            .iter()
            .map(|r| r.as_f64().unwrap())
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
        assert!(
            (low..=high).contains(&median),
            "{side}: median within its rounds"
        );
        within(json, &path("balancer_cpu_percent"), 0.0..=200.0);
        within(json, &path("generator_cpu_percent"), 0.0..=100.5);
        load_summary(json, &path("load"));
    }
    assert_eq!(
        at(json, "data_path.ours.balancer"),
        format!("{}-ha", stack.name).as_str()
    );
    assert_eq!(
        at(json, "data_path.lab.balancer"),
        format!("{}-ha-static", stack.name).as_str()
    );
    // The median of the rounds' ratios, each round's two runs side by side.
    let rates = |side: &str| -> Vec<f64> {
        at(json, &format!("data_path.{side}.rates"))
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect()
    };
    let mut ratios: Vec<f64> = rates("ours")
        .iter()
        .zip(rates("lab"))
        .map(|(ours, lab)| ours / lab)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let expected = match n % 2 {
        1 => ratios[n / 2],
        _ => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    };
    let ratio = number(json, "data_path.ratio");
    assert!(
        (ratio - expected).abs() < 0.001,
        "ratio {ratio} vs {expected}"
    );
}

/// Scenario 9: every figure measured and plausible, the node lost a worker's.
#[track_caller]
fn swarm_figures(json: &Value, project: &str, stack: &Stack) {
    assert_eq!(at(json, "swarm.project"), project);
    let nodes = number(json, "swarm.nodes");
    assert_eq!(nodes, number(json, "settings.swarm_nodes"));
    assert_eq!(
        at(json, "swarm.target"),
        format!("http://127.0.0.1:{}/", stack.http_port + 1).as_str(),
        "the Swarm's own port, next to the engine run's"
    );
    for command in ["build_s", "lab_up_s", "up_s", "down_s", "lab_down_s"] {
        let took = within(json, &format!("swarm.{command}"), 0.0..=1800.0);
        assert!(took > 0.0, "swarm.{command} measured");
    }

    let (from, to) = (
        number(json, "settings.swarm_from"),
        number(json, "settings.swarm_to"),
    );
    assert_eq!(number(json, "swarm.join.from"), from);
    assert_eq!(number(json, "swarm.join.to"), to);
    let joined = at(json, "swarm.join.nodes").as_array().unwrap();
    assert!(to > from, "the Swarm scenario scales up");
    assert_eq!(joined.len() as f64, to - from, "one entry per new webapp");
    for node in joined {
        assert!(at(node, "name").is_string());
        // UP in HAProxy, and it answered through the load balancer.
        within(node, "up_s", 0.0..=SWARM_S);
        within(node, "first_answer_s", 0.0..=SWARM_S);
    }
    let p50 = within(json, "swarm.join.p50_s", 0.0..=SWARM_S);
    let p95 = within(json, "swarm.join.p95_s", p50..=SWARM_S);
    within(json, "swarm.join.max_s", p95..=SWARM_S);
    within(json, "swarm.join.scale_s", 0.0..=SWARM_S + 60.0);
    load_summary(json, "swarm.join.load");

    assert_eq!(number(json, "swarm.node_loss.webapps"), to);
    let killed = at(json, "swarm.node_loss.node").as_str().unwrap();
    let workers: Vec<String> = (2..=nodes as u32)
        .map(|k| format!("{project}-node{k}"))
        .collect();
    assert!(
        workers.iter().any(|w| w == killed),
        "the node killed, {killed}, is a worker: {workers:?}"
    );
    let before = at(json, "swarm.node_loss.before").as_object().unwrap();
    let after = at(json, "swarm.node_loss.after").as_object().unwrap();
    assert_eq!(before.len() as f64, to, "{before:?}");
    assert_eq!(after.len() as f64, to, "{after:?}");
    let lost = at(json, "swarm.node_loss.lost").as_array().unwrap();
    assert!(!lost.is_empty(), "the node killed ran webapps");
    for name in lost {
        let name = name.as_str().unwrap();
        assert_eq!(before[name], killed, "{name} ran on {killed}: {before:?}");
    }
    assert!(
        after.values().all(|node| node != killed),
        "back on the surviving nodes: {after:?}"
    );
    let out = within(json, "swarm.node_loss.out_of_rotation_s", 0.0..=SWARM_S);
    assert!(out > 0.0, "taken out after the kill");
    within(json, "swarm.node_loss.back_s", out..=SWARM_S);
    load_summary(json, "swarm.node_loss.load");
}

/// `bench` runs the cluster on one engine (its Swarm rows start their own swarm-lab): a
/// cluster file for a Swarm is refused in one line, before anything runs. The engine is
/// unreachable here, so any engine call would end in another error (exit 1).
#[test]
fn a_swarm_cluster_file_is_refused_before_any_engine_call() {
    let scratch = Scratch::new("bench-swarm-refused");
    let config = scratch.write(
        "swarm.toml",
        "project = \"bench-refused\"\n\n[deploy]\ntarget = \"swarm\"\n",
    );
    let unreachable = format!("unix://{}", scratch.path("no-engine.sock").display());
    let run = support::xtask_on(&unreachable, &config, &["bench", "--quick"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.all_text());
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(config.to_str().unwrap())
            && stderr.contains("deploy.target = \"swarm\"")
            && stderr.contains("deploy.target = \"engine\""),
        "names the file, the key and the fix: {stderr}"
    );
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout_text());
}
