//! Issue 20's rogue checks on the real engine: Serf agents started inside a webapp's
//! container, as root, with the project's gossip key, claiming names and roles that are
//! not theirs. None ever gets traffic (HAProxy's stats, /nodes and haproxy.cfg are sampled
//! all through each case), each refusal is logged once, no webapp runs a rejoin loop for
//! a fake balancer, and the real webapps keep serving with 0 failed requests under load.
//! Through 127.0.0.1 ports, `docker exec` and the docker CLI only.
mod support;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use support::{docker, eventually, skipped, Load, Stack};

const WEBAPPS: u32 = 3;
/// Longer than two safety-net periods (5 s each): a refusal logged again by a later pass
/// shows within it.
const SETTLE: Duration = Duration::from_secs(11);
const SEEN: Duration = Duration::from_secs(60);

/// Starts Serf agents inside container `$1`'s namespace: `$2` = ha's address, `$3` = role,
/// `$4` = first port offset, then the names; one pid a line.
const START: &str = r#"ha=$1 role=$2 i=$3
shift 3
for name; do
  # `\377` in a name becomes that byte: a name need not be UTF-8.
  name=$(printf '%b' "$name")
  serf agent -node="$name" -bind="0.0.0.0:$((7950 + i))" -rpc-addr="127.0.0.1:$((7380 + i))" \
    -config-file=/etc/serf/encrypt.json -tag "role=$role" -tag port=3000 -join "$ha:7946" \
    </dev/null >"/tmp/rogue-$i.log" 2>&1 &
  echo "$!"
  i=$((i + 1))
done"#;

/// Sends signal `$1` to the pids that follow, waits (at most 20 s) for them to end, then
/// kills what is left.
const STOP: &str = r#"signal=$1
shift
kill "-$signal" "$@" 2>/dev/null
n=0
while [ $n -lt 100 ]; do
  alive=
  for pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.2
  n=$((n + 1))
done
kill -KILL "$@" 2>/dev/null
exit 0"#;

/// One stack, its real webapps, and what every sample checks.
struct Trial<'a> {
    stack: &'a Stack,
    /// The real webapps: name -> address.
    real: BTreeMap<String, String>,
    /// The next free port offset for a rogue (each gets its own gossip and RPC port).
    next: Cell<u32>,
}

/// Rogue agents of one case, stopped when dropped (also when the case fails).
struct Rogues {
    /// (container, name, pid, the container's address)
    agents: Vec<(String, String, String, String)>,
    signal: &'static str,
}

impl Drop for Rogues {
    fn drop(&mut self) {
        let hosts: BTreeSet<&String> = self.agents.iter().map(|a| &a.0).collect();
        for host in hosts {
            let mut args = vec!["exec", host.as_str(), "sh", "-c", STOP, "sh", self.signal];
            args.extend(
                self.agents
                    .iter()
                    .filter(|a| &a.0 == host)
                    .map(|a| a.2.as_str()),
            );
            let stopped = docker(&args);
            if !stopped.status.success() {
                eprintln!("stopping rogues in {host}: {}", stopped.all_text());
            }
        }
    }
}

impl Rogues {
    fn names(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.1.clone()).collect()
    }

    /// Takes `other`'s agents over (stopped with these).
    fn add(&mut self, mut other: Rogues) {
        self.agents.append(&mut other.agents);
    }
}

/// A `skipping member` record: (member, address, reason).
type Skip = (String, String, String);

/// Whether a record's member is rogue `name`: the same, or (for a name with control
/// characters, which the record escapes) the same up to its first control character.
fn names_rogue(member: &str, name: &str) -> bool {
    let printable: String = name.chars().take_while(|c| !c.is_control()).collect();
    member == name || (printable.len() < name.len() && member.starts_with(&printable))
}

/// The address part of `ip:port` (or the address alone).
fn ip_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip)
}

/// Bytes a terminal would act on: below 0x20 (but newline and tab) and DEL.
fn control_bytes(text: &[u8]) -> Vec<u8> {
    text.iter()
        .copied()
        .filter(|b| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f)
        .collect()
}

