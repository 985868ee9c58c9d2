//! The Swarm target on a real 3-node Swarm: `cargo xtask swarm-lab` runs three Docker
//! engines in containers on this host (1 manager, 2 workers); the toolkit runs against
//! the manager's engine through DOCKER_HOST, as a user would. The host reaches the load
//! balancer only through the port the manager's container publishes on 127.0.0.1, and the
//! nodes' engines only through their unix sockets.
mod support;
mod swarm_rogues;
mod swarm_services;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{docker, eventually, root, Run, Stack};

const NODES: u32 = 3;

/// One lab at a time: two swarms of nested engines side by side overload 2 cores.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// The lab swarm of one test: `down` then `swarm-lab down` when dropped, however the test
/// ends, so no service, secret, network, engine container or volume is left.
struct Lab<'a> {
    stack: &'a Stack,
    /// The stack's file with `[deploy] target = "swarm"`; the stack's own (the engine
    /// target) builds the images on this host and removes them at the end.
    config: PathBuf,
    docker_host: String,
}

impl<'a> Lab<'a> {
    fn up(stack: &'a Stack) -> Lab<'a> {
        Lab::with_nodes(stack, NODES)
    }

    fn with_nodes(stack: &'a Stack, nodes: u32) -> Lab<'a> {
        let run = stack.xtask(&["swarm-lab", "up", "--nodes", &nodes.to_string()]);
        let text = std::fs::read_to_string(&stack.config).unwrap();
        let config = stack.config.with_file_name("swarm.toml");
        std::fs::write(&config, format!("{text}\n[deploy]\ntarget = \"swarm\"\n")).unwrap();
        let lab = Lab {
            stack,
            config,
            docker_host: last_line(&run)
                .strip_prefix("export DOCKER_HOST=")
                .map(String::from)
                .unwrap_or_default(),
        };
        run.assert_success();
        assert!(
            lab.docker_host.starts_with("unix:///"),
            "the last line is the export: {}",
            run.all_text()
        );
        lab
    }

    /// `cargo xtask ARGS --config <the Swarm file>` against the manager's engine.
    fn xtask(&self, args: &[&str]) -> Run {
        support::xtask_on(&self.docker_host, &self.config, args)
    }

    /// `docker -H <node's engine> ARGS`.
    fn docker_on(&self, node: &str, args: &[&str]) -> Run {
        let host = format!("unix://{}", self.socket(node));
        let mut all = vec!["-H", host.as_str()];
        all.extend(args);
        docker(&all)
    }

    fn socket(&self, node: &str) -> String {
        root()
            .join(".state")
            .join(&self.stack.name)
            .join("nested")
            .join(node)
            .join("docker.sock")
            .display()
            .to_string()
    }

    fn manager(&self) -> String {
        format!("{}-node1", self.stack.name)
    }

    fn status(&self) -> Vec<serde_json::Value> {
        let run = self.xtask(&["status", "--json"]);
        run.assert_success();
        serde_json::from_str(&run.stdout_text()).expect("status --json")
    }

    /// Webapp rows of `status --json` that are UP in HAProxy: name -> node.
    fn serving(&self) -> BTreeMap<String, String> {
        self.status()
            .into_iter()
            .filter(|row| row["name"] != self.stack.ha().as_str())
            .filter(|row| row["haproxy"] == "UP")
            .map(|row| {
                let text = |key: &str| row[key].as_str().unwrap_or_default().to_string();
                (text("name"), text("node"))
            })
            .collect()
    }

    /// The project's objects of one kind on the manager (`service`, `secret`, `network`).
    fn objects(&self, kind: &str) -> Vec<String> {
        let filter = format!("label=lbkit.project={}", self.stack.name);
        let run = docker(&[
            "-H",
            &self.docker_host,
            kind,
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ]);
        run.assert_success();
        run.stdout_text().lines().map(String::from).collect()
    }

    /// ha's container id and the node it runs on.
    fn ha_task(&self) -> (String, String) {
        let (node, id) =
            self.running_container(&format!("{}_{}", self.stack.name, self.stack.ha()));
        (id, node)
    }

    /// `docker service ps` of `service`'s tasks meant to run, a line each in `format`.
    fn running_tasks(&self, service: &str, format: &str) -> Vec<String> {
        let run = docker(&[
            "-H",
            &self.docker_host,
            "service",
            "ps",
            service,
            "--filter",
            "desired-state=running",
            "--format",
            format,
        ]);
        run.stdout_text().lines().map(String::from).collect()
    }

    /// A running task of `service`: its node and container id (empty when there is none).
    fn running_container(&self, service: &str) -> (String, String) {
        let node = self
            .running_tasks(service, "{{.Node}}")
            .into_iter()
            .next()
            .unwrap_or_default();
        let filter = format!("label=com.docker.swarm.service.name={service}");
        let ps = self.docker_on(&node, &["ps", "-q", "--filter", &filter]);
        let id = ps
            .stdout_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        (node, id)
    }
}

impl Lab<'_> {
    /// `swarm-lab down`: nothing of the project is left on this host's engine.
    fn remove(&self) -> Run {
        self.stack.xtask(&["swarm-lab", "down"])
    }

    /// `swarm-lab down`, then nothing of the lab is left on this host: no node container,
    /// no volume, no socket folder, no cgroup its engines made.
    fn remove_all(&self) {
        self.remove().assert_success();
        let project = format!("label=lbkit.project={}", self.stack.name);
        let containers = docker(&["ps", "-aq", "--filter", &project]);
        assert_eq!(containers.stdout_text().trim(), "", "containers left");
        let volumes = docker(&["volume", "ls", "-q", "--filter", &project]);
        assert_eq!(volumes.stdout_text().trim(), "", "volumes left");
        let sockets = root().join(".state").join(&self.stack.name).join("nested");
        let folders: Vec<PathBuf> = std::fs::read_dir(&sockets)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        assert!(folders.is_empty(), "socket folders left: {folders:?}");
        let ours = format!("lbkit-{}-node", self.stack.name);
        // cgroup v2 keeps them in /sys/fs/cgroup, v1 in each controller's folder.
        let cgroup = PathBuf::from("/sys/fs/cgroup");
        let hierarchies = std::fs::read_dir(&cgroup)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path());
        let cgroups: Vec<PathBuf> = std::iter::once(cgroup.clone())
            .chain(hierarchies)
            .flat_map(|hierarchy| std::fs::read_dir(hierarchy).into_iter().flatten())
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&ours))
            .map(|entry| entry.path())
            .collect();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        // Without the manager's socket there is no Swarm to take the stack off; the
        // engines (and their volumes) go all the same.
        if Path::new(&self.socket(&self.manager())).exists() {
            let down = self.xtask(&["down"]);
            if !down.status.success() {
                eprintln!("cleanup: down failed:\n{}", down.all_text());
            }
        }
        let lab = self.remove();
        if !lab.status.success() {
            eprintln!("cleanup: swarm-lab down failed:\n{}", lab.all_text());
        }
    }
}

