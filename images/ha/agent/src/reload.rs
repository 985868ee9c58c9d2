//! Telling HAProxy to load the live config.
//!
//! - `hitless`: HAProxy runs in master-worker mode under s6; SIGUSR2 to the master
//!   (`s6-svc -2`) makes it re-exec, start a worker on the new config that takes the
//!   listening sockets over from the old one (`expose-fd listeners`), and let the old
//!   worker finish its connections. The master CLI's `show proc` confirms the reload.
//! - `restart`: the lab's method, kept for benchmarks: a new daemon with `-sf <old pid>`,
//!   which binds anew while the old one stops listening.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use cluster::ReloadMethod;
use xshell::{cmd, Shell};

use crate::paths::Paths;

const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Reloaded,
    /// HAProxy is not up (yet): when it starts it reads the live config anyway.
    NotRunning,
}

pub(crate) fn reload(sh: &Shell, paths: &Paths, method: ReloadMethod) -> anyhow::Result<Outcome> {
    match method {
        ReloadMethod::Hitless => hitless(sh, paths),
        ReloadMethod::Restart => restart(sh, paths),
    }
}

fn hitless(sh: &Shell, paths: &Paths) -> anyhow::Result<Outcome> {
    let Ok(before) = master_status(&paths.master_socket) else {
        return Ok(Outcome::NotRunning);
    };
    let service = &paths.haproxy_service;
    cmd!(sh, "s6-svc -2 {service}")
        .quiet()
        .run()
        .context("signalling the HAProxy master (s6-svc -2)")?;
    let deadline = Instant::now() + CONFIRM_WITHIN;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        // The socket is briefly gone while the master re-executes itself.
        let Ok(now) = master_status(&paths.master_socket) else {
            continue;
        };
        if now.reloads > before.reloads {
            if now.failed > before.failed {
                bail!("the HAProxy master could not load the new config; the previous workers keep serving");
            }
            return Ok(Outcome::Reloaded);
        }
    }
    bail!(
        "the HAProxy master did not report a reload within {} s",
        CONFIRM_WITHIN.as_secs()
    )
}

fn restart(sh: &Shell, paths: &Paths) -> anyhow::Result<Outcome> {
    let old = std::fs::read_to_string(&paths.pid_file).unwrap_or_default();
    let old = old.trim();
    let alive = old.parse::<i32>().is_ok_and(|pid| {
        // SAFETY: signal 0 only checks that the process exists.
        pid > 0 && unsafe { libc::kill(pid, 0) } == 0
    });
    if !alive {
        return Ok(Outcome::NotRunning);
    }
    let (cfg, pid_file) = (&paths.haproxy_cfg, &paths.pid_file);
    cmd!(sh, "haproxy -D -f {cfg} -p {pid_file} -sf {old}")
        .quiet()
        .run()
        .context("starting a new HAProxy with -sf (reload = \"restart\")")?;
    Ok(Outcome::Reloaded)
}

/// The master's line of `show proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MasterStatus {
    pub(crate) reloads: u64,
    pub(crate) failed: u64,
}

fn master_status(socket: &Path) -> anyhow::Result<MasterStatus> {
    let text = master_cli(socket, "show proc")?;
    parse_show_proc(&text).context("reading the master's line of `show proc`")
}

pub(crate) fn master_cli(socket: &Path, command: &str) -> anyhow::Result<String> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the HAProxy master CLI {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    // Non-interactive mode: the master answers one command and closes.
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// Parses `<pid> master <reloads> [failed: <n>] <uptime> <version>` (HAProxy 2.6; older
/// versions have no `failed` count).
pub(crate) fn parse_show_proc(text: &str) -> Option<MasterStatus> {
    let line = text.lines().find(|line| {
        let mut words = line.split_whitespace();
        words.next().is_some_and(|pid| pid.parse::<u32>().is_ok()) && words.next() == Some("master")
    })?;
    let mut words = line.split_whitespace().skip(2);
    let reloads = words.next()?.parse().ok()?;
    let failed = match (words.next(), words.next()) {
        (Some("[failed:"), Some(n)) => n.trim_end_matches(']').parse().ok()?,
        _ => 0,
    };
    Some(MasterStatus { reloads, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_master_line_of_show_proc() {
        let text = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
                    19812           master          2 [failed: 1]   0d00h10m13s     2.6.12-1+deb12u4\n\
                    # workers\n\
                    10231           worker          1               0d00h00m04s     2.6.12-1+deb12u4\n\
                    # programs\n";
        assert_eq!(
            parse_show_proc(text),
            Some(MasterStatus {
                reloads: 2,
                failed: 1
            })
        );
        let old = "1 master 0 0d00h00m08s 2.4.0\n";
        assert_eq!(
            parse_show_proc(old),
            Some(MasterStatus {
                reloads: 0,
                failed: 0
            })
        );
        assert_eq!(parse_show_proc("Unknown command\n"), None);
    }
}
