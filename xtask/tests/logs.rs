//! `cargo xtask logs`: the project's logs interleaved by time with node prefixes, ha's
//! Serf events with --events, --follow until Ctrl-C.
mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use support::{docker, run_tool, Stack};

#[test]
fn logs_interleave_nodes_and_events_and_follow_until_ctrl_c() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-xlogs", 74, 2);
    let _images = support::DropImages(&stack);
    stack.xtask(&["up"]).assert_success();
    let (ha, s1) = (stack.ha(), stack.node(1));
    let events = format!("{ha}:serf");

    let logs = stack.xtask(&["logs", "--events", "--timestamps"]);
    logs.assert_success();
    let text = logs.stdout_text();
    let mut sources = std::collections::BTreeSet::new();
    let mut times = Vec::new();
    for line in text.lines() {
        let (prefix, rest) = line.split_once(" | ").expect("`node | line`");
        sources.insert(prefix.trim().to_string());
        let stamp = rest.split(' ').next().unwrap();
        let at = humantime::parse_rfc3339(stamp)
            .unwrap_or_else(|err| panic!("{stamp:?} is not an RFC 3339 UTC time ({err}): {line}"));
        times.push(at);
    }
    let expected = [ha.clone(), events.clone(), s1.clone(), stack.node(2)];
    assert_eq!(sources, expected.into_iter().collect(), "{text}");
    // In time order: the parsed instants, not the stamps' text.
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not in time order:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(&events) && l.contains("member-join")),
        "{text}"
    );

    // One node only; an unknown one is a usage error.
    let only = stack.xtask(&["logs", &s1]);
    only.assert_success();
    assert!(only
        .stdout_text()
        .lines()
        .all(|l| l.starts_with(&format!("{s1} |"))));
    assert!(!only.stdout_text().is_empty());
    let unknown = stack.xtask(&["logs", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", unknown.all_text());
    let future = stack.xtask(&["logs", "--since", "2999-01-01T00:00:00Z"]);
    future.assert_success();
    assert_eq!(future.stdout_text(), "");

    // --follow streams what comes, then Ctrl-C ends it cleanly.
    let mut child = stack.spawn_xtask(&["logs", "--follow", "--events", &ha]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    while rx.try_recv().is_ok() {}
    docker(&["exec", &ha, "ha-agent", "reload"]).assert_success();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let from_ha = |l: &String| l.starts_with(&ha) && !l.starts_with(&events);
    while !seen
        .iter()
        .any(|l| from_ha(l) && l.contains("forced reload"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no new ha line while following: {seen:?}");
        if let Ok(line) = rx.recv_timeout(left) {
            seen.push(line);
        }
    }
    run_tool("kill", &["-INT", &child.id().to_string()]).assert_success();
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends --follow cleanly: {status}");
}
