//! Issue 20's drain checks on the real engine, with `[webapps] drain_ms = 15000`: 8 s
//! requests (GETs and POSTs, each on its own connection) in flight on the webapps that
//! `scale` removes all answer 200, once, each within 10 s (none cut and replayed); a POST
//! is executed exactly once; a webapp started during the drain is UP within 3 s (a drain
//! holds no lock that joins need); then the same through a rolling update (a new drain_ms
//! rolls the webapps and is set in ha in place, without recreating it).
//! Through 127.0.0.1 ports, `docker exec` and the docker CLI only.
mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{docker, eventually, Scratch, Stack};

const SLOW_MS: u64 = 8000;
/// Requests in flight when `scale` starts; POSTs at these positions, so that with round
/// robin over three servers each lands on another one.
const REQUESTS: usize = 15;
const POSTS: [usize; 3] = [1, 5, 9];

/// One `/slow` request's outcome.
#[derive(Debug)]
struct Answer {
    method: &'static str,
    id: String,
    status: u16,
    host: String,
    took: Duration,
    error: Option<String>,
}

/// `GET` or `POST /slow?ms=8000` through the load balancer on a connection of its own.
fn slow(port: u16, post: bool, id: String) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(40)))
        .build()
        .into();
    let url = format!("http://127.0.0.1:{port}/slow?ms={SLOW_MS}");
    let start = Instant::now();
    let sent = if post {
        agent
            .post(&url)
            .header("Connection", "close")
            .header("X-Request-Id", &id)
            .send_empty()
    } else {
        agent
            .get(&url)
            .header("Connection", "close")
            .header("X-Request-Id", &id)
            .call()
    };
    let mut answer = Answer {
        method: if post { "POST" } else { "GET" },
        id,
        status: 0,
        host: String::new(),
        took: Duration::ZERO,
        error: None,
    };
    match sent {
        Ok(mut response) => {
            answer.status = response.status().as_u16();
            let body = response.body_mut().read_to_string().unwrap_or_default();
            answer.took = start.elapsed();
            answer.host = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|json| json["host"].as_str().map(String::from))
                .unwrap_or_default();
        }
        Err(err) => {
            answer.took = start.elapsed();
            answer.error = Some(err.to_string());
        }
    }
    answer
}

/// Sessions open on the `nodes` servers now.
fn in_flight(stack: &Stack) -> u64 {
    stack
        .stats()
        .unwrap_or_default()
        .iter()
        .map(|s| s.current)
        .sum()
}

/// `docker logs -f NAME` into a file: a removed container's logs go with it.
fn follow_logs(scratch: &Scratch, name: &str) -> Child {
    let file = std::fs::File::create(scratch.path(name)).unwrap();
    Command::new("docker")
        .args(["logs", "-f", name])
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("docker logs -f")
}

