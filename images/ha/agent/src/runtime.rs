//! Membership changes through HAProxy's runtime API (the admin socket inside ha, never
//! published), so a join or a leave needs no reload:
//! - join: `add server` (dynamic servers start in maintenance), `enable health`, `enable server`;
//! - leave: `drain`, wait (bounded) for its sessions to end, `maint`, `shutdown sessions`,
//!   `del server`.
//!
//! Any answer other than the expected one is an error: the caller then reloads instead.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::servers::{state_without, Ops, BACKEND};

/// How long a leaving server's sessions may take to finish before they are cut.
const DRAIN_WITHIN: Duration = Duration::from_secs(5);
/// How long `del server` is retried while HAProxy still holds connections to the server.
const DELETE_WITHIN: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    /// No HAProxy answers on the socket (not started yet): the config file is enough.
    NotRunning,
}

pub(crate) fn apply(socket: &Path, ops: &Ops) -> anyhow::Result<Applied> {
    if UnixStream::connect(socket).is_err() {
        return Ok(Applied::NotRunning);
    }
    for name in &ops.remove {
        expect_empty(socket, &format!("set server {BACKEND}/{name} state drain"))?;
    }
    wait_for_no_sessions(socket, &ops.remove)?;
    for name in &ops.remove {
        expect_empty(socket, &format!("set server {BACKEND}/{name} state maint"))?;
        expect_empty(
            socket,
            &format!("shutdown sessions server {BACKEND}/{name}"),
        )?;
        delete(socket, name)?;
    }
    for (name, args) in &ops.add {
        let command = format!("add server {BACKEND}/{name} {args}");
        let answer = cli(socket, &command)?;
        if !answer.contains("New server registered") {
            bail!("`{command}`: {}", answer.trim());
        }
        if args.split_whitespace().any(|w| w == "check") {
            expect_empty(socket, &format!("enable health {BACKEND}/{name}"))?;
        }
        expect_empty(socket, &format!("enable server {BACKEND}/{name}"))?;
    }
    Ok(Applied::Done)
}

/// Before a reload: the servers' runtime state (admin state, weights, health), for the
/// new worker to load (`load-server-state-from-file`). `fresh` servers are left out, so
/// they start as the config says. Nothing to save when HAProxy is not running.
pub(crate) fn save_state(socket: &Path, file: &Path, fresh: &[String]) -> anyhow::Result<()> {
    if UnixStream::connect(socket).is_err() {
        return Ok(());
    }
    let state = cli(socket, "show servers state").context("reading the servers' state")?;
    crate::files::write_atomically(file, state_without(&state, fresh).as_bytes())
        .with_context(|| format!("saving the servers' state to {}", file.display()))
}

fn wait_for_no_sessions(socket: &Path, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + DRAIN_WITHIN;
    loop {
        let stats = cli(socket, "show stat")?;
        let busy = sessions(&stats, names);
        if busy == 0 || Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

fn delete(socket: &Path, name: &str) -> anyhow::Result<()> {
    let command = format!("del server {BACKEND}/{name}");
    let deadline = Instant::now() + DELETE_WITHIN;
    loop {
        let answer = cli(socket, &command)?;
        if answer.contains("Server deleted") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("`{command}`: {}", answer.trim());
        }
        std::thread::sleep(POLL);
    }
}

/// Current sessions of `names` in the `nodes` backend, from `show stat` CSV.
pub(crate) fn sessions(csv: &str, names: &[String]) -> u64 {
    cluster::parse_stats_csv(csv)
        .iter()
        .filter(|server| names.contains(&server.name))
        .map(|server| server.current)
        .sum()
}

fn expect_empty(socket: &Path, command: &str) -> anyhow::Result<()> {
    let answer = cli(socket, command)?;
    if !answer.trim().is_empty() {
        bail!("`{command}`: {}", answer.trim());
    }
    Ok(())
}

/// One command on the admin socket (non-interactive: HAProxy answers and closes).
pub(crate) fn cli(socket: &Path, command: &str) -> anyhow::Result<String> {
    let run = || -> std::io::Result<String> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    };
    run().with_context(|| {
        format!(
            "`{command}` on the HAProxy admin socket {}",
            socket.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_sessions_of_named_servers() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,status\n\
                   http,FRONTEND,,,7,9,OPEN\n\
                   nodes,s1,0,0,2,5,UP\n\
                   nodes,s2,0,0,3,5,DRAIN\n\
                   nodes,BACKEND,0,0,5,9,UP\n";
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sessions(csv, &names(&["s1"])), 2);
        assert_eq!(sessions(csv, &names(&["s1", "s2"])), 5);
        assert_eq!(sessions(csv, &names(&["s9"])), 0);
        assert_eq!(sessions("", &names(&["s1"])), 0);
    }
}