fn last_line(run: &Run) -> String {
    run.stdout_text()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Waits until exactly `n` distinct webapps answer through the load balancer.
fn wait_answering(stack: &Stack, n: usize, timeout: Duration) -> BTreeSet<String> {
    eventually(&format!("{n} webapps answering"), timeout, || {
        stack.answering(n * 6).filter(|hosts| hosts.len() == n)
    })
}

/// A GET on the stats page with optional basic credentials: the status code.
fn stats_status(stack: &Stack, credentials: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut request = agent.get(format!("http://127.0.0.1:{}/;csv", stack.stats_port));
    if let Some(credentials) = credentials {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        request = request.header("Authorization", format!("Basic {encoded}"));
    }
    request.call().map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn the_cluster_runs_on_a_three_node_swarm() {
    if support::skip_without_engine() {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::new("e2e-swarm", 61, 4);
    let _images = support::DropImages(&stack);
    stack.xtask(&["build"]).assert_success();
    let lab = Lab::up(&stack);
    let nodes = lab.docker_on(&lab.manager(), &["node", "ls", "--format", "{{.Status}}"]);
    assert_eq!(
        nodes.stdout_text().matches("Ready").count(),
        NODES as usize,
        "{}",
        nodes.all_text()
    );
    // swarm-lab up again changes nothing.
    let again = stack.xtask(&["swarm-lab", "up", "--nodes", &NODES.to_string()]);
    again.assert_success();
    assert_eq!(
        last_line(&again),
        format!("export DOCKER_HOST={}", lab.docker_host)
    );

    // up: 4 webapps on at least 2 nodes, 4 distinct hosts through the load balancer.
    let up = lab.xtask(&["up"]);
    up.assert_success();
    assert!(
        up.stdout_text()
            .contains("Swarm cannot publish on 127.0.0.1"),
        "up says what is exposed: {}",
        up.all_text()
    );
    let serving = lab.serving();
    assert_eq!(serving.len(), 4, "{serving:?}");
    let used: BTreeSet<&String> = serving.values().collect();
    assert!(used.len() >= 2, "tasks spread over the nodes: {serving:?}");
    assert_eq!(wait_answering(&stack, 4, Duration::from_secs(30)).len(), 4);
    for row in lab.status() {
        assert_eq!(row["serf"], "alive", "{row}");
        assert!(
            !row["node"].as_str().unwrap_or_default().is_empty(),
            "{row}"
        );
    }
    // The table's RUNS ON column: each webapp's row names the Swarm node running it.
    let table = lab.xtask(&["status"]);
    let text = table.stdout_text();
    assert!(
        text.lines().next().unwrap_or_default().contains("RUNS ON"),
        "{text}"
    );
    for (name, node) in &serving {
        assert!(
            text.lines().any(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                // SERVICE, then NODE.
                cells.get(1) == Some(&name.as_str()) && cells.contains(&node.as_str())
            }),
            "{name} on {node} in the table:\n{text}"
        );
    }

    // up twice changes nothing.
    let twice = lab.xtask(&["up"]);
    twice.assert_success();
    assert!(
        twice.stdout_text().contains("nothing to change"),
        "{}",
        twice.all_text()
    );

    // The stats page needs the project's password; the secrets are nowhere else.
    let password = std::fs::read_to_string(
        root()
            .join(".state")
            .join(&stack.name)
            .join("stats-password"),
    )
    .unwrap();
    assert_eq!(stats_status(&stack, None), 401);
    assert_eq!(stats_status(&stack, Some("lbkit:wrong")), 401);
    assert_eq!(
        stats_status(&stack, Some(&format!("lbkit:{}", password.trim()))),
        200
    );
    let serf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(".state").join(&stack.name).join("serf.json"))
            .unwrap(),
    )
    .unwrap();
    let secrets = [
        serf["encrypt_key"].as_str().unwrap().to_string(),
        serf["rpc_auth"].as_str().unwrap().to_string(),
        password.trim().to_string(),
    ];
    let webapps_service = format!("{}_webapps", stack.name);
    let ha_service = format!("{}_{}", stack.name, stack.ha());
    let inspect = docker(&[
        "-H",
        &lab.docker_host,
        "service",
        "inspect",
        &webapps_service,
        &ha_service,
    ]);
    inspect.assert_success();
    let gen_out = root()
        .join("target/test-scratch")
        .join(format!("swarm-gen-{}", std::process::id()));
    lab.xtask(&["gen", "--out", gen_out.to_str().unwrap()])
        .assert_success();
    let stack_file = std::fs::read_to_string(gen_out.join("stack.yml")).unwrap();
    for secret in &secrets {
        assert!(
            !inspect.stdout_text().contains(secret.as_str()),
            "a secret in a service spec"
        );
        assert!(
            !stack_file.contains(secret.as_str()),
            "a secret in stack.yml"
        );
    }
    // In a webapp task: the secret is there for root (Serf), not for the app's user.
    let (node, container) = lab.running_container(&webapps_service);
    assert!(!container.is_empty(), "a webapp container on {node}");
    let env = lab.docker_on(
        &node,
        &["inspect", "--format", "{{json .Config.Env}}", &container],
    );
    for secret in &secrets {
        assert!(
            !env.stdout_text().contains(secret.as_str()),
            "a secret in the env"
        );
    }
    let as_app = lab.docker_on(
        &node,
        &[
            "exec",
            "-u",
            "webapp",
            &container,
            "cat",
            "/run/secrets/lbkit-serf.json",
        ],
    );
    assert!(
        !as_app.status.success(),
        "the webapp user read the Serf secret"
    );
    assert!(
        as_app.stderr_text().contains("Permission denied"),
        "{}",
        as_app.all_text()
    );
    let as_app = lab.docker_on(
        &node,
        &["exec", "-u", "webapp", &container, "serf", "members"],
    );
    assert!(
        !as_app.status.success(),
        "the webapp user drove Serf: {}",
        as_app.all_text()
    );

    // A rogue agent on the overlay, without the gossip key, cannot join.
    let image = format!("lbkit.invalid/{}/webapp:latest", stack.name);
    let rogue = format!("{}-rogue", stack.name);
    let join = format!("tasks.{ha_service}");
    let manager = lab.manager();
    let started = lab.docker_on(
        &manager,
        &[
            "run",
            "-d",
            "--name",
            &rogue,
            "--network",
            &stack.name,
            "--entrypoint",
            "serf",
            &image,
            "agent",
            "-node",
            "rogue",
            "-bind",
            "0.0.0.0:7946",
            "-join",
            &join,
            "-retry-join",
            &join,
            "-retry-interval",
            "1s",
        ],
    );
    started.assert_success();
    std::thread::sleep(Duration::from_secs(8));
    let rogue_logs = lab.docker_on(&manager, &["logs", &rogue]);
    lab.docker_on(&manager, &["rm", "-f", &rogue])
        .assert_success();
    let names: Vec<String> = lab
        .status()
        .iter()
        .map(|row| row["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !names.iter().any(|n| n == "rogue"),
        "the rogue joined: {names:?}\n{}",
        rogue_logs.all_text()
    );
    // It reached ha through Swarm's DNS and was refused for want of the key (not for
    // some other reason that would make this check pass on its own).
    assert!(
        rogue_logs
            .all_text()
            .contains("Remote state is encrypted and encryption is not configured"),
        "{}",
        rogue_logs.all_text()
    );

    // With the key: a second member at a task's address, and one outside the tasks.
    swarm_rogues::rogues_are_refused(&lab, &stack);

    // scale 8 then 2: exactly that many serve.
    let scaled = lab.xtask(&["scale", "--webapps", "8"]);
    scaled.assert_success();
    // Each new webapp's phases, as on one engine: started, joined, UP.
    let table = scaled.stdout_text();
    let rows = table
        .lines()
        .filter(|l| l.starts_with(&format!("{}-s", stack.name)))
        .count();
    assert!(table.contains("joined") && rows == 4, "{table}");
    assert_eq!(lab.serving().len(), 8);
    assert_eq!(wait_answering(&stack, 8, Duration::from_secs(30)).len(), 8);
    lab.xtask(&["scale", "--webapps", "2"]).assert_success();
    eventually("exactly 2 webapps listed", Duration::from_secs(60), || {
        (lab.serving().len() == 2).then_some(())
    });
    assert_eq!(wait_answering(&stack, 2, Duration::from_secs(30)).len(), 2);

    // ha's task killed: Swarm restarts it, the webapps rejoin, all serve again.
    let (ha_container, ha_node) = lab.ha_task();
    assert!(!ha_container.is_empty(), "ha's container on {ha_node}");
    let killed = Instant::now();
    lab.docker_on(&ha_node, &["kill", &ha_container])
        .assert_success();
    wait_answering(&stack, 2, Duration::from_secs(180));
    eprintln!(
        "ha killed: both webapps served again after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    eventually("a new ha task", Duration::from_secs(60), || {
        let (id, _) = lab.ha_task();
        (!id.is_empty() && id != ha_container).then_some(())
    });

    // Node loss under load: a worker's engine killed; its webapps leave rotation, Swarm
    // reschedules them on the survivors, they join through Serf and serve.
    lab.xtask(&["scale", "--webapps", "4"]).assert_success();
    let before = lab.serving();
    let victim = before
        .values()
        .find(|node| **node != manager)
        .cloned()
        .expect("a webapp on a worker");
    let lost: BTreeSet<String> = before
        .iter()
        .filter(|(_, node)| **node == victim)
        .map(|(name, _)| name.clone())
        .collect();
    let load = support::Load::start(&stack, Duration::from_secs(300));
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    docker(&["kill", &victim]).assert_success();
    eventually(
        "the lost webapps out of rotation",
        Duration::from_secs(60),
        || {
            let serving = lab.serving();
            lost.iter()
                .all(|name| serving.get(name) != Some(&victim))
                .then_some(())
        },
    );
    let out_of_rotation = start.elapsed();
    let recovered = eventually(
        "4 webapps UP on the survivors",
        Duration::from_secs(300),
        || {
            let serving = lab.serving();
            (serving.len() == 4 && serving.values().all(|node| *node != victim)).then_some(serving)
        },
    );
    let back = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let support::LoadResult { ok, failed, .. } = load.finish();
    eprintln!(
        "node loss ({victim}, webapps {lost:?}): out of rotation after {:.1} s, 4 serving again after {:.1} s ({recovered:?}); requests: {ok} answered, {failed} failed",
        out_of_rotation.as_secs_f64(),
        back.as_secs_f64()
    );
    assert!(ok > 0, "the load ran");
    assert!(
        failed * 100 <= ok + failed,
        "more than 1% of requests failed during the node loss: {failed} of {}",
        ok + failed
    );
    assert_eq!(wait_answering(&stack, 4, Duration::from_secs(60)).len(), 4);

    // Several services, each a Swarm service of its own behind the one ha.
    swarm_services::route_and_scale(&lab, &stack);

    // generated/stack.yml, deployed with the docker CLI, serves like `up`: from nothing,
    // and over what `up` made; `up` converges what the stack made.
    let stack_deploy = || {
        let deploy = docker(&[
            "-H",
            &lab.docker_host,
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            gen_out.join("stack.yml").to_str().unwrap(),
            &stack.name,
        ]);
        deploy.assert_success();
        // Over what `up` made, Swarm rolls the tasks to the stack file's `:latest` images:
        // only once they run does what answers come from the stack file.
        for (service, tasks) in [(&webapps_service, 4), (&ha_service, 1)] {
            eventually(
                &format!("{service}'s tasks on the stack file's image"),
                Duration::from_secs(240),
                || {
                    let lines = lab.running_tasks(service, "{{.Image}} {{.CurrentState}}");
                    let rolled = lines.len() == tasks
                        && lines.iter().all(|line| {
                            line.split_once(' ').is_some_and(|(image, state)| {
                                image.ends_with(":latest") && state.starts_with("Running")
                            })
                        });
                    rolled.then_some(())
                },
            );
        }
        assert_eq!(wait_answering(&stack, 4, Duration::from_secs(240)).len(), 4);
        assert_eq!(
            stats_status(&stack, Some(&format!("lbkit:{}", password.trim()))),
            200
        );
        assert_eq!(stats_status(&stack, None), 401);
    };
    lab.xtask(&["down"]).assert_success();
    assert!(lab.objects("service").is_empty());
    stack_deploy();
    let converged = lab.xtask(&["up"]);
    converged.assert_success();
    assert_eq!(lab.serving().len(), 4, "{}", converged.all_text());
    stack_deploy();
    let _ = std::fs::remove_dir_all(&gen_out);

    // down removes services, secrets and network (and with --images the manager's
    // Swarm tags, saying the workers keep theirs); swarm-lab down the engines.
    let down = lab.xtask(&["down", "--images"]);
    down.assert_success();
    let said = down.stdout_text();
    let swarm_tag = format!("removed image tag lbkit.invalid/{}/webapp:", stack.name);
    assert!(said.contains(&swarm_tag), "{said}");
    assert!(said.contains("the other nodes keep their copies"), "{said}");
    let manager = lab.manager();
    for image in ["ha", "webapp"] {
        let repo = format!("lbkit.invalid/{}/{image}", stack.name);
        let left = lab.docker_on(&manager, &["images", "-q", &repo]);
        assert_eq!(left.stdout_text().trim(), "", "{repo} left on the manager");
    }
    for kind in ["service", "secret", "network"] {
        assert!(
            lab.objects(kind).is_empty(),
            "{kind}s left: {:?}",
            lab.objects(kind)
        );
    }
    lab.remove_all();
}

