//! The self-configuring load balancer on the real engine: Serf membership drives /nodes and
//! HAProxy's config; failures never leave a broken config live. Through 127.0.0.1 ports
//! and `docker exec` only.
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster::record::{self, Record};
use cluster::ServerStat;
use support::{docker, eventually, http_get, Stack};

const CONVERGE: Duration = Duration::from_secs(60);

fn exec(stack: &Stack, script: &str) -> support::Run {
    docker(&["exec", &stack.ha(), "sh", "-c", script])
}

/// Servers in HAProxy's `nodes` backend, from the published stats CSV.
fn servers(stack: &Stack) -> Vec<ServerStat> {
    http_get(&format!("http://127.0.0.1:{}/;csv", stack.stats_port))
        .map(|csv| cluster::parse_stats_csv(&csv))
        .unwrap_or_default()
}

fn up_servers(stack: &Stack) -> BTreeSet<String> {
    servers(stack)
        .into_iter()
        .filter(ServerStat::is_up)
        .map(|s| s.name)
        .collect()
}

/// Waits until HAProxy lists exactly these servers, all UP; returns how long it took.
fn wait_exactly(stack: &Stack, numbers: &[u32]) -> Duration {
    let start = Instant::now();
    let expected = stack.nodes(numbers);
    eventually(
        &format!("HAProxy serving exactly {expected:?}"),
        CONVERGE,
        || {
            let listed: BTreeSet<String> = servers(stack).into_iter().map(|s| s.name).collect();
            (listed == expected && up_servers(stack) == expected).then_some(())
        },
    );
    start.elapsed()
}

