//! Scenario 9's run: the lab up, the Swarm project up on it, then the join and the node
//! loss under load, each timed from the stats; then everything down again.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;

use super::{
    NodeLoss, SwarmBench, SwarmJoin, SwarmNodeJoin, SwarmResult, COMMAND_LIMIT, SETTLE, SETUP_LIMIT,
};
use crate::bench::scenario::{in_rotation, Runner};
use crate::bench::settings::Settings;
use crate::bench::stats::{percentile, round, secs, summarize, summarize_samples};
use crate::context::Ctx;
use crate::haproxy_stats::{self, ServerStat};
use crate::wait::{Poll, Wait};

/// How often HAProxy's stats are read while waiting.
const POLL: Duration = Duration::from_millis(250);

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
/// other than `lost`, at most the scenario's timeout from the kill (at `since`): when
/// HAProxy showed them all, and where they run.
async fn back_on_survivors(
    runner: &Runner<'_>,
    lab: &Lab<'_>,
    lost: &str,
    since: Duration,
) -> anyhow::Result<(Duration, BTreeMap<String, String>)> {
    let settings = runner.settings;
    let names = runner.webapp_names(1..=settings.swarm_to);
    let left =
        (runner.epoch + since + settings.swarm_timeout).saturating_duration_since(Instant::now());
    let what = format!(
        "{} webapps UP again on the nodes other than {lost}",
        names.len()
    );
    Wait::new(what, left)
        .every(POLL)
        .until(async || -> anyhow::Result<Poll<_, String>> {
            let servers = match haproxy_stats::fetch(runner.cluster).await {
                Ok(servers) => servers,
                Err(err) => return Ok(Poll::Pending(no_stats(&err))),
            };
            let at = runner.now();
            let all_up = names
                .iter()
                .all(|name| servers.iter().any(|s| s.name == *name && in_rotation(s)));
            if !all_up {
                return Ok(Poll::Pending(seen(&servers)));
            }
            let (_, placement) = lab.placement("status-after").await?;
            if placement.len() == names.len() && placement.values().all(|node| node != lost) {
                return Ok(Poll::Ready((at, placement)));
            }
            Ok(Poll::Pending(format!(
                "`status --json` places those UP as {placement:?}"
            )))
        })
        .await
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
/// answer is not done; after `timeout`, an error naming `what` and what was last seen.
async fn until(
    runner: &Runner<'_>,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[ServerStat], Duration) -> bool,
) -> anyhow::Result<Duration> {
    Wait::new(what, timeout)
        .every(POLL)
        .until(async || {
            Ok(match haproxy_stats::fetch(runner.cluster).await {
                Ok(servers) => {
                    let at = runner.now();
                    if done(&servers, at) {
                        Poll::Ready(at)
                    } else {
                        Poll::Pending(seen(&servers))
                    }
                }
                Err(err) => Poll::Pending(no_stats(&err)),
            })
        })
        .await
}

/// What a wait on the stats last saw: the servers in rotation.
fn seen(servers: &[ServerStat]) -> String {
    let up: Vec<&str> = servers
        .iter()
        .filter(|s| in_rotation(s))
        .map(|s| s.name.as_str())
        .collect();
    if up.is_empty() {
        "no server in rotation".into()
    } else {
        format!("in rotation: {}", up.join(", "))
    }
}

fn no_stats(err: &anyhow::Error) -> String {
    format!("no stats ({err:#})")
}

#[cfg(test)]
mod tests {
    use super::*;

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
