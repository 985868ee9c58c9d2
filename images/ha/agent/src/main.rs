//! ha-agent: keeps `/nodes` and HAProxy's config equal to the Serf membership, inside
//! the ha container. Run by Serf as event handler, by s6 periodically and before
//! HAProxy starts.
mod change;
mod commands;
mod config;
mod dns;
mod drain;
mod drift;
mod event;
mod files;
mod lock;
mod log;
mod members;
mod nodes;
mod paths;
mod reconcile;
mod refusals;
mod reload;
mod repair;
mod routes;
mod runtime;
mod serf_rpc;
mod servers;
mod services;
mod state;
mod trust;
mod verdicts;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::commands::{force_reload, init, on_event, reconcile_once};
use crate::reconcile::{Agent, Run};
use crate::watch::watch;

const USAGE: &str = "usage: ha-agent event | reconcile | init | watch [--poll SECS] [--interval SECS] | reload | drain-ms MS | services < SERVICES_TOML | reload-method | cli master|admin COMMAND | --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(args.as_slice(), ["--version"] | ["-V"]) {
        println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let paths = paths::Paths::container();
    let mut log = log::Log::open(&paths.serf_log, &paths.container_log);
    if args == ["services"] {
        // Its caller reads one line on stdout: what it changed. The rest goes to the
        // container log as always.
        log = log.without_stdout();
    }
    let agent = match xshell::Shell::new() {
        Ok(sh) => Agent { sh, paths, log },
        Err(err) => {
            log.error(&format!("creating a shell: {err}"));
            return ExitCode::FAILURE;
        }
    };
    match run(&agent, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            agent.log.failure(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(agent: &Agent, args: &[&str]) -> anyhow::Result<()> {
    match args {
        ["event"] => on_event(agent),
        ["reconcile"] => reconcile_once(agent, Run::Triggered).map(|_| ()),
        ["init"] => init(agent),
        ["watch", options @ ..] => {
            let (mut poll, mut interval) = (0.1, 5.0);
            for pair in options.chunks(2) {
                let (flag, value) = match pair {
                    ["--poll", secs] => (&mut poll, secs),
                    ["--interval", secs] => (&mut interval, secs),
                    _ => bail!("{USAGE}"),
                };
                *flag = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .with_context(|| {
                        format!(
                            "{}: {value:?}: expected a number of seconds above 0",
                            pair[0]
                        )
                    })?;
            }
            watch(
                agent,
                Duration::from_secs_f64(poll),
                Duration::from_secs_f64(interval),
            )
        }
        ["reload"] => force_reload(agent),
        ["drain-ms", ms] => drain::set_drain_ms(&agent.paths, ms),
        ["services"] => services::command(agent),
        // For tests and operators: one command on HAProxy's master CLI or admin socket.
        ["cli", socket @ ("master" | "admin"), command @ ..] if !command.is_empty() => {
            let command = command.join(" ");
            let answer = if *socket == "master" {
                reload::master_cli(&agent.paths.master_socket, &command)?
            } else {
                runtime::cli(&agent.paths.admin_socket, &command)?
            };
            print!("{answer}");
            Ok(())
        }
        ["reload-method"] => {
            println!("{}", services::load_base_cluster()?.ha.reload.as_str());
            Ok(())
        }
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}
