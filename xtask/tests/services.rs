//! Several services behind one ha, on one stack: the lab's app (the default service), an
//! nginx image at `static.localhost` (Serf in sidecars) and a Python app built on the base
//! at path `/api`. Under load on all three: routing by host and path, each service scaled
//! on its own, a SIGKILLed container of one service, a new and a broken image for one
//! service, a fourth service added then removed by `up` (ha never recreated), the refused
//! configurations, `status`, `logs`, and `down`; then the generated compose file starts
//! the same services.
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::{docker, eventually, root, sharded, Scratch, Stack};

/// Which service answered, and which of its containers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    /// The lab app's JSON.
    Default(String),
    /// nginx: "<version> <host>".
    Static(String, String),
    /// The Python app: "api <host>".
    Api(String),
}

impl Answer {
    fn service(&self) -> &'static str {
        match self {
            Answer::Default(_) => "webapps",
            Answer::Static(..) => "static",
            Answer::Api(_) => "api",
        }
    }

    fn host(&self) -> &str {
        match self {
            Answer::Default(host) | Answer::Static(_, host) | Answer::Api(host) => host,
        }
    }
}

/// GET `path` with `Host: host` on a new connection; the answer of a 200.
fn get(port: u16, host: &str, path: &str) -> Result<Answer, String> {
    let body = support::get_200(port, host, path)?;
    let body = body.trim();
    if body.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("{host}{path}: {e}: {body}"))?;
        return Ok(Answer::Default(
            json["host"].as_str().unwrap_or_default().to_string(),
        ));
    }
    match body.split_once(' ') {
        Some(("api", host)) => Ok(Answer::Api(host.to_string())),
        Some((version, host)) if version.starts_with('v') => {
            Ok(Answer::Static(version.to_string(), host.to_string()))
        }
        _ => Err(format!("{host}{path}: unexpected body {body:?}")),
    }
}

/// The requests the load spreads over the services, and the service each must reach.
const ROUTES: &[(&str, &str, &str)] = &[
    ("lb.localhost", "/", "webapps"),
    ("static.localhost", "/", "static"),
    ("STATIC.localhost:80", "/index.html", "static"),
    ("lb.localhost", "/api", "api"),
    // A host route beats a path route (as Traefik's longer rule does).
    ("static.localhost", "/api", "static"),
    ("lb.localhost", "/api?page=2", "api"),
    ("unknown.example", "/", "webapps"),
];

/// Per service: answers, failures (the first few), misrouted answers.
#[derive(Debug, Default)]
struct Tally {
    ok: BTreeMap<&'static str, u64>,
    failed: BTreeMap<&'static str, Vec<String>>,
    misrouted: Vec<String>,
    hosts: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Tally {
    fn failed(&self, service: &str) -> usize {
        self.failed.get(service).map_or(0, Vec::len)
    }

    #[track_caller]
    fn assert_none_failed(&self, what: &str) {
        eprintln!("{what}: {:?} answered, failed {:?}", self.ok, self.failed);
        assert!(
            self.misrouted.is_empty(),
            "{what}: misrouted: {:?}",
            self.misrouted
        );
        for service in ["webapps", "static", "api"] {
            assert!(
                self.ok.get(service).copied().unwrap_or(0) > 0,
                "{what}: {service} answered"
            );
            assert_eq!(
                self.failed(service),
                0,
                "{what}: {service} failed: {:?}",
                self.failed
            );
        }
    }
}

/// Requests on every route from two threads, until finished.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Tally>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..2)
            .map(|worker| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut tally = Tally::default();
                    let mut i = worker;
                    while !stop.load(Ordering::Relaxed) {
                        let (host, path, service) = ROUTES[i % ROUTES.len()];
                        i += 1;
                        match get(port, host, path) {
                            Ok(answer) if answer.service() == service => {
                                *tally.ok.entry(service).or_default() += 1;
                                let host = answer.host().to_string();
                                tally.hosts.entry(service).or_default().insert(host);
                            }
                            Ok(answer) if tally.misrouted.len() < 5 => {
                                tally.misrouted.push(format!("{host}{path} -> {answer:?}"))
                            }
                            Ok(_) => {}
                            Err(err) => tally.failed.entry(service).or_default().push(err),
                        }
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    tally
                })
            })
            .collect();
        Load { stop, workers }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for worker in self.workers {
            let tally = worker.join().unwrap();
            for (service, n) in tally.ok {
                *all.ok.entry(service).or_default() += n;
            }
            for (service, errors) in tally.failed {
                all.failed.entry(service).or_default().extend(errors);
            }
            for (service, hosts) in tally.hosts {
                all.hosts.entry(service).or_default().extend(hosts);
            }
            all.misrouted.extend(tally.misrouted);
        }
        all
    }
}

