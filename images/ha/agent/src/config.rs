//! Making a rendered config live: never without `haproxy -c` approving it, always by an
//! atomic rename, keeping the previous config and a bounded numbered history.
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::paths::Paths;

/// Config number `generation` was not made live (`haproxy -c` rejected it, or it could not
/// be written); the previous config keeps serving. Recorded as `refused`.
#[derive(Debug)]
pub(crate) struct NotMadeLive {
    pub(crate) generation: u64,
    pub(crate) reason: String,
}

impl NotMadeLive {
    pub(crate) fn error(generation: u64, err: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(NotMadeLive {
            generation,
            reason: format!("{err:#}"),
        })
    }
}

impl std::fmt::Display for NotMadeLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "config #{} not made live; the previous config keeps serving: {}",
            self.generation, self.reason
        )
    }
}

impl std::error::Error for NotMadeLive {}

/// How many numbered configs `history/` keeps.
pub(crate) const HISTORY_KEEP: u64 = 10;

/// `haproxy.cfg.<generation>`.
pub(crate) fn history_name(generation: u64) -> String {
    format!("haproxy.cfg.{generation}")
}

/// The generation of a history file name, if it is one.
pub(crate) fn history_generation(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix("haproxy.cfg.")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Generations to delete so that only the `keep` newest up to `latest` remain.
pub(crate) fn history_to_prune(existing: &[u64], latest: u64, keep: u64) -> Vec<u64> {
    let oldest_kept = latest.saturating_sub(keep.saturating_sub(1));
    let mut prune: Vec<u64> = existing
        .iter()
        .copied()
        .filter(|g| *g < oldest_kept || *g > latest)
        .collect();
    prune.sort_unstable();
    prune
}

/// Validates `text` as config number `generation` and, if HAProxy accepts it, makes it the
/// live config. `validate` gets the candidate file and fails with HAProxy's complaint;
/// on failure the live config is untouched.
pub(crate) fn install(
    paths: &Paths,
    text: &str,
    generation: u64,
    validate: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let live = &paths.haproxy_cfg;
    let dir = live.parent().context("the live config has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Same directory as the live file, so the final rename is atomic. Runs hold the lock,
    // so one fixed name is enough.
    let candidate = crate::files::sibling(live, ".new");
    std::fs::write(&candidate, text)
        .with_context(|| format!("writing the candidate config {}", candidate.display()))?;
    if let Err(err) = validate(&candidate) {
        let _ = std::fs::remove_file(&candidate);
        return Err(err);
    }
    if live.exists() {
        std::fs::copy(live, paths.haproxy_cfg_prev()).with_context(|| {
            format!(
                "keeping the previous config as {}",
                paths.haproxy_cfg_prev().display()
            )
        })?;
    }
    save_history(&paths.history_dir, text, generation)?;
    std::fs::rename(&candidate, live)
        .with_context(|| format!("moving the new config into place at {}", live.display()))?;
    Ok(())
}

fn save_history(dir: &Path, text: &str, generation: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path: PathBuf = dir.join(history_name(generation));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    let existing: Vec<u64> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| history_generation(&e.file_name().to_string_lossy()))
        .collect();
    for old in history_to_prune(&existing, generation, HISTORY_KEEP) {
        let path = dir.join(history_name(old));
        std::fs::remove_file(&path).with_context(|| format!("pruning {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_names_round_trip() {
        assert_eq!(history_name(12), "haproxy.cfg.12");
        assert_eq!(history_generation("haproxy.cfg.12"), Some(12));
        for other in [
            "haproxy.cfg",
            "haproxy.cfg.",
            "haproxy.cfg.prev",
            "haproxy.cfg.1x",
            "x.cfg.1",
        ] {
            assert_eq!(history_generation(other), None, "{other}");
        }
    }

    #[test]
    fn keeps_the_newest_generations() {
        assert_eq!(history_to_prune(&[1, 2, 3], 3, 10), Vec::<u64>::new());
        assert_eq!(
            history_to_prune(&(1..=12).collect::<Vec<_>>(), 12, 10),
            [1, 2]
        );
        // Leftovers from before a state reset (numbers above the latest) go too.
        assert_eq!(history_to_prune(&[2, 40, 41], 3, 10), [40, 41]);
        assert_eq!(history_to_prune(&[5], 5, 1), Vec::<u64>::new());
    }

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        (dir, paths)
    }

    #[test]
    fn swaps_in_a_valid_config_and_keeps_the_previous() {
        let (_dir, paths) = paths();
        install(&paths, "one\n", 1, |_| Ok(())).unwrap();
        install(&paths, "two\n", 2, |_| Ok(())).unwrap();
        assert_eq!(
            std::fs::read_to_string(&paths.haproxy_cfg).unwrap(),
            "two\n"
        );
        assert_eq!(
            std::fs::read_to_string(paths.haproxy_cfg_prev()).unwrap(),
            "one\n"
        );
        let first = paths.history_dir.join("haproxy.cfg.1");
        assert_eq!(std::fs::read_to_string(first).unwrap(), "one\n");
    }

    #[test]
    fn a_rejected_config_never_goes_live() {
        let (_dir, paths) = paths();
        install(&paths, "good\n", 1, |_| Ok(())).unwrap();
        let err = install(&paths, "bad\n", 2, |candidate| {
            assert_eq!(std::fs::read_to_string(candidate).unwrap(), "bad\n");
            anyhow::bail!("haproxy -c: unknown keyword")
        })
        .unwrap_err();
        assert!(err.to_string().contains("unknown keyword"));
        assert_eq!(
            std::fs::read_to_string(&paths.haproxy_cfg).unwrap(),
            "good\n"
        );
        assert!(!paths.history_dir.join("haproxy.cfg.2").exists());
        let leftovers: Vec<_> = std::fs::read_dir(paths.haproxy_cfg.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "candidate left behind: {leftovers:?}");
    }

    #[test]
    fn history_stays_bounded() {
        let (_dir, paths) = paths();
        for generation in 1..=15 {
            install(&paths, &format!("{generation}\n"), generation, |_| Ok(())).unwrap();
        }
        let mut kept: Vec<u64> = std::fs::read_dir(&paths.history_dir)
            .unwrap()
            .filter_map(|e| history_generation(&e.unwrap().file_name().to_string_lossy()))
            .collect();
        kept.sort_unstable();
        assert_eq!(kept, (6..=15).collect::<Vec<_>>());
    }
}