/// `deploy.registry`: a user's own registry (Debian's docker-registry, examples/registry,
/// run on the manager's engine, asking for a login) instead of loading the images node by
/// node. Without a `docker login`, `up` fails on the push and creates nothing; logged in,
/// `up` pushes with that login and hands it to the Swarm, so the worker pulls: its images
/// carry the registry's name, none the loaded kind's, and no spec shows the password.
#[test]
fn images_reach_the_nodes_through_the_users_registry() {
    if support::skip_without_engine() {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::new("e2e-swreg", 63, 3);
    let _images = support::DropImages(&stack);
    stack.xtask(&["build"]).assert_success();
    let lab = Lab::with_nodes(&stack, 2);
    let registry_image = format!("{}-registry:latest", stack.name);
    let _registry_image = DropImage(registry_image.clone());
    let context = root().join("examples/registry");
    docker(&[
        "build",
        "-q",
        "-t",
        &registry_image,
        context.to_str().unwrap(),
    ])
    .assert_success();
    let manager = lab.manager();
    let copy = format!(
        "docker save {registry_image} | docker -H unix://{} load -q",
        lab.socket(&manager)
    );
    support::run_tool("sh", &["-c", &copy]).assert_success();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // `?` and `~` runs: their base64 has `/` and `+`, the letters the engine reads otherwise.
    let password = format!(
        "lab-{}-{}-?????~~~~~",
        std::process::id(),
        since_epoch.as_nanos()
    );
    lab.docker_on(
        &manager,
        &[
            "run",
            "-d",
            "--name",
            "registry",
            "-p",
            "5000:5000",
            "-e",
            "REGISTRY_AUTH=htpasswd",
            "-e",
            "REGISTRY_AUTH_HTPASSWD_REALM=lab",
            "-e",
            "REGISTRY_AUTH_HTPASSWD_PATH=/tmp/htpasswd",
            "--entrypoint",
            "sh",
            &registry_image,
            "-c",
            "htpasswd -Bbc /tmp/htpasswd lab \"$1\" && exec docker-registry serve /etc/docker/registry/lab.yml",
            "sh",
            &password,
        ],
    )
    .assert_success();
    eventually("the registry listening", Duration::from_secs(60), || {
        let logs = lab.docker_on(&manager, &["logs", "registry"]);
        logs.all_text().contains("listening on").then_some(())
    });
    // The workers reach it at the manager's address on the nodes' bridge (the swarm-lab
    // nodes take plain HTTP from registries there); the host never does.
    let address = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &manager]);
    address.assert_success();
    let registry = format!("{}:5000", address.stdout_text().trim());
    let prefix = format!("{registry}/lab");
    let text = std::fs::read_to_string(&lab.config).unwrap();
    std::fs::write(&lab.config, format!("{text}registry = \"{prefix}\"\n")).unwrap();
    // The docker CLI's logins (DOCKER_CONFIG), this test's own: none yet.
    let logins = support::Scratch::new(&format!("{}-logins", stack.name));
    let with_logins = |args: &[&str]| -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", lab.config.to_str().unwrap()]);
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&all)
            .current_dir(root())
            .env("CI", "true")
            .env("DOCKER_HOST", &lab.docker_host)
            .env("DOCKER_CONFIG", logins.path(""))
            .output()
            .expect("running xtask")
            .into()
    };

    let refused = with_logins(&["up"]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.all_text());
    let stderr = refused.stderr_text();
    assert!(
        stderr.contains("pushing image")
            && [
                "no basic auth credentials",
                "unauthorized",
                "authentication required"
            ]
            .iter()
            .any(|why| stderr.contains(why)),
        "{stderr}"
    );
    for kind in ["service", "secret", "network"] {
        assert!(lab.objects(kind).is_empty(), "a failed push left {kind}s");
    }

    let mut login = std::process::Command::new("docker")
        .args([
            "-H",
            &lab.docker_host,
            "login",
            &registry,
            "-u",
            "lab",
            "--password-stdin",
        ])
        .env("DOCKER_CONFIG", logins.path(""))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let login: Run = login.wait_with_output().unwrap().into();
    login.assert_success();

    let up = with_logins(&["up"]);
    up.assert_success();
    assert_eq!(lab.serving().len(), 3, "{}", up.all_text());
    assert_eq!(wait_answering(&stack, 3, Duration::from_secs(30)).len(), 3);
    let worker = format!("{}-node2", stack.name);
    let images = lab.docker_on(&worker, &["images", "--format", "{{.Repository}}"]);
    images.assert_success();
    let repositories: BTreeSet<String> = images.stdout_text().lines().map(String::from).collect();
    let pulled = format!("{prefix}/{}/webapp", stack.name);
    assert!(
        repositories.contains(&pulled),
        "the worker pulled {pulled}: {repositories:?}"
    );
    assert!(
        repositories
            .iter()
            .all(|r| !r.starts_with("lbkit.invalid/")),
        "nothing loaded into the worker: {repositories:?}"
    );
    let inspect = docker(&[
        "-H",
        &lab.docker_host,
        "service",
        "inspect",
        &format!("{}_webapps", stack.name),
        &format!("{}_{}", stack.name, stack.ha()),
    ]);
    inspect.assert_success();
    assert!(
        !inspect.stdout_text().contains(&password)
            && !inspect.stdout_text().contains("RegistryAuth"),
        "the registry login in a service spec"
    );
    with_logins(&["down"]).assert_success();
    assert!(lab.objects("service").is_empty());
    lab.docker_on(&manager, &["rm", "-f", "registry"])
        .assert_success();
    lab.remove_all();
}

