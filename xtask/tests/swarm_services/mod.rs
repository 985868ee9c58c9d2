//! Issue 23's Swarm case, a step of the three-node swarm test: the lab's app (the
//! default service) and examples/swarm-services' two services, `static` at a host and
//! `api` at a path, each a Swarm service of its own behind one ha. Routing is right every
//! time and each service answers from all of its tasks; `scale api=4` then `scale api=1`
//! under load on all three fails nothing and misroutes nothing.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, eventually, root, Stack};
use crate::Lab;

/// (Host header, path, the service that must answer).
const ROUTES: &[(&str, &str, &str)] = &[
    ("lb.localhost", "/", "webapps"),
    ("static.localhost", "/", "static"),
    ("STATIC.localhost:80", "/index.html", "static"),
    ("lb.localhost", "/api", "api"),
    // A host route beats a path route.
    ("static.localhost", "/api", "static"),
    ("unknown.example", "/", "webapps"),
];

/// GET on a new connection: (service, task hostname) of a 200, from its body (the lab
/// app's JSON, or the example app's "<service> <hostname>").
fn get(port: u16, host: &str, path: &str) -> Result<(String, String), String> {
    let body = support::get_200(port, host, path)?;
    let body = body.trim();
    if body.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("{host}{path}: {e}"))?;
        let name = json["host"].as_str().unwrap_or_default().to_string();
        return Ok(("webapps".into(), name));
    }
    body.split_once(' ')
        .map(|(service, name)| (service.to_string(), name.to_string()))
        .ok_or_else(|| format!("{host}{path}: unexpected body {body:?}"))
}

/// What the requests met, per service.
#[derive(Debug, Default)]
struct Tally {
    ok: BTreeMap<String, u64>,
    failed: Vec<String>,
    misrouted: Vec<String>,
    hosts: BTreeMap<String, BTreeSet<String>>,
}

impl Tally {
    fn request(&mut self, port: u16, (host, path, service): (&str, &str, &str)) {
        match get(port, host, path) {
            Ok((answered, name)) if answered == service => {
                *self.ok.entry(answered.clone()).or_default() += 1;
                self.hosts.entry(answered).or_default().insert(name);
            }
            Ok(other) => self.misrouted.push(format!("{host}{path} -> {other:?}")),
            Err(err) => self.failed.push(err),
        }
    }

    #[track_caller]
    fn assert_right(&self, what: &str) {
        eprintln!("{what}: answered {:?}, failed {:?}", self.ok, self.failed);
        assert!(self.misrouted.is_empty(), "{what}: {:?}", self.misrouted);
        assert!(self.failed.is_empty(), "{what}: {:?}", self.failed);
        for service in ["webapps", "static", "api"] {
            assert!(
                self.ok.get(service).copied().unwrap_or(0) > 0,
                "{what}: {service}"
            );
        }
    }
}

pub(crate) fn route_and_scale(lab: &Lab, stack: &Stack) {
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let example = root().join("examples/swarm-services/cluster.toml");
    let example = std::fs::read_to_string(example).unwrap();
    let services =
        &example[example.find("[services.static]").unwrap()..example.find("[deploy]").unwrap()];
    let app = root().join("examples/swarm-services/app");
    let services = services.replace(
        "build = \"app\"",
        &format!("build = {:?}", app.display().to_string()),
    );
    let with_services = text.replace("[deploy]", &format!("{services}\n[deploy]"));
    std::fs::write(&lab.config, &with_services).unwrap();

    let up = lab.xtask(&["up", "--timeout", "300"]);
    up.assert_success();
    let said = up.stdout_text();
    assert!(said.contains("service api: 2 webapps UP"), "{said}");
    assert!(said.contains("service static: 2 webapps UP"), "{said}");
    let tasks = |service: &str| -> BTreeSet<String> {
        lab.status()
            .into_iter()
            .filter(|row| row["service"] == service && row["haproxy"] == "UP")
            .map(|row| row["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let default_tasks = tasks("webapps");

    // Every route, 300 requests or more: the right service every time, each from all of
    // its tasks.
    let port = stack.http_port;
    let mut tally = Tally::default();
    for route in ROUTES.iter().cycle().take(ROUTES.len() * 60) {
        tally.request(port, *route);
    }
    tally.assert_right("routing on the Swarm");
    assert_eq!(
        tally.hosts["api"],
        ["api1", "api2"].map(String::from).into()
    );
    assert_eq!(
        tally.hosts["static"],
        ["static1", "static2"].map(String::from).into()
    );
    assert_eq!(tally.hosts["webapps"], default_tasks);

    // One service scaled up then down under load on all three.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut tally = Tally::default();
            for route in ROUTES.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                tally.request(port, *route);
                std::thread::sleep(Duration::from_millis(5));
            }
            tally
        })
    };
    let (ha_before, _) = lab.ha_task();
    lab.xtask(&["scale", "api=4"]).assert_success();
    assert_eq!(tasks("api").len(), 4);
    lab.xtask(&["scale", "api=1"]).assert_success();
    eventually("api back to one task", Duration::from_secs(60), || {
        (tasks("api").len() == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let tally = load.join().unwrap();
    tally.assert_right("scale api=4 then api=1 on the Swarm");
    assert_eq!(
        lab.ha_task().0,
        ha_before,
        "scaling a service leaves ha's task be"
    );

    // Back to the file without services (the next step's `down` removes every service
    // of the project, these too).
    std::fs::write(&lab.config, &text).unwrap();
}
