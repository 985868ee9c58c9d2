//! Membership through HAProxy's runtime API on the real engine: joins, leaves and
//! failures change the live servers without a reload, the config file always lists the
//! live servers, a failed runtime operation falls back to a validated reload, and a
//! structural change reloads hitlessly with the servers' state kept. Also 50 webapps on
//! one host, and the neighbour-table preflight. Through 127.0.0.1 and `docker exec` only.
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{docker, eventually, http_get, Scratch, Stack};

const CONVERGE: Duration = Duration::from_secs(60);

fn ha_exec(stack: &Stack, args: &[&str]) -> support::Run {
    let ha = stack.ha();
    let mut all = vec!["exec", ha.as_str()];
    all.extend(args);
    docker(&all)
}

/// The master CLI's reload counter (`show proc`).
fn reloads(stack: &Stack) -> u64 {
    let out = ha_exec(stack, &["ha-agent", "cli", "master", "show", "proc"]);
    let text = out.stdout_text();
    text.lines()
        .find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words.get(1) == Some(&"master")).then(|| words[2].parse().ok())?
        })
        .unwrap_or_else(|| panic!("no master line in `show proc`:\n{}", out.all_text()))
}

/// The live servers of the `nodes` backend: name -> (operational state, admin state,
/// weight), from the worker's `show servers state`.
fn live(stack: &Stack) -> BTreeMap<String, (u32, u32, u32)> {
    let out = ha_exec(
        stack,
        &[
            "ha-agent", "cli", "admin", "show", "servers", "state", "nodes",
        ],
    );
    out.stdout_text()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 7 && f[1] == "nodes")
        .map(|f| {
            let n = |i: usize| f[i].parse().unwrap_or(u32::MAX);
            (f[3].to_string(), (n(5), n(6), n(7)))
        })
        .collect()
}

/// Live servers that are UP (running, not in maintenance or drain).
fn serving(stack: &Stack) -> BTreeSet<String> {
    live(stack)
        .into_iter()
        .filter(|(_, (op, admin, _))| *op == 2 && *admin == 0)
        .map(|(name, _)| name)
        .collect()
}

fn config(stack: &Stack) -> String {
    ha_exec(stack, &["cat", "/etc/haproxy/haproxy.cfg"]).stdout_text()
}

/// The servers the live haproxy.cfg lists.
fn config_servers(stack: &Stack) -> BTreeSet<String> {
    config(stack)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Waits until exactly these webapps are live and UP, and the config file lists exactly
/// them; returns how long that took.
fn wait_exactly(stack: &Stack, numbers: &[u32]) -> Duration {
    let start = Instant::now();
    let expected = stack.nodes(numbers);
    eventually(
        &format!("HAProxy serving exactly {expected:?}"),
        CONVERGE,
        || {
            let listed: BTreeSet<String> = live(stack).into_keys().collect();
            (listed == expected && serving(stack) == expected).then_some(())
        },
    );
    let elapsed = start.elapsed();
    eventually("haproxy.cfg listing the live servers", CONVERGE, || {
        (config_servers(stack) == expected).then_some(())
    });
    elapsed
}

fn serf_log(stack: &Stack) -> String {
    ha_exec(stack, &["cat", "/var/log/serf.log"]).stdout_text()
}

#[test]
fn joins_leaves_and_failures_need_no_reload() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-runtime", 33, 2);
    stack.xtask(&["up"]).assert_success();
    wait_exactly(&stack, &[1, 2]);
    let before = reloads(&stack);

    // A join: add server + enable health + enable.
    stack.xtask(&["scale", "--webapps", "3"]).assert_success();
    let took = wait_exactly(&stack, &[1, 2, 3]);
    eprintln!(
        "measured: scale 2 -> 3 done -> s3 UP: {:.2}s",
        took.as_secs_f64()
    );
    assert_eq!(reloads(&stack), before, "a join reloaded HAProxy");
    assert!(stack.hosts_answering(9).contains(&stack.node(3)));

    // A graceful leave: drain, maint, del server.
    docker(&["stop", &stack.node(1)]).assert_success();
    wait_exactly(&stack, &[2, 3]);
    assert_eq!(reloads(&stack), before, "a leave reloaded HAProxy");

    // SIGKILL: out of rotation by the checks, out of the config once Serf says failed.
    let kill = Instant::now();
    docker(&["kill", &stack.node(2)]).assert_success();
    wait_exactly(&stack, &[3]);
    eprintln!(
        "measured: SIGKILL -> server deleted: {:.1}s",
        kill.elapsed().as_secs_f64()
    );
    assert_eq!(reloads(&stack), before, "a failure reloaded HAProxy");
    let log = serf_log(&stack);
    for (sign, n) in [("+", 3), ("-", 1), ("-", 2)] {
        let change = format!("{sign}{}", stack.node(n));
        assert!(
            log.lines()
                .any(|l| l.contains("(runtime API, no reload)") && l.contains(&change)),
            "no runtime update {change} in serf.log:\n{log}"
        );
    }

    // A runtime operation that fails (a server of that name already exists, added behind
    // the agent's back) falls back to a validated reload that serves the right servers.
    let s1 = stack.node(1);
    let bogus = format!("nodes/{s1}");
    ha_exec(
        &stack,
        &[
            "ha-agent",
            "cli",
            "admin",
            "add",
            "server",
            &bogus,
            "127.0.0.1:9",
        ],
    )
    .assert_success();
    docker(&["start", &s1]).assert_success();
    wait_exactly(&stack, &[1, 3]);
    let log = serf_log(&stack);
    // Either the join's runtime add fails and falls back to one validated reload, or the
    // safety net's drift repair (every 5 s) took the unknown server out first and the
    // join needed none: a race, both right.
    if log.contains("reloading instead") {
        assert_eq!(reloads(&stack), before + 1, "the fallback reloads once");
    } else {
        assert!(
            log.lines()
                .any(|l| l.contains("repaired:") && l.contains(&s1)),
            "{log}"
        );
        assert_eq!(reloads(&stack), before, "repaired without a reload");
    }
    let addr = format!("server {s1} {}.2:3000", stack.net);
    assert!(config(&stack).contains(&addr), "{}", config(&stack));
    assert_eq!(stack.hosts_answering(6), stack.nodes(&[1, 3]));
}

