//! Issue 20's drift checks on the real engine: HAProxy's live servers changed behind the
//! agent's back (through the admin socket, as a half-applied runtime change or a stale
//! server-state file would leave them) are put back by the next safety-net pass, and the
//! repair is recorded in serf.log; the load balancer keeps serving with 0 failed requests.
//! Through 127.0.0.1 ports and `docker exec` only.
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::{eventually, Load, Stack};

/// A safety-net pass runs every 5 s: a repair comes within about two of them.
const REPAIR: Duration = Duration::from_secs(15);
/// HAProxy checks an UP server every 30 s by default, and the first check after the
/// repair may be one scheduled before it.
const SERVING: Duration = Duration::from_secs(45);

/// `ha-agent cli admin COMMAND` in ha: HAProxy's runtime API, as an operator (or a crash)
/// would change it.
fn admin(stack: &Stack, command: &str) -> String {
    let run = stack.ha_exec(&["ha-agent", "cli", "admin", command]);
    run.assert_success();
    run.stdout_text()
}

/// The `repaired:` lines of serf.log that name server `name` (as a whole word).
fn repairs_naming(stack: &Stack, name: &str) -> Vec<String> {
    stack
        .serf_log()
        .lines()
        .filter(|l| l.contains(" repaired: "))
        .filter(|l| {
            l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|word| word == name)
        })
        .map(String::from)
        .collect()
}

/// Waits for a `repaired:` line naming `name` within [`REPAIR`] of a change made at
/// `changed` (the agent's part), then for `repaired` within [`SERVING`] (HAProxy's: a
/// server out of maintenance is UP at its next health check, up to `interval_ms` later).
fn assert_repaired(
    stack: &Stack,
    name: &str,
    what: &str,
    changed: Instant,
    repaired: impl Fn() -> bool,
) {
    let lines = eventually(
        &format!("a ` repaired: ` line naming {name}"),
        REPAIR,
        || Some(repairs_naming(stack, name)).filter(|l| !l.is_empty()),
    );
    eventually(what, SERVING, || repaired().then_some(()));
    eprintln!(
        "measured: {what} after {:.1}s",
        changed.elapsed().as_secs_f64()
    );
    eprintln!("{}", lines.join("\n"));
}

#[test]
fn live_servers_that_drift_from_the_config_are_repaired() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-drift", 82, 2);
    stack.xtask(&["up"]).assert_success();
    let real = stack.nodes(&[1, 2]);
    assert_eq!(stack.up_servers(), real);
    let load = Load::start(&stack, Duration::from_secs(600));

    let mut failures = support::run_cases(vec![
        (
            "a live server put in maintenance behind the agent's back",
            Box::new(|| {
                let s1 = stack.node(1);
                admin(&stack, &format!("set server nodes/{s1} state maint"));
                let changed = Instant::now();
                let maint = stack.status_of(&s1).unwrap_or_default();
                assert!(maint.starts_with("MAINT"), "{s1} went to MAINT: {maint}");
                assert_repaired(&stack, &s1, &format!("{s1} UP again"), changed, || {
                    stack.status_of(&s1).as_deref() == Some("UP")
                });
            }),
        ),
        (
            "an unknown server added behind the agent's back",
            Box::new(|| {
                let bogus = stack.node(77);
                let server = format!("nodes/{bogus}");
                admin(
                    &stack,
                    &format!("add server {server} {}.77:3000", stack.net),
                );
                admin(&stack, &format!("enable server {server}"));
                let changed = Instant::now();
                assert!(
                    stack.status_of(&bogus).is_some(),
                    "{bogus} listed in the stats once added"
                );
                assert_repaired(&stack, &bogus, &format!("{bogus} gone"), changed, || {
                    stack
                        .stats()
                        .is_some_and(|s| s.iter().all(|s| s.name != bogus))
                });
                let state = admin(&stack, "show servers state nodes");
                assert!(!state.contains(&bogus), "{state}");
            }),
        ),
    ]);

    let result = load.finish();
    failures.extend(support::run_cases(vec![(
        "afterwards",
        Box::new(|| {
            result.assert_none_failed();
            let up: BTreeSet<String> = stack.up_servers();
            assert_eq!(up, real, "both webapps UP at the end");
        }),
    )]));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
