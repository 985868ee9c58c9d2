//! The task's folder is replaced whole or not at all: evidence is written into a hidden
//! sibling (`.task5.partial-<pid>`) and renamed over `logs/task5` only when the run
//! succeeded, so a failed or interrupted run leaves the previous evidence as it was.
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::context::UsageError;

/// Every evidence README says this; a folder without it is not ours to replace.
pub(crate) const SIGNATURE: &str = "cargo xtask collect-logs";

pub(crate) struct Staging {
    target: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// Refuses a target that holds something other than earlier evidence, before any work.
pub(crate) fn check_replaceable(target: &Path) -> anyhow::Result<()> {
    let Ok(mut entries) = fs::read_dir(target) else {
        if target.exists() {
            bail!(UsageError(format!(
                "--out {}: not a folder; pass a folder to write the evidence into",
                target.display()
            )));
        }
        return Ok(());
    };
    let empty = entries.next().is_none();
    let ours =
        fs::read_to_string(target.join("README.md")).is_ok_and(|readme| readme.contains(SIGNATURE));
    if !empty && !ours {
        bail!(UsageError(format!(
            "--out {}: the folder holds files that collect-logs did not write (no README.md from it); pass a new or empty folder",
            target.display()
        )));
    }
    Ok(())
}

impl Staging {
    /// An empty staging folder next to `target`. Staging folders left by killed runs
    /// (their process is gone) are removed first.
    pub(crate) fn create(target: &Path) -> anyhow::Result<Staging> {
        let (parent, name) = split(target)?;
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        sweep_abandoned(&parent, &name);
        let path = parent.join(format!("{}{}", partial_prefix(&name), std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Staging {
            target: target.to_path_buf(),
            path,
            committed: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the staged folder in place of the target. The old folder is moved aside first
    /// and put back if the swap fails.
    pub(crate) fn commit(mut self) -> anyhow::Result<()> {
        let (parent, name) = split(&self.target)?;
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        let had_old = self.target.exists();
        if had_old {
            fs::rename(&self.target, &old)
                .with_context(|| format!("moving the previous {} aside", self.target.display()))?;
        }
        if let Err(err) = fs::rename(&self.path, &self.target) {
            if had_old {
                let _ = fs::rename(&old, &self.target);
            }
            return Err(err)
                .with_context(|| format!("moving the new evidence to {}", self.target.display()));
        }
        self.committed = true;
        if had_old {
            fs::remove_dir_all(&old)
                .with_context(|| format!("removing the previous evidence {}", old.display()))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn split(target: &Path) -> anyhow::Result<(PathBuf, String)> {
    let absolute =
        std::path::absolute(target).with_context(|| format!("resolving {}", target.display()))?;
    match (
        absolute.parent(),
        absolute.file_name().and_then(|n| n.to_str()),
    ) {
        (Some(parent), Some(name)) if name != ".." => Ok((parent.to_path_buf(), name.to_string())),
        _ => bail!(UsageError(format!(
            "--out {}: name a folder, such as logs/task5",
            target.display()
        ))),
    }
}

fn partial_prefix(name: &str) -> String {
    format!(".{name}.partial-")
}

/// Removes `.<name>.partial-<pid>` folders whose process no longer runs (killed runs).
fn sweep_abandoned(parent: &Path, name: &str) {
    let prefix = partial_prefix(name);
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lbkit-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = scratch("commit");
        let target = dir.join("task5");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("README.md"), SIGNATURE).unwrap();
        fs::write(target.join("old.log"), "old").unwrap();

        // A run that fails: nothing changes, nothing is left behind.
        let staging = Staging::create(&target).unwrap();
        fs::write(staging.path().join("new.log"), "new").unwrap();
        drop(staging);
        assert!(target.join("old.log").exists());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "only task5 remains");

        let staging = Staging::create(&target).unwrap();
        fs::write(staging.path().join("new.log"), "new").unwrap();
        staging.commit().unwrap();
        assert!(!target.join("old.log").exists());
        assert_eq!(fs::read_to_string(target.join("new.log")).unwrap(), "new");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no staging or old folder remains"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abandoned_staging_is_swept_and_live_staging_kept() {
        let dir = scratch("sweep");
        let dead = dir.join(".task1.partial-4294967295");
        let live = dir.join(format!(".task1.partial-{}", std::process::id()));
        fs::create_dir(&dead).unwrap();
        let staging = Staging::create(&dir.join("task1")).unwrap();
        assert!(!dead.exists());
        assert_eq!(staging.path(), live);
        drop(staging);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_our_folders_are_replaced() {
        let dir = scratch("replaceable");
        assert!(check_replaceable(&dir.join("missing")).is_ok());
        assert!(check_replaceable(&dir).is_ok(), "empty");
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        let err = check_replaceable(&dir).unwrap_err();
        assert!(
            err.to_string().contains("collect-logs did not write"),
            "{err}"
        );
        fs::write(
            dir.join("README.md"),
            format!("# task0: evidence collected by `{SIGNATURE}`"),
        )
        .unwrap();
        assert!(check_replaceable(&dir).is_ok());
        assert!(check_replaceable(&dir.join("notes.txt")).is_err(), "a file");
        fs::remove_dir_all(&dir).unwrap();
    }
}
