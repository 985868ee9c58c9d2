//! The cgroups a node's inner dockerd makes under its own parent (`--cgroup-parent`) in the
//! host's hierarchy, which the node mounts: the engine that would remove them goes with the
//! node, so removing the node removes them.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<(PathBuf, std::io::Error)> = trees(parent)
            .into_iter()
            .filter_map(|tree| remove_tree(&tree).err().map(|err| (tree, err)))
            .collect();
        let Some((tree, err)) = left.first() else {
            return true;
        };
        if err.kind() != std::io::ErrorKind::ResourceBusy || Instant::now() > deadline {
            eprintln!(
                "warning: could not remove cgroup {} ({err}); rmdir it once its processes are gone",
                tree.display()
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
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
