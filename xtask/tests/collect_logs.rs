//! `cargo xtask collect-logs` on the real engine: each test replays one lab task on its
//! own project into its own folder, then reads the evidence as the lab's grader would.
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use cluster::record::{self, Record};
use support::{docker, eventually, run_tool, Run, Scratch, Stack};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Replays `task` into `out` and checks the stack is gone afterwards.
fn collect(stack: &Stack, task: &str, out: &Path) -> Run {
    let run = stack.xtask(&["collect-logs", task, "--out", out.to_str().unwrap()]);
    run.assert_success();
    assert!(
        stack.containers().is_empty(),
        "the stack is removed afterwards"
    );
    assert!(out.join("README.md").exists(), "{task} has a README");
    run
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap_or_else(|err| panic!("reading {file}: {err}"))
}

/// The names on a config's `server` lines, in order.
fn servers(cfg: &str) -> Vec<String> {
    cfg.lines()
        .filter_map(|line| line.trim().strip_prefix("server "))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// True when `name` appears as a whole word (so `x-s1` does not match `x-s10`).
fn mentions(text: &str, name: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| word == name)
}

/// The `docker ps` row of container `name`, if listed.
fn ps_row<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table
        .lines()
        .find(|line| line.split_whitespace().last() == Some(name))
}

/// The cells of a `docker ps` table, cut where the header's titles start.
fn ps_cells(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header = lines.next().expect("a header line");
    // A column starts after a gap of two spaces or more (`CONTAINER ID` has one inside).
    let header: Vec<char> = header.chars().collect();
    let starts: Vec<usize> = (0..header.len())
        .filter(|&i| header[i] != ' ' && (i == 0 || i >= 2 && header[i - 2..i] == [' ', ' ']))
        .collect();
    assert_eq!(starts.len(), 7, "seven columns: {header:?}");
    lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let cut = |from: usize, to: usize| -> String {
                let to = to.min(chars.len());
                chars[from.min(to)..to]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            (0..starts.len())
                .map(|i| cut(starts[i], starts.get(i + 1).copied().unwrap_or(usize::MAX)))
                .collect()
        })
        .collect()
}

/// docker_ps.log against what the docker CLI prints for the same containers a moment
/// later: the same rows, ids, images, commands, ports and names; times move on.
#[track_caller]
fn assert_reads_like_the_cli(ours: &str, cli: &str) {
    let (ours_rows, cli_rows) = (ps_cells(ours), ps_cells(cli));
    assert_eq!(
        ours_rows.len(),
        cli_rows.len(),
        "same containers:\n{ours}\n{cli}"
    );
    for (o, c) in ours_rows.iter().zip(&cli_rows) {
        for (i, column) in ["CONTAINER ID", "IMAGE", "COMMAND", "PORTS", "NAMES"]
            .iter()
            .zip([0, 1, 2, 5, 6])
        {
            assert_eq!(o[column], c[column], "{i}:\n{ours}\n{cli}");
        }
        assert!(
            o[3].ends_with(" ago") && c[3].ends_with(" ago"),
            "CREATED: {o:?}"
        );
        let state = |status: &str| status.split_whitespace().next().map(String::from);
        assert_eq!(state(&o[4]), state(&c[4]), "STATUS:\n{ours}\n{cli}");
    }
    // The columns line up as the CLI's do: titles separated by three spaces at least.
    let header = ours.lines().next().unwrap();
    assert!(header.starts_with("CONTAINER ID   IMAGE"), "{header}");
}

