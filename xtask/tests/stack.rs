//! The stack lifecycle on the real engine, driven through `cargo xtask` as a user would:
//! up, up again, scale, status, down, and the errors a user will hit.
mod support;

use std::net::TcpListener;
use std::time::Duration;

use support::{docker, eventually, Stack};

#[test]
fn up_scale_and_down_leave_other_projects_alone() {
    if support::skip_without_engine() {
        return;
    }
    // Another project running at the same time must come through untouched.
    let other = Stack::new("e2e-other", 12, 1);
    other.xtask(&["up"]).assert_success();
    let other_before = other.containers();

    let stack = Stack::new("e2e-life", 11, 2);
    let up = stack.xtask(&["up"]);
    up.assert_success();
    assert!(
        up.stdout_text().contains("2 webapps UP"),
        "{}",
        up.all_text()
    );
    assert!(up
        .stdout_text()
        .contains(&format!("http://127.0.0.1:{}/", stack.http_port)));
    let hosts = stack.hosts_answering(20);
    assert_eq!(
        hosts,
        [stack.node(1), stack.node(2)].into(),
        "20 requests through the LB"
    );
    // Every container's log is bounded; a webapp gets time to leave and drain.
    for name in [stack.ha(), stack.node(1)] {
        let format = "{{json .HostConfig.LogConfig}}";
        let log: serde_json::Value =
            serde_json::from_str(&docker(&["inspect", "-f", format, &name]).stdout_text()).unwrap();
        assert_eq!(
            log,
            serde_json::json!({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}),
            "{name}"
        );
    }
    let stop = docker(&["inspect", "-f", "{{.Config.StopTimeout}}", &stack.node(1)]);
    assert_eq!(
        stop.stdout_text().trim(),
        "10",
        "2.5 s + drain_ms 2.5 s + 5 s"
    );

    // Idempotent: a second `up` touches nothing.
    let before = stack.containers();
    let started_at =
        |name: &str| docker(&["inspect", "-f", "{{.State.StartedAt}}", name]).stdout_text();
    let started: Vec<String> = before.keys().map(|n| started_at(n)).collect();
    let again = stack.xtask(&["up"]);
    again.assert_success();
    assert!(
        again.stdout_text().contains("nothing to change"),
        "{}",
        again.all_text()
    );
    assert_eq!(
        stack.containers(),
        before,
        "no container added, removed or recreated"
    );
    assert_eq!(
        before.keys().map(|n| started_at(n)).collect::<Vec<_>>(),
        started,
        "nothing restarted"
    );

    let status = stack.xtask(&["status", "--json"]);
    status.assert_success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout_text()).unwrap();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&stack.node(1))["container"], "running");
    assert_eq!(row(&stack.node(1))["serf"], "alive");
    assert_eq!(row(&stack.node(1))["haproxy"], "UP");
    assert_eq!(row(&stack.ha())["serf"], "alive");

    let scaled = stack.xtask(&["scale", "--webapps", "4"]);
    scaled.assert_success();
    // One row per new node: the times it started, joined Serf and was UP, in seconds.
    let out = scaled.stdout_text();
    for n in [3, 4] {
        let node = stack.node(n);
        let row = out
            .lines()
            .find(|line| line.split_whitespace().next() == Some(node.as_str()))
            .unwrap_or_else(|| panic!("a phase row for {node}:\n{out}"));
        let times: Vec<f64> = row
            .split_whitespace()
            .skip(1)
            .map(|cell| {
                cell.strip_suffix('s')
                    .and_then(|secs| secs.parse().ok())
                    .unwrap_or_else(|| panic!("{cell:?} is a time in seconds: {row}"))
            })
            .collect();
        let [started, joined, up] = times[..] else {
            panic!("started, joined, UP in {row}");
        };
        assert!(
            (0.0..=joined).contains(&started),
            "joined after it started: {row}"
        );
        assert!(joined < 180.0 && up > 0.0 && up < 180.0, "{row}");
    }
    let four: std::collections::BTreeSet<String> = (1..=4).map(|n| stack.node(n)).collect();
    assert_eq!(stack.hosts_answering(24), four);

    stack.xtask(&["scale", "--webapps", "1"]).assert_success();
    assert_eq!(stack.hosts_answering(10), [stack.node(1)].into());
    assert!(
        !stack.containers().contains_key(&stack.node(4)),
        "highest numbers removed"
    );

    stack.xtask(&["down"]).assert_success();
    assert!(
        stack.containers().is_empty(),
        "no container with the project's label remains"
    );
    assert!(
        stack.networks().is_empty(),
        "no network with the project's label remains"
    );

    assert_eq!(
        other.containers(),
        other_before,
        "the other project is untouched"
    );
    assert_eq!(other.hosts_answering(3), [other.node(1)].into());
}

