//! The host side. An engine reached over TCP without TLS: the toolkit says once that
//! secrets would cross the network in clear, and sends none (exit 2, nothing created)
//! unless the user agrees (the engine is this host's, behind a TCP-to-unix-socket relay on
//! 127.0.0.1); it cannot tune that engine's host. `status` says when the running cluster
//! has outgrown the host's neighbour table (a copy of the sysctl files, so the real
//! host's setting is never lowered).
mod support;

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;

use support::{Run, Stack};

/// Relays every connection to 127.0.0.1:<port> to the local engine's socket, for as long
/// as the test runs.
fn relay_to_the_engine() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || relay(client));
        }
    });
    port
}

fn relay(client: TcpStream) {
    let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    let (mut client_in, mut engine_out) =
        (client.try_clone().unwrap(), engine.try_clone().unwrap());
    let upstream = std::thread::spawn(move || {
        let _ = copy(&mut client_in, &mut engine_out);
        let _ = engine_out.shutdown(Shutdown::Write);
    });
    let (mut engine_in, mut client_out) = (engine, client);
    let _ = copy(&mut engine_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = upstream.join();
}

/// `cargo xtask ARGS --config <stack>` with `env` set (`None`: removed).
fn xtask_with(stack: &Stack, env: &[(&str, Option<&str>)], args: &[&str]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .args(["--config", stack.config.to_str().unwrap()])
        .current_dir(support::root())
        .env("CI", "true");
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command.output().expect("running xtask").into()
}

/// Against the engine through the relay on 127.0.0.1:`port`, with or without consent.
fn xtask_over_tcp(stack: &Stack, port: u16, consent: bool, args: &[&str]) -> Run {
    let host = format!("tcp://127.0.0.1:{port}");
    let env = [
        ("DOCKER_HOST", Some(host.as_str())),
        ("DOCKER_TLS_VERIFY", None),
        ("LBKIT_PLAINTEXT_SECRETS", consent.then_some("1")),
    ];
    xtask_with(stack, &env, args)
}

#[test]
fn secrets_over_tcp_only_when_agreed_no_remote_tuning_and_a_neighbour_table_warning() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-host", 84, 1);
    stack.xtask(&["build"]).assert_success();
    let port = relay_to_the_engine();

    let refused = xtask_over_tcp(&stack, port, false, &["up"]);
    assert_eq!(refused.status.code(), Some(2), "{}", refused.all_text());
    let err = refused.stderr_text();
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "one warning line: {err}");
    assert!(warnings[0].contains("no TLS"), "{err}");
    assert!(
        err.contains("would cross the network in clear")
            && err.contains("LBKIT_PLAINTEXT_SECRETS=1"),
        "{err}"
    );
    assert!(
        stack.containers().is_empty(),
        "nothing created: {:?}",
        stack.containers()
    );
    assert!(
        stack.networks().is_empty(),
        "no network: {:?}",
        stack.networks()
    );

    // A command that sends no secret works over the same link.
    xtask_over_tcp(&stack, port, false, &["status"]).assert_success();

    // An engine on another host: --tune-host cannot tune it, and says so before it
    // reaches for that engine (the name is never resolved). One on this host's loopback,
    // like the relay, is this machine's and may be tuned.
    let tune = xtask_with(
        &stack,
        &[("DOCKER_HOST", Some("tcp://docker.example:2376"))],
        &["up", "--tune-host"],
    );
    assert_eq!(tune.status.code(), Some(2), "{}", tune.all_text());
    assert!(
        tune.stderr_text().contains(
            "--tune-host changes this machine's kernel settings, but the engine is on another host"
        ),
        "{}",
        tune.all_text()
    );

    // Agreed: the cluster comes up over the relay, as over the socket.
    let agreed = xtask_over_tcp(&stack, port, true, &["up"]);
    agreed.assert_success();
    assert_eq!(stack.answering(6), Some(stack.nodes(&[1])));

    // ha + 1 webapp need 4 neighbour entries: a host allowing 3 gets one warning line.
    let sysctl = support::Scratch::new("e2e-host-neigh");
    sysctl.write("gc_thresh3", "3\n");
    let status = |dir: &std::path::Path| -> Run {
        xtask_with(&stack, &[("LBKIT_NEIGH_DIR", dir.to_str())], &["status"])
    };
    let small = status(&sysctl.path(""));
    small.assert_success();
    let warnings: Vec<String> = small
        .stderr_text()
        .lines()
        .filter(|l| l.contains("gc_thresh3 is 3"))
        .map(String::from)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", small.all_text());
    assert!(
        warnings[0].contains("need about 4 neighbour entries"),
        "{warnings:?}"
    );
    sysctl.write("gc_thresh3", "1024\n");
    let enough = status(&sysctl.path(""));
    enough.assert_success();
    assert!(
        !enough.stderr_text().contains("gc_thresh3"),
        "{}",
        enough.all_text()
    );
}
