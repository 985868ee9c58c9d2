//! The host's neighbour (ARP) table. Every container's namespace learns every other's
//! address through gossip, and the kernel's table is shared by all of them: past
//! `gc_thresh3` entries it overflows, Serf's UDP probes are lost and members flap. So
//! `up`/`scale` check the threshold before creating anything, and raise it only when the
//! user asks (`--tune-host`, `--tune-host=persist` to keep it after a reboot); `status`
//! says when a running cluster has outgrown it.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::context::UsageError;

/// Where the thresholds are read and written; tests point it elsewhere with
/// `LBKIT_NEIGH_DIR` rather than lowering the real host's setting.
pub(crate) fn sysctl_dir() -> PathBuf {
    std::env::var_os("LBKIT_NEIGH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/sys/net/ipv4/neigh/default"))
}

/// Entries the cluster's containers need: each of the `webapps + 1` namespaces (ha and
/// the webapps) holds one per other node, and the host's bridge one per node.
pub(crate) fn entries_needed(webapps: u32) -> u64 {
    let nodes = u64::from(webapps) + 1;
    nodes * nodes
}

/// `gc_thresh1/2/3` that leave room for `needed` entries four times over (other stacks
/// share the table), never below the values known to hold 50 webapps on one host.
pub(crate) fn tuned(needed: u64) -> [u64; 3] {
    let thresh3 = (needed * 4).next_power_of_two().max(16384);
    [thresh3 / 4, thresh3 / 2, thresh3]
}

pub(crate) fn sysctl_command(values: [u64; 3]) -> String {
    let [one, two, three] = values;
    format!(
        "sudo sysctl -w net.ipv4.neigh.default.gc_thresh1={one} net.ipv4.neigh.default.gc_thresh2={two} net.ipv4.neigh.default.gc_thresh3={three}"
    )
}

/// How far `--tune-host` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TuneHost {
    /// This boot only (`/proc/sys`).
    Boot,
    /// Also a drop-in under /etc/sysctl.d/, so the thresholds hold after a reboot, when
    /// the restart policy brings every webapp back.
    Persist,
}

/// Where `--tune-host=persist` writes its drop-in; tests point it elsewhere with
/// `LBKIT_SYSCTL_D`.
fn sysctl_d() -> PathBuf {
    std::env::var_os("LBKIT_SYSCTL_D")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/sysctl.d"))
}

const DROP_IN: &str = "60-lbkit-neigh.conf";

/// Fails (exit 2) when `webapps` webapps would overflow the table, unless `tune` lets it
/// raise the thresholds. A host whose thresholds cannot be read is not checked, nor is
/// one behind a remote engine (DOCKER_HOST over the network), which cannot be tuned
/// from here.
pub(crate) fn check(webapps: u32, tune: Option<TuneHost>) -> anyhow::Result<()> {
    if let Some(host) = remote_engine() {
        if tune.is_some() {
            bail!(UsageError(format!(
                "--tune-host changes this machine's kernel settings, but the engine is on another host (DOCKER_HOST={host}); run `{}` there",
                sysctl_command(tuned(entries_needed(webapps)))
            )));
        }
        return Ok(());
    }
    check_in(&sysctl_dir(), &sysctl_d(), webapps, tune)
}

/// The DOCKER_HOST when it names an engine on another host (not a unix socket, nor TCP
/// to this host's loopback).
fn remote_engine() -> Option<String> {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())?;
    let address = host
        .split_once("://")
        .map_or(host.as_str(), |(_, rest)| rest);
    let name = address.rsplit_once(':').map_or(address, |(name, _)| name);
    let loopback = name == "localhost"
        || name
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!host.starts_with("unix://") && !loopback).then_some(host)
}

/// One line for `status` when `webapps` running webapps need more neighbour entries than
/// this host's `gc_thresh3` (None when they fit, or it cannot be read here).
pub(crate) fn overflow_warning(webapps: u32) -> Option<String> {
    if remote_engine().is_some() {
        return None;
    }
    let thresh3 = read(&sysctl_dir().join("gc_thresh3"))?;
    let needed = entries_needed(webapps);
    (needed > thresh3).then(|| {
        format!(
            "warning: net.ipv4.neigh.default.gc_thresh3 is {thresh3}, but ha + {webapps} running webapps need about {needed} neighbour entries (Serf members flap); run `{}`, or `cargo xtask scale --webapps {webapps} --tune-host=persist`",
            sysctl_command(tuned(needed))
        )
    })
}