#[test]
fn a_taken_host_port_is_named() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-port", 13, 1);
    let _holder = TcpListener::bind(("127.0.0.1", stack.stats_port)).expect("test holds the port");
    let up = stack.xtask(&["up"]);
    assert_eq!(up.status.code(), Some(2), "{}", up.all_text());
    let expected = format!(
        "port {} on 127.0.0.1 (ha.stats_port) is already in use by another process",
        stack.stats_port
    );
    assert!(up.stderr_text().contains(&expected), "{}", up.all_text());
    assert!(stack.containers().is_empty(), "nothing created");
}

#[test]
fn an_overlapping_subnet_is_named() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-overlap", 14, 1);
    let foreign = &format!("{}-foreign", stack.name);
    let net = &stack.net;
    docker(&["network", "rm", foreign]);
    docker(&[
        "network",
        "create",
        "--subnet",
        &format!("{net}.128/25"),
        foreign,
    ])
    .assert_success();
    let up = stack.xtask(&["up"]);
    docker(&["network", "rm", foreign]).assert_success();
    assert_eq!(up.status.code(), Some(2), "{}", up.all_text());
    assert!(
        up.stderr_text().contains(&format!(
            "network.subnet {net}.0/24 overlaps network {foreign} ({net}.128/25)"
        )),
        "{}",
        up.all_text()
    );
    assert!(stack.containers().is_empty());
}

#[test]
fn a_foreign_container_with_a_node_name_is_named_and_untouched() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-name", 15, 1);
    let squatter = stack.node(1);
    stack.xtask(&["build"]).assert_success();
    docker(&["rm", "-f", &squatter]);
    docker(&[
        "create",
        "--name",
        &squatter,
        &format!("{}/webapp:latest", stack.name),
        "true",
    ])
    .assert_success();
    let up = stack.xtask(&["up"]);
    let still_there = docker(&["inspect", &squatter]).status.success();
    docker(&["rm", "-f", &squatter]);
    assert_eq!(up.status.code(), Some(2), "{}", up.all_text());
    assert!(
        up.stderr_text().contains(&format!(
            "container name {squatter} is taken by another container (not created by this toolkit)"
        )),
        "{}",
        up.all_text()
    );
    assert!(still_there, "the other owner's container is not touched");
}

#[test]
fn an_unreachable_engine_is_one_clear_line() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-noengine", 16, 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["status", "--config", stack.config.to_str().unwrap()])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with(
            "error: Docker engine unreachable at unix:///nonexistent/docker.sock; start it"
        ),
        "{stderr}"
    );
}

