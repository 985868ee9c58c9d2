//! Helpers for tests that run `cargo xtask` as a user would.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn lab_config() -> String {
    std::fs::read_to_string(root().join("cluster.toml")).unwrap()
}

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn all_text(&self) -> String {
        format!("{}{}", self.stdout_text(), self.stderr_text())
    }
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "command failed ({}):\n{}",
            self.status,
            self.all_text()
        );
        self
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }
}

/// Runs the xtask binary built for this test run, from the workspace root, as
/// `cargo xtask ARGS` would.
pub fn xtask(args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .env("CI", "true")
        .output()
        .expect("running xtask")
        .into()
}

/// `cargo xtask ARGS --config CONFIG` against the engine at `docker_host` (a nested
/// engine, a Swarm manager).
pub fn xtask_on(docker_host: &str, config: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(&all)
        .current_dir(root())
        .env("CI", "true")
        .env("DOCKER_HOST", docker_host)
        .output()
        .expect("running xtask")
        .into()
}

/// Runs an external tool; a missing tool fails the test with how to install it.
pub fn run_tool(program: &str, args: &[&str]) -> Run {
    match Command::new(program).args(args).output() {
        Ok(output) => output.into(),
        Err(err) => panic!("{program} is needed by this test ({err}); `bash .ci/run` installs it"),
    }
}

/// A scratch folder under target/, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = root()
            .join("target/test-scratch")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Why the Docker engine cannot be reached, if it cannot (asked once per test binary).
fn engine_problem() -> Option<String> {
    static PROBLEM: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROBLEM
        .get_or_init(|| {
            let info = Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .output();
            match info {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!(
                    "Docker engine unreachable (docker info: {})",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(err) => Some(format!("docker CLI not found ({err})")),
            }
        })
        .clone()
}

/// Fails the test, clearly, when the Docker engine cannot be reached: end-to-end tests
/// never pass silently without it.
pub fn require_engine() {
    if let Some(problem) = engine_problem() {
        panic!("{problem}; these end-to-end tests need it");
    }
}

/// Every end-to-end test starts with `if support::skip_without_engine() { return; }`.
/// Without a reachable engine, `cargo test` reports it skipped in one line (the fast tests
/// still run); under `cargo xtask ci` (`LBKIT_REQUIRE_ENGINE=1`) it fails instead: CI
/// never skips one.
pub fn skip_without_engine() -> bool {
    let Some(problem) = engine_problem() else {
        return false;
    };
    if std::env::var_os("LBKIT_REQUIRE_ENGINE").is_some() {
        panic!("{problem}; these end-to-end tests need it (LBKIT_REQUIRE_ENGINE is set)");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("an end-to-end test");
    // Straight to the terminal: the test harness captures only print!/eprint!.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {problem}; `cargo xtask ci` runs it against the engine"
    );
    true
}

/// `LBKIT_TEST_SHARD` (0-5, default 0): lets several checkouts run the end-to-end tests
/// on one engine at once; each shard shifts every project name, subnet and port.
pub fn test_shard() -> u16 {
    match std::env::var("LBKIT_TEST_SHARD") {
        Ok(text) => text
            .parse()
            .ok()
            .filter(|shard| *shard < 6)
            .expect("LBKIT_TEST_SHARD: expected 0 to 5"),
        Err(_) => 0,
    }
}

/// A project (or object) name unique to this shard.
pub fn sharded(name: &str) -> String {
    match test_shard() {
        0 => name.to_string(),
        shard => format!("{name}-k{shard}"),
    }
}

/// `docker ARGS`, output captured.
pub fn docker(args: &[&str]) -> Run {
    run_tool("docker", args)
}

/// One test's own cluster: project, names, subnet and ports derived from `name` and
/// `slot`, so tests run side by side without touching each other or the user's stack.
pub struct Stack {
    pub name: String,
    pub config: PathBuf,
    pub http_port: u16,
    pub stats_port: u16,
    /// The first three octets of the stack's /24, e.g. `10.231.31`.
    pub net: String,
    _scratch: Scratch,
}

/// A stack's generated compose file.
pub struct Compose<'a> {
    stack: &'a Stack,
    file: PathBuf,
}

impl Compose<'_> {
    /// `docker-compose ARGS` on the file, the stack's name as the compose project.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["-f", self.file.to_str().unwrap(), "-p", &self.stack.name];
        all.extend(args);
        run_tool("docker-compose", &all)
    }
}

impl Stack {
    /// `slot` (1-99) picks the subnet 10.231.<slot>.0/24 and ports 18<slot>0 / 19<slot>0.
    pub fn new(name: &str, slot: u16, webapps: u32) -> Stack {
        Self::with(name, slot, webapps, |text| text)
    }

