//! Issue 20's Swarm rows, a step of the three-node swarm test: a member is served only
//! when its address is one of the webapps service's tasks, and one address backs one
//! server. Two rogues holding the gossip key, both tagged `role=backend`: one inside a
//! webapp task's container (a second member at that task's address), one in a container
//! that is no task of the service, on the cluster's attachable overlay (an address
//! outside the tasks). Neither ever appears in HAProxy's stats; both are refused in ha's
//! serf.log.
use std::time::{Duration, Instant};

use crate::support::{self, eventually, Stack};
use crate::Lab;

/// Starts a Serf agent in the background inside the container, at the address on the
/// route to the overlay (`$SERF_ADVERTISE_VIA` in a task, else `$5`): `$1` node name,
/// `$2` gossip port, `$3` key file, `$4` join; prints `<pid> <address>`.
const START: &str = r#"addr=${5:-$(ip -o route get "$SERF_ADVERTISE_VIA" | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
serf agent -node="$1" -bind="0.0.0.0:$2" -advertise="$addr:$2" -rpc-addr="127.0.0.1:$(($2 - 570))" \
  -config-file="$3" -tag role=backend -tag port=3000 -join "$4" </dev/null >/tmp/rogue.log 2>&1 &
echo "$! $addr""#;

/// The step: both rogues refused, then stopped (the outsider's container removed).
pub(crate) fn rogues_are_refused(lab: &Lab, stack: &Stack) {
    let webapps = format!("{}_webapps", stack.name);
    // With its port: a join without one goes to the rogue's own gossip port.
    let join = format!("tasks.{}_{}:7946", stack.name, stack.ha());
    let password = std::fs::read_to_string(
        support::root()
            .join(".state")
            .join(&stack.name)
            .join("stats-password"),
    )
    .unwrap();

    // (i) A second member at a webapp task's address.
    let (node, task) = lab.running_container(&webapps);
    assert!(!task.is_empty(), "a webapp task on {node}");
    let squatter = stack.node(50);
    let started = lab.docker_on(
        &node,
        &[
            "exec",
            &task,
            "sh",
            "-c",
            START,
            "sh",
            &squatter,
            "7950",
            "/etc/serf/encrypt.json",
            &join,
        ],
    );
    started.assert_success();
    let (squatter_pid, squatter_ip) = pid_and_address(&started.stdout_text());

    // (ii) A container on the overlay that is no task of the service, the key copied in.
    let manager = lab.manager();
    let outsider = format!("{}-outsider", stack.name);
    let image = format!("lbkit.invalid/{}/webapp:latest", stack.name);
    lab.docker_on(
        &manager,
        &[
            "run",
            "-d",
            "--name",
            &outsider,
            "--network",
            &stack.name,
            "--entrypoint",
            "sleep",
            &image,
            "infinity",
        ],
    )
    .assert_success();
    let key = support::root()
        .join(".state")
        .join(&stack.name)
        .join("serf.json");
    lab.docker_on(
        &manager,
        &[
            "cp",
            key.to_str().unwrap(),
            &format!("{outsider}:/tmp/serf.json"),
        ],
    )
    .assert_success();
    let format = format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
        stack.name
    );
    let address = lab.docker_on(&manager, &["inspect", "-f", &format, &outsider]);
    address.assert_success();
    let outsider_name = stack.node(51);
    let started = lab.docker_on(
        &manager,
        &[
            "exec",
            &outsider,
            "sh",
            "-c",
            START,
            "sh",
            &outsider_name,
            "7946",
            "/tmp/serf.json",
            &join,
            address.stdout_text().trim(),
        ],
    );
    started.assert_success();
    let (_, outsider_ip) = pid_and_address(&started.stdout_text());

    let (ha, ha_node) = lab.ha_task();
    let serf_log = || {
        lab.docker_on(&ha_node, &["exec", &ha, "cat", "/var/log/serf.log"])
            .stdout_text()
    };
    let rogues = [(&squatter, &squatter_ip), (&outsider_name, &outsider_ip)];
    let never_served = || {
        let csv = stats_csv(stack, password.trim());
        let servers: Vec<String> = cluster::parse_stats_csv(&csv)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(
            !servers.is_empty(),
            "the stats CSV lists the webapps:\n{csv}"
        );
        for (name, _) in rogues {
            assert!(!servers.contains(name), "{name} is served: {servers:?}");
        }
    };
    let records = eventually(
        "ha refusing both rogues in serf.log",
        Duration::from_secs(60),
        || {
            never_served();
            let log = serf_log();
            let skipped = support::skipped(&log);
            let found: Vec<_> = rogues
                .iter()
                .filter_map(|(name, ip)| {
                    skipped.iter().find(|(member, addr, _)| {
                        member == *name && addr.split(':').next() == Some(ip.as_str())
                    })
                })
                .cloned()
                .collect();
            (found.len() == rogues.len()).then_some(found)
        },
    );
    eprintln!("refused on the Swarm: {records:?}");
    // Past two safety-net passes, still never served.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(11) {
        never_served();
        std::thread::sleep(Duration::from_millis(500));
    }

    lab.docker_on(&node, &["exec", &task, "kill", "-INT", &squatter_pid])
        .assert_success();
    lab.docker_on(&manager, &["rm", "-f", &outsider])
        .assert_success();
}

fn pid_and_address(line: &str) -> (String, String) {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(pid), Some(addr)) => (pid.to_string(), addr.to_string()),
        _ => panic!("a rogue started: {line:?}"),
    }
}

/// The stats CSV through the published port, with the project's stats login.
fn stats_csv(stack: &Stack, password: &str) -> String {
    use base64::Engine as _;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let login = base64::engine::general_purpose::STANDARD.encode(format!("lbkit:{password}"));
    agent
        .get(format!("http://127.0.0.1:{}/;csv", stack.stats_port))
        .header("Authorization", format!("Basic {login}"))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_default()
}