/// DOCKER_HOST is honoured as the docker CLI does: `tcp://` reaches that engine (here the
/// local one behind a TCP-to-socket relay on 127.0.0.1, which counts its connections), a
/// closed port fails naming it, and a scheme the toolkit cannot speak is refused (exit 2)
/// instead of falling back to the local socket.
#[test]
fn docker_host_names_the_engine_every_command_talks_to() {
    if support::skip_without_engine() {
        return;
    }
    support::require_engine();
    let stack = Stack::new("e2e-dockerhost", 20, 1);
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = relay.local_addr().unwrap();
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = relayed.clone();
    std::thread::spawn(move || {
        for client in relay.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let engine = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").unwrap();
            let (mut client_in, mut engine_out) =
                (client.try_clone().unwrap(), engine.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut engine_out));
            let (mut engine_in, mut client_out) = (engine, client);
            std::thread::spawn(move || std::io::copy(&mut engine_in, &mut client_out));
        }
    });
    let status = |docker_host: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([
                "status",
                "--json",
                "--config",
                stack.config.to_str().unwrap(),
            ])
            .env("DOCKER_HOST", docker_host)
            .output()
            .unwrap()
    };

    let through_relay = status(&format!("tcp://{address}"));
    assert!(
        through_relay.status.success(),
        "{}",
        String::from_utf8_lossy(&through_relay.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&through_relay.stdout).trim(), "[]");
    assert!(relayed.load(std::sync::atomic::Ordering::Relaxed) > 0);

    let closed = status("tcp://127.0.0.1:1");
    assert_eq!(closed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(
        stderr.starts_with("error: Docker engine unreachable at tcp://127.0.0.1:1;"),
        "{stderr}"
    );

    // Without DOCKER_HOST, a docker CLI context other than the default is not silently
    // replaced by the local socket.
    let context = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["status", "--config", stack.config.to_str().unwrap()])
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONTEXT", "elsewhere")
        .output()
        .unwrap();
    assert_eq!(context.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&context.stderr);
    assert!(
        stderr.contains("\"elsewhere\"") && stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );

    let ssh = status("ssh://someone@somewhere");
    assert_eq!(ssh.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ssh.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("DOCKER_HOST=ssh://someone@somewhere") && stderr.contains("unix://"),
        "{stderr}"
    );
}

#[test]
fn a_timeout_names_the_missing_servers_and_shows_their_logs() {
    if support::skip_without_engine() {
        return;
    }
    // Health checks on a path the web app does not serve: the servers never come UP.
    let stack = Stack::with("e2e-timeout", 17, 1, |text| {
        format!("{text}\n[ha.health]\npath = \"/missing\"\n")
    });
    let up = stack.xtask(&["up", "--timeout", "20"]);
    assert_eq!(up.status.code(), Some(1), "{}", up.all_text());
    let stderr = up.stderr_text();
    assert!(
        stderr.contains("timed out after 20s waiting for HAProxy"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("not UP: {}", stack.node(1))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("last log lines of {}", stack.node(1))),
        "{stderr}"
    );

    // What the interrupted `up` left is accounted for: status shows it, down removes it.
    let status = stack.xtask(&["status"]);
    status.assert_success();
    assert!(
        status.stdout_text().contains(&stack.node(1)),
        "{}",
        status.all_text()
    );
    stack.xtask(&["down"]).assert_success();
    assert!(stack.containers().is_empty());
    eventually("network removed", Duration::from_secs(10), || {
        stack.networks().is_empty().then_some(())
    });
}

#[test]
fn the_generated_compose_file_starts_an_equivalent_stack() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-compose", 18, 2);
    stack.xtask(&["build"]).assert_success();
    let compose = stack.gen_compose();
    let up = compose.run(&["up", "-d"]);
    let served = up.status.success().then(|| {
        eventually(
            "both webapps answering through the compose stack",
            Duration::from_secs(90),
            || {
                let hosts = std::panic::catch_unwind(|| stack.hosts_answering(6)).ok()?;
                (hosts == [stack.node(1), stack.node(2)].into()).then_some(hosts)
            },
        )
    });
    let labels_ok = stack.containers().len() == 3;
    let policies: Vec<String> = stack
        .containers()
        .values()
        .map(|id| {
            let format = "{{.HostConfig.RestartPolicy.Name}}";
            docker(&["inspect", "-f", format, id])
                .stdout_text()
                .trim()
                .to_string()
        })
        .collect();
    compose.run(&["down"]);
    up.assert_success();
    assert!(served.is_some());
    assert!(labels_ok, "compose containers carry the project's labels");
    assert_eq!(
        policies, ["unless-stopped"; 3],
        "compose containers come back after a daemon restart, as up's do"
    );
}
