//! `cargo xtask build` on the real engine: three layered images from nothing, a rebuild
//! that is all cache, a template change that rebuilds only ha's top layer, and a webapp
//! container that answers like the lab's app.
//!
//! It uses its own project, `buildtest` (a test `Stack`, slot 19, for its names, subnet
//! and port), so the user's images are left alone, and removes what it made. The debootstrapped Debian (lbkit/bootstrap-<suite>) is shared by every
//! project and expensive to make: it is left cached.
mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::ImageInspect;
use serde_json::Value;
use support::Stack;
use xshell::{cmd, Shell};
use xtask::engine::ContainerSpec;

/// The test's project; `LBKIT_TEST_SHARD` (see tests/support) shifts it so several
/// checkouts can run this test on one engine at once.
fn project() -> &'static str {
    static PROJECT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PROJECT.get_or_init(|| support::sharded("buildtest"))
}
const IMAGES: [&str; 3] = ["base", "ha", "webapp"];

#[test]
fn builds_layered_images_that_cache_and_serve() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("buildtest", 19, 1);
    assert_eq!(stack.name, project());
    let engine = Engine::connect();
    let _cleanup = Cleanup(&engine);
    engine.remove_project();
    let dir = tempfile::tempdir().unwrap();
    let config = &stack.config;

    // From nothing: --no-cache so no other project's build cache can stand in.
    let first = xtask_build(config, &["--no-cache"]);
    assert_eq!(results(&first), all("built"), "{first}");
    let built = IMAGES.map(|name| {
        engine
            .image(name)
            .unwrap_or_else(|| panic!("{name} missing\n{first}"))
    });
    for (name, image) in IMAGES.iter().zip(&built) {
        let labels = image.config.as_ref().unwrap().labels.clone().unwrap();
        assert_eq!(labels["lbkit.project"], project());
        assert_eq!(&labels["lbkit.role"], name);
    }
    let [base, ha, webapp] = &built;
    assert!(layers(ha).starts_with(&layers(base)), "ha is built on base");
    assert!(
        layers(webapp).starts_with(&layers(base)),
        "webapp is built on base"
    );
    assert!(layers(ha).len() > layers(base).len() && layers(webapp).len() > layers(base).len());

    let again = xtask_build(config, &[]);
    assert_eq!(results(&again), all("cached"), "{again}");
    assert_eq!(
        IMAGES.map(|name| engine.image(name).unwrap().id),
        built.clone().map(|i| i.id)
    );

    // A template change, made in a copy of templates/ so the repository stays untouched.
    let templates = dir.path().join("templates");
    copy_dir(&root().join("templates"), &templates);
    let template = templates.join("haproxy.cfg.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}# changed by the build test\n")).unwrap();
    let changed = xtask_build(config, &["--templates", templates.to_str().unwrap()]);
    let expected = BTreeMap::from(
        [("base", "cached"), ("ha", "built"), ("webapp", "cached")]
            .map(|(i, r)| (i.to_string(), r.to_string())),
    );
    assert_eq!(results(&changed), expected, "{changed}");
    let (old, new) = (layers(ha), layers(&engine.image("ha").unwrap()));
    assert_eq!(old.len(), new.len(), "no layer added or removed");
    assert_eq!(
        old[..old.len() - 1],
        new[..new.len() - 1],
        "all but the top layer kept"
    );
    assert_ne!(
        old.last(),
        new.last(),
        "the top layer (the template) rebuilt"
    );
    assert_eq!(engine.image("webapp").unwrap().id, webapp.id);

    webapp_answers_like_the_lab(&engine, &stack);
}

/// GET / with the lab's fields, sessionViews counting up with the cookie, /health.
fn webapp_answers_like_the_lab(engine: &Engine, stack: &Stack) {
    let port = engine.run_webapp(stack, "s1");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    let started = Instant::now();
    let health = loop {
        match agent.get(url("/health")).call() {
            Ok(response) => break response,
            Err(err) if started.elapsed() < Duration::from_secs(30) => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(err) => panic!("the webapp container never answered /health: {err}"),
        }
    };
    assert_eq!(health.status(), 200);

    let get = |cookie: Option<&str>| {
        let mut request = agent.get(url("/"));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let mut response = request.call().expect("GET /");
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (backend_ip, set_cookie) = (header("x-backend-ip"), header("set-cookie"));
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        (body, backend_ip, set_cookie)
    };
    let (first, backend_ip, set_cookie) = get(None);
    for field in ["hello", "ip", "host", "tag", "sessionViews", "id"] {
        assert!(first.get(field).is_some(), "{field} missing from {first}");
    }
    assert_eq!(first["hello"], "world!");
    assert_eq!(first["tag"], "s1", "TAG comes from NODE_NAME");
    assert_eq!(
        backend_ip.as_ref(),
        first["ip"].as_str().map(String::from).as_ref()
    );
    assert_eq!(first["sessionViews"], 1);
    let cookie = set_cookie.expect("a new session sets a cookie");
    let cookie = cookie.split(';').next().unwrap();
    let (second, ..) = get(Some(cookie));
    assert_eq!(second["sessionViews"], 2, "{second}");
    assert_eq!(second["id"], first["id"]);

    assert_ne!(
        engine.uid_of(&stack.node(1), "webapp"),
        0,
        "the web app runs as an unprivileged user"
    );
}

