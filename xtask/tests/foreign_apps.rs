//! Apps not written by us behind the cluster, packaged by these tests from Debian's
//! packages: nginx as an unchanged image (Serf in a sidecar) and Python's http.server
//! built on the project's base. Each: up 3, scale 5 then 2, a SIGKILLed app leaves
//! rotation, a rolling update v1 -> v2 under load with no failed request, a broken v3
//! that stops at the first node, `up --rollback`, and bad input refused up front.
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{docker, eventually, root, sharded, Scratch, Stack};

/// The two scenarios load the machine: one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

const COUNT: u32 = 3;
const MAX_UNAVAILABLE: usize = 1;

/// Images the test builds; removed when dropped.
struct Images(Vec<String>);

impl Images {
    fn build(&mut self, tag: &str, context: &Path, args: &[(&str, &str)]) {
        let mut cmd = vec![
            "build",
            "-q",
            "-t",
            tag,
            "--label",
            "lbkit.test=foreign-apps",
        ];
        let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for arg in &args {
            cmd.extend(["--build-arg", arg]);
        }
        cmd.push(context.to_str().unwrap());
        docker(&cmd).assert_success();
        self.0.push(tag.to_string());
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            docker(&["rmi", "-f", tag]);
        }
    }
}

/// GET / through the load balancer: the body, "<version> <host>".
fn answer(stack: &Stack) -> (String, String) {
    let body = support::http_get(&format!("http://127.0.0.1:{}/", stack.http_port))
        .expect("GET / through the load balancer");
    let (version, host) = body.trim().split_once(' ').expect("\"<version> <host>\"");
    (version.to_string(), host.to_string())
}

fn answers(stack: &Stack, n: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    (0..n).map(|_| answer(stack)).unzip()
}

fn nodes(stack: &Stack, range: std::ops::RangeInclusive<u32>) -> BTreeSet<String> {
    range.map(|n| stack.node(n)).collect()
}

/// Servers UP in HAProxy's `nodes` backend, from the stats CSV.
fn servers_up(stack: &Stack) -> Option<BTreeSet<String>> {
    let csv = support::http_get(&format!("http://127.0.0.1:{}/;csv", stack.stats_port)).ok()?;
    Some(up_in_csv(&csv))
}

/// The stats CSV's `nodes` servers whose status (column 18) is UP.
fn up_in_csv(csv: &str) -> BTreeSet<String> {
    csv.lines()
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > 17 && f[0] == "nodes" && f[1] != "BACKEND")
        .filter(|f| f[17].starts_with("UP"))
        .map(|f| f[1].to_string())
        .collect()
}

/// One worker's answers: successes, failures, versions seen.
type Tally = (u64, Vec<String>, BTreeSet<String>);

/// Requests on fresh connections from 4 threads, and the UP count sampled from the stats
/// every 100 ms, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Tally>>,
    sampler: JoinHandle<(usize, usize)>,
    started: Instant,
}

struct LoadResult {
    ok: u64,
    failed: Vec<String>,
    versions: BTreeSet<String>,
    rate: f64,
    min_up: usize,
    samples: usize,
}

impl Load {
    fn start(stack: &Stack) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let port = stack.http_port;
        let workers = (0..4)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut ok, mut failed, mut versions) = (0, Vec::new(), BTreeSet::new());
                    while !stop.load(Ordering::Relaxed) {
                        match support::get_200(port, "lb", "/") {
                            Ok(body) => {
                                ok += 1;
                                versions.insert(body.split(' ').next().unwrap_or("").to_string());
                            }
                            Err(err) => failed.push(err),
                        }
                    }
                    (ok, failed, versions)
                })
            })
            .collect();
        let stats = format!("http://127.0.0.1:{}/;csv", stack.stats_port);
        let sampler_stop = stop.clone();
        let sampler = std::thread::spawn(move || {
            let (mut min, mut n) = (usize::MAX, 0);
            while !sampler_stop.load(Ordering::Relaxed) {
                if let Ok(csv) = support::http_get(&stats) {
                    let up = up_in_csv(&csv).len();
                    min = min.min(up);
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (min, n)
        });
        Load {
            stop,
            workers,
            sampler,
            started: Instant::now(),
        }
    }

    fn finish(self) -> LoadResult {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        let (mut ok, mut failed, mut versions) = (0, Vec::new(), BTreeSet::new());
        for worker in self.workers {
            let (o, f, v) = worker.join().unwrap();
            ok += o;
            failed.extend(f);
            versions.extend(v);
        }
        let (min_up, samples) = self.sampler.join().unwrap();
        LoadResult {
            rate: (ok + failed.len() as u64) as f64 / elapsed,
            ok,
            failed,
            versions,
            min_up,
            samples,
        }
    }
}