#[test]
fn task0_serves_the_static_config_and_docker_ps_reads_like_the_cli() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-logs0", 25, 2);
    let scratch = Scratch::new("e2e-logs0-out");
    let out = scratch.path("task0");
    let (s1, s2) = (stack.node(1), stack.node(2));
    // --keep: the stack stays up to be looked at; dropping `stack` removes it.
    stack
        .xtask(&[
            "collect-logs",
            "task0",
            "--keep",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert_success();

    // As in the lab's task 0: HAProxy alone on the static config, the web apps alone.
    let processes = |name: &str| docker(&["top", name]).assert_success().stdout_text();
    let ha = processes(&stack.ha());
    assert!(
        ha.contains("haproxy -db -f /etc/haproxy/haproxy.cfg"),
        "{ha}"
    );
    for name in [stack.ha(), s1.clone(), s2.clone()] {
        let listing = processes(&name);
        for absent in ["s6-svscan", "serf", "ha-agent"] {
            assert!(
                !listing.contains(absent),
                "{absent} runs in {name}:\n{listing}"
            );
        }
    }
    let generated = scratch.path("generated");
    stack
        .xtask(&["gen", "--out", generated.to_str().unwrap()])
        .assert_success();
    let live = docker(&["exec", &stack.ha(), "cat", "/etc/haproxy/haproxy.cfg"]);
    assert_eq!(
        live.stdout_text(),
        read(&generated, "haproxy.cfg"),
        "ha serves generated/haproxy.cfg"
    );
    assert_eq!(servers(&live.stdout_text()), [s1.as_str(), s2.as_str()]);
    assert_eq!(stack.hosts_answering(6), [s1.clone(), s2.clone()].into());

    let filter = format!("label=lbkit.project={}", stack.name);
    let cli = docker(&["ps", "-a", "--filter", &filter]);
    cli.assert_success();
    assert_reads_like_the_cli(&read(&out, "docker_ps.log"), &cli.stdout_text());

    let png =
        fs::read(out.join("stats.png")).expect("stats.png (Chromium: `bash .ci/run` installs it)");
    assert!(png.starts_with(PNG_SIGNATURE));
    let readme = read(&out, "README.md");
    assert!(readme.contains("static configuration"), "{readme}");
    assert!(readme.contains("nothing runs Serf"), "{readme}");
}

#[test]
fn task5_captures_configs_nodes_and_the_stop_of_s1() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-logs5", 21, 2);
    let scratch = Scratch::new("e2e-logs5-out");
    let out = scratch.path("task5");
    collect(&stack, "task5", &out);
    let (s1, s2) = (stack.node(1), stack.node(2));

    assert_eq!(
        servers(&read(&out, "1/haproxy_after_ha.cfg")),
        Vec::<String>::new()
    );
    assert_eq!(
        servers(&read(&out, "1/haproxy_after_s1.cfg")),
        [s1.as_str()]
    );
    assert_eq!(
        servers(&read(&out, "1/haproxy_after_s2.cfg")),
        [s1.as_str(), s2.as_str()]
    );
    let ps = read(&out, "1/docker_ps.log");
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    for name in [stack.ha(), s1.clone(), s2.clone()] {
        let row = ps_row(&ps, &name).unwrap_or_else(|| panic!("{name} in docker_ps.log:\n{ps}"));
        assert!(row.contains(" Up "), "{row}");
    }
    for (lab, name) in [("ha", stack.ha()), ("s1", s1.clone()), ("s2", s2.clone())] {
        let json: serde_json::Value =
            serde_json::from_str(&read(&out, &format!("1/docker_inspect_{lab}.log"))).unwrap();
        assert_eq!(
            json[0]["Name"],
            format!("/{name}"),
            "docker_inspect_{lab}.log"
        );
        assert_eq!(json[0]["State"]["Running"], true);
    }

    let nodes = read(&out, "2/nodes.log");
    assert!(mentions(&nodes, &s1) && mentions(&nodes, &s2), "{nodes}");

    let cfg = read(&out, "3/haproxy_after_s1_stopped.cfg");
    assert_eq!(servers(&cfg), [s2.as_str()]);
    assert!(!mentions(&cfg, &s1), "{cfg}");
    let nodes = read(&out, "3/nodes_after_s1_stopped.log");
    assert!(!mentions(&nodes, &s1) && mentions(&nodes, &s2), "{nodes}");
    let ps = read(&out, "3/docker_ps_after_s1_stopped.log");
    assert!(
        ps_row(&ps, &s1).is_none_or(|row| row.contains("Exited")),
        "s1 absent or exited:\n{ps}"
    );
    assert!(
        ps_row(&ps, &s2).is_some_and(|row| row.contains(" Up ")),
        "{ps}"
    );

    let readme = read(&out, "README.md");
    assert!(
        readme.contains("## Timeline") && readme.contains("5. stop s1"),
        "{readme}"
    );
    assert!(
        readme.contains(&format!("`s1` is `{s1}`")),
        "names the mapping: {readme}"
    );
}

#[test]
fn task6_screenshots_the_stats_page_with_4_webapps_then_without_s2() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-logs6", 22, 2);
    let scratch = Scratch::new("e2e-logs6-out");
    let out = scratch.path("task6");
    collect(&stack, "task6", &out);

    let ps = read(&out, "docker_ps_with_4_webapps.log");
    for n in 1..=4 {
        let row = ps_row(&ps, &stack.node(n)).unwrap_or_else(|| panic!("s{n} in:\n{ps}"));
        assert!(row.contains(" Up "), "{row}");
    }
    let ps = read(&out, "docker_ps_s2_stopped.log");
    assert!(
        ps_row(&ps, &stack.node(2)).is_none_or(|row| row.contains("Exited")),
        "{ps}"
    );
    for png in ["stats_4_webapps.png", "stats_s2_stopped.png"] {
        let bytes = fs::read(out.join(png)).unwrap_or_else(|err| {
            panic!("{png} ({err}): is Chromium installed? `bash .ci/run` installs it (apt-get install chromium)")
        });
        assert!(bytes.starts_with(PNG_SIGNATURE), "{png} is a PNG");
        assert!(
            bytes.len() > 10 * 1024,
            "{png} holds a real page ({} bytes)",
            bytes.len()
        );
    }
}