    pub fn with(name: &str, slot: u16, webapps: u32, edit: impl FnOnce(String) -> String) -> Stack {
        require_engine();
        assert!((1..100).contains(&slot));
        let shard = test_shard();
        let name = &sharded(name);
        let http_port = 18000 + shard * 2000 + slot * 10;
        let stats_port = 19000 + shard * 2000 + slot * 10;
        let octet = 231 + shard;
        let text = format!(
            r#"project = "{name}"

[network]
name = "{name}"
subnet = "10.{octet}.{slot}.0/24"

[ha]
name = "{name}-ha"
ip = "10.{octet}.{slot}.42"
http_port = {http_port}
stats_port = {stats_port}

[webapps]
count = {webapps}
prefix = "{name}-s"
"#
        );
        let scratch = Scratch::new(name);
        let config = scratch.write("cluster.toml", &edit(text));
        let stack = Stack {
            name: name.to_string(),
            config,
            http_port,
            stats_port,
            net: format!("10.{octet}.{slot}"),
            _scratch: scratch,
        };
        stack.remove_leftovers();
        stack
    }

    pub fn node(&self, n: u32) -> String {
        format!("{}-s{n}", self.name)
    }

    /// The names of webapps `numbers`.
    pub fn nodes(&self, numbers: &[u32]) -> std::collections::BTreeSet<String> {
        numbers.iter().map(|n| self.node(*n)).collect()
    }

    pub fn ha(&self) -> String {
        format!("{}-ha", self.name)
    }

    /// `cargo xtask ARGS --config <this stack's file>`.
    pub fn xtask(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        xtask(&all)
    }

    /// `cargo xtask gen` into the stack's folder: its compose file.
    pub fn gen_compose(&self) -> Compose<'_> {
        let out = self.config.parent().unwrap().join("generated");
        self.xtask(&["gen", "--out", out.to_str().unwrap()])
            .assert_success();
        Compose {
            stack: self,
            file: out.join("docker-compose.yml"),
        }
    }

    /// GET / through the load balancer on a new connection; returns the answering host.
    pub fn get_host(&self) -> String {
        let body = http_get(&format!("http://127.0.0.1:{}/", self.http_port))
            .expect("GET / through the load balancer");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON from the web app");
        json["host"].as_str().expect("host field").to_string()
    }

    /// The hosts answering `n` requests through the load balancer.
    pub fn hosts_answering(&self, n: usize) -> std::collections::BTreeSet<String> {
        (0..n).map(|_| self.get_host()).collect()
    }

    /// The hosts answering `n` requests through the load balancer, or None while any
    /// request fails (a stack still coming up, or back).
    pub fn answering(&self, n: usize) -> Option<std::collections::BTreeSet<String>> {
        let url = format!("http://127.0.0.1:{}/", self.http_port);
        (0..n)
            .map(|_| {
                let body = http_get(&url).ok()?;
                let json: serde_json::Value = serde_json::from_str(&body).ok()?;
                json["host"].as_str().map(String::from)
            })
            .collect()
    }

    /// The project's containers (name -> id), from the engine.
    pub fn containers(&self) -> std::collections::BTreeMap<String, String> {
        let out = self.labelled(&["ps", "-a"], "{{.Names}} {{.ID}}");
        out.stdout_text()
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(n, id)| (n.to_string(), id.to_string()))
            })
            .collect()
    }

    /// `docker LIST --filter label=<project> --format FORMAT`: the project's objects.
    fn labelled(&self, list: &[&str], format: &str) -> Run {
        let filter = format!("label=lbkit.project={}", self.name);
        let mut args = list.to_vec();
        args.extend(["--filter", &filter, "--format", format]);
        docker(&args)
    }

    pub fn networks(&self) -> Vec<String> {
        let out = self.labelled(&["network", "ls"], "{{.Name}}");
        out.stdout_text().lines().map(String::from).collect()
    }

    /// Whatever an earlier, interrupted run of this test left behind.
    fn remove_leftovers(&self) {
        let ids: Vec<String> = self.containers().into_values().collect();
        if !ids.is_empty() {
            // -v: a nested engine's /var/lib/docker is an anonymous volume.
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            docker(&args);
        }
        for network in self.networks() {
            docker(&["network", "rm", &network]);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let down = self.xtask(&["down"]);
        if !down.status.success() {
            eprintln!("cleanup: xtask down failed:\n{}", down.all_text());
        }
        self.remove_leftovers();
    }
}

/// A GET on a fresh connection (so round robin moves on); body as text.
pub fn http_get(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(url)
        .header("Connection", "close")
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .map_err(|e| e.to_string())
}

