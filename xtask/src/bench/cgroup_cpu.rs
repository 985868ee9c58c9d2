//! A container's CPU time as its cgroup on this host counts it (not `docker stats`, which
//! samples): every process in the container, HAProxy, Serf, the agent and what they spawn.
//! The cgroup is found from the container's main process (`/proc/<pid>/cgroup`); cgroup v1
//! (`cpuacct.usage`, ns) and v2 (`cpu.stat` `usage_usec`) are both read.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::engine::Engine;

const ROOT: &str = "/sys/fs/cgroup";

/// The file holding a container's cumulative CPU time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CpuFile {
    /// cgroup v1 `cpuacct.usage`: nanoseconds.
    V1(PathBuf),
    /// cgroup v2 `cpu.stat`: the `usage_usec` line.
    V2(PathBuf),
}

impl CpuFile {
    /// The cgroup of container `name`'s main process (its host pid from the Engine API).
    pub(crate) async fn of_container(engine: &Engine, name: &str) -> anyhow::Result<CpuFile> {
        let info = engine
            .inspect_container(name)
            .await?
            .with_context(|| format!("no container {name}"))?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .filter(|pid| *pid > 0)
            .with_context(|| format!("container {name} has no running process"))?;
        let listing = format!("/proc/{pid}/cgroup");
        let text = std::fs::read_to_string(&listing).with_context(|| {
            format!("reading {listing} (the engine's processes must be visible on this host)")
        })?;
        let file = locate(&text, Path::new(ROOT), |path| path.is_file()).with_context(|| {
            format!(
                "no CPU accounting file for container {name} ({listing}: {})",
                text.trim()
            )
        })?;
        // Read once now: a wrong guess fails here, not after the measured window.
        file.read()?;
        Ok(file)
    }

    /// The CPU time used so far.
    pub(crate) fn read(&self) -> anyhow::Result<Duration> {
        let (path, parse): (&Path, fn(&str) -> Option<Duration>) = match self {
            CpuFile::V1(path) => (path, parse_v1),
            CpuFile::V2(path) => (path, parse_v2),
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        parse(&text).with_context(|| format!("no CPU time in {}: {text:?}", path.display()))
    }
}

/// The CPU accounting file of the cgroup a `/proc/<pid>/cgroup` listing names, under `root`,
/// the first for which `exists` holds: v1's `cpuacct` hierarchy (mounted alone or with
/// `cpu`), else v2's unified one.
fn locate(listing: &str, root: &Path, exists: impl Fn(&Path) -> bool) -> Option<CpuFile> {
    let mut candidates = Vec::new();
    for line in listing.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "cpuacct") {
            for mount in ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"] {
                let file = root.join(mount).join(relative).join("cpuacct.usage");
                candidates.push(CpuFile::V1(file));
            }
        } else if controllers.is_empty() {
            candidates.push(CpuFile::V2(root.join(relative).join("cpu.stat")));
        }
    }
    // v1 first: on a hybrid host the unified hierarchy has no CPU controller.
    candidates.sort_by_key(|c| matches!(c, CpuFile::V2(_)));
    candidates.into_iter().find(|c| match c {
        CpuFile::V1(path) | CpuFile::V2(path) => exists(path),
    })
}

fn parse_v1(text: &str) -> Option<Duration> {
    text.trim().parse().ok().map(Duration::from_nanos)
}

fn parse_v2(text: &str) -> Option<Duration> {
    text.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|usec| usec.trim().parse().ok())
        .map(Duration::from_micros)
}

/// CPU time over a wall-clock span, as % of one core.
pub(crate) fn percent_of_a_core(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "12:pids:/docker/abc\n\
                      4:cpu,cpuacct:/docker/abc\n\
                      3:cpuset:/docker/abc\n\
                      1:name=systemd:/docker/abc\n\
                      0::/system.slice/containerd.service\n";

    #[test]
    fn finds_the_v1_cpuacct_file_whatever_the_mount_is_named() {
        let root = Path::new("/sys/fs/cgroup");
        let found = locate(V1, root, |p| p.starts_with("/sys/fs/cgroup/cpuacct/"));
        assert_eq!(
            found,
            Some(CpuFile::V1(
                "/sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage".into()
            ))
        );
        let found = locate(V1, root, |p| p.starts_with("/sys/fs/cgroup/cpu,cpuacct/"));
        assert_eq!(
            found,
            Some(CpuFile::V1(
                "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage".into()
            ))
        );
    }

    #[test]
    fn finds_the_v2_file_on_a_unified_host() {
        let listing = "0::/system.slice/docker-abc.scope\n";
        let found = locate(listing, Path::new("/sys/fs/cgroup"), |_| true);
        assert_eq!(
            found,
            Some(CpuFile::V2(
                "/sys/fs/cgroup/system.slice/docker-abc.scope/cpu.stat".into()
            ))
        );
        assert_eq!(
            locate(listing, Path::new("/sys/fs/cgroup"), |_| false),
            None
        );
    }

    #[test]
    fn parses_both_formats() {
        assert_eq!(parse_v1("1500000000\n"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_v1("n/a"), None);
        let stat = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        assert_eq!(parse_v2(stat), Some(Duration::from_millis(2500)));
        assert_eq!(parse_v2("user_usec 1\n"), None);
        let pct = percent_of_a_core(Duration::from_millis(300), Duration::from_secs(60));
        assert!((pct - 0.5).abs() < 1e-9);
    }
}
