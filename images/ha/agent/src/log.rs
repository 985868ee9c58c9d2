//! Where the agent's words go. `docker logs ha` shows the stdout of PID 1 (s6-svscan),
//! which services under s6 inherit, but Serf keeps an event handler's output to itself
//! (it logs it only at debug level), and `docker exec` output goes to the caller. So each
//! line goes to the process's own stdout/stderr and, when that is not already the
//! container log, to PID 1's stdout too. Events, reloads and errors are also appended,
//! timestamped, to /var/log/serf.log.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) struct Log {
    serf_log: PathBuf,
    /// PID 1's stdout, when it is not our own stdout.
    container: Option<File>,
}

impl Log {
    pub(crate) fn open(serf_log: &Path, container_log: &Path) -> Log {
        let container = match (stdout_identity(), file_identity(container_log)) {
            (Some(ours), Some(theirs)) if ours == theirs => None,
            _ => OpenOptions::new().append(true).open(container_log).ok(),
        };
        Log {
            serf_log: serf_log.to_path_buf(),
            container,
        }
    }

    /// A line for the container log only.
    pub(crate) fn say(&self, message: &str) {
        let line = format!("ha-agent: {message}\n");
        let _ = std::io::stdout().write_all(line.as_bytes());
        self.to_container(&line);
    }

    /// A line for the container log and /var/log/serf.log.
    pub(crate) fn record(&self, message: &str) {
        self.say(message);
        self.append_serf_log(message);
    }

    /// An error for the container log (on stderr) and /var/log/serf.log.
    pub(crate) fn error(&self, message: &str) {
        let line = format!("ha-agent: error: {message}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        self.to_container(&line);
        self.append_serf_log(&format!("error: {message}"));
    }

    /// Appends one timestamped line per entry to /var/log/serf.log (lab task 3 format:
    /// `<time> <event> <member> <role>`).
    pub(crate) fn append_serf_log(&self, message: &str) {
        let stamp = rfc3339(SystemTime::now());
        let text: String = message
            .lines()
            .map(|line| format!("{stamp} {line}\n"))
            .collect();
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.serf_log)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(err) = written {
            let line = format!(
                "ha-agent: error: appending to {}: {err}\n",
                self.serf_log.display()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            self.to_container(&line);
        }
    }

    fn to_container(&self, line: &str) {
        if let Some(mut file) = self.container.as_ref() {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

fn stdout_identity() -> Option<(u64, u64)> {
    file_identity(Path::new("/proc/self/fd/1"))
}

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// `2026-03-04T05:06:07Z`: RFC 3339 in UTC, to the second, without a date crate.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339_in_utc() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_767_225_600), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn serf_log_gets_one_stamped_line_per_message_line() {
        let dir = tempfile::tempdir().unwrap();
        let serf_log = dir.path().join("serf.log");
        let log = Log::open(&serf_log, &dir.path().join("no-container-log"));
        log.append_serf_log("member-join s1 backend\nmember-join s2 backend");
        let text = std::fs::read_to_string(&serf_log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z member-join s1 backend"), "{text}");
        assert!(lines[1].ends_with("Z member-join s2 backend"), "{text}");
    }
}
