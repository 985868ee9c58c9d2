//! images/base/serf/serf-rejoin, run by the host's sh with stand-ins for the programs it
//! starts: which member events start a rejoin loop (no engine needed).
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the handler on `events` (Serf's stdin lines) with `env`; returns the arguments of
/// every rejoin loop it started (`setsid` records them instead of running anything),
/// once `expected` have started.
fn loops_started(events: &str, env: &[(&str, &str)], expected: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("setsid.log");
    let stub = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // flock -n <lock> sh -c <program> serf-rejoin <name> <addr>...: the lock, the loop's arguments.
    let log = record.display();
    stub(
        "setsid",
        &format!("l=\"$1 $2 $3\"; shift 6; echo \"$l|$*\" >> {log}"),
    );
    // Swarm's DNS for ha's service: two tasks, each listed once per socket type.
    stub(
        "getent",
        "[ \"$1 $2\" = 'ahostsv4 tasks.lab_ha' ] || exit 2\nfor ip in 10.0.1.5 10.0.1.9; do for t in STREAM DGRAM RAW; do echo \"$ip $t tasks.lab_ha\"; done; done",
    );
    let script = support_root().join("images/base/serf/serf-rejoin");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let mut child = Command::new("sh")
        .arg(script)
        .env_clear()
        .env("PATH", path)
        .env("SERF_TAG_ROLE", "backend")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    // A handler that has nothing to do exits without reading: a broken pipe is no error.
    let _ = child.stdin.take().unwrap().write_all(events.as_bytes());
    assert!(child.wait().unwrap().success());
    // The handler starts its loops in the background: wait for the `expected` ones, then
    // a little more for any extra one.
    let read = || std::fs::read_to_string(&record).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read().lines().count() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    read()
        .lines()
        .map(|line| {
            let (lock, args) = line.split_once('|').unwrap();
            assert_eq!(
                lock, "flock -n /run/serf-rejoin.lock",
                "one lock per webapp"
            );
            args.to_string()
        })
        .collect()
}

fn support_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

const ENGINE: [(&str, &str); 2] = [
    ("SERF_BALANCER", "ha"),
    ("SERF_BALANCER_ADDRS", "192.168.42.42"),
];

#[test]
fn on_one_engine_only_the_declared_ha_at_its_address_counts() {
    let events = "ha\t192.168.42.42\tbalancer\trole=balancer\n\
                  ha\t192.168.42.7\tbalancer\trole=balancer\n\
                  fake\t192.168.42.42\tbalancer\trole=balancer\n\
                  s2\t192.168.42.3\tbackend\trole=backend\n\
                  ha;reboot\t192.168.42.42\tbalancer\trole=balancer\n\
                  ha\t192.168.42.42;x\tbalancer\trole=balancer\n";
    assert_eq!(
        loops_started(events, &ENGINE, 1),
        ["serf-rejoin ha 192.168.42.42"]
    );
}

#[test]
fn on_a_swarm_the_address_must_be_one_of_ha_s_tasks() {
    let swarm = [
        ("SERF_BALANCER", "ha"),
        ("SERF_BALANCER_DNS", "tasks.lab_ha"),
        ("SERF_REJOIN", "tasks.lab_ha"),
    ];
    let events = "ha\t10.0.1.9\tbalancer\trole=balancer\n\
                  ha\t10.0.1.77\tbalancer\trole=balancer\n";
    assert_eq!(
        loops_started(events, &swarm, 1),
        ["serf-rejoin ha 10.0.1.9 tasks.lab_ha"]
    );
}

#[test]
fn nothing_counts_without_a_declared_balancer_or_on_ha_itself() {
    let events = "ha\t192.168.42.42\tbalancer\trole=balancer\n";
    assert!(loops_started(events, &[], 0).is_empty());
    let on_ha = [("SERF_TAG_ROLE", "balancer"), ENGINE[0], ENGINE[1]];
    assert!(loops_started(events, &on_ha, 0).is_empty());
}
