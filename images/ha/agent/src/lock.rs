//! One run at a time: Serf runs its handlers one after another, but the periodic run and
//! `docker exec` runs can overlap with them.
use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use anyhow::Context as _;

/// Held until dropped (or the process dies: the kernel releases flock locks).
pub(crate) struct Lock {
    _file: File,
}

/// Waits for the exclusive lock on `path`.
pub(crate) fn exclusive(path: &Path) -> anyhow::Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(Lock { _file: file });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    /// Takes the lock without waiting, on a descriptor of its own, as another process would.
    fn try_exclusive(path: &Path) -> std::io::Result<File> {
        let file = OpenOptions::new().write(true).open(path)?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            Ok(file)
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/agent.lock");
        let first = exclusive(&path).unwrap();
        let err = try_exclusive(&path).expect_err("lock was not exclusive");
        assert_eq!(err.raw_os_error(), Some(libc::EWOULDBLOCK), "{err}");
        drop(first);
        try_exclusive(&path).expect("lock was not released on drop");
    }

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/agent.lock");
        let first = exclusive(&path).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let (acquired, rx) = mpsc::channel();
        let waiter = {
            let (path, released) = (path.clone(), released.clone());
            std::thread::spawn(move || {
                let second = exclusive(&path).unwrap();
                acquired.send(released.load(Ordering::SeqCst)).unwrap();
                second
            })
        };
        released.store(true, Ordering::SeqCst);
        drop(first);
        let after_release = rx.recv().expect("the waiter failed");
        assert!(
            after_release,
            "the second holder got the lock while the first held it"
        );
        let second = waiter.join().unwrap();
        let err = try_exclusive(&path).expect_err("the second holder's lock was not exclusive");
        assert_eq!(err.raw_os_error(), Some(libc::EWOULDBLOCK), "{err}");
        drop(second);
        try_exclusive(&path).expect("lock was not released on drop");
    }
}