fn nodes_dir(stack: &Stack) -> BTreeSet<String> {
    exec(stack, "ls /nodes")
        .stdout_text()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// ha's /var/log/serf.log gets a record of Serf event `event` about webapp `n`. Serf's
/// handler runs after its coalescing period, so the record may come after HAProxy changed.
#[track_caller]
fn assert_event_logged(stack: &Stack, event: &str, n: u32) {
    let node = stack.node(n);
    let logged = |log: &str| {
        record::parse_log(log).into_iter().flatten().any(|line| {
            matches!(&line.record, Record::Event { event: e, member, .. } if e == event && *member == node)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logged(&serf_log(stack)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = serf_log(stack);
    assert!(logged(&log), "no {event} of {node} in serf.log:\n{log}");
}

fn live_config(stack: &Stack) -> String {
    exec(stack, "cat /etc/haproxy/haproxy.cfg").stdout_text()
}

fn serf_log(stack: &Stack) -> String {
    exec(stack, "cat /var/log/serf.log").stdout_text()
}

#[test]
fn membership_changes_drive_nodes_and_config() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-member", 31, 2);
    stack.xtask(&["up"]).assert_success();

    // 1. ha + 2 webapps, both UP and both answering.
    assert_eq!(up_servers(&stack), stack.nodes(&[1, 2]));
    assert_eq!(stack.hosts_answering(10), stack.nodes(&[1, 2]));

    // 2. Two more: 4 UP, /nodes has 4 files of `name ip`.
    stack.xtask(&["scale", "--webapps", "4"]).assert_success();
    wait_exactly(&stack, &[1, 2, 3, 4]);
    assert_eq!(nodes_dir(&stack), stack.nodes(&[1, 2, 3, 4]));
    let s3 = exec(&stack, &format!("cat /nodes/{}", stack.node(3))).stdout_text();
    assert_eq!(s3.trim(), format!("{} {}.4", stack.node(3), stack.net));

    // 3. docker stop: a graceful leave.
    let stop = Instant::now();
    docker(&["stop", &stack.node(1)]).assert_success();
    wait_exactly(&stack, &[2, 3, 4]);
    eprintln!(
        "measured: docker stop -> server gone: {:.1}s",
        stop.elapsed().as_secs_f64()
    );
    assert_event_logged(&stack, "member-leave", 1);
    assert!(!live_config(&stack).contains(&format!("server {} ", stack.node(1))));
    assert!(!nodes_dir(&stack).contains(&stack.node(1)));

    // 4. SIGKILL: Serf declares the node failed.
    let kill = Instant::now();
    docker(&["kill", &stack.node(2)]).assert_success();
    wait_exactly(&stack, &[3, 4]);
    eprintln!(
        "measured: SIGKILL -> server gone: {:.1}s",
        kill.elapsed().as_secs_f64()
    );
    assert_event_logged(&stack, "member-failed", 2);
    assert!(!nodes_dir(&stack).contains(&stack.node(2)));

    // 6. ha restarted while webapps run: state is rebuilt from membership, no webapp restarts.
    let started =
        |name: &str| docker(&["inspect", "-f", "{{.State.StartedAt}}", name]).stdout_text();
    let before: Vec<String> = [3, 4].iter().map(|n| started(&stack.node(*n))).collect();
    docker(&["restart", &stack.ha()]).assert_success();
    let back = wait_exactly(&stack, &[3, 4]);
    eprintln!(
        "measured: ha restart -> servers UP again: {:.1}s",
        back.as_secs_f64()
    );
    assert_eq!(
        [3, 4]
            .iter()
            .map(|n| started(&stack.node(*n)))
            .collect::<Vec<_>>(),
        before
    );
    assert_eq!(nodes_dir(&stack), stack.nodes(&[3, 4]));

    // 8. Two reconciles at once leave a consistent /nodes and config.
    let both = exec(&stack, "ha-agent reconcile & ha-agent reconcile & wait");
    assert!(both.status.success(), "{}", both.all_text());
    assert_eq!(nodes_dir(&stack), stack.nodes(&[3, 4]));
    let config = live_config(&stack);
    for n in [3, 4] {
        assert_eq!(
            config
                .matches(&format!("server {} ", stack.node(n)))
                .count(),
            1,
            "{config}"
        );
    }
    let check = exec(&stack, "haproxy -c -f /etc/haproxy/haproxy.cfg");
    assert!(check.status.success(), "{}", check.all_text());

    // 7. A template that renders an invalid config is never swapped in.
    let good = live_config(&stack);
    exec(
        &stack,
        "echo '    this-is-not-a-directive' >> /etc/ha/haproxy.cfg.j2",
    )
    .assert_success();
    docker(&["start", &stack.node(1)]).assert_success();
    let failed = exec(&stack, "ha-agent reconcile");
    assert!(
        !failed.status.success(),
        "reconcile must fail on an invalid config"
    );
    assert_eq!(live_config(&stack), good, "the live config is untouched");
    assert_eq!(
        stack.hosts_answering(6),
        stack.nodes(&[3, 4]),
        "the old config keeps serving"
    );
    let logs = docker(&["logs", &stack.ha()]).all_text();
    assert!(
        logs.contains("this-is-not-a-directive"),
        "the error is in docker logs:\n{logs}"
    );
    let log = serf_log(&stack);
    let refused = record::parse_log(&log).into_iter().flatten().any(|line| {
        matches!(&line.record, Record::Refused { reason, .. } if reason.contains("this-is-not-a-directive"))
    });
    assert!(refused, "serf.log records the refused config:\n{log}");
}

#[test]
fn start_order_does_not_matter() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-order", 32, 3);
    stack.xtask(&["up"]).assert_success();
    // Everything stopped, then the webapps come back first and ha last.
    docker(&[
        "stop",
        &stack.ha(),
        &stack.node(1),
        &stack.node(2),
        &stack.node(3),
    ])
    .assert_success();
    docker(&["start", &stack.node(1), &stack.node(2), &stack.node(3)]).assert_success();
    // ha comes last: only once every webapp's Serf agent runs (and tries to join it).
    for n in [1, 2, 3] {
        let node = stack.node(n);
        eventually(&format!("Serf running on {node}"), CONVERGE, || {
            let members = docker(&["exec", &node, "serf-rpc", "members"]);
            members.status.success().then_some(())
        });
    }
    let start = Instant::now();
    docker(&["start", &stack.ha()]).assert_success();
    wait_exactly(&stack, &[1, 2, 3]);
    eprintln!(
        "measured: ha started last -> 3 servers UP: {:.1}s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(stack.hosts_answering(9), stack.nodes(&[1, 2, 3]));

    // The unprivileged web app user can neither read the secrets nor drive its Serf agent.
    let s1 = stack.node(1);
    let read = docker(&["exec", "-u", "webapp", &s1, "cat", "/etc/serf/encrypt.json"]);
    assert!(
        !read.status.success(),
        "webapp read the secrets: {}",
        read.all_text()
    );
    let rpc = docker(&["exec", "-u", "webapp", &s1, "serf", "members"]);
    assert!(
        !rpc.status.success(),
        "webapp drove Serf without the token: {}",
        rpc.all_text()
    );
    let whoami = docker(&["exec", &s1, "ps", "-o", "user=", "-C", "webapp"]);
    assert_eq!(
        whoami.stdout_text().trim(),
        "webapp",
        "the web app runs as user webapp"
    );

    // A container without the project's gossip key cannot join.
    let intruder = &format!("{}-intruder", stack.name);
    let (intruder_ip, join) = (
        format!("{}.200", stack.net),
        format!("SERF_JOIN={}.42", stack.net),
    );
    let image = format!("{}/webapp:latest", stack.name);
    docker(&["rm", "-f", intruder]);
    docker(&[
        "create",
        "--name",
        intruder,
        "--network",
        &stack.name,
        "--ip",
        &intruder_ip,
        "-e",
        "NODE_NAME=intruder",
        "-e",
        "NODE_ROLE=backend",
        "-e",
        "NODE_PORT=3000",
        "-e",
        &join,
        &image,
    ])
    .assert_success();
    let key = std::env::temp_dir().join(format!("intruder-key-{}.json", std::process::id()));
    std::fs::write(
        &key,
        "{\"encrypt_key\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}\n",
    )
    .unwrap();
    docker(&[
        "cp",
        key.to_str().unwrap(),
        &format!("{intruder}:/etc/serf/encrypt.json"),
    ])
    .assert_success();
    std::fs::remove_file(&key).unwrap();
    docker(&["start", intruder]).assert_success();
    // Until ha has turned its join down (Serf retries every 2 s, logging each failure).
    let tried = std::panic::catch_unwind(|| {
        eventually("the intruder's join refused", CONVERGE, || {
            let logs = docker(&["logs", intruder]).all_text();
            logs.contains("agent: Join failed").then_some(logs)
        })
    });
    let members = exec(&stack, "serf-rpc members").stdout_text();
    let nodes = nodes_dir(&stack);
    let intruder_logs = docker(&["logs", intruder]).all_text();
    docker(&["rm", "-f", intruder]);
    assert!(
        tried.is_ok(),
        "the intruder did try to join, and failed:\n{intruder_logs}"
    );
    assert!(
        !members.contains("intruder"),
        "a node without the key joined:\n{members}"
    );
    assert!(!nodes.contains("intruder"));
    assert_eq!(up_servers(&stack), stack.nodes(&[1, 2, 3]));
}