#[test]
fn a_template_change_reloads_hitlessly_keeping_server_state() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-structural", 34, 2);
    stack.xtask(&["up"]).assert_success();
    wait_exactly(&stack, &[1, 2]);
    let s1 = format!("nodes/{}", stack.node(1));
    ha_exec(
        &stack,
        &[
            "ha-agent", "cli", "admin", "set", "server", &s1, "weight", "42",
        ],
    )
    .assert_success();
    let before = reloads(&stack);

    // Load on new connections while the template changes.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = format!("http://127.0.0.1:{}/", stack.http_port);
    let load = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match http_get(&url) {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    ha_exec(
        &stack,
        &[
            "sed",
            "-i",
            "s/timeout check 2s/timeout check 3s/",
            "/etc/ha/haproxy.cfg.j2",
        ],
    )
    .assert_success();
    ha_exec(&stack, &["ha-agent", "reconcile"]).assert_success();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();

    assert_eq!(reloads(&stack), before + 1, "the template change reloads");
    assert!(config(&stack).contains("timeout check 3s"));
    let weight = live(&stack)[&stack.node(1)].2;
    assert_eq!(
        weight, 42,
        "the server's runtime weight survived the reload"
    );
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!("measured: {ok} requests during the reload, {failed} failed");
    assert!(ok > 0);
    assert_eq!(failed, 0, "the reload refused or broke requests");
    wait_exactly(&stack, &[1, 2]);
}

#[test]
fn fifty_webapps_need_a_tuned_host() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-fifty50", 36, 2);
    stack.xtask(&["up"]).assert_success();
    let containers = stack.containers();

    // A host at the kernel's default threshold (a stand-in file, not the real setting).
    let scratch = Scratch::new("neigh");
    scratch.write("gc_thresh3", "1024\n");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["scale", "--webapps", "50", "--config"])
        .arg(&stack.config)
        .current_dir(support::root())
        .env("CI", "true")
        .env("LBKIT_NEIGH_DIR", scratch.path(""))
        .output()
        .expect("running xtask");
    let run = support::Run::from(run);
    assert_eq!(run.status.code(), Some(2), "{}", run.all_text());
    let message = run.stderr_text();
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("gc_thresh3 is 1024"), "{message}");
    assert!(
        message.contains("sysctl -w") && message.contains("gc_thresh3=16384"),
        "{message}"
    );
    assert_eq!(stack.containers(), containers, "nothing was created");

    // The real host, tuned if it is not already (needs root; CI's .ci/run tunes it).
    let start = Instant::now();
    stack
        .xtask(&[
            "scale",
            "--webapps",
            "50",
            "--tune-host",
            "--timeout",
            "300",
        ])
        .assert_success();
    let all: Vec<u32> = (1..=50).collect();
    wait_exactly(&stack, &all);
    eprintln!(
        "measured: scale 2 -> 50 UP: {:.1}s",
        start.elapsed().as_secs_f64()
    );
    stack.xtask(&["scale", "--webapps", "2"]).assert_success();
    wait_exactly(&stack, &[1, 2]);
    let status = stack.xtask(&["status"]);
    status.assert_success();
    eprintln!("{}", status.stdout_text());
}
