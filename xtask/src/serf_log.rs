//! ha's /var/log/serf.log as the host reads it (`status`, `logs --events`, `collect-logs`,
//! `bench`). ha's agent rotates it at a size to serf.log.1, keeping one old file: every
//! reader takes the rotated file, then the current one, so timelines survive a rotation.
use anyhow::ensure;

use crate::engine::Engine;

/// The file the agent writes.
pub(crate) const CURRENT: &str = "/var/log/serf.log";
/// The one older file the rotation keeps.
pub(crate) const ROTATED: &str = "/var/log/serf.log.1";

/// Both files in one exec, a NUL between them (a record never holds one); the status is
/// that of reading the current file, while a missing rotated file is just none yet.
const READ: &str = r#"cat "$1" 2>/dev/null; printf '\0'; exec cat "$2""#;

/// ha's serf.log: the rotated file's lines, then the current file's.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SerfLog {
    pub(crate) rotated: String,
    pub(crate) current: String,
}

impl SerfLog {
    /// Every record in the order written.
    pub(crate) fn text(&self) -> String {
        let mut text = self.rotated.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&self.current);
        text
    }

    /// What [`READ`] printed.
    fn split(output: &str) -> SerfLog {
        let (rotated, current) = output.split_once('\0').unwrap_or(("", output));
        SerfLog {
            rotated: rotated.to_string(),
            current: current.to_string(),
        }
    }
}

/// Reads ha's serf.log (both files) in container `ha`.
pub(crate) async fn read(engine: &Engine, ha: &str) -> anyhow::Result<SerfLog> {
    let out = engine
        .exec(ha, &["sh", "-c", READ, "serf-log", ROTATED, CURRENT])
        .await?;
    ensure!(
        out.exit_code == 0,
        "reading {CURRENT} in container {ha}: {}",
        out.stderr.trim()
    );
    Ok(SerfLog::split(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotated_file_comes_first() {
        let log = SerfLog::split("a 1\nb 2\n\0c 3\n");
        assert_eq!(log.text(), "a 1\nb 2\nc 3\n");
        assert_eq!(log.current, "c 3\n");
        // An unfinished last line of the old file stays a line of its own.
        assert_eq!(SerfLog::split("a 1\0c 3\n").text(), "a 1\nc 3\n");
        // No rotation yet.
        assert_eq!(SerfLog::split("\0c 3\n").text(), "c 3\n");
        assert_eq!(SerfLog::split("\0").text(), "");
    }

    /// The script itself, on this host's sh: the files in order, a missing old one is none,
    /// a missing current one fails.
    #[test]
    fn the_reader_takes_both_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (rotated, current) = (dir.path().join("l.1"), dir.path().join("l"));
        let run = |sh: &xshell::Shell| {
            let (r, c) = (&rotated, &current);
            xshell::cmd!(sh, "sh -c {READ} serf-log {r} {c}")
                .quiet()
                .ignore_status()
                .output()
                .unwrap()
        };
        let sh = xshell::Shell::new().unwrap();
        std::fs::write(&current, "c 3\n").unwrap();
        let out = run(&sh);
        assert!(out.status.success());
        assert_eq!(
            SerfLog::split(&String::from_utf8_lossy(&out.stdout)).text(),
            "c 3\n"
        );
        std::fs::write(&rotated, "a 1\nb 2\n").unwrap();
        let out = run(&sh);
        let log = SerfLog::split(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(log.text(), "a 1\nb 2\nc 3\n");
        std::fs::remove_file(&current).unwrap();
        assert!(!run(&sh).status.success());
    }
}
