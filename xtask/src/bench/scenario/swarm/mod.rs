//! Scenario 9, the cluster on a local Swarm (`swarm-lab`: Docker engines in containers of
//! the host's engine, node1 the manager running ha, the others workers), driven as a user
//! drives it: this same binary in child processes, `--config` a cluster file derived from
//! the bench's (its own project and ports, `[deploy] target = "swarm"`), DOCKER_HOST the
//! manager's engine. Join to serving (`scale` under load, each new task to UP in HAProxy),
//! then a node loss under load (a worker's engine SIGKILLed on the host: its webapps out of
//! rotation, then back to N serving on the surviving nodes). Everything the Swarm holds
//! lives in the lab's nodes: [`SwarmBench::clean_up`] removes them, also after a failure
//! or Ctrl-C.
//!
//! Here: the result and the derived cluster; the run in run.rs, the targets and the
//! section of results.md in report.rs.
mod report;
mod run;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cluster::{labels, Cluster, Deploy, DeployTarget};
use serde::Serialize;
use xshell::cmd;

use crate::bench::settings::Settings;
use crate::bench::stats::Summary;
use crate::context::Ctx;
use crate::process;

pub(crate) use report::SECTION;
pub(crate) use run::run;

/// How long the load stays on after the cluster is back: late failures show up.
const SETTLE: Duration = Duration::from_secs(3);
/// A build, or a first `swarm-lab up` (it builds the nested engine image), takes minutes.
const SETUP_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Any other command: it waits at most the scenario's timeout, plus its own work.
const COMMAND_LIMIT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
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
#[cfg_attr(test, derive(serde::Deserialize))]
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
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct SwarmNodeJoin {
    pub(crate) name: String,
    /// From the `scale` command to the first stats read showing it UP.
    pub(crate) up_s: f64,
    /// From the `scale` command to the end of the first request it answered through the
    /// load balancer; None: it answered none before the load stopped.
    pub(crate) first_answer_s: Option<f64>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
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
        for image in cluster::PROJECT_IMAGES {
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
}
