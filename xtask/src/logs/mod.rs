//! `cargo xtask logs [NODE...] [--follow] [--since T] [--events]`: the project's container
//! logs interleaved by time, each line prefixed with its node, like `docker compose logs`;
//! `--events` adds ha's /var/log/serf.log (membership events and reloads).
mod line;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use clap::Args;
use futures_util::stream::{self, StreamExt as _};

use crate::context::{Ctx, UsageError};
use crate::deploy::one_engine;
use crate::engine::{Engine, Lines};
use crate::interrupt::Interrupt;
use crate::serf_log;
use line::Line;

#[derive(Args)]
pub(crate) struct Logs {
    /// Only these nodes, or every node of these services (`logs api`); default: all of
    /// the project's.
    nodes: Vec<String>,
    /// Keep printing new lines until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// Only lines since this time (2026-12-01T08:00:00Z) or duration ago (10m, 1h).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Add ha's Serf event log (/var/log/serf.log), prefixed `<ha>:serf`.
    #[arg(long)]
    events: bool,
    /// Show each line's time.
    #[arg(long, short)]
    timestamps: bool,
}

impl Logs {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.engine_cluster(
            "logs",
            "on a Swarm use `docker service logs <service>` against the manager",
        )?;
        let since = match &self.since {
            Some(text) => line::parse_since(text, SystemTime::now()).map_err(UsageError)?,
            None => 0,
        };
        let engine = ctx.engine().await?;
        // Every service's nodes (ha with the default service's), with their service.
        let mut by_service: Vec<(String, String)> = Vec::new();
        for service in cluster.services() {
            if let Some(view) = cluster.view_of(service.name, Default::default()) {
                for observed in one_engine::observe(engine, &view).await? {
                    by_service.push((service.name.to_string(), observed.name));
                }
            }
        }
        let mut nodes: Vec<String> = by_service.iter().map(|(_, n)| n.clone()).collect();
        nodes.sort_by(|a, b| {
            cluster::node_order(*a == cluster.ha.name, a)
                .cmp(&cluster::node_order(*b == cluster.ha.name, b))
        });
        // A service's name stands for its nodes (`logs api`).
        let wanted: Vec<String> = self
            .nodes
            .iter()
            .flat_map(|n| match cluster.service(n) {
                Some(service) if !nodes.contains(n) => by_service
                    .iter()
                    .filter(|(s, node)| s == service.name && *node != cluster.ha.name)
                    .map(|(_, node)| node.clone())
                    .collect(),
                _ => vec![n.clone()],
            })
            .collect();
        if let Some(unknown) = wanted.iter().find(|n| !nodes.contains(n)) {
            bail!(UsageError(format!(
                "no node {unknown:?} in project {}; its nodes: {}",
                cluster.project,
                if nodes.is_empty() {
                    "none (run `cargo xtask up`)".to_string()
                } else {
                    nodes.join(", ")
                }
            )));
        }
        if !self.nodes.is_empty() {
            nodes.retain(|n| wanted.contains(n));
        }
        let events = self.events && nodes.contains(&cluster.ha.name);
        let events_source = format!("{}:serf", cluster.ha.name);
        let width = nodes
            .iter()
            .map(String::len)
            .chain(events.then_some(events_source.len()))
            .max()
            .unwrap_or(0);

        // What was logged so far, in one time order.
        let mut history = Vec::new();
        for node in &nodes {
            history.extend(collect(node, engine.log_lines(node, since, false)).await?);
        }
        let mut event_lines = 0;
        if events {
            let log = serf_log::read(engine, &cluster.ha.name).await?;
            // `tail -n +N` below counts the current file's raw lines, unstamped ones included.
            event_lines = log.current.lines().count();
            let since = SystemTime::UNIX_EPOCH + Duration::from_secs(since.max(0) as u64);
            let lines = log.text();
            let lines = lines.lines().filter_map(|l| line::parse(&events_source, l));
            history.extend(lines.filter(|l| l.at >= since));
        }
        let mut last_seen: HashMap<String, SystemTime> = HashMap::new();
        for line in line::interleave(history) {
            println!("{}", line::format(&line, width, self.timestamps));
            last_seen.insert(line.source.clone(), line.at);
        }
        if !self.follow {
            return Ok(());
        }

        // Then what comes, as it comes, until Ctrl-C (or every container has stopped).
        let mut streams = Vec::new();
        for node in &nodes {
            let after = last_seen.get(node).copied();
            let from = after.map_or(since, unix_seconds);
            let lines = parsed(node, engine.log_lines(node, from, true))
                .filter(move |l| std::future::ready(after.is_none_or(|after| l.at > after)));
            streams.push(lines.boxed());
        }
        if events {
            let tail = follow_events(engine, &cluster.ha.name, event_lines).await?;
            streams.push(parsed(&events_source, tail).boxed());
        }
        let mut merged = stream::select_all(streams);
        // Listening from before the loop: a Ctrl-C while a line prints is not lost.
        let mut interrupt = Interrupt::listen()?;
        loop {
            tokio::select! {
                _ = interrupt.received() => return Ok(()),
                next = merged.next() => match next {
                    Some(line) => println!("{}", line::format(&line, width, self.timestamps)),
                    None => return Ok(()),
                },
            }
        }
    }
}

/// serf.log from line `skip + 1` on, as it grows (also across a rotation).
async fn follow_events(engine: &Engine, ha: &str, skip: usize) -> anyhow::Result<Lines> {
    let from = format!("+{}", skip + 1);
    engine
        .exec_lines(ha, &["tail", "-F", "-n", &from, serf_log::CURRENT])
        .await
}

/// Every line of a finite stream, parsed; lines without a time are dropped.
async fn collect(source: &str, lines: Lines) -> anyhow::Result<Vec<Line>> {
    let raw: Vec<anyhow::Result<String>> = lines.collect().await;
    let mut out = Vec::new();
    for text in raw {
        out.extend(line::parse(source, &text?));
    }
    Ok(out)
}

/// A stream's lines, parsed; a read error ends that source (the others go on).
fn parsed(source: &str, lines: Lines) -> impl futures_util::Stream<Item = Line> + use<> {
    let source = source.to_string();
    lines
        .take_while(|l| std::future::ready(l.is_ok()))
        .filter_map(move |l| std::future::ready(l.ok().and_then(|t| line::parse(&source, &t))))
}

fn unix_seconds(at: SystemTime) -> i64 {
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    since_epoch.as_secs() as i64
}