fn set_config(stack: &Stack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.config).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    std::fs::write(&stack.config, text.replace(from, to)).unwrap();
}

/// What both apps go through; `set_version` makes the next `up` deploy that version.
fn scenario(stack: &Stack, set_version: &mut dyn FnMut(&str)) {
    let up = stack.xtask(&["up"]);
    up.assert_success();
    let (versions, hosts) = answers(stack, 30);
    assert_eq!(hosts, nodes(stack, 1..=COUNT), "{}", up.all_text());
    assert_eq!(versions, ["v1".to_string()].into());

    stack.xtask(&["scale", "--webapps", "5"]).assert_success();
    assert_eq!(answers(stack, 40).1, nodes(stack, 1..=5));
    stack.xtask(&["scale", "--webapps", "2"]).assert_success();
    assert_eq!(answers(stack, 20).1, nodes(stack, 1..=2));

    // A SIGKILLed app leaves rotation; ha's /nodes and haproxy.cfg follow.
    docker(&["kill", "-s", "KILL", &stack.node(1)]).assert_success();
    let ha = stack.ha();
    let gone = stack.node(1);
    eventually(
        "the killed app to leave /nodes and haproxy.cfg",
        Duration::from_secs(60),
        || {
            let listed = docker(&["exec", &ha, "ls", "/nodes"]).stdout_text();
            let cfg = docker(&["exec", &ha, "cat", "/etc/haproxy/haproxy.cfg"]).stdout_text();
            let up = servers_up(stack)?;
            let out = !listed.lines().any(|l| l == gone)
                && !cfg.contains(&format!("server {gone} "))
                && up == [stack.node(2)].into();
            out.then_some(())
        },
    );
    assert_eq!(answers(stack, 10).1, nodes(stack, 2..=2));
    // `up` converges back to the declared three.
    stack.xtask(&["up"]).assert_success();
    assert_eq!(answers(stack, 30).1, nodes(stack, 1..=COUNT));

    // Rolling update under load.
    set_version("v2");
    let load = Load::start(stack);
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let up = stack.xtask(&["up", "--timeout", "120"]);
    let duration = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let result = load.finish();
    up.assert_success();
    let out = up.stdout_text();
    for n in 1..=COUNT {
        assert!(
            out.contains(&stack.node(n)),
            "progress names each node: {out}"
        );
    }
    println!(
        "{}: rolling update v1 -> v2 in {:.1}s: {} ok, {} failed, {:.0} req/s, min UP {} ({} samples)",
        stack.name,
        duration.as_secs_f64(),
        result.ok,
        result.failed.len(),
        result.rate,
        result.min_up,
        result.samples
    );
    assert!(
        result.failed.is_empty(),
        "failed requests: {:?}",
        &result.failed[..result.failed.len().min(5)]
    );
    assert!(
        result.rate >= 300.0,
        "load of {:.0} req/s, wanted >= 300",
        result.rate
    );
    assert!(
        result.versions.iter().all(|v| v == "v1" || v == "v2"),
        "{:?}",
        result.versions
    );
    assert!(result.samples > 10, "stats sampled");
    assert!(
        result.min_up >= COUNT as usize - MAX_UNAVAILABLE,
        "min UP {} < count - max_unavailable",
        result.min_up
    );
    let (versions, hosts) = answers(stack, 30);
    assert_eq!(versions, ["v2".to_string()].into(), "only v2 at the end");
    assert_eq!(hosts, nodes(stack, 1..=COUNT));

    // A broken v3 stops at the first node; v2 keeps serving.
    set_version("v3");
    let broken = stack.xtask(&["up", "--timeout", "30"]);
    assert!(!broken.status.success(), "{}", broken.all_text());
    let err = broken.stderr_text();
    assert!(
        err.contains(&format!("rolling update stopped at {}", stack.node(1))),
        "{err}"
    );
    let (versions, hosts) = answers(stack, 20);
    assert_eq!(versions, ["v2".to_string()].into());
    assert_eq!(hosts, nodes(stack, 2..=COUNT), "the others keep serving");

    let back = stack.xtask(&["up", "--rollback"]);
    back.assert_success();
    let (versions, hosts) = answers(stack, 30);
    assert_eq!(versions, ["v2".to_string()].into(), "{}", back.all_text());
    assert_eq!(hosts, nodes(stack, 1..=COUNT));
}

