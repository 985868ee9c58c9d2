//! A Docker daemon restart, for real: the cluster runs in a nested engine (an engine in a
//! container, see xtask/src/nested), whose daemon the test restarts. Every container must
//! come back and ha serve every webapp again with no command run; a container stopped by
//! hand stays stopped.
mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use support::{docker, eventually, Run, Stack};

/// `nested down` when the test ends, however it ends.
struct NestedEngine<'a>(&'a Stack);

impl Drop for NestedEngine<'_> {
    fn drop(&mut self) {
        let down = self.0.xtask(&["nested", "down"]);
        if !down.status.success() {
            eprintln!("cleanup: nested down failed:\n{}", down.all_text());
        }
    }
}

/// `cargo xtask ARGS --config <stack>` against the nested engine.
fn inner_xtask(stack: &Stack, docker_host: &str, args: &[&str]) -> Run {
    support::xtask_on(docker_host, &stack.config, args)
}

/// Container name -> state, in the nested engine.
fn inner_states(docker_host: &str, stack: &Stack) -> Vec<(String, String)> {
    let filter = format!("label=lbkit.project={}", stack.name);
    let out = docker(&[
        "-H",
        docker_host,
        "ps",
        "-a",
        "--filter",
        &filter,
        "--format",
        "{{.Names}} {{.State}}",
    ]);
    let mut states: Vec<(String, String)> = out
        .stdout_text()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    states.sort();
    states
}

/// Restarts the nested engine's daemon (its node container) and returns when ha serves
/// exactly `expected` again, with the time that took from the restart command.
fn restart_daemon(stack: &Stack, node: &str, expected: &BTreeSet<String>) -> Duration {
    let started = Instant::now();
    let restart = docker(&["restart", "-t", "30", node]);
    restart.assert_success();
    eventually(
        "ha serving again after the daemon restart",
        Duration::from_secs(180),
        || stack.answering(12).filter(|hosts| hosts == expected),
    );
    started.elapsed()
}

#[test]
fn a_daemon_restart_brings_the_cluster_back_with_no_command() {
    if support::skip_without_engine() {
        return;
    }
    // In the node, ha listens on the node's own address; the node publishes its ports on
    // the host's 127.0.0.1 only.
    let stack = Stack::with("e2e-restart", 73, 2, |text| {
        text.replace("stats_port = ", "bind = \"0.0.0.0\"\nstats_port = ")
    });
    let _images = support::DropImages(&stack);
    stack.xtask(&["build"]).assert_success();
    let nested = stack.xtask(&["nested", "up"]);
    let _cleanup = NestedEngine(&stack);
    nested.assert_success();
    let docker_host = nested
        .stdout_text()
        .lines()
        .find_map(|l| l.strip_prefix("DOCKER_HOST=").map(String::from))
        .expect("nested up prints DOCKER_HOST");
    // The socket is root on the nested engine: its folder and every one above it, up to
    // `.state`, are the owner's alone, even when `nested up` made them.
    let socket = docker_host.strip_prefix("unix://").expect("a unix socket");
    for folder in std::path::Path::new(socket)
        .ancestors()
        .skip(1)
        .take_while(|f| f.ancestors().any(|a| a.ends_with(".state")))
    {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", folder.display());
    }
    let node = format!("{}-engine", stack.name);
    let ports = docker(&["port", &node]).stdout_text();
    assert!(
        ports.lines().all(|l| l.contains("-> 127.0.0.1:")),
        "{ports}"
    );

    let up = inner_xtask(&stack, &docker_host, &["up"]);
    up.assert_success();
    let all: BTreeSet<String> = [stack.node(1), stack.node(2)].into();
    assert_eq!(stack.answering(12), Some(all.clone()));

    // The daemon restarts: everything comes back, nobody runs a command.
    let took = restart_daemon(&stack, &node, &all);
    eprintln!(
        "daemon restart -> serving both webapps again: {:.1} s",
        took.as_secs_f64()
    );
    let states = inner_states(&docker_host, &stack);
    assert_eq!(states.len(), 3, "{states:?}");
    assert!(states.iter().all(|(_, s)| s == "running"), "{states:?}");

    // `docker stop` by hand still means stopped, across a daemon restart too.
    let s2 = stack.node(2);
    docker(&["-H", &docker_host, "stop", &s2]).assert_success();
    let only_s1: BTreeSet<String> = [stack.node(1)].into();
    let took = restart_daemon(&stack, &node, &only_s1);
    eprintln!(
        "daemon restart with s2 stopped -> serving s1: {:.1} s",
        took.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    let states = inner_states(&docker_host, &stack);
    let s2_state = states
        .iter()
        .find(|(n, _)| *n == s2)
        .map(|(_, s)| s.as_str());
    assert_eq!(s2_state, Some("exited"), "{states:?}");
    assert_eq!(stack.answering(12), Some(only_s1));

    // An unchanged app image beside its Serf sidecar comes back the same way.
    let image = AppImage::build(&stack, &docker_host);
    let text = std::fs::read_to_string(&stack.config).unwrap();
    let text = text.replace(
        "[webapps]\n",
        &format!("[webapps]\nimage = \"{}\"\n", image.0),
    );
    std::fs::write(&stack.config, text).unwrap();
    inner_xtask(&stack, &docker_host, &["up"]).assert_success();
    assert_eq!(stack.answering(12), Some(all.clone()));
    let took = restart_daemon(&stack, &node, &all);
    eprintln!(
        "daemon restart -> serving both app images again: {:.1} s",
        took.as_secs_f64()
    );
    let states = inner_states(&docker_host, &stack);
    let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
    let sidecar = format!("{s2}-serf");
    assert!(names.contains(&sidecar.as_str()), "{states:?}");
    assert_eq!(states.len(), 5, "{states:?}");
    assert!(states.iter().all(|(_, s)| s == "running"), "{states:?}");
}

/// The lab's app as an unchanged image that is not ours to change: its binary as the
/// entrypoint (no s6, no Serf), built on the host and loaded into the nested engine.
/// Removed from the host when dropped (the nested engine goes with its volume).
struct AppImage(String);

impl AppImage {
    fn build(stack: &Stack, docker_host: &str) -> AppImage {
        let image = AppImage(format!("{}-app:v1", stack.name));
        let scratch = support::Scratch::new(&format!("{}-app", stack.name));
        scratch.write(
            "Dockerfile",
            &format!(
                "FROM {}/webapp\nUSER webapp\nENTRYPOINT [\"/usr/local/bin/webapp\"]\n",
                stack.name
            ),
        );
        let context = scratch.path("");
        docker(&["build", "-q", "-t", &image.0, context.to_str().unwrap()]).assert_success();
        let archive = scratch.path("app.tar");
        docker(&["save", "-o", archive.to_str().unwrap(), &image.0]).assert_success();
        docker(&["-H", docker_host, "load", "-i", archive.to_str().unwrap()]).assert_success();
        image
    }
}

impl Drop for AppImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", &self.0]);
    }
}