fn set_config(stack: &Stack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.config).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    std::fs::write(&stack.config, text.replacen(from, to, 1)).unwrap();
}

/// The service's webapps HAProxy shows UP, from the stats CSV.
fn up_in(stack: &Stack, backend: &str) -> BTreeSet<String> {
    support::http_get(&format!("http://127.0.0.1:{}/;csv", stack.stats_port))
        .map(|csv| cluster::parse_backend_stats(&csv, backend))
        .unwrap_or_default()
        .into_iter()
        .filter(cluster::ServerStat::is_up)
        .map(|s| s.name)
        .collect()
}

fn names(stack: &Stack, service: &str, numbers: std::ops::RangeInclusive<u32>) -> BTreeSet<String> {
    numbers
        .map(|n| format!("{}-{service}{n}", stack.name))
        .collect()
}

/// The ids of one service's webapps (`<project>-<prefix><n>`).
fn ids(stack: &Stack, prefix: &str) -> BTreeMap<String, String> {
    let prefix = format!("{}-{prefix}", stack.name);
    stack
        .containers()
        .into_iter()
        .filter(|(name, _)| {
            name.strip_prefix(&prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

#[test]
fn three_services_behind_one_ha() {
    if support::skip_without_engine() {
        return;
    }
    let repo = sharded("lbkit-e2e-svc-nginx");
    let tag = |v: &str| format!("{repo}:{v}");
    let app = Scratch::new("services-api");
    std::fs::copy(
        root().join("examples/python/Dockerfile"),
        app.path("Dockerfile"),
    )
    .unwrap();
    app.write("version", "v1\n");
    let api_context = app.path("");
    let stack = Stack::with("e2e-services", 91, 2, |text| {
        let name = sharded("e2e-services");
        format!(
            r#"{text}
[services.static]
count = 2
prefix = "{name}-static"
image = "{static_image}"
port = 80
drain_ms = 1000
hosts = ["static.localhost"]

[services.static.health]
path = "/"

[services.api]
count = 2
prefix = "{name}-api"
build = "{api}"
command = ["sh", "-c", "mkdir -p /tmp/www && echo \"api $(hostname)\" > /tmp/www/api && exec python3 -m http.server 8000 --directory /tmp/www"]
port = 8000
drain_ms = 1000
paths = ["/api"]

[services.api.health]
check = "tcp"
"#,
            static_image = tag("v1"),
            api = api_context.display(),
        )
    });
    let _images = support::DropImages(&stack);
    // nginx is built FROM the debootstrapped Debian that `build` imports.
    stack.xtask(&["build"]).assert_success();
    let context = root().join("examples/nginx");
    let built: Vec<String> = [("v1", "0"), ("v2", "0"), ("v3", "1")]
        .iter()
        .map(|(v, broken)| {
            let version = format!("VERSION={v}");
            let broken = format!("BROKEN={broken}");
            docker(&[
                "build",
                "-q",
                "-t",
                &tag(v),
                "--label",
                "lbkit.test=services",
                "--build-arg",
                &version,
                "--build-arg",
                &broken,
                context.to_str().unwrap(),
            ])
            .assert_success();
            tag(v)
        })
        .collect();
    let _nginx = RemoveImages(built);
    let port = stack.http_port;

    // Up: every service's containers, one ha; each route reaches its service, from all
    // of its containers.
    let up = stack.xtask(&["up"]);
    up.assert_success();
    let text = up.stdout_text();
    assert!(text.contains("service api: 2 webapps UP"), "{text}");
    assert!(text.contains("service static: 2 webapps UP"), "{text}");
    let ha_id = stack.containers()[&stack.ha()].clone();
    let load = Load::start(port);
    std::thread::sleep(Duration::from_secs(3));
    let tally = load.finish();
    tally.assert_none_failed("routing");
    let served: u64 = tally.ok.values().sum();
    assert!(served >= 300, "300 requests or more: {served}");
    assert_eq!(tally.hosts["static"], names(&stack, "static", 1..=2));
    assert_eq!(tally.hosts["api"], names(&stack, "api", 1..=2));
    assert_eq!(tally.hosts["webapps"], names(&stack, "s", 1..=2));

    // `up` again changes nothing.
    let again = stack.xtask(&["up"]);
    again.assert_success();
    assert!(
        again
            .stdout_text()
            .contains("service api: 2 webapps UP as declared"),
        "{}",
        again.all_text()
    );

    // status groups nodes by service; logs takes a service's name.
    let status = stack.xtask(&["status", "--json"]);
    status.assert_success();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout_text()).unwrap();
    let services: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let order: Vec<&str> = services.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        order,
        ["", "webapps", "webapps", "api", "api", "static", "static"],
        "{services:?}"
    );
    let logs = stack.xtask(&["logs", "api"]);
    logs.assert_success();
    let sources: BTreeSet<String> = logs
        .stdout_text()
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()
                .map(|s| s.trim_end_matches('|').to_string())
        })
        .collect();
    assert_eq!(
        sources,
        names(&stack, "api", 1..=2),
        "{}",
        logs.stdout_text()
    );

    // Scale one service under load, then two at once: every service answers throughout.
    let api = format!("api={}", 4);
    let load = Load::start(port);
    stack.xtask(&["scale", &api]).assert_success();
    assert_eq!(up_in(&stack, "api"), names(&stack, "api", 1..=4));
    stack
        .xtask(&["scale", "api=1", "webapps=3"])
        .assert_success();
    load.finish()
        .assert_none_failed("scale api=4, then api=1 webapps=3");
    assert_eq!(up_in(&stack, "api"), names(&stack, "api", 1..=1));
    assert_eq!(up_in(&stack, "nodes"), names(&stack, "s", 1..=3));
    assert_eq!(up_in(&stack, "static"), names(&stack, "static", 1..=2));

    // SIGKILL of one static container: the others see no failure; it leaves rotation.
    let load = Load::start(port);
    let killed = format!("{}-static1", stack.name);
    docker(&["kill", "-s", "KILL", &killed]).assert_success();
    eventually("static1 out of rotation", Duration::from_secs(30), || {
        (!up_in(&stack, "static").contains(&killed)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let tally = load.finish();
    eprintln!(
        "after SIGKILL: {:?} answered, failed {:?}",
        tally.ok, tally.failed
    );
    assert!(tally.misrouted.is_empty(), "{:?}", tally.misrouted);
    assert_eq!(
        tally.failed("webapps") + tally.failed("api"),
        0,
        "{:?}",
        tally.failed
    );
    // `up` brings it back.
    stack.xtask(&["up"]).assert_success();

    // A new image for static rolls static alone; a broken one stops at its first slot
    // and leaves every other service untouched.
    let others = |stack: &Stack| {
        (
            ids(stack, "s"),
            ids(stack, "api"),
            stack.containers()[&stack.ha()].clone(),
        )
    };
    let before = others(&stack);
    let load = Load::start(port);
    set_config(&stack, &tag("v1"), &tag("v2"));
    stack.xtask(&["up"]).assert_success();
    let tally = load.finish();
    tally.assert_none_failed("rolling static to v2");
    assert_eq!(others(&stack), before, "only static was replaced");
    let versions: BTreeSet<String> = (0..20)
        .filter_map(|_| match get(port, "static.localhost", "/") {
            Ok(Answer::Static(version, _)) => Some(version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, BTreeSet::from(["v2".to_string()]));
    set_config(&stack, &tag("v2"), &tag("v3"));
    let broken = stack.xtask(&["up", "--timeout", "30"]);
    assert!(!broken.status.success(), "{}", broken.all_text());
    assert!(
        broken.stderr_text().contains("service static"),
        "{}",
        broken.all_text()
    );
    assert!(
        broken
            .stderr_text()
            .contains(&format!("rolling update stopped at {}-static1", stack.name)),
        "{}",
        broken.all_text()
    );
    assert_eq!(
        others(&stack),
        before,
        "a broken static touched nothing else"
    );
    assert_eq!(
        up_in(&stack, "static"),
        names(&stack, "static", 2..=2),
        "static2 keeps serving v2"
    );
    // `up --rollback=static` puts static's previous image (v2) back, under load, and
    // touches nothing else.
    let load = Load::start(port);
    stack.xtask(&["up", "--rollback=static"]).assert_success();
    let tally = load.finish();
    assert_eq!(tally.failed("static"), 0, "{:?}", tally.failed);
    assert!(tally.misrouted.is_empty(), "{:?}", tally.misrouted);
    assert_eq!(
        others(&stack),
        before,
        "a rollback of static touched nothing else"
    );
    assert_eq!(up_in(&stack, "static"), names(&stack, "static", 1..=2));
    let versions: BTreeSet<String> = (0..20)
        .filter_map(|_| match get(port, "static.localhost", "/") {
            Ok(Answer::Static(version, _)) => Some(version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, BTreeSet::from(["v2".to_string()]), "rolled back");
    let unknown = stack.xtask(&["up", "--rollback=nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", unknown.all_text());
    set_config(&stack, &tag("v3"), &tag("v2"));
    stack.xtask(&["up"]).assert_success();

    // A fourth service, added and then removed by `up` under load: ha stays the same
    // container, the others never fail, the new host is served, then goes to the default.
    let name = sharded("e2e-services");
    let fourth = format!(
        "\n[services.extra]\ncount = 1\nprefix = \"{name}-extra\"\nimage = \"{}\"\nport = 80\ndrain_ms = 500\nhosts = [\"extra.localhost\"]\n\n[services.extra.health]\npath = \"/\"\n",
        tag("v1")
    );
    let text = std::fs::read_to_string(&stack.config).unwrap();
    std::fs::write(&stack.config, format!("{text}{fourth}")).unwrap();
    let load = Load::start(port);
    stack.xtask(&["up"]).assert_success();
    match get(port, "extra.localhost", "/") {
        Ok(Answer::Static(version, host)) => {
            assert_eq!((version.as_str(), host), ("v1", format!("{name}-extra1")))
        }
        other => panic!("extra.localhost: {other:?}"),
    }
    std::fs::write(&stack.config, &text).unwrap();
    stack.xtask(&["up"]).assert_success();
    load.finish()
        .assert_none_failed("adding and removing a service");
    assert!(matches!(
        get(port, "extra.localhost", "/"),
        Ok(Answer::Default(_))
    ));
    assert_eq!(
        stack.containers()[&stack.ha()],
        ha_id,
        "ha was never recreated"
    );
    assert!(!stack.containers().contains_key(&format!("{name}-extra1")));

    // A new ha (another [ha] setting) routes to the services from its first config: no
    // request for a service's host reaches another service meanwhile.
    let load = Load::start(port);
    set_config(&stack, "[ha]\n", "[ha]\nbalance = \"leastconn\"\n");
    stack.xtask(&["up"]).assert_success();
    std::thread::sleep(Duration::from_secs(1));
    let tally = load.finish();
    eprintln!(
        "ha recreated: {:?} answered, failed {:?}",
        tally.ok,
        tally.failed.keys()
    );
    assert!(
        tally.misrouted.is_empty(),
        "ha recreated: misrouted {:?}",
        tally.misrouted
    );
    assert_ne!(stack.containers()[&stack.ha()], ha_id, "ha was recreated");

    // Refused: one line, exit 2, nothing created.
    let containers = stack.containers();
    for (what, edit, message) in [
        (
            "a route of two services",
            "paths = [\"/api\"]",
            "hosts = [\"static.localhost\"]",
        ),
        ("a bad path", "paths = [\"/api\"]", "paths = [\"api\"]"),
    ]
    .map(|(what, from, to)| (what, (from, to), what))
    {
        let (from, to) = edit;
        // Put back as it was: `to` may also be another service's text.
        let before = std::fs::read_to_string(&stack.config).unwrap();
        set_config(&stack, from, to);
        let refused = stack.xtask(&["up"]);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{message}: {}",
            refused.all_text()
        );
        assert_eq!(
            refused.stderr_text().trim().lines().count(),
            1,
            "{what}: {}",
            refused.all_text()
        );
        assert!(
            refused.stderr_text().contains(": services."),
            "{}",
            refused.all_text()
        );
        assert_eq!(stack.containers(), containers, "{what}: nothing touched");
        std::fs::write(&stack.config, before).unwrap();
    }

    // down removes every service's containers and the network.
    let down = stack.xtask(&["down"]);
    down.assert_success();
    assert!(stack.containers().is_empty(), "{:?}", stack.containers());
    assert!(stack.networks().is_empty());

    compose_starts_the_same_services(&stack);
}

/// The generated compose file starts the same three services: nginx's Serf in sidecars
/// (their s6 services mounted from the files `gen` writes), the api's command mounted
/// into its webapps; every route reaches its service, from all of its containers.
fn compose_starts_the_same_services(stack: &Stack) {
    let compose = stack.gen_compose();
    let up = compose.run(&["up", "-d"]);
    let wanted: BTreeMap<&str, BTreeSet<String>> = [
        ("webapps", names(stack, "s", 1..=2)),
        ("static", names(stack, "static", 1..=2)),
        ("api", names(stack, "api", 1..=2)),
    ]
    .into();
    let served = up.status.success().then(|| {
        eventually(
            "every service answering through the compose stack from all of its containers",
            Duration::from_secs(120),
            || {
                let mut hosts: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
                for _ in 0..8 {
                    for (host, path, service) in ROUTES {
                        let answer = get(stack.http_port, host, path);
                        match answer {
                            Ok(answer) if answer.service() == *service => {
                                let seen = hosts.entry(answer.service()).or_default();
                                seen.insert(answer.host().to_string());
                            }
                            other => {
                                eprintln!("compose: {host}{path}: {other:?}");
                                std::thread::sleep(Duration::from_secs(1));
                                return None;
                            }
                        }
                    }
                }
                if hosts != wanted {
                    eprintln!("compose: answered from {hosts:?}");
                }
                (hosts == wanted).then_some(hosts)
            },
        )
    });
    let sidecars: Vec<String> = stack
        .containers()
        .into_keys()
        .filter(|name| name.ends_with("-serf"))
        .collect();
    compose.run(&["down"]);
    up.assert_success();
    assert!(served.is_some());
    let expected: Vec<String> = names(stack, "static", 1..=2)
        .into_iter()
        .map(|name| format!("{name}-serf"))
        .collect();
    assert_eq!(sidecars, expected, "one sidecar per nginx webapp");
    assert!(stack.containers().is_empty(), "{:?}", stack.containers());
}

/// Removes the test's nginx images when dropped.
struct RemoveImages(Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for tag in &self.0 {
            docker(&["rmi", "-f", tag]);
        }
    }
}
