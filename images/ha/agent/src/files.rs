//! Small file helpers shared by the modules that write.
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `path` through a temporary file in the same directory and a rename, so readers
/// see the old content or the new one, never a mix. Creates the directory if needed.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, ".new");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `dir/.name<suffix>`: a hidden file next to `path`.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}