/// Runs `cargo xtask build --config <config> ARGS`; panics with its output if it fails.
fn xtask_build(config: &Path, args: &[&str]) -> String {
    let sh = Shell::new().unwrap();
    sh.change_dir(root());
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let output = cmd!(sh, "{xtask} build --config {config} {args...}")
        .ignore_status()
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "cargo xtask build {args:?} failed:\n{text}"
    );
    text
}

/// `image -> built|cached` from the closing table.
fn results(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (image, result) = (words.next()?, words.next()?);
            IMAGES
                .contains(&image)
                .then(|| (image.to_string(), result.to_string()))
        })
        .collect()
}

fn all(result: &str) -> BTreeMap<String, String> {
    IMAGES
        .iter()
        .map(|image| (image.to_string(), result.to_string()))
        .collect()
}

fn layers(image: &ImageInspect) -> Vec<String> {
    image
        .root_fs
        .as_ref()
        .and_then(|fs| fs.layers.clone())
        .unwrap_or_default()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The engine, through the tool's own client (no docker CLI needed), driven from this
/// synchronous test on a runtime of its own.
struct Engine {
    runtime: tokio::runtime::Runtime,
    engine: xtask::engine::Engine,
}

impl Engine {
    fn connect() -> Engine {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let engine = runtime
            .block_on(xtask::engine::Engine::connect())
            .unwrap_or_else(|err| panic!("this test needs the Docker engine: {err:#}"));
        Engine { runtime, engine }
    }

    fn image(&self, name: &str) -> Option<ImageInspect> {
        self.runtime
            .block_on(self.engine.image(&format!("{}/{name}:latest", project())))
            .unwrap()
    }

    /// Starts a webapp container on the stack's network, listening on (and published at)
    /// the stack's HTTP port of 127.0.0.1; returns the port.
    fn run_webapp(&self, stack: &Stack, node: &str) -> u16 {
        let port = stack.http_port;
        let labels = HashMap::from([("lbkit.project".to_string(), project().to_string())]);
        let spec = ContainerSpec {
            name: stack.node(1),
            image: format!("{}/webapp:latest", project()),
            env: vec![
                ("NODE_NAME".to_string(), node.to_string()),
                ("NODE_PORT".to_string(), port.to_string()),
            ],
            labels: labels.clone(),
            network: stack.name.clone(),
            ip: format!("{}.2", stack.net).parse().unwrap(),
            published: vec![port],
            bind: Ipv4Addr::LOCALHOST.into(),
            command: None,
            user: None,
            stop_timeout_s: None,
            health_interval_s: None,
            cap_drop: Vec::new(),
            cap_add: Vec::new(),
            no_new_privileges: false,
        };
        self.runtime.block_on(async {
            let subnet = format!("{}.0/24", stack.net);
            self.engine
                .create_network(&stack.name, &subnet, labels)
                .await
                .unwrap();
            self.engine.create_container(&spec).await.unwrap();
            self.engine.start_container(&spec.name).await.unwrap();
        });
        port
    }

    /// The user id the process `command` of container `name` runs as (read from /proc,
    /// which is what `docker top` reports).
    fn uid_of(&self, name: &str, command: &str) -> u32 {
        let script = r#"for p in /proc/[0-9]*; do
            [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] && stat -c %u "$p"; done; true"#;
        let out = self
            .runtime
            .block_on(self.engine.exec(name, &["sh", "-c", script, "sh", command]))
            .unwrap();
        let uid = out.stdout.lines().next();
        uid.unwrap_or_else(|| panic!("no {command} process in {name}: {}", out.stderr))
            .trim()
            .parse()
            .unwrap()
    }

    /// Removes the test project's containers, network and images, whatever a failed run
    /// left.
    fn remove_project(&self) {
        let label = [("lbkit.project", project())];
        self.runtime.block_on(async {
            let containers = self.engine.containers_with_labels(&label).await;
            for container in containers.unwrap_or_default() {
                let _ = self.engine.remove_container(&container.id.unwrap()).await;
            }
            let _ = self.engine.remove_network(project()).await;
            // Images a rebuild untagged (ha before the template change), then the tags,
            // children before their base.
            let mut names = self
                .engine
                .dangling_images(&label)
                .await
                .unwrap_or_default();
            names.extend(
                IMAGES
                    .iter()
                    .rev()
                    .map(|name| format!("{}/{name}:latest", project())),
            );
            for name in names {
                let _ = self.engine.remove_image(&name).await;
            }
        });
    }
}

struct Cleanup<'a>(&'a Engine);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove_project();
    }
}
