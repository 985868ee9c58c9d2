//! `/nodes`: one file per alive backend (file name = node name, content `name ip`), the
//! lab's view of the membership. Synced to exactly the current set on every run.
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use cluster::Backend;

/// What a sync changed, for tests and logs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NodesSync {
    pub(crate) written: Vec<String>,
    pub(crate) removed: Vec<String>,
}

pub(crate) fn content(backend: &Backend) -> String {
    format!("{} {}\n", backend.name, backend.ip)
}

/// Makes `dir` hold exactly one file per backend. Names were checked to be DNS labels, so
/// each is a plain file name.
pub(crate) fn sync(dir: &Path, backends: &[Backend]) -> anyhow::Result<NodesSync> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut result = NodesSync::default();
    let wanted: BTreeSet<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !wanted.contains(name.as_str()) {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.with_context(|| format!("removing stale {}", path.display()))?;
            result.removed.push(name);
        }
    }
    for backend in backends {
        let path = dir.join(&backend.name);
        let text = content(backend);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            crate::files::write_atomically(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            result.written.push(backend.name.clone());
        }
    }
    result.removed.sort();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, last: u8) -> Backend {
        Backend {
            name: name.into(),
            ip: [192, 168, 42, last].into(),
            port: 3000,
        }
    }

    fn listing(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn holds_exactly_the_alive_backends() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = dir.path().join("nodes");
        let first = sync(&nodes, &[backend("s1", 2), backend("s2", 3)]).unwrap();
        assert_eq!(first.written, ["s1", "s2"]);

        std::fs::write(nodes.join("intruder"), "x").unwrap();
        let second = sync(&nodes, &[backend("s2", 3), backend("s3", 4)]).unwrap();
        assert_eq!(second.written, ["s3"], "unchanged files are not rewritten");
        assert_eq!(second.removed, ["intruder", "s1"]);
        assert_eq!(
            listing(&nodes),
            [
                ("s2".to_string(), "s2 192.168.42.3\n".to_string()),
                ("s3".to_string(), "s3 192.168.42.4\n".to_string()),
            ]
        );

        let empty = sync(&nodes, &[]).unwrap();
        assert_eq!(empty.removed, ["s2", "s3"]);
        assert!(listing(&nodes).is_empty());
    }
}
