//! Membership changes through HAProxy's runtime API (the admin socket inside ha, never
//! published), so a join or a leave needs no reload:
//! - join: `add server` (dynamic servers start in maintenance), `enable health`, `enable server`;
//! - leave: `drain`, then (see `drain`) once its sessions end or `drain_ms` passes,
//!   `maint`, `shutdown sessions`, `del server`. The wait happens outside this call, so
//!   joins are never held up behind a drain.
//!
//! Any answer other than the expected one is an error: the caller then reloads instead.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::drain::Drains;
use crate::servers::{state_without, Ops};

/// How long a server being removed at once keeps the requests still connecting to it.
const SETTLE: Duration = Duration::from_secs(1);
/// How long `del server` is retried while HAProxy still holds connections to the server.
const DELETE_WITHIN: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(50);
/// Every exchange on the admin socket is bounded: a stuck HAProxy never hangs the agent.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    /// No HAProxy answers on the socket (not started yet): the config file is enough.
    NotRunning,
}

/// Applies `ops`, each server in its backend: servers that leave start draining until
/// `drain_until(name)` (`drains` ends them), servers that changed address are replaced at
/// once (the old address is gone), new ones are added.
pub(crate) fn apply(
    socket: &Path,
    ops: &Ops,
    drains: &mut Drains,
    drain_until: &dyn Fn(&str) -> Instant,
) -> anyhow::Result<Applied> {
    if UnixStream::connect(socket).is_err() {
        return Ok(Applied::NotRunning);
    }
    let replaced = |name: &str| ops.add.iter().any(|(n, _)| n == name);
    for (name, args) in &ops.remove {
        let backend = ops.backend(name);
        if replaced(name) {
            remove_now(socket, backend, name)?;
        } else {
            expect_empty(socket, &format!("set server {backend}/{name} state drain"))?;
            drains.start(backend, name, args, drain_until(name));
        }
    }
    for (name, args) in &ops.add {
        let backend = ops.backend(name);
        if let Some(draining) = drains.cancel(name) {
            // Back while still draining (a Serf flap): the same server serves again, its
            // sessions untouched.
            if draining.backend == backend
                && crate::servers::address_of(&draining.args) == crate::servers::address_of(args)
            {
                expect_empty(socket, &format!("set server {backend}/{name} state ready"))?;
                continue;
            }
            remove_now(socket, &draining.backend, name)?;
        }
        add(socket, backend, name, args)?;
    }
    Ok(Applied::Done)
}

/// `add server` with the given arguments, its health checks on, then in rotation.
pub(crate) fn add(socket: &Path, backend: &str, name: &str, args: &str) -> anyhow::Result<()> {
    let command = format!("add server {backend}/{name} {args}");
    let answer = cli(socket, &command)?;
    if !answer.contains("New server registered") {
        bail!("`{command}`: {}", answer.trim());
    }
    if args.split_whitespace().any(|w| w == "check") {
        expect_empty(socket, &format!("enable health {backend}/{name}"))?;
    }
    expect_empty(socket, &format!("enable server {backend}/{name}"))
}

/// Out of rotation, its remaining sessions shut, deleted. A server HAProxy no longer has
/// (a reload dropped it) counts as removed. Requests still connecting to it (a dead
/// address: `timeout connect` in the backend) get [`SETTLE`] to fail over to another
/// server before the sessions are shut, so they are redispatched, not cut.
pub(crate) fn remove_now(socket: &Path, backend: &str, name: &str) -> anyhow::Result<()> {
    remove(socket, backend, name, SETTLE)
}

/// [`remove_now`] for a server whose drain is over: its time to settle was the drain.
pub(crate) fn remove_drained(socket: &Path, backend: &str, name: &str) -> anyhow::Result<()> {
    remove(socket, backend, name, Duration::ZERO)
}

fn remove(socket: &Path, backend: &str, name: &str, settle: Duration) -> anyhow::Result<()> {
    if !set_maint(socket, backend, name)? {
        return Ok(());
    }
    let deadline = Instant::now() + settle;
    while Instant::now() < deadline && sessions(&cli(socket, "show stat")?, &[name.to_string()]) > 0
    {
        std::thread::sleep(POLL);
    }
    expect_empty(
        socket,
        &format!("shutdown sessions server {backend}/{name}"),
    )?;
    delete(socket, backend, name)
}

/// Out of rotation (health checks too); false when HAProxy has no such server.
pub(crate) fn set_maint(socket: &Path, backend: &str, name: &str) -> anyhow::Result<bool> {
    let answer = cli(socket, &format!("set server {backend}/{name} state maint"))?;
    if is_no_such_server(&answer) {
        return Ok(false);
    }
    if !answer.trim().is_empty() {
        bail!(
            "`set server {backend}/{name} state maint`: {}",
            answer.trim()
        );
    }
    Ok(true)
}

/// `set server <backend>/<name> state ready`: out of maintenance or drain.
pub(crate) fn set_ready(socket: &Path, backend: &str, name: &str) -> anyhow::Result<()> {
    expect_empty(socket, &format!("set server {backend}/{name} state ready"))
}

fn is_no_such_server(answer: &str) -> bool {
    answer.contains("No such server") || answer.contains("No such backend")
}

/// Before a reload: the servers' runtime state (admin state, weights, health), for the
/// new worker to load (`load-server-state-from-file`). `fresh` servers are left out, so
/// they start as the config says. Nothing to save when HAProxy is not running.
pub(crate) fn save_state(
    socket: &Path,
    file: &Path,
    fresh: &[(String, String)],
) -> anyhow::Result<()> {
    if UnixStream::connect(socket).is_err() {
        return Ok(());
    }
    let state = cli(socket, "show servers state").context("reading the servers' state")?;
    crate::files::write_atomically(file, state_without(&state, fresh).as_bytes())
        .with_context(|| format!("saving the servers' state to {}", file.display()))
}

fn delete(socket: &Path, backend: &str, name: &str) -> anyhow::Result<()> {
    let command = format!("del server {backend}/{name}");
    let deadline = Instant::now() + DELETE_WITHIN;
    loop {
        let answer = cli(socket, &command)?;
        if answer.contains("Server deleted") || is_no_such_server(&answer) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("`{command}`: {}", answer.trim());
        }
        std::thread::sleep(POLL);
    }
}

/// Current sessions of the servers `names`, in whichever backend (a server's name is
/// its service's), from `show stat` CSV.
pub(crate) fn sessions(csv: &str, names: &[String]) -> u64 {
    cluster::parse_all_stats(csv)
        .iter()
        .filter(|server| names.contains(&server.name))
        .map(|server| server.current)
        .sum()
}

pub(crate) fn expect_empty(socket: &Path, command: &str) -> anyhow::Result<()> {
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
        stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
        stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
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

    #[test]
    fn counts_sessions_in_every_backend() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,status\n\
                   nodes,s1,0,0,2,5,UP\n\
                   api,api1,0,0,4,5,DRAIN\n\
                   api,BACKEND,0,0,4,9,UP\n";
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sessions(csv, &names(&["api1"])), 4);
        assert_eq!(sessions(csv, &names(&["s1", "api1"])), 6);
    }
}
