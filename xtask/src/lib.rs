//! `cargo xtask`: turns cluster.toml into a running load-balanced cluster on Docker.
//! Parse flags, build the context once, dispatch; each command lives in its own module.
//! A library so the end-to-end tests reach the engine through the tool's own client.
mod bench;
mod build;
mod ci;
mod collect_logs;
mod context;
mod deploy;
mod docker_config;
mod down;
pub mod engine;
mod gen;
mod haproxy_stats;
mod http;
mod interrupt;
mod logs;
mod nested;
mod process;
mod progress;
mod scale;
mod secrets;
mod serf_log;
mod serf_members;
mod state_dir;
mod status;
mod swarm_lab;
mod table;
mod tls;
mod up;
mod wait;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::Ctx;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Declarative HAProxy + Serf cluster on Docker"
)]
struct Cli {
    /// The cluster file.
    #[arg(long, global = true, default_value = "cluster.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render generated/docker-compose.yml, generated/stack.yml and generated/haproxy.cfg.
    Gen(gen::Gen),
    /// Build the base, ha and webapp images through the Engine API.
    Build(build::Build),
    /// Create or converge the stack and wait until HAProxy serves every webapp.
    Up(up::Up),
    /// Add or remove webapps and wait until HAProxy shows exactly that many UP.
    Scale(scale::Scale),
    /// Show each node: container state, IP, Serf status, HAProxy status, requests.
    Status(status::Status),
    /// Remove the project's containers and network (and images with --images).
    Down(down::Down),
    /// Print the project's logs interleaved by time (--follow, --since, --events).
    Logs(logs::Logs),
    /// A Docker engine in a container, for restart tests and labs (up prints its DOCKER_HOST).
    Nested(nested::command::NestedCmd),
    /// A local multi-node Docker Swarm: N engines in containers (up prints its DOCKER_HOST).
    SwarmLab(swarm_lab::command::SwarmLabCmd),
    /// Replay a lab task on a fresh stack and write its evidence under logs/.
    CollectLogs(collect_logs::CollectLogs),
    /// Measure convergence, failed requests and reloads; write bench/results.*.
    Bench(bench::Bench),
    /// Run what CI runs: fmt check, clippy, all tests.
    Ci(ci::Ci),
}

/// The CLI: `main.rs` only calls this.
#[tokio::main]
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match Ctx::new(cli.config) {
        Ok(ctx) => run(cli.command, &ctx).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(context::exit_code(&err))
        }
    }
}

async fn run(command: Command, ctx: &Ctx) -> anyhow::Result<()> {
    match command {
        Command::Gen(cmd) => cmd.run(ctx),
        Command::Build(cmd) => cmd.run(ctx).await,
        Command::Up(cmd) => cmd.run(ctx).await,
        Command::Scale(cmd) => cmd.run(ctx).await,
        Command::Status(cmd) => cmd.run(ctx).await,
        Command::Down(cmd) => cmd.run(ctx).await,
        Command::Logs(cmd) => cmd.run(ctx).await,
        Command::Nested(cmd) => cmd.run(ctx).await,
        Command::SwarmLab(cmd) => cmd.run(ctx).await,
        Command::CollectLogs(cmd) => cmd.run(ctx).await,
        Command::Bench(cmd) => cmd.run(ctx).await,
        Command::Ci(cmd) => cmd.run(ctx),
    }
}
