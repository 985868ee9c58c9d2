//! The host's neighbour (ARP) table. Every container's namespace learns every other's
//! address through gossip, and the kernel's table is shared by all of them: past
//! `gc_thresh3` entries it overflows, Serf's UDP probes are lost and members flap. So
//! `up`/`scale` check the threshold before creating anything, and raise it only when the
//! user asks (`--tune-host`).
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

/// Fails (exit 2) when `webapps` webapps would overflow the table, unless `tune` lets it
/// raise the thresholds. A host whose thresholds cannot be read is not checked.
pub(crate) fn check(webapps: u32, tune: bool) -> anyhow::Result<()> {
    check_in(&sysctl_dir(), webapps, tune)
}

fn check_in(dir: &Path, webapps: u32, tune: bool) -> anyhow::Result<()> {
    let Some(thresh3) = read(&dir.join("gc_thresh3")) else {
        return Ok(());
    };
    let needed = entries_needed(webapps);
    if needed <= thresh3 {
        return Ok(());
    }
    let values = tuned(needed);
    if !tune {
        bail!(UsageError(format!(
            "net.ipv4.neigh.default.gc_thresh3 is {thresh3}, but ha + {webapps} webapps need about {needed} neighbour entries (an overflowing ARP table makes Serf members flap); run `{}` or pass --tune-host",
            sysctl_command(values)
        )));
    }
    for (name, value) in ["gc_thresh1", "gc_thresh2", "gc_thresh3"]
        .iter()
        .zip(values)
    {
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
    println!(
        "tuned the host: {}",
        sysctl_command(values).trim_start_matches("sudo ")
    );
    Ok(())
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
        std::fs::write(dir.path().join("gc_thresh3"), "1024\n").unwrap();
        check_in(dir.path(), 30, false).unwrap();
        let err = check_in(dir.path(), 50, false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gc_thresh3 is 1024"), "{text}");
        assert!(
            text.contains("sysctl -w ") && text.contains("net.ipv4.neigh.default.gc_thresh3=16384"),
            "{text}"
        );
        assert!(!text.contains('\n'));

        check_in(dir.path(), 50, true).unwrap();
        assert_eq!(read(&dir.path().join("gc_thresh3")), Some(16384));
        assert_eq!(read(&dir.path().join("gc_thresh1")), Some(4096));
        check_in(dir.path(), 50, false).unwrap();
    }
}