fn check_in(
    dir: &Path,
    drop_in_dir: &Path,
    webapps: u32,
    tune: Option<TuneHost>,
) -> anyhow::Result<()> {
    let Some(thresh3) = read(&dir.join("gc_thresh3")) else {
        return Ok(());
    };
    let needed = entries_needed(webapps);
    let values = tuned(needed);
    if needed <= thresh3 {
        // Enough for this boot (tuned earlier, or by hand); `persist` still keeps it.
        if tune == Some(TuneHost::Persist) {
            let current = NAMES.map(|name| read(&dir.join(name)).unwrap_or(0));
            persist(
                drop_in_dir,
                std::array::from_fn(|i| current[i].max(values[i])),
            )?;
        }
        return Ok(());
    }
    let Some(tune) = tune else {
        bail!(UsageError(format!(
            "net.ipv4.neigh.default.gc_thresh3 is {thresh3}, but ha + {webapps} webapps need about {needed} neighbour entries (an overflowing ARP table makes Serf members flap); run `{}` or pass --tune-host (--tune-host=persist: also after a reboot)",
            sysctl_command(values)
        )));
    };
    for (name, value) in NAMES.iter().zip(values) {
        let path = dir.join(name);
        let current = read(&path).unwrap_or(0);
        if current < value {
            std::fs::write(&path, format!("{value}\n")).with_context(|| {
                format!(
                    "--tune-host: setting {} to {value} (needs root; or run `{}`)",
                    path.display(),
                    sysctl_command(values)
                )
            })?;
        }
    }
    let done = sysctl_command(values);
    let done = done.trim_start_matches("sudo ");
    match tune {
        TuneHost::Boot => println!(
            "tuned the host for this boot: {done} (--tune-host=persist also writes /etc/sysctl.d/{DROP_IN}, for after a reboot)"
        ),
        TuneHost::Persist => {
            println!("tuned the host: {done}");
            persist(drop_in_dir, values)?;
        }
    }
    Ok(())
}

/// Writes the sysctl.d drop-in that sets `values` at boot, and says so.
fn persist(drop_in_dir: &Path, values: [u64; 3]) -> anyhow::Result<()> {
    let file = drop_in_dir.join(DROP_IN);
    std::fs::write(&file, drop_in(values)).with_context(|| {
        format!(
            "--tune-host=persist: writing {} (needs root)",
            file.display()
        )
    })?;
    println!("kept after a reboot: {}", file.display());
    Ok(())
}

const NAMES: [&str; 3] = ["gc_thresh1", "gc_thresh2", "gc_thresh3"];

/// The sysctl.d drop-in that sets `values` at boot.
fn drop_in(values: [u64; 3]) -> String {
    let mut text = String::from(
        "# Written by `cargo xtask up/scale --tune-host=persist`: room in the kernel's neighbour\n# (ARP) table for many containers gossiping on one bridge.\n",
    );
    for (name, value) in NAMES.iter().zip(values) {
        text.push_str(&format!("net.ipv4.neigh.default.{name} = {value}\n"));
    }
    text
}

fn read(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_node_seeing_every_other() {
        assert_eq!(entries_needed(2), 9);
        assert_eq!(entries_needed(50), 2601);
        assert_eq!(tuned(2601), [4096, 8192, 16384]);
        assert_eq!(tuned(10_000), [16384, 32768, 65536]);
    }

    #[test]
    fn stops_early_unless_asked_to_tune() {
        let dir = tempfile::tempdir().unwrap();
        let drop_ins = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gc_thresh3"), "1024\n").unwrap();
        check_in(dir.path(), drop_ins.path(), 30, None).unwrap();
        let err = check_in(dir.path(), drop_ins.path(), 50, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gc_thresh3 is 1024"), "{text}");
        assert!(
            text.contains("sysctl -w ") && text.contains("net.ipv4.neigh.default.gc_thresh3=16384"),
            "{text}"
        );
        assert!(!text.contains('\n'));

        check_in(dir.path(), drop_ins.path(), 50, Some(TuneHost::Boot)).unwrap();
        assert_eq!(read(&dir.path().join("gc_thresh3")), Some(16384));
        assert_eq!(read(&dir.path().join("gc_thresh1")), Some(4096));
        assert!(!drop_ins.path().join(DROP_IN).exists(), "only when asked");
        check_in(dir.path(), drop_ins.path(), 50, None).unwrap();
    }

    #[test]
    fn persist_writes_a_drop_in_that_sets_the_same_values_at_boot() {
        let dir = tempfile::tempdir().unwrap();
        let drop_ins = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gc_thresh3"), "1024\n").unwrap();
        check_in(dir.path(), drop_ins.path(), 50, Some(TuneHost::Persist)).unwrap();
        let text = std::fs::read_to_string(drop_ins.path().join(DROP_IN)).unwrap();
        for line in [
            "net.ipv4.neigh.default.gc_thresh1 = 4096",
            "net.ipv4.neigh.default.gc_thresh2 = 8192",
            "net.ipv4.neigh.default.gc_thresh3 = 16384",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert_eq!(read(&dir.path().join("gc_thresh3")), Some(16384));
        // Already enough for this boot: persist still writes the drop-in.
        std::fs::remove_file(drop_ins.path().join(DROP_IN)).unwrap();
        check_in(dir.path(), drop_ins.path(), 50, Some(TuneHost::Persist)).unwrap();
        assert!(drop_ins.path().join(DROP_IN).exists());
    }
}