/// The stack's containers with the time each started: to prove a refused `up` touched nothing.
fn started(stack: &Stack) -> Vec<(String, String)> {
    stack
        .containers()
        .into_keys()
        .map(|name| {
            let at = docker(&["inspect", "-f", "{{.State.StartedAt}}", &name]).stdout_text();
            (name, at)
        })
        .collect()
}

#[track_caller]
fn assert_refused(stack: &Stack, what: &str, expected: &str) {
    let before = started(stack);
    let up = stack.xtask(&["up"]);
    assert_eq!(up.status.code(), Some(2), "{what}: {}", up.all_text());
    let err = up.stderr_text();
    assert!(err.contains(expected), "{what}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err}");
    assert_eq!(started(stack), before, "{what}: nothing touched");
}

#[test]
fn nginx_image_with_a_serf_sidecar() {
    if support::skip_without_engine() {
        return;
    }
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let context = root().join("examples/nginx");
    let repo = sharded("lbkit-e2e-nginx");
    let tag = |v: &str| format!("{repo}:{v}");

    let image_line = format!("image = \"{}\"", tag("v1"));
    let stack = Stack::with("e2e-nginx", 51, COUNT, |text| {
        format!("{text}{image_line}\nport = 80\ndrain_ms = 2000\n\n[ha.health]\npath = \"/\"\n")
    });
    // The nginx image is built FROM the debootstrapped Debian that `build` imports.
    stack.xtask(&["build"]).assert_success();
    let mut images = Images(Vec::new());
    images.build(&tag("v1"), &context, &[("VERSION", "v1")]);
    images.build(&tag("v2"), &context, &[("VERSION", "v2")]);
    images.build(&tag("v3"), &context, &[("VERSION", "v3"), ("BROKEN", "1")]);
    // Kept by `up` for --rollback.
    images.0.push(format!("{}/webapp:previous", stack.name));
    let mut current = "v1".to_string();
    scenario(&stack, &mut |version| {
        set_config(&stack, &tag(&current), &tag(version));
        current = version.to_string();
    });
    let sidecars = stack
        .containers()
        .into_keys()
        .filter(|n| n.ends_with("-serf"))
        .count();
    assert_eq!(sidecars, COUNT as usize, "one sidecar per webapp");
    // The sidecar has an address of its own; ha serves each webapp at its app's address,
    // the one Docker's DNS gives the app's name, never the gossiping sidecar's.
    let servers = stack
        .ha_exec(&["ha-agent", "cli", "admin", "show servers state nodes"])
        .stdout_text();
    let address = |container: &str| {
        let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
        docker(&["inspect", "-f", format, container])
            .stdout_text()
            .trim()
            .to_string()
    };
    for n in 1..=COUNT {
        let node = stack.node(n);
        let app = address(&node);
        assert_ne!(app, address(&format!("{node}-serf")), "{node}");
        let served: Vec<&str> = servers
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 4 && f[3] == node)
            .map(|f| f[4])
            .collect();
        assert_eq!(served, [app.as_str()], "{node}:\n{servers}");
    }

    set_config(&stack, &tag("v3"), "lbkit-e2e-missing:v9");
    assert_refused(
        &stack,
        "missing image",
        "webapps.image: image \"lbkit-e2e-missing:v9\" is not on the engine",
    );
    set_config(&stack, "lbkit-e2e-missing:v9", &tag("v1"));
    set_config(&stack, "port = 80", "port = 8080");
    assert_refused(&stack, "wrong port", "webapps.port: the app");
    set_config(&stack, "port = 8080", "port = 80");

    // Root in the app cannot open a raw socket (it would read its neighbours' traffic);
    // ha, not an app, can: the probe works.
    let raw_socket = |container: &str| {
        let open = "socket(my $s, 17, 3, 0) or die \"$!\\n\"; print \"opened\\n\"";
        docker(&["exec", container, "perl", "-e", open])
    };
    let app = raw_socket(&stack.node(1));
    assert!(
        !app.status.success() && app.stderr_text().contains("Operation not permitted"),
        "{}",
        app.all_text()
    );
    raw_socket(&stack.ha()).assert_success();
    let hardening = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}",
        &stack.node(1),
    ])
    .stdout_text();
    assert!(
        hardening.contains("NET_RAW") && hardening.contains("no-new-privileges"),
        "{hardening}"
    );
    // Giving it back is refused, nothing touched.
    let image_line = format!("image = \"{}\"", tag("v1"));
    set_config(
        &stack,
        &image_line,
        &format!("{image_line}\ncap_add = [\"net_raw\"]"),
    );
    assert_refused(
        &stack,
        "cap_add NET_RAW",
        "webapps.cap_add: \"net_raw\" would undo the webapps' hardening",
    );
    set_config(&stack, "\ncap_add = [\"net_raw\"]", "");

    // A name the toolkit uses, taken by someone else's container: refused, and it stays.
    let squatter = format!("{}-trial", stack.name);
    let bootstrap = "lbkit/bootstrap-bookworm";
    docker(&["create", "--name", &squatter, bootstrap, "true"]).assert_success();
    set_config(&stack, &tag("v1"), &tag("v3"));
    assert_refused(
        &stack,
        "a name taken",
        &format!("container name {squatter} is taken by a container that is not project"),
    );
    docker(&["inspect", &squatter]).assert_success();
    docker(&["rm", "-f", &squatter]).assert_success();
    // The same for a sidecar's name: `scale` refuses before it creates anything.
    let next = stack.node(COUNT + 1);
    let sidecar = format!("{next}-serf");
    docker(&["create", "--name", &sidecar, bootstrap, "true"]).assert_success();
    let scale = stack.xtask(&["scale", "--webapps", &(COUNT + 1).to_string()]);
    assert_eq!(scale.status.code(), Some(2), "{}", scale.all_text());
    assert!(
        scale.stderr_text().contains(&format!(
            "container name {sidecar} is taken by a container that is not {next}'s Serf sidecar"
        )),
        "{}",
        scale.all_text()
    );
    assert!(!stack.containers().contains_key(&next), "nothing created");
    docker(&["inspect", &sidecar]).assert_success();
    docker(&["rm", "-f", &sidecar]).assert_success();

    // `down --images` untags `previous` only while it names the image the last rollout
    // tagged: here it was moved to an image that was never a webapp's.
    let previous = format!("{}/webapp:previous", stack.name);
    docker(&["tag", bootstrap, &previous]).assert_success();
    // An app removed by hand leaves its sidecar (an address of its own on the network):
    // `down` removes it too, and then the network.
    docker(&["rm", "-f", &stack.node(1)]).assert_success();
    let down = stack.xtask(&["down", "--images"]);
    down.assert_success();
    let orphan = format!("container {}-serf", stack.node(1));
    assert!(down.stdout_text().contains(&orphan), "{}", down.all_text());
    assert!(stack.containers().is_empty(), "{:?}", stack.containers());
    assert!(stack.networks().is_empty());
    assert!(
        down.stdout_text()
            .contains(&format!("kept image tag {previous}")),
        "{}",
        down.all_text()
    );
    docker(&["image", "inspect", &previous]).assert_success();
}

