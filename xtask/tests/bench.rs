//! `cargo xtask bench --quick` on the real engine, on its own project: the report must be
//! complete (every scenario, every field, the plot) and the stack gone afterwards. The
//! figures themselves are the benchmark's business, not the test's.
mod support;

use std::time::Instant;

use serde_json::Value;
use support::{Scratch, Stack};

const SECTIONS: &[&str] = &[
    "## Targets vs measured",
    "## 1. Join to serving",
    "## 2. Leave and crash under load",
    "## 3. Scale cycles under load",
    "## 4. Reload hitlessness, side by side",
    "## 5. Reloads per burst",
    "## 6. Build and size",
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

#[track_caller]
fn load_summary(json: &Value, path: &str) {
    for field in ["requests", "ok", "failed", "rate", "skipped"] {
        number(json, &format!("{path}.{field}"));
    }
    for field in ["failures", "p50_ms", "p95_ms", "p99_ms", "max_ms"] {
        at(json, &format!("{path}.{field}"));
    }
    assert!(
        number(json, &format!("{path}.requests")) > 0.0,
        "{path}: the load ran"
    );
}

#[test]
fn quick_bench_writes_a_complete_report_and_cleans_up() {
    let stack = Stack::new("e2e-bench", 41, 2);
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
    for section in SECTIONS {
        assert!(md.contains(section), "results.md lacks {section:?}:\n{md}");
    }
    let targets = md
        .split("## Targets vs measured")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let rows = targets.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, 7, "header + 6 targets:\n{targets}");

    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(at(&json, "mode"), "quick");
    assert_eq!(at(&json, "project"), stack.name.as_str());
    for path in ["schema", "duration_s", "cpus", "settings.rate"] {
        number(&json, path);
    }

    let nodes = at(&json, "join.nodes").as_array().unwrap();
    let joined = number(&json, "join.to") - number(&json, "join.from");
    assert_eq!(nodes.len() as f64, joined, "one entry per new node");
    for node in nodes {
        at(node, "name");
        at(node, "to_first_answer_s");
        at(node, "after_start_s");
    }
    for path in ["join.p50_s", "join.p95_s", "join.max_s"] {
        at(&json, path);
    }
    load_summary(&json, "join.load");

    for event in ["graceful_stop", "sigkill"] {
        let path = format!("leave_crash.{event}");
        for field in ["failed", "answered_after", "last_answer_s"] {
            number(&json, &format!("{path}.{field}"));
        }
        at(&json, &format!("{path}.out_of_rotation_s"));
        at(&json, &format!("{path}.removed_s"));
    }
    load_summary(&json, "leave_crash.load");

    load_summary(&json, "scale_cycles.baseline");
    load_summary(&json, "scale_cycles.scaling");
    number(&json, "scale_cycles.failed_scaling_up");
    number(&json, "scale_cycles.failed_scaling_down");
    let cycles = number(&json, "scale_cycles.cycles") as usize;
    assert_eq!(
        at(&json, "scale_cycles.failed_per_cycle")
            .as_array()
            .unwrap()
            .len(),
        cycles
    );

    for method in ["hitless", "restart"] {
        assert_eq!(at(&json, &format!("reloads.{method}.method")), method);
        number(&json, &format!("reloads.{method}.reloads"));
        number(&json, &format!("reloads.{method}.reload_errors"));
        load_summary(&json, &format!("reloads.{method}.load"));
    }
    at(&json, "reloads.ratio");

    number(&json, "burst.started");
    number(&json, "burst.reloads");
    number(&json, "burst.all_up_s");
    at(&json, "burst.reload_lines");

    assert!(at(&json, "build.cold_s").is_null(), "--quick skips it");
    for path in [
        "build.warm_s",
        "build.template_change_s",
        "build.template_restore_s",
    ] {
        number(&json, path);
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

    let targets = at(&json, "targets").as_array().unwrap();
    assert_eq!(targets.len(), 6);
    for target in targets {
        for field in ["name", "goal", "measured", "met"] {
            at(target, field);
        }
    }

    let phases: Vec<&str> = at(&json, "timeline.phases")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases.len(), 8, "{phases:?}");
    let points = at(&json, "timeline.points").as_array().unwrap();
    assert!(points.len() > 10, "one point per second");
    let svg = std::fs::read_to_string(out.join("timeline.svg")).expect("timeline.svg");
    assert!(svg.starts_with("<svg") && svg.contains("<path "), "{svg}");

    assert!(
        stack.containers().is_empty(),
        "the bench removes its stack: {:?}",
        stack.containers()
    );
    assert!(stack.networks().is_empty(), "and its network");
}
