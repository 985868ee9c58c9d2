//! Scenario 11, data-path cost, side by side in one run: requests per second at saturation
//! through ha (HAProxy with its agent and Serf running) and through the same HAProxy
//! binary alone on lab task 0's static config with the same servers (a second container,
//! `<ha>-static`, on its own published ports). Both balancers are pinned to one CPU, the
//! closed-loop load (kept-alive connections, each sending as soon as answered) to another.
//! Rounds alternate the two, so a drift of the host weighs on both alike; the ratio is
//! the median of the rounds' ratios (each of two runs next to each other), with latency
//! and failures over all rounds.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use cluster::{Cluster, Role};
use serde::Serialize;

use super::Runner;
use crate::bench::cgroup_cpu::{percent_of_a_core, CpuFile};
use crate::bench::closed_loop::{self, Closed};
use crate::bench::cpus;
use crate::bench::load::Recorded;
use crate::bench::report::{opt, Section, Target};
use crate::bench::stats::{median, round, summarize, Summary};
use crate::deploy::one_engine;
use crate::{gen, haproxy_stats};

/// Its section's number in results.md.
const NUMBER: u32 = 11;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.data_path),
    targets: |r| targets(&r.data_path),
};

/// A first short run on each, not counted: connections made, caches warm.
const WARM_UP: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct DataPathResult {
    pub(crate) webapps: u32,
    pub(crate) connections: usize,
    pub(crate) rounds: u32,
    pub(crate) run_s: f64,
    /// Whether the balancers ran on CPU 0 and the load on CPU 1 (a host with one CPU
    /// cannot keep them apart).
    pub(crate) pinned: bool,
    pub(crate) ours: Side,
    pub(crate) lab: Side,
    /// The median over rounds of requests/s through ha per requests/s through the static
    /// balancer in the same round: a drift of the host between rounds cancels out.
    pub(crate) ratio: Option<f64>,
}

/// One balancer over every round.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Side {
    pub(crate) balancer: String,
    pub(crate) target: String,
    /// Successful requests per second, one per round.
    pub(crate) rates: Vec<f64>,
    pub(crate) median_rate: f64,
    /// The balancer container's CPU over its runs, % of one core: near 100, it was the limit.
    pub(crate) balancer_cpu_percent: f64,
    /// The load generator's, likewise.
    pub(crate) generator_cpu_percent: f64,
    /// Every request of every round.
    pub(crate) load: Summary,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<DataPathResult> {
    let webapps = runner.settings.idle_webapps;
    let cluster = runner.cluster;
    runner.scale(cluster, webapps).await?;
    let lab = static_variant(cluster, webapps)?;
    let engine = runner.ctx.engine().await?;
    // A leftover of an interrupted run would stand in the way.
    engine
        .remove_owned(&lab.ha.name, &lab.project, Role::Balancer.as_str())
        .await?;
    let measured = async {
        // The running webapps' addresses: numbered in `lab`, they would skip its
        // balancer's address instead of ha's.
        let config = gen::static_haproxy_for(runner.ctx, &lab, &cluster.webapp_nodes(webapps))?;
        one_engine::start_static_balancer(runner.ctx, &lab, &config).await?;
        runner.wait_serving(&lab, webapps).await?;
        runner.quietly(rounds(runner, &lab, webapps)).await
    }
    .await;
    // Whatever happened: ha back on every CPU, the static balancer gone.
    let restored = engine.set_cpuset(&cluster.ha.name, &cpus::online()).await;
    engine
        .remove_owned(&lab.ha.name, &lab.project, Role::Balancer.as_str())
        .await?;
    let result = measured?;
    restored?;
    Ok(result)
}

/// `cluster` with its balancer renamed `<ha>-static`, at the next free webapp address
/// (the scenario starts no webapp meanwhile), on the first free ports two or more above
/// ha's (the Swarm scenario's, one above, are not in use yet, but stay clear anyway).
fn static_variant(cluster: &Cluster, webapps: u32) -> anyhow::Result<Cluster> {
    let address = cluster.webapp_node(webapps + 1).with_context(|| {
        format!(
            "no free address in {} for a second balancer",
            cluster.network.subnet
        )
    })?;
    let (http, stats) = super::free_ports_above(cluster, 2)
        .context("no free host ports above ha's for a second balancer")?;
    let mut lab = cluster.clone();
    lab.ha.name = format!("{}-static", cluster.ha.name);
    lab.ha.ip = address.ip;
    lab.ha.http_port = http;
    lab.ha.stats_port = stats;
    lab.ha.tls = None;
    Ok(lab)
}

