//! `cargo xtask build` on the real engine: three layered images from nothing, a rebuild
//! that is all cache, a template change that rebuilds only ha's top layer, and a webapp
//! container that answers like the lab's app.
//!
//! It uses its own project, `buildtest`, so the user's images are left alone, and removes
//! what it made. The debootstrapped Debian (lbkit/bootstrap-<suite>) is shared by every
//! project and expensive to make: it is left cached.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::container::{
    Config, CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, TopOptions,
};
use bollard::image::{ListImagesOptions, RemoveImageOptions};
use bollard::models::{HostConfig, ImageInspect, PortBinding};
use bollard::Docker;
use serde_json::Value;
use xshell::{cmd, Shell};

/// The test's project; `LBKIT_TEST_SHARD` (see tests/support) shifts it so several
/// checkouts can run this test on one engine at once.
fn project() -> &'static str {
    static PROJECT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PROJECT.get_or_init(|| match std::env::var("LBKIT_TEST_SHARD") {
        Ok(shard) if shard != "0" => format!("buildtest-k{shard}"),
        _ => "buildtest".to_string(),
    })
}
const IMAGES: [&str; 3] = ["base", "ha", "webapp"];

#[test]
fn builds_layered_images_that_cache_and_serve() {
    let engine = Engine::connect();
    let _cleanup = Cleanup(&engine);
    engine.remove_project();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.toml");
    std::fs::write(&config, format!("project = \"{}\"\n", project())).unwrap();

    // From nothing: --no-cache so no other project's build cache can stand in.
    let first = xtask_build(&config, &["--no-cache"]);
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

    let again = xtask_build(&config, &[]);
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
    let changed = xtask_build(&config, &["--templates", templates.to_str().unwrap()]);
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

    webapp_answers_like_the_lab(&engine);
}

/// GET / with the lab's fields, sessionViews counting up with the cookie, /health.
fn webapp_answers_like_the_lab(engine: &Engine) {
    let port = engine.run_webapp("s1");
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
        engine.uid_of("s1", "webapp"),
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

/// The engine, through the API as the tool reaches it (no docker CLI needed).
struct Engine {
    runtime: tokio::runtime::Runtime,
    docker: Docker,
}

impl Engine {
    fn connect() -> Engine {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let docker = runtime.block_on(async {
            let docker = Docker::connect_with_local_defaults()?
                .negotiate_version()
                .await?;
            docker.ping().await?;
            Ok::<_, bollard::errors::Error>(docker)
        });
        let docker = docker.unwrap_or_else(|err| {
            panic!("this test needs the Docker engine and cannot reach it ({err}); start it or set DOCKER_HOST")
        });
        Engine { runtime, docker }
    }

    fn image(&self, name: &str) -> Option<ImageInspect> {
        self.runtime
            .block_on(
                self.docker
                    .inspect_image(&format!("{}/{name}:latest", project())),
            )
            .ok()
    }

    /// Starts a webapp container published on a random port of 127.0.0.1; returns the port.
    fn run_webapp(&self, node: &str) -> u16 {
        self.runtime.block_on(async {
            let config = Config {
                image: Some(format!("{}/webapp:latest", project())),
                env: Some(vec![
                    format!("NODE_NAME={node}"),
                    "NODE_PORT=3000".to_string(),
                ]),
                labels: Some(HashMap::from([(
                    "lbkit.project".to_string(),
                    project().to_string(),
                )])),
                exposed_ports: Some(HashMap::from([("3000/tcp".to_string(), HashMap::new())])),
                host_config: Some(HostConfig {
                    port_bindings: Some(HashMap::from([(
                        "3000/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".to_string()),
                            host_port: Some(String::new()),
                        }]),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let name = format!("{}-{node}", project());
            let options = CreateContainerOptions {
                name: name.as_str(),
                platform: None,
            };
            self.docker
                .create_container(Some(options), config)
                .await
                .unwrap();
            self.docker
                .start_container::<String>(&name, None)
                .await
                .unwrap();
            let inspect = self.docker.inspect_container(&name, None).await.unwrap();
            let ports = inspect.network_settings.unwrap().ports.unwrap();
            let binding = ports["3000/tcp"].as_ref().unwrap()[0]
                .host_port
                .clone()
                .unwrap();
            binding.parse().unwrap()
        })
    }

    /// The user id a process of container `node` runs as.
    fn uid_of(&self, node: &str, command: &str) -> u32 {
        let options = TopOptions {
            ps_args: "-o pid,uid,comm",
        };
        let top = self
            .runtime
            .block_on(
                self.docker
                    .top_processes(&format!("{}-{node}", project()), Some(options)),
            )
            .unwrap();
        let row = top
            .processes
            .unwrap()
            .into_iter()
            .find(|row| row[2] == command);
        row.unwrap_or_else(|| panic!("no {command} process in {node}"))[1]
            .parse()
            .unwrap()
    }

    /// Removes the test project's containers and images, whatever a failed run left.
    fn remove_project(&self) {
        self.runtime.block_on(async {
            let filters = HashMap::from([(
                "label".to_string(),
                vec![format!("lbkit.project={}", project())],
            )]);
            let options = ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            };
            for container in self
                .docker
                .list_containers(Some(options))
                .await
                .unwrap_or_default()
            {
                let options = RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                };
                let _ = self
                    .docker
                    .remove_container(&container.id.unwrap(), Some(options))
                    .await;
            }
            let mut names: Vec<String> = IMAGES
                .iter()
                .rev()
                .map(|name| format!("{}/{name}:latest", project()))
                .collect();
            // Images a rebuild untagged (ha before the template change).
            let filters = HashMap::from([
                ("dangling".to_string(), vec!["true".to_string()]),
                (
                    "label".to_string(),
                    vec![format!("lbkit.project={}", project())],
                ),
            ]);
            let options = ListImagesOptions {
                filters,
                ..Default::default()
            };
            let dangling = self
                .docker
                .list_images(Some(options))
                .await
                .unwrap_or_default();
            names.extend(dangling.into_iter().map(|image| image.id));
            for name in names {
                let options = RemoveImageOptions {
                    force: true,
                    noprune: false,
                };
                let _ = self.docker.remove_image(&name, Some(options), None).await;
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
