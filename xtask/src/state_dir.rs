//! The project's local state under `.state/<project>/`: the gossip key, the stats
//! password, TLS keys, the rollout record and nested engines' sockets. Owner-only from
//! its creation, whichever command creates it first.
use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cluster::Cluster;

/// The folder every project's state lives under, in the workspace `root`.
const STATE: &str = ".state";

/// `.state/<project>` in the workspace `root`.
pub(crate) fn project_at(root: &Path, cluster: &Cluster) -> PathBuf {
    root.join(STATE).join(&cluster.project)
}

/// Creates folder `dir` and any missing parent owner-only (0700), and makes `.state` and
/// every folder between it and `dir` owner-only if something left them open (an older
/// version created them 0755).
pub(crate) fn create(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let Some(top) = dir
        .ancestors()
        .position(|a| a.file_name() == Some(STATE.as_ref()))
    else {
        return Ok(());
    };
    for folder in dir.ancestors().take(top + 1) {
        let mode = std::fs::metadata(folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(folder, Permissions::from_mode(0o700))
                .with_context(|| format!("making {} owner-only", folder.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn every_folder_from_state_down_is_owner_only_even_if_it_was_open() {
        let root = std::env::temp_dir().join(format!("lbkit-state-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(".state")).unwrap();
        std::fs::set_permissions(&root, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(root.join(".state"), Permissions::from_mode(0o755)).unwrap();
        let dir = root.join(".state/lab4/nested/lab4-node1");
        create(&dir).unwrap();
        for folder in [
            ".state",
            ".state/lab4",
            ".state/lab4/nested",
            ".state/lab4/nested/lab4-node1",
        ] {
            assert_eq!(mode(&root.join(folder)), 0o700, "{folder}");
        }
        // Above `.state` nothing is touched.
        assert_ne!(mode(&root), 0o700);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