#[test]
fn python_http_server_built_on_the_base() {
    if support::skip_without_engine() {
        return;
    }
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let app = Scratch::new("python-app");
    std::fs::copy(
        root().join("examples/python/Dockerfile"),
        app.path("Dockerfile"),
    )
    .unwrap();
    app.write("version", "v1\n");
    let context = app.path("");
    let command = r#"command = ["sh", "-c", "mkdir -p /tmp/www && echo \"$(cat /srv/version) $(hostname)\" > /tmp/www/index.html && exec python3 -m http.server 8000 --directory /tmp/www"]"#;
    let stack = Stack::with("e2e-python", 52, COUNT, |text| {
        format!(
            "{text}build = \"{}\"\n{command}\nport = 8000\ndrain_ms = 2000\n\n[ha.health]\ncheck = \"tcp\"\n",
            context.display()
        )
    });
    // Kept by `up` for --rollback.
    // Built from the test's context, and kept by `up` for --rollback.
    let images = Images(vec![
        format!("{}/webapp:latest", stack.name),
        format!("{}/webapp:previous", stack.name),
    ]);
    scenario(&stack, &mut |version| {
        app.write("version", &format!("{version}\n"));
        if version == "v3" {
            app.write("broken", "");
        }
    });

    set_config(
        &stack,
        &format!("build = \"{}\"", context.display()),
        "build = \"/nonexistent-app\"",
    );
    assert_refused(
        &stack,
        "no Dockerfile",
        "webapps.build: \"/nonexistent-app\"",
    );
    drop(images);
}