/// Removes a host image when dropped.
struct DropImage(String);

impl Drop for DropImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// A Swarm cluster file against an engine that manages no Swarm (this host's), and the
/// commands that run on one engine only: one line naming the file, exit 2, nothing made.
#[test]
fn a_swarm_file_is_refused_where_it_cannot_run() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::new("e2e-swarm-refused", 62, 2);
    let config = stack.config.with_file_name("swarm.toml");
    let text = std::fs::read_to_string(&stack.config).unwrap();
    std::fs::write(&config, format!("{text}\n[deploy]\ntarget = \"swarm\"\n")).unwrap();
    let config = config.to_str().unwrap();
    // Exit 2 with one line on stderr, which it returns.
    let refused = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        let run = support::xtask(&all);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.all_text());
        let stderr = run.stderr_text();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        stderr
    };
    for args in [
        &["up"][..],
        &["scale", "--webapps", "3"],
        &["status"],
        &["down"],
        &["logs"],
        &["collect-logs", "task1"],
        &["nested", "up"],
    ] {
        let stderr = refused(args);
        assert!(
            stderr.contains(config) && stderr.contains("deploy.target = \"swarm\""),
            "{args:?}: names the file and key: {stderr}"
        );
    }
    // This host's kernel is not the nodes': --tune-host is refused before anything.
    for args in [
        &["up", "--tune-host"][..],
        &["scale", "--webapps", "3", "--tune-host"],
    ] {
        let stderr = refused(args);
        assert!(
            stderr.contains("--tune-host: on a Swarm"),
            "{args:?}: {stderr}"
        );
    }
    assert!(stack.containers().is_empty());
    assert!(stack.networks().is_empty());
    let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(
        state.stdout_text().trim(),
        "inactive",
        "the host engine stays out of Swarm mode"
    );
}