impl<'a> Trial<'a> {
    fn new(stack: &'a Stack) -> Trial<'a> {
        let real = (1..=WEBAPPS)
            .map(|n| (stack.node(n), format!("{}.{}", stack.net, n + 1)))
            .collect();
        Trial {
            stack,
            real,
            next: Cell::new(0),
        }
    }

    /// Rogue agents named `names` inside webapp container `host`, at its address.
    fn start(&self, host: &str, names: &[String], role: &str) -> Rogues {
        let first = self.next.get();
        self.next.set(first + names.len() as u32);
        let ha = format!("{}.42", self.stack.net);
        let first_text = first.to_string();
        let mut args = vec![
            "exec",
            host,
            "sh",
            "-c",
            START,
            "sh",
            ha.as_str(),
            role,
            first_text.as_str(),
        ];
        args.extend(names.iter().map(String::as_str));
        let started = docker(&args);
        started.assert_success();
        let pids: Vec<String> = started
            .stdout_text()
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        assert_eq!(pids.len(), names.len(), "{}", started.all_text());
        Rogues {
            agents: names
                .iter()
                .zip(pids)
                .map(|(name, pid)| (host.to_string(), name.clone(), pid, self.real[host].clone()))
                .collect(),
            signal: "INT",
        }
    }

    /// HAProxy's stats, /nodes and haproxy.cfg list exactly the real webapps at their own
    /// addresses; no webapp runs more than one rejoin loop, none for `fake_balancer`.
    fn sample(&self, fake_balancer: Option<&str>) {
        let stats = self.stack.stats().expect("the stats page answers");
        let listed: BTreeSet<String> = stats.into_iter().map(|s| s.name).collect();
        let real: BTreeSet<String> = self.real.keys().cloned().collect();
        assert_eq!(
            listed, real,
            "HAProxy's servers (stats CSV) are the real webapps"
        );
        let out = self.stack.ha_exec(&[
            "sh",
            "-c",
            r#"for f in /nodes/*; do [ -e "$f" ] && printf '%s|%s\n' "${f#/nodes/}" "$(cat "$f")"; done
echo ===
cat /etc/haproxy/haproxy.cfg"#,
        ]);
        let text = out.stdout_text();
        let (nodes, config) = text.split_once("===\n").unwrap_or((&text, ""));
        let nodes: BTreeMap<String, String> = nodes
            .lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(file, content)| (file.to_string(), content.trim().to_string()))
            .collect();
        let expected: BTreeMap<String, String> = self
            .real
            .iter()
            .map(|(name, ip)| (name.clone(), format!("{name} {ip}")))
            .collect();
        assert_eq!(nodes, expected, "/nodes lists the real webapps");
        let servers: BTreeMap<String, String> = config
            .lines()
            .filter_map(|l| l.trim().strip_prefix("server "))
            .filter_map(|rest| {
                let mut words = rest.split_whitespace();
                let name = words.next()?.to_string();
                Some((name, ip_of(words.next()?).to_string()))
            })
            .collect();
        assert_eq!(servers, self.real, "haproxy.cfg lists the real webapps");
        for node in self.real.keys() {
            let loops = rejoin_loops(node);
            assert!(
                loops.len() <= 1,
                "{node} runs {} rejoin loops:\n{}",
                loops.len(),
                loops.join("\n")
            );
            if let Some(fake) = fake_balancer {
                assert!(
                    !loops.iter().any(|l| l.contains(fake)),
                    "{node} runs a rejoin loop for the fake balancer {fake}: {loops:?}"
                );
            }
        }
    }