async fn rounds(
    runner: &Runner<'_>,
    lab: &Cluster,
    webapps: u32,
) -> anyhow::Result<DataPathResult> {
    let settings = runner.settings;
    let engine = runner.ctx.engine().await?;
    let pinned = cpus::can_pin();
    let balancers = [runner.cluster, lab];
    if pinned {
        for balancer in balancers {
            engine
                .set_cpuset(&balancer.ha.name, &cpus::BALANCER.to_string())
                .await?;
        }
    }
    let plan = Closed {
        connections: settings.data_path_connections,
        duration: settings.data_path_run,
        request_timeout: settings.request_timeout,
        cpu: pinned.then_some(cpus::LOAD),
    };
    let mut sides = Vec::new();
    for balancer in balancers {
        let target = SocketAddr::new(
            haproxy_stats::published_host(balancer),
            balancer.ha.http_port,
        );
        let cpu = CpuFile::of_container(engine, &balancer.ha.name).await?;
        let warm_up = Closed {
            duration: WARM_UP,
            ..plan
        };
        closed_loop::run(target, warm_up, runner.epoch).await?;
        sides.push((balancer, target, cpu, Vec::new()));
    }
    for round in 0..settings.data_path_rounds {
        // Each round starts with the other one.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (_, target, cpu, runs) = &mut sides[i];
            let before = cpu.read()?;
            let saturated = closed_loop::run(*target, plan, runner.epoch).await?;
            let used = cpu.read()?.saturating_sub(before);
            runs.push(Run {
                recorded: saturated.recorded,
                balancer_cpu: used,
                generator_cpu: saturated.generator_cpu,
            });
        }
    }
    let mut sides = sides
        .into_iter()
        .map(|(balancer, target, _, runs)| side(&balancer.ha.name, target, runs));
    let (ours, lab) = (sides.next().expect("ours"), sides.next().expect("lab"));
    let ratio = paired_ratio(&ours.rates, &lab.rates);
    Ok(DataPathResult {
        webapps,
        connections: settings.data_path_connections,
        rounds: settings.data_path_rounds,
        run_s: settings.data_path_run.as_secs_f64(),
        pinned,
        ours,
        lab,
        ratio,
    })
}

struct Run {
    recorded: Recorded,
    balancer_cpu: Duration,
    generator_cpu: Duration,
}

fn side(balancer: &str, target: SocketAddr, runs: Vec<Run>) -> Side {
    let mut rates: Vec<f64> = runs
        .iter()
        .map(|run| {
            let ok = run.recorded.samples.iter().filter(|s| !s.outcome.failed());
            let secs = run.recorded.elapsed.as_secs_f64();
            if secs > 0.0 {
                round(ok.count() as f64 / secs, 1)
            } else {
                0.0
            }
        })
        .collect();
    let wall: Duration = runs.iter().map(|r| r.recorded.elapsed).sum();
    let balancer_cpu: Duration = runs.iter().map(|r| r.balancer_cpu).sum();
    let generator_cpu: Duration = runs.iter().map(|r| r.generator_cpu).sum();
    let all = Recorded {
        samples: runs.into_iter().flat_map(|r| r.recorded.samples).collect(),
        skipped: 0,
        elapsed: wall,
    };
    let per_round = rates.clone();
    rates.sort_by(f64::total_cmp);
    Side {
        balancer: balancer.to_string(),
        target: format!("http://{target}/"),
        rates: per_round,
        median_rate: round(median(&rates).unwrap_or(0.0), 1),
        balancer_cpu_percent: round(percent_of_a_core(balancer_cpu, wall), 1),
        generator_cpu_percent: round(percent_of_a_core(generator_cpu, wall), 1),
        load: summarize(&all),
    }
}

/// The median of the per-round ratios `ours / lab`; None without a round where the
/// static balancer answered.
fn paired_ratio(ours: &[f64], lab: &[f64]) -> Option<f64> {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(lab)
        .filter(|(_, lab)| **lab > 0.0)
        .map(|(ours, lab)| ours / lab)
        .collect();
    ratios.sort_by(f64::total_cmp);
    median(&ratios).map(|ratio| round(ratio, 3))
}

/// Issue 20's data-path target.
pub(crate) fn targets(r: &DataPathResult) -> Vec<Target> {
    let (o, l) = (&r.ours, &r.lab);
    vec![Target {
        name: "data path: req/s at saturation, ha / static task 0".into(),
        goal: ">= 0.97, 0 failed".into(),
        measured: format!(
            "{} ({:.0} vs {:.0} req/s; p99 {} vs {} ms; failed {} vs {})",
            opt(r.ratio, 3),
            o.median_rate,
            l.median_rate,
            opt(o.load.p99_ms, 2),
            opt(l.load.p99_ms, 2),
            o.load.failed,
            l.load.failed
        ),
        met: Some(r.ratio.is_some_and(|ratio| ratio >= 0.97) && o.load.failed == 0),
    }]
}

