//! Scenario 9, the cluster on a local Swarm (`swarm-lab`: Docker engines in containers of
//! the host's engine, node1 the manager running ha, the others workers), driven as a user
//! drives it: this same binary in child processes, `--config` a cluster file derived from
//! the bench's (its own project and ports, `[deploy] target = "swarm"`), DOCKER_HOST the
//! manager's engine. Join to serving (`scale` under load, each new task to UP in HAProxy),
//! then a node loss under load (a worker's engine SIGKILLed on the host: its webapps out of
//! rotation, then back to N serving on the surviving nodes). Everything the Swarm holds
//! lives in the lab's nodes: [`SwarmBench::clean_up`] removes them, also after a failure
//! or Ctrl-C.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cluster::{labels, Cluster, Deploy, DeployTarget};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use super::{in_rotation, Runner};
use crate::bench::settings::Settings;
use crate::bench::stats::{percentile, round, secs, summarize, summarize_samples, Summary};
use crate::context::Ctx;
use crate::haproxy_stats::{self, ServerStat};
use crate::process;

/// How often HAProxy's stats are read while waiting.
const POLL: Duration = Duration::from_millis(250);
/// How long the load stays on after the cluster is back: late failures show up.
pub(crate) const SETTLE: Duration = Duration::from_secs(3);
/// A build, or a first `swarm-lab up` (it builds the nested engine image), takes minutes.
const SETUP_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Any other command: it waits at most the scenario's timeout, plus its own work.
const COMMAND_LIMIT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Serialize)]
pub(crate) struct SwarmResult {
    /// The derived project the Swarm ran.
    pub(crate) project: String,
    pub(crate) nodes: u32,
    /// Where the load went: the port the manager's node publishes on the host.
    pub(crate) target: String,
    /// How long each command took, as the user would see it: `build` (on the host, the
    /// derived project's images; cached steps), `swarm-lab up`, `up`, `down`, `swarm-lab down`.
    pub(crate) build_s: f64,
    pub(crate) lab_up_s: f64,
    pub(crate) up_s: f64,
    pub(crate) join: SwarmJoin,
    pub(crate) node_loss: NodeLoss,
    pub(crate) down_s: f64,
    pub(crate) lab_down_s: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct SwarmJoin {
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// The `scale` command to its return (it waits until HAProxy serves exactly `to`).
    pub(crate) scale_s: f64,
    pub(crate) nodes: Vec<SwarmNodeJoin>,
    /// Of the nodes' `up_s`.
    pub(crate) p50_s: Option<f64>,
    pub(crate) p95_s: Option<f64>,
    pub(crate) max_s: Option<f64>,
    /// The load over the scale.
    pub(crate) load: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SwarmNodeJoin {
    pub(crate) name: String,
    /// From the `scale` command to the first stats read showing it UP.
    pub(crate) up_s: f64,
    /// From the `scale` command to the end of the first request it answered through the
    /// load balancer; None: it answered none before the load stopped.
    pub(crate) first_answer_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NodeLoss {
    pub(crate) webapps: u32,
    /// The worker whose engine was killed: the one running the most webapps.
    pub(crate) node: String,
    /// The webapps it ran.
    pub(crate) lost: Vec<String>,
    /// From the kill until HAProxy showed none of them UP.
    pub(crate) out_of_rotation_s: f64,
    /// From the kill until HAProxy showed `webapps` UP again, every one on a surviving node.
    pub(crate) back_s: f64,
    /// Webapp -> node running it, before the kill and once back.
    pub(crate) before: BTreeMap<String, String>,
    pub(crate) after: BTreeMap<String, String>,
    /// The requests from the kill until a few seconds after back to `webapps`.
    pub(crate) load: Summary,
}

/// The derived cluster file and how to run the toolkit on it.
pub(crate) struct SwarmBench {
    /// The derived cluster, as parsed back from its file.
    pub(crate) cluster: Cluster,
    pub(crate) config: PathBuf,
    /// The derived file and the logs of the commands.
    dir: PathBuf,
    /// Resolved once, up front: a rebuild of xtask meanwhile replaces the file, and the
    /// running process's own path then names a deleted file.
    exe: PathBuf,
}

impl SwarmBench {
    /// Derives the Swarm's cluster file from `cluster` and writes it, before any scenario
    /// runs: a cluster the Swarm cannot take fails the bench at once.
    pub(crate) fn prepare(
        ctx: &Ctx,
        cluster: &Cluster,
        settings: &Settings,
    ) -> anyhow::Result<SwarmBench> {
        let derived = derive(cluster, settings.swarm_from, settings.swarm_nodes)?;
        // One folder per project: two projects' benchmarks can run at once.
        let dir = ctx.path("target/bench-swarm").join(&derived.project);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("cluster.toml");
        let text = format!(
            "# Written by `cargo xtask bench` from {} for its Swarm scenario; rewritten on every run.\n{}",
            ctx.config_file(),
            derived.to_toml()
        );
        std::fs::write(&config, &text).with_context(|| format!("writing {}", config.display()))?;
        let cluster = cluster::parse(&text, &config.display().to_string())
            .context("the cluster file derived for the Swarm scenario is invalid")?;
        Ok(SwarmBench {
            cluster,
            config,
            dir,
            exe: std::env::current_exe().context("finding the xtask binary")?,
        })
    }

    /// `xtask --config <derived file> ARGS` in a child process, on the host's engine or
    /// (with `docker_host`) the manager's; its output goes to `<step>.log`. Returns what
    /// it printed and how long it took.
    async fn xtask(
        &self,
        ctx: &Ctx,
        step: &str,
        args: &[&str],
        docker_host: Option<&str>,
        limit: Duration,
    ) -> anyhow::Result<(String, Duration)> {
        let (sh, exe, config) = (&ctx.sh, &self.exe, &self.config);
        let command = cmd!(sh, "{exe} --config {config} {args...}").env("CI", "true");
        let command = match docker_host {
            Some(host) => command.env("DOCKER_HOST", host),
            None => command,
        };
        let started = Instant::now();
        let output = process::output(command, limit).await?;
        let took = started.elapsed();
        let log = self.dir.join(format!("{step}.log"));
        process::logged(&output, &format!("xtask {}", args.join(" ")), &log)?;
        Ok((String::from_utf8_lossy(&output.stdout).into_owned(), took))
    }

    /// Removes the lab's nodes (with them every service, secret and network of the Swarm,
    /// and their volumes), then the derived project's images on the host. Also after a
    /// failure or Ctrl-C; when nothing is left, it changes nothing.
    pub(crate) async fn clean_up(&self, ctx: &Ctx) -> anyhow::Result<()> {
        self.xtask(ctx, "clean-up", &["swarm-lab", "down"], None, COMMAND_LIMIT)
            .await?;
        let engine = ctx.engine().await?;
        let project = self.cluster.project.as_str();
        for image in ["ha", "webapp", "base"] {
            let tag = self.cluster.image_tag(image);
            if engine.image_of_project(&tag, project).await? {
                engine.remove_image(&tag).await?;
            }
        }
        for id in engine
            .dangling_images(&[(labels::PROJECT, project)])
            .await?
        {
            engine.remove_image(&id).await?;
        }
        // `swarm-lab down` removes the nodes' socket folders, not the folder holding them;
        // remove_dir leaves it when anything is still in it.
        let _ = std::fs::remove_dir(ctx.path(".state").join(project).join("nested"));
        Ok(())
    }
}

/// The bench's cluster on the Swarm: its own project (`<project>-swarm`, so the lab's
/// nodes, secrets and images are told apart from the engine run's), the next free ports
/// (the engine run's may still be published), `webapps` webapps of the lab's web app (a
/// user's image needs a sidecar, which Swarm cannot run, and a build context is relative
/// to the original file), no TLS (not on Swarm yet). The network keeps its name and
/// subnet: the overlay lives inside the nodes' engines, apart from the host's networks.
pub(crate) fn derive(cluster: &Cluster, webapps: u32, nodes: u32) -> anyhow::Result<Cluster> {
    let mut swarm = cluster.clone();
    swarm.project = format!("{}-swarm", cluster.project);
    let last_node = format!("{}-node{nodes}", swarm.project);
    anyhow::ensure!(
        cluster::is_dns_label(&last_node),
        "project {:?} is too long for the Swarm scenario: its lab node {last_node:?} must be a host name of at most 63 characters",
        cluster.project
    );
    let (http, stats) = super::free_ports_above(cluster, 1).with_context(|| {
        format!(
            "no free ports for the Swarm scenario next to ha.http_port {} and ha.stats_port {}",
            cluster.ha.http_port, cluster.ha.stats_port
        )
    })?;
    swarm.ha.http_port = http;
    swarm.ha.stats_port = stats;
    swarm.ha.tls = None;
    swarm.webapps.image = None;
    swarm.webapps.build = None;
    swarm.webapps.command = Vec::new();
    swarm.webapps.count = webapps;
    // The lab's node1 publishes ha's ports on the host's 127.0.0.1 (the default address).
    swarm.deploy = Deploy {
        target: DeployTarget::Swarm,
        ..Deploy::default()
    };
    Ok(swarm)
}

pub(crate) async fn run(
    ctx: &Ctx,
    swarm: &SwarmBench,
    settings: &Settings,
) -> anyhow::Result<SwarmResult> {
    let cluster = &swarm.cluster;
    let nodes = settings.swarm_nodes.to_string();
    let timeout = settings.swarm_timeout.as_secs().to_string();
    let step = |what: &str| println!("bench: 9 swarm: {what}");

    // `swarm-lab up` would reuse what an interrupted run left, as it was.
    swarm
        .xtask(ctx, "fresh", &["swarm-lab", "down"], None, COMMAND_LIMIT)
        .await?;
    // On the host, so `swarm-lab up` copies them into the manager, where `up` then builds
    // from cache and loads them into the workers.
    step("build (the Swarm project's images, on the host)");
    let (_, build) = swarm
        .xtask(ctx, "build", &["build"], None, SETUP_LIMIT)
        .await?;
    step(&format!("swarm-lab up --nodes {nodes}"));
    let (printed, lab_up) = swarm
        .xtask(
            ctx,
            "lab-up",
            &["swarm-lab", "up", "--nodes", &nodes],
            None,
            SETUP_LIMIT,
        )
        .await?;
    let lab = Lab {
        ctx,
        swarm,
        docker_host: docker_host(&printed)?,
    };
    step(&format!("up ({} webapps)", cluster.webapps.count));
    let (_, up) = lab
        .manager("up", &["up", "--timeout", &timeout], SETUP_LIMIT)
        .await?;

    let runner = Runner::new(ctx, cluster, settings, Instant::now());
    step(&format!(
        "scale --webapps {} under {} req/s",
        settings.swarm_to, settings.swarm_rate
    ));
    let join = join(&runner, &lab).await?;
    step("node loss under load");
    let node_loss = node_loss(&runner, &lab).await?;

    step("down, swarm-lab down");
    let (_, down) = lab.manager("down", &["down"], COMMAND_LIMIT).await?;
    let (_, lab_down) = swarm
        .xtask(ctx, "lab-down", &["swarm-lab", "down"], None, COMMAND_LIMIT)
        .await?;
    Ok(SwarmResult {
        project: cluster.project.clone(),
        nodes: settings.swarm_nodes,
        target: haproxy_stats::lb_url(cluster),
        build_s: secs(build),
        lab_up_s: secs(lab_up),
        up_s: secs(up),
        join,
        node_loss,
        down_s: secs(down),
        lab_down_s: secs(lab_down),
    })
}

/// The running lab: commands against its manager.
struct Lab<'a> {
    ctx: &'a Ctx,
    swarm: &'a SwarmBench,
    docker_host: String,
}

/// A row of `status --json`, the fields used here.
#[derive(Debug, Deserialize)]
struct StatusRow {
    name: String,
    node: String,
    haproxy: String,
}

impl Lab<'_> {
    async fn manager(
        &self,
        step: &str,
        args: &[&str],
        limit: Duration,
    ) -> anyhow::Result<(String, Duration)> {
        self.swarm
            .xtask(self.ctx, step, args, Some(&self.docker_host), limit)
            .await
    }

    /// From `status --json`: the node running ha, and webapp -> node of those UP in HAProxy.
    async fn placement(&self, step: &str) -> anyhow::Result<(String, BTreeMap<String, String>)> {
        let (printed, _) = self
            .manager(step, &["status", "--json"], COMMAND_LIMIT)
            .await?;
        let rows: Vec<StatusRow> = serde_json::from_str(&printed)
            .with_context(|| format!("reading `status --json`:\n{printed}"))?;
        let ha = &self.swarm.cluster.ha.name;
        let ha_node = rows
            .iter()
            .find(|r| r.name == *ha)
            .map(|r| r.node.clone())
            .unwrap_or_default();
        let webapps = rows
            .into_iter()
            .filter(|r| r.name != *ha && !r.node.is_empty() && r.haproxy.starts_with("UP"))
            .map(|r| (r.name, r.node))
            .collect();
        Ok((ha_node, webapps))
    }
}

/// The manager's DOCKER_HOST, from `swarm-lab up`'s last line.
fn docker_host(printed: &str) -> anyhow::Result<String> {
    printed
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .and_then(|line| line.strip_prefix("export DOCKER_HOST="))
        .map(String::from)
        .with_context(|| {
            format!("swarm-lab up did not end with `export DOCKER_HOST=...`:\n{printed}")
        })
}

/// `scale` from `swarm_from` to `swarm_to` under load, each new webapp timed to UP in
/// HAProxy (and to its first answer) from the command.
async fn join(runner: &Runner<'_>, lab: &Lab<'_>) -> anyhow::Result<SwarmJoin> {
    let settings = runner.settings;
    let (from, to) = (settings.swarm_from, settings.swarm_to);
    let new = runner.webapp_names(from + 1..=to);
    let (webapps, timeout) = (to.to_string(), settings.swarm_timeout.as_secs().to_string());
    let load = runner.load(settings.swarm_rate, Duration::from_secs(900));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let called = runner.now();
    let mut up: BTreeMap<String, Duration> = BTreeMap::new();
    let what = format!("{} UP in HAProxy after scale", new.join(", "));
    let watched = until(runner, settings.swarm_timeout, &what, |servers, at| {
        for server in servers.iter().filter(|s| in_rotation(s)) {
            if new.contains(&server.name) {
                up.entry(server.name.clone()).or_insert(at);
            }
        }
        up.len() == new.len()
    });
    let args = ["scale", "--webapps", &webapps, "--timeout", &timeout];
    let scaled = lab.manager("scale", &args, settings.swarm_timeout + COMMAND_LIMIT);
    let result = tokio::try_join!(scaled, watched);
    // Every new webapp is UP: give round robin time to reach each one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = runner.finish(load).await?;
    let ((_, scale), _) = result?;

    let nodes: Vec<SwarmNodeJoin> = new
        .iter()
        .map(|name| {
            let first = recorded
                .samples
                .iter()
                .filter(|s| s.outcome.served_by() == Some(name.as_str()) && s.done() >= called)
                .map(|s| s.done())
                .min();
            SwarmNodeJoin {
                name: name.clone(),
                up_s: secs(up[name].saturating_sub(called)),
                first_answer_s: first.map(|t| secs(t - called)),
            }
        })
        .collect();
    let mut times: Vec<f64> = nodes.iter().map(|n| n.up_s).collect();
    times.sort_by(f64::total_cmp);
    Ok(SwarmJoin {
        from,
        to,
        scale_s: secs(scale),
        p50_s: percentile(&times, 50.0),
        p95_s: percentile(&times, 95.0),
        max_s: times.last().copied(),
        nodes,
        load: summarize(&recorded),
    })
}

/// With `swarm_to` webapps under load, the engine of the worker running the most of them
/// SIGKILLed on the host; timed until they are out of rotation, then until HAProxy serves
/// `swarm_to` again, all on the surviving nodes.
async fn node_loss(runner: &Runner<'_>, lab: &Lab<'_>) -> anyhow::Result<NodeLoss> {
    let settings = runner.settings;
    let webapps = settings.swarm_to;
    let (manager, before) = lab.placement("status-before").await?;
    anyhow::ensure!(
        before.len() == webapps as usize,
        "`status --json` shows {} webapps UP on the Swarm, expected {webapps}: {before:?}",
        before.len()
    );
    let (node, lost) = victim(&before, &manager)
        .with_context(|| format!("no webapp runs on a worker node: {before:?}"))?;
    let engine = runner.ctx.engine().await?;
    let load = runner.load(settings.swarm_rate, Duration::from_secs(900));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let killed = runner.now();
    let phase = async {
        engine
            .kill_container(&node, "SIGKILL")
            .await
            .with_context(|| format!("killing swarm lab node {node}"))?;
        let out = until(
            runner,
            settings.swarm_timeout,
            &format!(
                "{} out of rotation after node {node} was killed",
                lost.join(", ")
            ),
            |servers, _| {
                !servers
                    .iter()
                    .any(|s| lost.contains(&s.name) && in_rotation(s))
            },
        )
        .await?;
        let back = back_on_survivors(runner, lab, &node, killed).await?;
        tokio::time::sleep(SETTLE).await;
        anyhow::Ok((out, back))
    }
    .await;
    let recorded = runner.finish(load).await?;
    let (out, (back, after)) = phase?;

    let end = back + SETTLE;
    let mut load = summarize_samples(
        recorded
            .samples
            .iter()
            .filter(|s| (killed..=end).contains(&s.done())),
    );
    load.rate = round(load.requests as f64 / (end - killed).as_secs_f64(), 1);
    load.skipped = recorded.skipped;
    Ok(NodeLoss {
        webapps,
        node,
        lost,
        out_of_rotation_s: secs(out - killed),
        back_s: secs(back - killed),
        before,
        after,
        load,
    })
}

/// Waits until HAProxy shows every webapp UP and `status --json` places each one on a node
/// other than `lost`: when HAProxy first showed them, and where they run.
async fn back_on_survivors(
    runner: &Runner<'_>,
    lab: &Lab<'_>,
    lost: &str,
    since: Duration,
) -> anyhow::Result<(Duration, BTreeMap<String, String>)> {
    let settings = runner.settings;
    let names = runner.webapp_names(1..=settings.swarm_to);
    let deadline = runner.epoch + since + settings.swarm_timeout;
    loop {
        let at = until(
            runner,
            deadline.saturating_duration_since(Instant::now()),
            &format!(
                "{} webapps UP again after node {lost} was killed",
                names.len()
            ),
            |servers, _| {
                names
                    .iter()
                    .all(|name| servers.iter().any(|s| s.name == *name && in_rotation(s)))
            },
        )
        .await?;
        let (_, placement) = lab.placement("status-after").await?;
        if placement.len() == names.len() && placement.values().all(|node| node != lost) {
            return Ok((at, placement));
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} s waiting for {} webapps UP on the nodes other than {lost}: `status --json` places those UP as {placement:?}",
                settings.swarm_timeout.as_secs(),
                names.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The worker (not `manager`) running the most webapps, the first by name among equals,
/// and its webapps.
fn victim(placement: &BTreeMap<String, String>, manager: &str) -> Option<(String, Vec<String>)> {
    let mut by_node: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (webapp, node) in placement {
        if node != manager {
            by_node
                .entry(node.as_str())
                .or_default()
                .push(webapp.clone());
        }
    }
    let most = by_node.values().map(Vec::len).max()?;
    by_node
        .into_iter()
        .find(|(_, webapps)| webapps.len() == most)
        .map(|(node, mut webapps)| {
            webapps.sort_by(|a, b| cluster::natural_key(a).cmp(&cluster::natural_key(b)));
            (node.to_string(), webapps)
        })
}

/// Reads HAProxy's stats every [`POLL`] until `done` holds for the servers (given with
/// the time of the read, since the epoch); returns that time. A stats page that does not
/// answer is not done; after `timeout`, an error naming `what`.
async fn until(
    runner: &Runner<'_>,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[ServerStat], Duration) -> bool,
) -> anyhow::Result<Duration> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(servers) = haproxy_stats::fetch(runner.cluster).await {
            let at = runner.now();
            if done(&servers, at) {
                return Ok(at);
            }
        }
        if Instant::now() >= deadline {
            bail!("timed out after {} s waiting for {what}", timeout.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab's cluster: every key at its default.
    fn lab() -> Cluster {
        cluster::parse("", "cluster.toml").expect("the defaults are valid")
    }

    #[test]
    fn the_swarm_cluster_is_the_benchs_on_its_own_project_and_ports() {
        let engine = lab();
        let swarm = derive(&engine, 2, 3).unwrap();
        assert_eq!(swarm.project, format!("{}-swarm", engine.project));
        assert!(swarm.deploy.is_swarm());
        assert_eq!(swarm.deploy.address, std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(swarm.webapps.count, 2);
        assert_eq!(
            (swarm.ha.http_port, swarm.ha.stats_port),
            (engine.ha.http_port + 1, engine.ha.stats_port + 1)
        );
        assert_eq!(swarm.network, engine.network);
        assert_eq!(
            (&swarm.ha.name, &swarm.webapps.prefix),
            (&engine.ha.name, &engine.webapps.prefix)
        );
        // What the bench writes parses back to the same model.
        let parsed = cluster::parse(&swarm.to_toml(), "derived").unwrap();
        assert_eq!(parsed, swarm);
    }

    #[test]
    fn the_swarm_ports_skip_the_engine_runs() {
        let mut engine = lab();
        engine.ha.http_port = 8080;
        engine.ha.stats_port = 8081;
        let swarm = derive(&engine, 2, 3).unwrap();
        assert_eq!((swarm.ha.http_port, swarm.ha.stats_port), (8082, 8083));
        engine.ha.stats_port = u16::MAX;
        assert!(derive(&engine, 2, 3).is_err(), "no port above 65535");
    }

    #[test]
    fn the_swarm_runs_the_labs_app_without_tls() {
        let mut engine = lab();
        engine.webapps.image = Some("nginx:alpine".into());
        engine.webapps.build = Some("app".into());
        engine.webapps.command = vec!["app".into()];
        engine.ha.tls = Some(cluster::Tls {
            cert: None,
            key: None,
            generate: true,
            redirect: false,
        });
        let swarm = derive(&engine, 2, 3).unwrap();
        assert_eq!(swarm.webapps.mode(), cluster::AppMode::Lab);
        assert!(swarm.webapps.command.is_empty());
        assert_eq!(swarm.ha.tls, None);
        cluster::parse(&swarm.to_toml(), "derived").unwrap();
    }

    #[test]
    fn a_project_too_long_for_the_lab_nodes_is_refused() {
        let mut engine = lab();
        engine.project = "p".repeat(51);
        assert!(
            derive(&engine, 2, 3).is_ok(),
            "p..p-swarm-node3 is 63 characters"
        );
        engine.project = "p".repeat(52);
        let err = derive(&engine, 2, 3).unwrap_err().to_string();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn the_docker_host_is_the_last_line() {
        let printed = "NODE ...\nswarm lab of p: 3 nodes ready in 9.1s\nexport DOCKER_HOST=unix:///s/docker.sock\n\n";
        assert_eq!(docker_host(printed).unwrap(), "unix:///s/docker.sock");
        assert!(docker_host("export DOCKER_HOST=x\nsomething else\n").is_err());
        assert!(docker_host("").is_err());
    }

    #[test]
    fn the_victim_is_the_worker_running_the_most_webapps() {
        let placement = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(w, n)| (w.to_string(), n.to_string()))
                .collect()
        };
        let spread = placement(&[
            ("s1", "p-node1"),
            ("s2", "p-node2"),
            ("s3", "p-node3"),
            ("s4", "p-node3"),
            ("s10", "p-node3"),
            ("s5", "p-node1"),
        ]);
        assert_eq!(
            victim(&spread, "p-node1"),
            Some((
                "p-node3".to_string(),
                vec!["s3".to_string(), "s4".to_string(), "s10".to_string()]
            ))
        );
        let even = placement(&[("s1", "p-node3"), ("s2", "p-node2"), ("s3", "p-node1")]);
        assert_eq!(
            victim(&even, "p-node1"),
            Some(("p-node2".to_string(), vec!["s2".to_string()]))
        );
        let manager_only = placement(&[("s1", "p-node1"), ("s2", "p-node1")]);
        assert_eq!(victim(&manager_only, "p-node1"), None);
    }
}