/// GET `path` with `Host: host` on a new connection to 127.0.0.1:`port` (HTTP/1.0, the
/// Host header as given, as a user's `curl -H 'Host: ...'`), as cheap as a client gets
/// (a load must stay above 300 req/s on a busy 2-core machine): the body of a 200, or why
/// not.
pub fn get_200(port: u16, host: &str, path: &str) -> Result<String, String> {
    use std::io::{Read as _, Write as _};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{host}{path}: no complete response: {response:?}"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{host}{path}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok(body.to_string())
}

/// Retries `check` until it returns Some, or panics with `what` after `timeout`.
pub fn eventually<T>(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

impl Stack {
    /// `cargo xtask ARGS --config <this stack's file>` started in the background (to be
    /// interrupted), its output captured.
    pub fn spawn_xtask(&self, args: &[&str]) -> std::process::Child {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().unwrap()]);
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&all)
            .current_dir(root())
            .env("CI", "true")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting xtask")
    }
}

/// Removes the stack's images (`down --images`) when dropped: declared after its `Stack`,
/// it runs first, so a test leaves none of the images it built.
pub struct DropImages<'a>(pub &'a Stack);

impl Drop for DropImages<'_> {
    fn drop(&mut self) {
        let down = self.0.xtask(&["down", "--images"]);
        if !down.status.success() {
            eprintln!("cleanup: down --images failed:\n{}", down.all_text());
        }
    }
}

impl Stack {
    /// `docker exec <ha> ARGS`.
    pub fn ha_exec(&self, args: &[&str]) -> Run {
        let ha = self.ha();
        let mut all = vec!["exec", ha.as_str()];
        all.extend(args);
        docker(&all)
    }

    /// ha's /var/log/serf.log.
    pub fn serf_log(&self) -> String {
        self.ha_exec(&["cat", "/var/log/serf.log"]).stdout_text()
    }

    /// The servers of HAProxy's `nodes` backend, from the published stats CSV; None when
    /// the stats page does not answer.
    pub fn stats(&self) -> Option<Vec<cluster::ServerStat>> {
        http_get(&format!("http://127.0.0.1:{}/;csv", self.stats_port))
            .ok()
            .map(|csv| cluster::parse_stats_csv(&csv))
    }

    /// The status HAProxy's stats CSV gives server `name`, if it lists it.
    pub fn status_of(&self, name: &str) -> Option<String> {
        self.stats()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.status)
    }

    /// The names of the servers HAProxy reports UP (none when the stats page is down).
    pub fn up_servers(&self) -> std::collections::BTreeSet<String> {
        self.stats()
            .unwrap_or_default()
            .into_iter()
            .filter(cluster::ServerStat::is_up)
            .map(|s| s.name)
            .collect()
    }
}

/// What a [`Load`] saw: answers, failures and the first few errors.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub errors: Vec<String>,
}

impl LoadResult {
    /// Some requests ran and none failed.
    #[track_caller]
    pub fn assert_none_failed(&self) {
        eprintln!(
            "load: {} answered, {} failed {:?}",
            self.ok, self.failed, self.errors
        );
        assert!(self.ok > 0, "the load ran");
        assert_eq!(self.failed, 0, "failed requests: {:?}", self.errors);
    }
}

/// Load through the load balancer in a background thread: GET / on a new connection,
/// back to back, until finished (at most `limit`); counts answers and failures.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<LoadResult>>,
}

impl Load {
    pub fn start(stack: &Stack, limit: std::time::Duration) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = format!("http://127.0.0.1:{}/", stack.http_port);
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let (start, mut result) = (std::time::Instant::now(), LoadResult::default());
            while !stopped.load(Ordering::Relaxed) && start.elapsed() < limit {
                match http_get(&url) {
                    Ok(_) => result.ok += 1,
                    Err(err) => {
                        result.failed += 1;
                        if result.errors.len() < 5 {
                            result.errors.push(err);
                        }
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result
        });
        Load {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> LoadResult {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map(|thread| thread.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One case of [`run_cases`].
pub type Case<'a> = Box<dyn FnOnce() + 'a>;

/// Runs each named case, catching its failure so the later cases still run; returns
/// every failure (`case: message`), in order.
pub fn run_cases(cases: Vec<(&str, Case<'_>)>) -> Vec<String> {
    let mut failures = Vec::new();
    for (what, case) in cases {
        eprintln!("case: {what}");
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{what}: {message}"));
        }
    }
    failures
}

/// The `skipping member` records of a serf.log: (member, address, reason).
pub fn skipped(log: &str) -> Vec<(String, String, String)> {
    cluster::record::parse_log(log)
        .into_iter()
        .flatten()
        .filter_map(|line| match line.record {
            cluster::record::Record::Skipped {
                member,
                addr,
                reason,
            } => Some((member, addr, reason)),
            _ => None,
        })
        .collect()
}
