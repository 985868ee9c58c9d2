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
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/agent.lock");
        let first = exclusive(&path).unwrap();
        let acquired = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (path, acquired) = (path.clone(), acquired.clone());
            std::thread::spawn(move || {
                let _second = exclusive(&path).unwrap();
                acquired.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(!acquired.load(Ordering::SeqCst), "lock was not exclusive");
        drop(first);
        waiter.join().unwrap();
        assert!(acquired.load(Ordering::SeqCst));
    }
}
