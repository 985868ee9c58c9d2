//! Scenario 10, idle cost: `idle_webapps` webapps all UP, then nothing for `idle_window`
//! (no load, the stats watcher paused). Over that window: ha's CPU time from its cgroup,
//! the RPC connections ha's Serf agent accepted (Serf logs `agent.ipc: Accepted client` at
//! INFO for each), the lines `docker logs ha` grew by, and the PIDs ha's namespace handed
//! out (every process and thread started in ha: the agent's `serf-rpc` spawns among them).
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde::Serialize;

use super::Runner;
use crate::bench::cgroup_cpu::{percent_of_a_core, CpuFile};
use crate::bench::report::{opt, Section, Target};
use crate::bench::stats::{round, secs};

/// Its section's number in results.md.
const NUMBER: u32 = 10;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.idle, r.settings.idle_settle),
    targets: |r| targets(&r.idle),
};

/// What Serf logs for each RPC connection it accepts.
const RPC_ACCEPTED: &str = "agent.ipc: Accepted client";
/// Log lines kept in the results, to show what ha says at idle.
const SAMPLE_LINES: usize = 5;

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct IdleResult {
    pub(crate) webapps: u32,
    pub(crate) window_s: f64,
    /// ha's CPU time over the window, and as % of one core.
    pub(crate) cpu_s: f64,
    pub(crate) cpu_percent: f64,
    /// The cgroup file the CPU time was read from.
    pub(crate) cpu_file: String,
    pub(crate) rpc_connections: u64,
    pub(crate) rpc_connections_per_min: f64,
    pub(crate) log_lines: u64,
    pub(crate) log_lines_per_min: f64,
    /// PIDs ha's namespace allocated (processes and threads started), ours to read it
    /// left out; None when it could not be read.
    pub(crate) pids: Option<u64>,
    pub(crate) pids_per_min: Option<f64>,
    /// The first lines ha logged in the window.
    pub(crate) log_sample: Vec<String>,
}

pub(crate) async fn run(runner: &Runner<'_>) -> anyhow::Result<IdleResult> {
    let settings = runner.settings;
    let webapps = settings.idle_webapps;
    runner.scale(runner.cluster, webapps).await?;
    runner.quietly(measure(runner, webapps)).await
}

async fn measure(runner: &Runner<'_>, webapps: u32) -> anyhow::Result<IdleResult> {
    let settings = runner.settings;
    let engine = runner.ctx.engine().await?;
    let ha = &runner.cluster.ha.name;
    tokio::time::sleep(settings.idle_settle).await;
    let cpu = CpuFile::of_container(engine, ha).await?;

    let pids_before = last_pid(runner).await;
    let (cpu_before, from, started) = (cpu.read()?, SystemTime::now(), Instant::now());
    tokio::time::sleep(settings.idle_window).await;
    let (cpu_after, to, window) = (cpu.read()?, SystemTime::now(), started.elapsed());
    let pids_after = last_pid(runner).await;

    let lines = engine
        .log_lines_between(ha, from, to)
        .await
        .with_context(|| format!("reading the logs of {ha} over the idle window"))?;
    let rpc = lines
        .iter()
        .filter(|(_, l)| l.contains(RPC_ACCEPTED))
        .count() as u64;
    let cpu_used = cpu_after.saturating_sub(cpu_before);
    let per_min = |n: u64| round(n as f64 * 60.0 / window.as_secs_f64(), 1);
    // Our second reading is a process of its own.
    let pids = match (pids_before, pids_after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before).saturating_sub(1)),
        _ => None,
    };
    Ok(IdleResult {
        webapps,
        window_s: round(window.as_secs_f64(), 1),
        cpu_s: secs(cpu_used),
        cpu_percent: round(percent_of_a_core(cpu_used, window), 2),
        cpu_file: match cpu {
            CpuFile::V1(path) | CpuFile::V2(path) => path.display().to_string(),
        },
        rpc_connections: rpc,
        rpc_connections_per_min: per_min(rpc),
        log_lines: lines.len() as u64,
        log_lines_per_min: per_min(lines.len() as u64),
        pids,
        pids_per_min: pids.map(per_min),
        log_sample: lines
            .iter()
            .take(SAMPLE_LINES)
            .map(|(_, l)| l.clone())
            .collect(),
    })
}

/// The last PID ha's namespace handed out (`/proc/sys/kernel/ns_last_pid` read inside it).
async fn last_pid(runner: &Runner<'_>) -> Option<u64> {
    let engine = runner.ctx.engine().await.ok()?;
    let read = ["cat", "/proc/sys/kernel/ns_last_pid"];
    let out = engine.exec(&runner.cluster.ha.name, &read).await.ok()?;
    out.stdout.trim().parse().ok()
}