#[test]
fn long_requests_finish_while_webapps_drain() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::with("e2e-drain", 83, 4, |text| {
        text.replace("[webapps]\n", "[webapps]\ndrain_ms = 15000\n")
    });
    stack.xtask(&["up"]).assert_success();
    // s1 stopped: it joins during the drain. The requests go to s2, s3 and s4.
    let (s1, s2) = (stack.node(1), stack.node(2));
    docker(&["stop", &s1]).assert_success();
    let serving = stack.nodes(&[2, 3, 4]);
    eventually("s2, s3, s4 serving", Duration::from_secs(60), || {
        let listed: BTreeSet<String> = stack.stats()?.into_iter().map(|s| s.name).collect();
        (listed == serving && stack.up_servers() == serving).then_some(())
    });

    let scratch = Scratch::new(&format!("{}-logs", stack.name));
    let removed = stack.nodes(&[3, 4]);
    let mut followers: Vec<Child> = removed.iter().map(|n| follow_logs(&scratch, n)).collect();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let requests = send_in_flight(&stack, &format!("scale-{stamp}"), REQUESTS, &POSTS);
    let mut problems = Vec::new();
    let scale = stack.spawn_xtask(&["scale", "--webapps", "2"]);
    eventually(
        "s3 or s4 out of rotation (draining)",
        Duration::from_secs(30),
        || {
            let stats = stack.stats()?;
            removed
                .iter()
                .any(|name| stats.iter().all(|s| s.name != *name || s.status != "UP"))
                .then_some(())
        },
    );
    docker(&["start", &s1]).assert_success();
    let started = Instant::now();
    eventually(&format!("{s1} UP"), Duration::from_secs(60), || {
        (stack.status_of(&s1).as_deref() == Some("UP")).then_some(())
    });
    let join = started.elapsed();
    let draining = in_flight(&stack);
    eprintln!(
        "measured: {s1} UP {:.2}s after docker start, with {draining} requests still in flight",
        join.as_secs_f64()
    );
    if join > Duration::from_secs(3) {
        problems.push(format!(
            "{s1}, started during the drain, UP after {:.1}s (more than 3 s)",
            join.as_secs_f64()
        ));
    }

    let answers: Vec<Answer> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    let scaled: support::Run = scale.wait_with_output().unwrap().into();
    if !scaled.status.success() {
        problems.push(format!("scale --webapps 2 failed:\n{}", scaled.all_text()));
    }
    for method in ["GET", "POST"] {
        if !answers
            .iter()
            .any(|a| a.method == method && removed.contains(&a.host))
        {
            problems.push(format!(
                "no {method} was answered by a removed webapp (s3, s4)"
            ));
        }
    }

    // Each POST executed once, across every webapp's logs.
    for follower in &mut followers {
        let ended = eventually_ends(follower);
        if !ended {
            let _ = follower.kill();
            let _ = follower.wait();
        }
    }
    let mut logs: String = removed
        .iter()
        .map(|n| std::fs::read_to_string(scratch.path(n)).unwrap_or_default())
        .collect();
    for name in [&s1, &s2] {
        logs.push_str(&docker(&["logs", name]).all_text());
    }
    problems.extend(check_answers(&answers, &serving, &logs));
    let up = stack.up_servers();
    if up != stack.nodes(&[1, 2]) {
        problems.push(format!("after the scale, UP: {up:?} (expected s1, s2)"));
    }
    problems.extend(rolling_update_drains(&stack));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `count` `/slow` requests in flight through ha, sent one at a time (so round robin spreads
/// them in order), POSTs at positions `posts`; each waited for until HAProxy counts it.
fn send_in_flight(
    stack: &Stack,
    tag: &str,
    count: usize,
    posts: &[usize],
) -> Vec<std::thread::JoinHandle<Answer>> {
    let mut requests = Vec::new();
    let before = in_flight(stack);
    for i in 0..count {
        let id = format!("{}-{tag}-{i}", stack.name);
        let (port, post) = (stack.http_port, posts.contains(&i));
        requests.push(std::thread::spawn(move || slow(port, post, id)));
        eventually(
            &format!("request {} of {count} in flight", i + 1),
            Duration::from_secs(5),
            || {
                if requests.last().is_some_and(|r| r.is_finished()) {
                    let answer = requests.pop().unwrap().join().unwrap();
                    panic!(
                        "request {} ended before it was seen in flight: {answer:?}",
                        i + 1
                    );
                }
                (in_flight(stack) > before + i as u64).then_some(())
            },
        );
    }
    requests
}

/// Every answer 200 from one of `serving` within 10 s (none cut and replayed), and each
/// POST executed exactly once in `logs`.
fn check_answers(answers: &[Answer], serving: &BTreeSet<String>, logs: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for answer in answers {
        eprintln!("{answer:?}");
        let ok = answer.status == 200
            && answer.error.is_none()
            && answer.took < Duration::from_secs(10)
            && serving.contains(&answer.host);
        if !ok {
            problems.push(format!(
                "{} {}: status {}, {:?}, from {:?} after {:.1}s (expected 200 from {serving:?} within 10 s)",
                answer.method,
                answer.id,
                answer.status,
                answer.error,
                answer.host,
                answer.took.as_secs_f64()
            ));
        }
    }
    for answer in answers.iter().filter(|a| a.method == "POST") {
        let line = format!("executed POST /slow id={}", answer.id);
        let count = logs.lines().filter(|l| l.contains(&line)).count();
        if count != 1 {
            problems.push(format!("`{line}` logged {count} times (expected once)"));
        }
    }
    problems
}

/// A rolling update (a new drain_ms changes the webapps' settings) with 8 s requests in
/// flight on the webapps it replaces: every one answered once within 10 s, ha kept (its
/// drain time is set in place, not by recreating it).
fn rolling_update_drains(stack: &Stack) -> Vec<String> {
    let ha_id = || docker(&["inspect", "-f", "{{.Id}}", &stack.ha()]).stdout_text();
    let ha_before = ha_id();
    let serving = stack.nodes(&[1, 2]);
    let ids = || -> Vec<String> {
        serving
            .iter()
            .map(|n| docker(&["inspect", "-f", "{{.Id}}", n]).stdout_text())
            .collect()
    };
    let webapps_before = ids();
    let scratch = Scratch::new(&format!("{}-roll-logs", stack.name));
    let mut followers: Vec<Child> = serving.iter().map(|n| follow_logs(&scratch, n)).collect();
    let requests = send_in_flight(stack, "roll", 6, &[0, 1]);
    let text = std::fs::read_to_string(&stack.config).unwrap();
    // The count the scale left, so `up` only rolls.
    let text = text
        .replace("drain_ms = 15000", "drain_ms = 16000")
        .replace("count = 4", "count = 2");
    std::fs::write(&stack.config, text).unwrap();
    let up = stack.xtask(&["up"]);
    let answers: Vec<Answer> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    let mut problems = Vec::new();
    if !up.status.success() {
        problems.push(format!("up (rolling) failed:\n{}", up.all_text()));
    }
    for follower in &mut followers {
        if !eventually_ends(follower) {
            let _ = follower.kill();
            let _ = follower.wait();
        }
    }
    let logs: String = serving
        .iter()
        .map(|n| std::fs::read_to_string(scratch.path(n)).unwrap_or_default())
        .collect();
    problems.extend(check_answers(&answers, &serving, &logs));
    if ha_id() != ha_before {
        problems.push("ha was recreated by a new drain_ms".into());
    }
    let rolled = ids().iter().zip(&webapps_before).all(|(a, b)| a != b);
    if !rolled {
        problems.push(format!("the webapps were not rolled:\n{}", up.all_text()));
    }
    let set = stack
        .ha_exec(&["cat", "/var/lib/ha-agent/drain-ms"])
        .stdout_text();
    if set.trim() != "16000" {
        problems.push(format!("ha's drain time is {set:?}, not 16000"));
    }
    if stack.up_servers() != serving {
        problems.push(format!("after the roll, UP: {:?}", stack.up_servers()));
    }
    problems
}

/// Whether a `docker logs -f` of a removed container ended (within 30 s).
fn eventually_ends(child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
