//! The cgroups a node's inner dockerd makes under its own parent (`--cgroup-parent`) in the
//! host's hierarchy, which the node mounts: the engine that would remove them goes with the
//! node, so removing the node removes them.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::wait::{Poll, Stopped, Wait};

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup parent of node `name`'s inner engine: unique, so its containers never mix
/// with ours or another node's.
pub(crate) fn parent(name: &str) -> String {
    format!("lbkit-{name}")
}

/// The node names whose cgroup parent is left anywhere in the host's hierarchies and
/// for which `is_node` holds.
pub(crate) fn left_by(is_node: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = hierarchies()
        .flat_map(|hierarchy| std::fs::read_dir(hierarchy).into_iter().flatten().flatten())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let node = name.strip_prefix("lbkit-")?;
            (is_node(node) && entry.path().is_dir()).then(|| node.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every folder named `parent` in the host's hierarchies: `/sys/fs/cgroup/<parent>`
/// (cgroup v2) and `/sys/fs/cgroup/<controller>/<parent>` (v1).
pub(crate) fn trees(parent: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = hierarchies()
        .map(|hierarchy| hierarchy.join(parent))
        .filter(|tree| tree.is_dir())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Where cgroups can be: the root (cgroup v2) and each controller's folder (v1).
fn hierarchies() -> impl Iterator<Item = PathBuf> {
    let root = Path::new(ROOT);
    let controllers = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|controller| controller.path());
    std::iter::once(root.to_path_buf()).chain(controllers)
}

/// Removes the trees, deepest first (a cgroup goes with rmdir once it holds no process;
/// the node's last processes may take a moment to exit: busy is retried, anything else,
/// such as no permission, is not). What cannot go is named in a warning: an empty cgroup
/// costs nothing, and the node itself is gone. Whether they all went.
pub(crate) async fn remove(parent: &str) -> bool {
    let wait =
        Wait::new("the cgroups to go", Duration::from_secs(10)).every(Duration::from_millis(250));
    let removed = wait
        .poll(async || {
            // Every tree each round; then the first that would not go.
            let left: Option<(PathBuf, std::io::Error)> = trees(parent)
                .into_iter()
                .filter_map(|tree| remove_tree(&tree).err().map(|err| (tree, err)))
                .collect::<Vec<_>>()
                .into_iter()
                .next();
            Ok(match left {
                None => Poll::Ready(None),
                Some((_, ref err)) if err.kind() == std::io::ErrorKind::ResourceBusy => {
                    Poll::Pending(left)
                }
                left => Poll::Ready(left),
            })
        })
        .await;
    let left = match removed {
        Ok(left) | Err(Stopped::TimedOut(left)) => left,
        Err(Stopped::Failed(_)) => unreachable!("the check never fails"),
    };
    match left {
        None => true,
        Some((tree, err)) => {
            eprintln!(
                "warning: could not remove cgroup {} ({err}); rmdir it once its processes are gone",
                tree.display()
            );
            false
        }
    }
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let gone = |err: &std::io::Error| err.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Err(err) if gone(&err) => return Ok(()),
        entries => entries?,
    };
    for entry in entries {
        let entry = entry?;
        // Control files cannot be unlinked and need not be: rmdir takes them along.
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(err) if gone(&err) => Ok(()),
        result => result,
    }
}
