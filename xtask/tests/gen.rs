//! `cargo xtask gen` as a user runs it: files accepted by the real tools, check mode,
//! and bad input refused with exit code 2 and nothing written.
mod support;

use std::path::Path;

use support::{xtask, Scratch};

/// `cargo xtask gen --config CONFIG --out OUT`.
fn gen(config: &Path, out: &Path) -> support::Run {
    xtask(&[
        "gen",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn generated_files_are_accepted_by_haproxy_and_compose() {
    let scratch = Scratch::new("gen-tools");
    for (name, count) in [("lab.toml", "2"), ("ten.toml", "10")] {
        let config = scratch.write(
            name,
            &support::lab_config().replace("count = 2", &format!("count = {count}")),
        );
        let out = scratch.path(&format!("out-{count}"));
        gen(&config, &out).assert_success();

        let haproxy = support::run_tool(
            "haproxy",
            &["-c", "-f", out.join("haproxy.cfg").to_str().unwrap()],
        );
        assert!(
            haproxy.status.success(),
            "haproxy -c rejected the config:\n{}",
            haproxy.stderr_text()
        );
        assert!(haproxy
            .stdout_text()
            .contains("Configuration file is valid"));
        assert!(
            !haproxy.all_text().contains("WARNING"),
            "haproxy warned:\n{}",
            haproxy.all_text()
        );
        let servers = std::fs::read_to_string(out.join("haproxy.cfg"))
            .unwrap()
            .matches("\n    server ")
            .count();
        assert_eq!(servers.to_string(), count);

        let compose_file = out.join("docker-compose.yml");
        let compose = support::run_tool(
            "docker-compose",
            &["-f", compose_file.to_str().unwrap(), "config", "-q"],
        );
        assert!(
            compose.status.success(),
            "docker-compose config rejected the file:\n{}",
            compose.all_text()
        );
        // The stack file is compose v3: the same client checks its schema.
        let stack_file = out.join("stack.yml");
        let stack = support::run_tool(
            "docker-compose",
            &["-f", stack_file.to_str().unwrap(), "config", "-q"],
        );
        assert!(
            stack.status.success(),
            "docker-compose config rejected stack.yml:\n{}",
            stack.all_text()
        );
    }
}

/// On a Swarm the config asks for the stats password from HAProxy's environment:
/// `haproxy -c` accepts it with the password there, and refuses it without.
#[test]
fn the_swarm_config_is_accepted_with_the_stats_password_in_the_environment() {
    let scratch = Scratch::new("gen-swarm");
    let config = scratch.write(
        "swarm.toml",
        &format!("{}\n[deploy]\ntarget = \"swarm\"\n", support::lab_config()),
    );
    let out = scratch.path("out");
    gen(&config, &out).assert_success();
    let cfg = out.join("haproxy.cfg");
    let check = |password: Option<&str>| {
        let mut command = std::process::Command::new("haproxy");
        command.args(["-c", "-f", cfg.to_str().unwrap()]);
        match password {
            Some(password) => command.env("LBKIT_STATS_PASSWORD", password),
            None => command.env_remove("LBKIT_STATS_PASSWORD"),
        };
        let out = command
            .output()
            .expect("haproxy is needed by this test; `bash .ci/run` installs it");
        support::Run::from(out)
    };
    let with = check(Some("0123abcd"));
    assert!(with.status.success(), "{}", with.all_text());
    assert!(!with.all_text().contains("WARNING"), "{}", with.all_text());
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!text.contains("0123abcd"));
    for missing in [None, Some("")] {
        let without = check(missing);
        assert!(
            !without.status.success()
                && without.all_text().contains("LBKIT_STATS_PASSWORD is empty"),
            "a config without the stats password must not pass: {}",
            without.all_text()
        );
    }
}

#[test]
fn check_mode_detects_drift_and_writes_nothing() {
    let scratch = Scratch::new("gen-check");
    let config = scratch.write("cluster.toml", &support::lab_config());
    let out = scratch.path("out");
    let args = |check: bool| {
        let mut args = vec![
            "gen",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        if check {
            args.push("--check");
        }
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |check: bool| xtask(&args(check).iter().map(String::as_str).collect::<Vec<_>>());

    let missing = run(true);
    assert_eq!(missing.status.code(), Some(1), "{}", missing.all_text());
    assert!(!out.exists(), "--check wrote files");

    run(false).assert_success();
    run(true).assert_success();

    std::fs::write(out.join("haproxy.cfg"), "edited by hand\n").unwrap();
    let stale = run(true);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stale.stderr_text().contains("stale generated files"),
        "{}",
        stale.all_text()
    );
    assert!(stale.stderr_text().contains("run `cargo xtask gen`"));
}

#[test]
fn the_committed_generated_files_are_up_to_date() {
    xtask(&["gen", "--check"]).assert_success();
}

#[test]
fn invalid_config_exits_2_with_one_line_and_writes_nothing() {
    let scratch = Scratch::new("gen-invalid");
    let config = scratch.write(
        "bad.toml",
        &support::lab_config().replace("192.168.42.42", "10.0.0.1"),
    );
    let out = scratch.path("out");
    let run = gen(&config, &out);
    assert_eq!(run.status.code(), Some(2), "{}", run.all_text());
    let stderr = run.stderr_text();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("bad.toml:15: ha.ip: 10.0.0.1 is outside network.subnet 192.168.42.0/24"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert!(!Path::new(&scratch.path("out")).exists());
}

#[test]
fn missing_config_exits_2() {
    let run = xtask(&["gen", "--config", "/nonexistent/cluster.toml", "--check"]);
    assert_eq!(run.status.code(), Some(2), "{}", run.all_text());
    assert!(run
        .stderr_text()
        .contains("/nonexistent/cluster.toml: cannot read it"));
}