    /// Samples for `how_long`: an observation window (what must not happen), not a wait.
    fn watch(&self, how_long: Duration, fake_balancer: Option<&str>) {
        let start = Instant::now();
        while start.elapsed() < how_long {
            self.sample(fake_balancer);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Every rogue refused and logged, sampled all along; then, after two safety-net
    /// periods, each refusal is still logged once, at the rogue's own address.
    fn refused(&self, rogues: &Rogues, timeout: Duration) {
        self.wait_refused(rogues, timeout);
        self.assert_logged_once(rogues);
    }

    /// Waits, sampling, until ha's Serf lists every rogue and a record refuses each.
    fn wait_refused(&self, rogues: &Rogues, timeout: Duration) {
        let names = rogues.names();
        // The rogues did get into the gossip (else the rest proves nothing).
        eventually("ha's Serf agent listing every rogue alive", timeout, || {
            self.sample(None);
            let members = self.stack.ha_exec(&["serf-rpc", "members"]).stdout_text();
            let alive: BTreeSet<&str> = members
                .lines()
                .filter(|l| l.split_whitespace().nth(2) == Some("alive"))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            names
                .iter()
                .all(|name| alive.contains(name.as_str()))
                .then_some(())
        });
        eventually(
            &format!(
                "a `skipping member` record for each of {} rogues",
                names.len()
            ),
            timeout,
            || {
                self.sample(None);
                let log = skipped(&self.stack.serf_log());
                names
                    .iter()
                    .all(|name| log.iter().any(|(member, ..)| names_rogue(member, name)))
                    .then_some(())
            },
        );
    }

    /// After two safety-net periods (sampled), each rogue's refusal is logged once, at its
    /// own address.
    fn assert_logged_once(&self, rogues: &Rogues) {
        self.watch(SETTLE, None);
        let log = skipped(&self.stack.serf_log());
        for (_, name, _, ip) in &rogues.agents {
            let mut counts: BTreeMap<&Skip, usize> = BTreeMap::new();
            for skip in log.iter().filter(|(member, ..)| names_rogue(member, name)) {
                *counts.entry(skip).or_default() += 1;
            }
            assert!(!counts.is_empty(), "no record for {name:?}");
            for ((_, addr, reason), count) in counts {
                assert_eq!(
                    count, 1,
                    "{name:?} at {addr} ({reason}) logged {count} times"
                );
                assert_eq!(ip_of(addr), ip, "{name:?} is recorded at its own address");
            }
        }
    }
}

/// The rejoin loops running in `node` (`sh -c <loop> serf-rejoin <name> ...`).
fn rejoin_loops(node: &str) -> Vec<String> {
    docker(&["exec", node, "ps", "-ww", "-eo", "args="])
        .stdout_text()
        .lines()
        .map(str::trim)
        .filter(|l| {
            (l.starts_with("sh -c") || l.starts_with("/bin/sh -c")) && l.contains("serf-rejoin")
        })
        .map(String::from)
        .collect()
}

/// Whether `node`'s Serf agent lists `name` with `status`.
fn member_status(node: &str, name: &str, status: &str) -> bool {
    docker(&["exec", node, "serf-rpc", "members"])
        .stdout_text()
        .lines()
        .any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.first() == Some(&name) && words.get(2) == Some(&status)
        })
}

fn fake_name_at_its_own_address(t: &Trial) {
    let rogues = t.start(&t.stack.node(1), &[t.stack.node(99)], "backend");
    t.refused(&rogues, SEEN);
}

fn declared_name_not_running(t: &Trial) {
    let rogues = t.start(&t.stack.node(1), &[t.stack.node(9)], "backend");
    t.refused(&rogues, SEEN);
}

/// Serf may turn the name conflict down itself (the rogue, in the minority, shuts
/// down); either way the real webapp keeps its name, address and traffic.
fn name_of_another_running_webapp(t: &Trial) {
    let s2 = t.stack.node(2);
    let mut rogues = t.start(&t.stack.node(1), std::slice::from_ref(&s2), "backend");
    // A graceful leave under the real one's name would be gossip about it: SIGKILL.
    rogues.signal = "KILL";
    t.watch(SETTLE, None);
    let log = skipped(&t.stack.serf_log());
    let records = log.iter().filter(|(member, ..)| *member == s2).count();
    assert!(records <= 1, "{s2} refused {records} times");
    let hosts = t.stack.hosts_answering(3 * WEBAPPS as usize);
    assert!(
        hosts.contains(&s2),
        "the real {s2} keeps serving: {hosts:?}"
    );
}

/// A name with an escape sequence reaches Serf; the record escapes it, and neither
/// `status` nor `logs --events` writes a control character to the terminal.
fn name_with_an_escape_sequence(t: &Trial) {
    let name = format!("{}-evil\x1b[31m\x07\x7f", t.stack.name);
    let rogues = t.start(&t.stack.node(1), std::slice::from_ref(&name), "backend");
    t.wait_refused(&rogues, SEEN);
    let log = t.stack.ha_exec(&["cat", "/var/log/serf.log"]).stdout;
    assert_eq!(
        control_bytes(&log),
        Vec::<u8>::new(),
        "control characters in serf.log"
    );
    let config = t.stack.config.to_str().unwrap().to_string();
    for args in [
        vec!["status", "--config", &config],
        vec!["logs", "--events", "--config", &config],
    ] {
        let run = support::xtask(&args);
        run.assert_success();
        let mut output = run.stdout.clone();
        output.extend(&run.stderr);
        let found = control_bytes(&output);
        assert!(
            found.is_empty(),
            "`{}` writes control bytes {found:x?}:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output).escape_debug()
        );
    }
    let members = t.stack.ha_exec(&["serf-rpc", "members"]).stdout_text();
    assert!(
        members.contains(&name),
        "the name reached Serf as it is:\n{}",
        members.escape_debug()
    );
    t.assert_logged_once(&rogues);
}

