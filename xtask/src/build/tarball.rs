//! Tar archives: build contexts, written to a temporary file and streamed to the engine
//! (deterministic, so an unchanged context hits the engine's cache), and the
//! debootstrapped root filesystem to import.
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use tar::{EntryType, Header};

use super::dockerignore::DockerIgnore;

/// Every context entry gets this mtime and owner, whatever the checkout's: a rebuild of
/// the same files must look the same to the engine (2024-01-01T00:00:00Z).
const FIXED_MTIME: u64 = 1_704_067_200;

pub(crate) struct BuildContext {
    tar: tar::Builder<fs::File>,
}

/// What becomes of an entry of a folder added to a context.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Add,
    Skip,
    /// A folder left out whose contents are decided one by one.
    WalkOnly,
}

/// A finished context: a temporary file (gone when dropped), read from its start.
pub(crate) struct ContextArchive {
    pub(crate) file: fs::File,
    pub(crate) size: u64,
}

impl ContextArchive {
    /// The whole archive, for tests.
    #[cfg(test)]
    pub(crate) fn bytes(mut self) -> Vec<u8> {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes).unwrap();
        bytes
    }
}

impl BuildContext {
    pub(crate) fn new() -> anyhow::Result<BuildContext> {
        let file = tempfile::tempfile().context("creating a temporary file for a build context")?;
        Ok(BuildContext {
            tar: tar::Builder::new(file),
        })
    }

    /// Adds an image folder at the context root, in name order. Sub-folders holding a Rust
    /// crate are skipped: the image gets the crate's binary, built on the host.
    pub(crate) fn add_dir(&mut self, dir: &Path) -> anyhow::Result<()> {
        let decide =
            |_: &str, path: &Path, is_dir: bool| match is_dir && path.join("Cargo.toml").exists() {
                true => Entry::Skip,
                false => Entry::Add,
            };
        self.add_dir_as(dir, "", &decide)
            .with_context(|| format!("adding {} to the build context", dir.display()))
    }

    /// Adds a user's context folder as the docker CLI would send it: what its
    /// `.dockerignore` excludes stays out (the Dockerfile and the ignore file go anyway:
    /// the engine needs them and leaves them out of the image when listed), and so does
    /// `never` (the workspace's `.state/`: secrets), whatever the ignore file says.
    pub(crate) fn add_user_dir(&mut self, dir: &Path, never: &Path) -> anyhow::Result<()> {
        let ignore = DockerIgnore::read(dir)?;
        let never = never.canonicalize().ok();
        let decide = |name: &str, path: &Path, is_dir: bool| {
            if never.is_some() && path.canonicalize().ok() == never {
                return Entry::Skip;
            }
            if name == "Dockerfile" || name == ".dockerignore" || !ignore.excludes(name) {
                return Entry::Add;
            }
            // As the CLI does: an excluded folder is left out, but walked when an
            // exception names something inside it.
            match is_dir && ignore.has_exception_under(name) {
                true => Entry::WalkOnly,
                false => Entry::Skip,
            }
        };
        self.add_dir_as(dir, "", &decide)
            .with_context(|| format!("adding {} to the build context", dir.display()))
    }

    /// Adds `dir`'s entries under `prefix` in name order, as `decide(name, path, is_dir)`
    /// says.
    fn add_dir_as(
        &mut self,
        dir: &Path,
        prefix: &str,
        decide: &dyn Fn(&str, &Path, bool) -> Entry,
    ) -> anyhow::Result<()> {
        let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let path = entry.path();
            let meta = fs::symlink_metadata(&path)?;
            let entry = decide(&name, &path, meta.is_dir());
            if entry == Entry::Skip {
                continue;
            }
            if meta.is_dir() {
                if entry == Entry::Add {
                    self.append(EntryType::Directory, &format!("{name}/"), 0o755, &[])?;
                }
                self.add_dir_as(&path, &format!("{name}/"), decide)?;
            } else if entry == Entry::WalkOnly {
                continue;
            } else if meta.file_type().is_symlink() {
                let mut header = header(EntryType::Symlink, 0o777, 0);
                self.tar
                    .append_link(&mut header, &name, fs::read_link(&path)?)?;
            } else {
                self.add_file(&name, &path)?;
            }
        }
        Ok(())
    }

    /// Adds one file under `name`, keeping only whether it is executable.
    pub(crate) fn add_file(&mut self, name: &str, path: &Path) -> anyhow::Result<()> {
        let file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let meta = file.metadata()?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        let mut header = header(EntryType::Regular, mode, meta.len());
        // Exactly the size in the header: a file growing meanwhile is cut there, one
        // shrinking fails (the archive would be corrupt).
        let mut data = io::Read::take(file, meta.len());
        self.tar
            .append_data(&mut header, name, &mut data)
            .with_context(|| format!("adding {} to the build context", path.display()))?;
        anyhow::ensure!(
            data.limit() == 0,
            "{} shrank while it was added to the build context; build again",
            path.display()
        );
        Ok(())
    }

    fn append(
        &mut self,
        kind: EntryType,
        name: &str,
        mode: u32,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mut header = header(kind, mode, data.len() as u64);
        self.tar.append_data(&mut header, name, data)?;
        Ok(())
    }

    pub(crate) fn finish(self) -> anyhow::Result<ContextArchive> {
        use std::io::Seek as _;
        let mut file = self
            .tar
            .into_inner()
            .context("finishing the build context")?;
        let size = file.stream_position()?;
        file.rewind()?;
        Ok(ContextArchive { file, size })
    }
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(FIXED_MTIME);
    header
}