#[test]
fn task3_serf_log_has_ha_s1_s2_joining_in_order() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-logs3", 23, 2);
    let scratch = Scratch::new("e2e-logs3-out");
    let out = scratch.path("task3");
    collect(&stack, "task3", &out);

    for file in [
        "ha_start.log",
        "s1_start.log",
        "ha_after_s1.log",
        "s2_start.log",
        "ha_after_s2.log",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    let log = read(&out, "ha_serf.log");
    let mut first: Vec<String> = Vec::new();
    for line in record::parse_log(&log) {
        let line = line.unwrap_or_else(|text| panic!("{text:?} is an agent record:\n{log}"));
        if let Record::Event { event, member, .. } = line.record {
            if event == "member-join" && !first.contains(&member) {
                first.push(member);
            }
        }
    }
    assert_eq!(
        first,
        [stack.ha(), stack.node(1), stack.node(2)],
        "member-join order in:\n{log}"
    );
}

/// Kill a run mid-way twice (SIGKILL: nothing can clean up; SIGTERM: the run cleans up):
/// the previous folder stays exactly as it was.
#[test]
fn an_interrupted_run_leaves_the_previous_evidence_intact() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-logsint", 24, 2);
    let scratch = Scratch::new("e2e-logsint-out");
    let out = scratch.path("task3");
    fs::create_dir_all(&out).unwrap();
    let readme = "# task3: evidence collected by `cargo xtask collect-logs`\n";
    fs::write(out.join("README.md"), readme).unwrap();
    fs::write(out.join("marker.txt"), "previous run").unwrap();
    // Built first, so the runs below reach their first capture quickly.
    stack.xtask(&["build"]).assert_success();
    let args = ["collect-logs", "task3", "--out", out.to_str().unwrap()];

    let mut child = stack.spawn_xtask(&args);
    let staging = wait_for_first_capture(&mut child, &out);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_previous_intact(&out, readme);
    assert!(
        staging.exists(),
        "SIGKILL leaves its staging folder (the next run sweeps it)"
    );

    let mut child = stack.spawn_xtask(&args);
    let staging_2 = wait_for_first_capture(&mut child, &out);
    run_tool("kill", &["-TERM", &child.id().to_string()]).assert_success();
    let run: Run = child.wait_with_output().unwrap().into();
    assert!(!run.status.success());
    assert!(
        run.stderr_text().contains("interrupted by SIGTERM"),
        "{}",
        run.all_text()
    );
    assert!(
        run.stderr_text().contains("is left as it was"),
        "{}",
        run.all_text()
    );
    assert_previous_intact(&out, readme);
    assert!(
        !staging.exists(),
        "the killed run's staging folder was swept"
    );
    assert!(
        !staging_2.exists(),
        "the interrupted run removed its staging folder"
    );
    assert!(
        stack.containers().is_empty(),
        "the interrupted run removed the stack"
    );
}

/// Waits until the run has written its first file; returns its staging folder.
fn wait_for_first_capture(child: &mut Child, out: &Path) -> PathBuf {
    let parent = out.parent().unwrap();
    let prefix = format!(
        ".{}.partial-{}",
        out.file_name().unwrap().to_str().unwrap(),
        child.id()
    );
    let staging = parent.join(prefix);
    eventually("the run's first capture", Duration::from_secs(240), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("collect-logs ended before its first capture ({status})");
        }
        staging.join("ha_start.log").exists().then_some(())
    });
    staging
}

fn assert_previous_intact(out: &Path, readme: &str) {
    let mut names: Vec<String> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["README.md", "marker.txt"],
        "nothing added to or removed from the previous folder"
    );
    assert_eq!(read(out, "README.md"), readme);
    assert_eq!(read(out, "marker.txt"), "previous run");
}

#[test]
fn a_folder_it_did_not_write_is_never_replaced() {
    let scratch = Scratch::new("e2e-logs-foreign");
    let out = scratch.path("mine");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("notes.txt"), "keep me").unwrap();
    // Refused before the engine is touched: the default project's stack is safe.
    let run = support::xtask(&["collect-logs", "task0", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2), "{}", run.all_text());
    assert!(
        run.stderr_text().contains("collect-logs did not write"),
        "{}",
        run.all_text()
    );
    assert_eq!(read(&out, "notes.txt"), "keep me");
}