/// A name that is not UTF-8 (Serf checks none): never served, and the agent keeps
/// applying real changes while it is there (a webapp stopped leaves, started comes back).
fn name_that_is_not_utf8(t: &Trial) {
    let name = format!("{}-bad\\377", t.stack.name);
    let rogues = t.start(&t.stack.node(1), &[name], "backend");
    eventually("ha's Serf agent listing the rogue alive", SEEN, || {
        t.sample(None);
        let members = t.stack.ha_exec(&["serf-rpc", "members"]).stdout_text();
        members
            .lines()
            .any(|l| l.contains("-bad") && l.contains("alive"))
            .then_some(())
    });
    let s3 = t.stack.node(3);
    let others: BTreeSet<String> = t.real.keys().filter(|n| **n != s3).cloned().collect();
    docker(&["stop", &s3]).assert_success();
    eventually("the stopped webapp out of HAProxy", SEEN, || {
        (t.stack.up_servers() == others).then_some(())
    });
    docker(&["start", &s3]).assert_success();
    let all: BTreeSet<String> = t.real.keys().cloned().collect();
    eventually("the started webapp back in HAProxy", SEEN, || {
        (t.stack.up_servers() == all).then_some(())
    });
    t.watch(SETTLE, None);
    drop(rogues);
}

fn a_hundred_fake_names(t: &Trial) {
    let names: Vec<String> = (0..100).map(|i| t.stack.node(100 + i)).collect();
    let mut rogues = t.start(&t.stack.node(1), &names[..34], "backend");
    rogues.add(t.start(&t.stack.node(2), &names[34..67], "backend"));
    rogues.add(t.start(&t.stack.node(3), &names[67..], "backend"));
    t.refused(&rogues, Duration::from_secs(120));
}

/// A member tagged `role=balancer` that is not the declared ha, which then leaves: no
/// webapp starts a rejoin loop for it.
fn fake_balancer_that_leaves(t: &Trial) {
    let fake = format!("{}-fakeha", t.stack.name);
    let rogues = t.start(&t.stack.node(1), std::slice::from_ref(&fake), "balancer");
    eventually("every webapp sees the fake balancer", SEEN, || {
        t.sample(Some(&fake));
        t.real
            .keys()
            .all(|node| member_status(node, &fake, "alive"))
            .then_some(())
    });
    drop(rogues); // SIGINT: Serf leaves
    eventually("every webapp sees the fake balancer leave", SEEN, || {
        t.sample(Some(&fake));
        t.real
            .keys()
            .all(|node| !member_status(node, &fake, "alive"))
            .then_some(())
    });
    // Serf runs the handlers after its coalescing period: watch past it.
    t.watch(SETTLE, Some(&fake));
}

#[test]
fn rogue_members_never_get_traffic() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-trust", 81, WEBAPPS);
    stack.xtask(&["up"]).assert_success();
    let trial = Trial::new(&stack);
    let real: BTreeSet<String> = trial.real.keys().cloned().collect();
    assert_eq!(stack.up_servers(), real);
    let load = Load::start(&stack, Duration::from_secs(900));
    let t = &trial;
    let mut failures = support::run_cases(vec![
        (
            "a fake name at the webapp's own address",
            Box::new(|| fake_name_at_its_own_address(t)),
        ),
        (
            "a declared name that is not running",
            Box::new(|| declared_name_not_running(t)),
        ),
        (
            "the name of another running webapp",
            Box::new(|| name_of_another_running_webapp(t)),
        ),
        (
            "a name with an escape sequence",
            Box::new(|| name_with_an_escape_sequence(t)),
        ),
        (
            "a name that is not UTF-8",
            Box::new(|| name_that_is_not_utf8(t)),
        ),
        (
            "a fake balancer that leaves",
            Box::new(|| fake_balancer_that_leaves(t)),
        ),
        ("100 fake names", Box::new(|| a_hundred_fake_names(t))),
    ]);
    let result = load.finish();
    failures.extend(support::run_cases(vec![(
        "afterwards",
        Box::new(|| {
            result.assert_none_failed();
            eventually("the real webapps UP", Duration::from_secs(30), || {
                (stack.up_servers() == real).then_some(())
            });
            assert_eq!(stack.hosts_answering(9), real);
            // Over the whole run, every refusal logged once.
            let log = skipped(&stack.serf_log());
            let mut counts: BTreeMap<&Skip, usize> = BTreeMap::new();
            for skip in &log {
                *counts.entry(skip).or_default() += 1;
            }
            let repeated: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 1).collect();
            assert!(
                repeated.is_empty(),
                "refusals logged more than once: {repeated:?}"
            );
        }),
    )]));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