/// Paths left out of the imported root filesystem, as debian:*-slim leaves them out:
/// package caches and lists (apt fetches fresh ones), docs, man pages and locales, and
/// the pseudo filesystems the engine mounts itself. Relative to the rootfs, no leading `/`.
fn excluded(path: &str) -> bool {
    const EMPTIED: &[&str] = &[
        "dev",
        "proc",
        "sys",
        "tmp",
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "usr/share/groff",
        "usr/share/lintian",
        "usr/share/doc",
    ];
    let kept = |path: &str| {
        // Copyright files stay for legal reasons; apt needs its partial/ folders.
        path.ends_with("/copyright") || path.ends_with("/partial") || path.ends_with("/lock")
    };
    EMPTIED.iter().any(|dir| {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|inside| {
                !(kept(path) || (*dir == "usr/share/doc" && !inside.contains('/')))
            })
    })
}

/// Tars a root filesystem as it is (owners, modes, symlinks), minus [`excluded`] paths.
/// Sockets and device nodes are skipped: the engine provides /dev.
pub(crate) fn rootfs(root: &Path) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    walk(&mut tar, root, root).with_context(|| format!("archiving {}", root.display()))?;
    tar.into_inner()
        .with_context(|| format!("archiving {}", root.display()))
}

fn walk(tar: &mut tar::Builder<Vec<u8>>, root: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root)?;
        let name = relative.to_string_lossy();
        if excluded(&name) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tar.append_path_with_name(&path, relative)?;
            walk(tar, root, &path)?;
        } else if kind.is_file() || kind.is_symlink() {
            tar.append_path_with_name(&path, relative)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, u32, u64)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                (name, header.mode().unwrap(), header.mtime().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_context_is_the_same_bytes_whatever_the_mtimes_and_skips_crates() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("s6/serf")).unwrap();
        fs::create_dir_all(dir.path().join("app/src")).unwrap();
        fs::write(dir.path().join("app/Cargo.toml"), "").unwrap();
        fs::write(dir.path().join("Dockerfile"), "FROM x\n").unwrap();
        let run = dir.path().join("s6/serf/run");
        fs::write(&run, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();

        let build = || {
            let mut context = BuildContext::new().unwrap();
            context.add_dir(dir.path()).unwrap();
            context.finish().unwrap().bytes()
        };
        let first = build();
        fs::write(dir.path().join("Dockerfile"), "FROM x\n").unwrap(); // new mtime, same bytes
        assert_eq!(first, build());

        let listed = entries(&first);
        let names: Vec<&str> = listed.iter().map(|(name, ..)| name.as_str()).collect();
        assert_eq!(names, ["Dockerfile", "s6/", "s6/serf/", "s6/serf/run"]);
        assert_eq!(listed[0].1, 0o644);
        assert_eq!(listed[3].1, 0o755, "exec bit kept, other bits normalised");
        assert!(listed.iter().all(|(.., mtime)| *mtime == FIXED_MTIME));
    }

    #[test]
    fn a_user_context_follows_its_dockerignore_and_never_sends_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str| {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        };
        for path in [
            "Dockerfile",
            "app.py",
            ".state/lab4/serf.json",
            "target/debug/big",
            "rust/Cargo.toml",
            "notes/keep.md",
            "notes/drop.md",
        ] {
            write(path);
        }
        // Even an exception cannot bring the secrets back; the Dockerfile always goes.
        fs::write(
            dir.path().join(".dockerignore"),
            "Dockerfile\ntarget\nnotes\n!notes/keep.md\n!.state\n",
        )
        .unwrap();
        let mut context = BuildContext::new().unwrap();
        context
            .add_user_dir(dir.path(), &dir.path().join(".state"))
            .unwrap();
        let names: Vec<String> = entries(&context.finish().unwrap().bytes())
            .into_iter()
            .map(|(name, ..)| name)
            .collect();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "app.py",
                "notes/keep.md",
                "rust/",
                "rust/Cargo.toml"
            ]
        );
    }

    #[test]
    fn the_rootfs_leaves_out_caches_and_docs_but_keeps_copyrights() {
        for path in [
            "var/cache/apt/archives/bash_5.2_amd64.deb",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "usr/share/doc/bash/README",
            "usr/share/doc/bash/examples",
            "usr/share/man/man1",
            "usr/share/locale/fr",
            "dev/null",
        ] {
            assert!(excluded(path), "{path} should be left out");
        }
        for path in [
            "usr/share/doc/bash",
            "usr/share/doc/bash/copyright",
            "var/cache/apt/archives/partial",
            "var/lib/apt/lists/partial",
            "var/lib/apt/lists/lock",
            "usr/share/locale",
            "dev",
            "usr/bin/bash",
            "devices",
        ] {
            assert!(!excluded(path), "{path} should be kept");
        }
    }
}