/// Issue 20's idle targets.
pub(crate) fn targets(r: &IdleResult) -> Vec<Target> {
    let window = format!("in {:.0} s", r.window_s);
    vec![
        Target {
            name: format!("idle: ha's CPU, {} webapps UP", r.webapps),
            goal: "<= 0.5 % of a core".into(),
            measured: format!("{:.2} % ({:.2} s {window})", r.cpu_percent, r.cpu_s),
            met: Some(r.cpu_percent <= 0.5),
        },
        Target {
            name: "idle: Serf RPC connections to ha per minute".into(),
            goal: "<= 15".into(),
            measured: format!(
                "{:.1} ({} {window})",
                r.rpc_connections_per_min, r.rpc_connections
            ),
            met: Some(r.rpc_connections_per_min <= 15.0),
        },
        Target {
            name: "idle: new lines in `docker logs ha` per minute".into(),
            goal: "< 10".into(),
            measured: format!("{:.1} ({} {window})", r.log_lines_per_min, r.log_lines),
            met: Some(r.log_lines_per_min < 10.0),
        },
    ]
}

pub(crate) fn section(md: &mut String, r: &IdleResult, settle: Duration) {
    md.push_str(&format!(
        "\n## {NUMBER}. Idle cost\n\n{} webapps all UP, then {} s more to settle, then nothing for {:.0} s: no load, \
         no stats polls. ha's CPU is its cgroup's (`{}`: every process in ha), Serf RPC connections are \
         the `{RPC_ACCEPTED}` lines Serf logs, new PIDs are read from ha's PID namespace (processes and \
         threads started in ha, the agent's spawns among them). Per minute: the count scaled to a minute.\n\n\
         | figure | in the window | per minute |\n|---|---|---|\n\
         | ha's CPU | {:.3} s ({:.2} % of a core) | {:.2} s |\n\
         | Serf RPC connections | {} | {:.1} |\n\
         | lines in `docker logs` of ha | {} | {:.1} |\n\
         | new PIDs in ha | {} | {} |\n",
        r.webapps,
        settle.as_secs(),
        r.window_s,
        r.cpu_file,
        r.cpu_s,
        r.cpu_percent,
        r.cpu_percent * 0.6,
        r.rpc_connections,
        r.rpc_connections_per_min,
        r.log_lines,
        r.log_lines_per_min,
        r.pids.map_or("-".into(), |n| n.to_string()),
        opt(r.pids_per_min, 1),
    ));
    if !r.log_sample.is_empty() {
        md.push_str("\nFirst lines ha logged in the window:\n\n```\n");
        for line in &r.log_sample {
            md.push_str(line);
            md.push('\n');
        }
        md.push_str("```\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(cpu_percent: f64, rpc_per_min: f64, lines_per_min: f64) -> IdleResult {
        IdleResult {
            webapps: 50,
            window_s: 60.0,
            cpu_s: cpu_percent * 0.6,
            cpu_percent,
            cpu_file: "/sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage".into(),
            rpc_connections: rpc_per_min as u64,
            rpc_connections_per_min: rpc_per_min,
            log_lines: lines_per_min as u64,
            log_lines_per_min: lines_per_min,
            pids: Some(12),
            pids_per_min: Some(12.0),
            log_sample: vec!["agent.ipc: Accepted client: 127.0.0.1:40000".into()],
        }
    }

    fn met(r: &IdleResult) -> Vec<Option<bool>> {
        targets(r).into_iter().map(|t| t.met).collect()
    }

    #[test]
    fn each_idle_figure_has_its_bound() {
        assert_eq!(met(&idle(0.5, 15.0, 9.9)), [Some(true); 3]);
        assert_eq!(met(&idle(0.51, 15.0, 9.9))[0], Some(false));
        assert_eq!(met(&idle(0.5, 15.1, 9.9))[1], Some(false));
        assert_eq!(met(&idle(0.5, 15.0, 10.0))[2], Some(false), "fewer than 10");
    }

    #[test]
    fn the_section_gives_raw_counts_and_rates() {
        let mut md = String::new();
        section(&mut md, &idle(9.5, 142.0, 500.0), Duration::from_secs(10));
        assert!(md.starts_with("\n## 10. Idle cost\n"), "{md}");
        assert!(
            md.contains("| Serf RPC connections | 142 | 142.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| ha's CPU | 5.700 s (9.50 % of a core) | 5.70 s |"),
            "{md}"
        );
        assert!(md.contains("| new PIDs in ha | 12 | 12.0 |"), "{md}");
    }
}