pub(crate) fn section(md: &mut String, r: &DataPathResult) {
    let pinning = if r.pinned {
        format!(
            "both balancers pinned to CPU {}, the load to CPU {}",
            cpus::BALANCER,
            cpus::LOAD
        )
    } else {
        "not pinned: this host has one CPU".to_string()
    };
    md.push_str(&format!(
        "\n## {NUMBER}. Data-path cost, side by side\n\nRequests per second at saturation through ha (HAProxy, its agent and \
         Serf running) and through the same HAProxy alone on lab task 0's static config with the same {} webapps \
         (`{}`, its own published port; both reached through the engine's port publication on the host, \
         docker-proxy included where the engine uses it); {pinning}. Load: {} kept-alive connections in a closed loop (each sends \
         its next `GET /` as soon as answered), {} rounds of {:.0} s on each, alternating (after a {} ms warm-up \
         each); rates count successful requests. CPU: each balancer container's (its cgroup) and the load \
         generator's, over their runs, % of one core. Not in the timeline below.\n\n\
         | balancer | req/s per round | median req/s | requests | failed | p50 (ms) | p99 (ms) | max (ms) | balancer CPU | generator CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        r.webapps,
        r.lab.balancer,
        r.connections,
        r.rounds,
        r.run_s,
        WARM_UP.as_millis()
    ));
    for (name, s) in [("ha (agent, Serf)", &r.ours), ("static task 0", &r.lab)] {
        let rates: Vec<String> = s.rates.iter().map(|r| format!("{r:.0}")).collect();
        md.push_str(&format!(
            "| {name} | {} | {:.0} | {} | {} | {} | {} | {} | {:.1} % | {:.1} % |\n",
            rates.join(", "),
            s.median_rate,
            s.load.requests,
            s.load.failed,
            opt(s.load.p50_ms, 2),
            opt(s.load.p99_ms, 2),
            opt(s.load.max_ms, 2),
            s.balancer_cpu_percent,
            s.generator_cpu_percent
        ));
    }
    md.push_str(&format!(
        "\nha / static, the median of the rounds' ratios: {}.\n",
        opt(r.ratio, 3)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(rate: f64, failed: u64) -> Side {
        Side {
            balancer: "ha".into(),
            target: "http://127.0.0.1:80/".into(),
            rates: vec![rate; 2],
            median_rate: rate,
            balancer_cpu_percent: 99.0,
            generator_cpu_percent: 60.0,
            load: Summary {
                requests: 1000,
                ok: 1000 - failed,
                failed,
                p99_ms: Some(3.5),
                ..Summary::default()
            },
        }
    }

    fn result(ours: f64, lab: f64, failed: u64) -> DataPathResult {
        DataPathResult {
            webapps: 6,
            connections: 32,
            rounds: 2,
            run_s: 2.0,
            pinned: true,
            ratio: Some(round(ours / lab, 3)),
            ours: side(ours, failed),
            lab: side(lab, 0),
        }
    }

    #[test]
    fn met_at_97_percent_of_the_static_rate_with_nothing_failed() {
        let met = |r: &DataPathResult| targets(r)[0].met;
        assert_eq!(met(&result(9700.0, 10000.0, 0)), Some(true));
        assert_eq!(met(&result(9690.0, 10000.0, 0)), Some(false));
        assert_eq!(met(&result(9900.0, 10000.0, 1)), Some(false));
        let measured = &targets(&result(9700.0, 10000.0, 0))[0].measured;
        assert_eq!(
            measured,
            "0.970 (9700 vs 10000 req/s; p99 3.50 vs 3.50 ms; failed 0 vs 0)"
        );
    }

    #[test]
    fn the_static_balancer_has_its_own_name_address_and_ports() {
        let mut cluster = cluster::parse("", "cluster.toml").expect("the defaults are valid");
        cluster.ha.http_port = 8080;
        cluster.ha.stats_port = 8082;
        let lab = static_variant(&cluster, 2).unwrap();
        assert_eq!(lab.ha.name, format!("{}-static", cluster.ha.name));
        assert_eq!(lab.ha.ip, cluster.webapp_node(3).unwrap().ip);
        assert_eq!((lab.ha.http_port, lab.ha.stats_port), (8083, 8085));
        cluster.ha.stats_port = u16::MAX;
        assert!(static_variant(&cluster, 2).is_err());
    }

    #[test]
    fn the_ratio_pairs_rounds_so_a_slow_round_for_both_cancels_out() {
        let ours = [9000.0, 4000.0, 9900.0];
        let lab = [10000.0, 4000.0, 10000.0];
        // Ratios 0.9, 1.0, 0.99: the median is 0.99, where the medians' ratio is 0.9.
        assert_eq!(paired_ratio(&ours, &lab), Some(0.99));
        assert_eq!(paired_ratio(&[1.0], &[0.0]), None);
        assert_eq!(paired_ratio(&[], &[]), None);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[9.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_section_has_a_row_per_balancer() {
        let mut md = String::new();
        section(&mut md, &result(9700.0, 10000.0, 0));
        assert!(
            md.starts_with("\n## 11. Data-path cost, side by side\n"),
            "{md}"
        );
        assert!(
            md.contains("| ha (agent, Serf) | 9700, 9700 | 9700 | 1000 | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| static task 0 | 10000, 10000 | 10000 |"),
            "{md}"
        );
        assert!(
            md.contains("ha / static, the median of the rounds' ratios: 0.970."),
            "{md}"
        );
    }
}
