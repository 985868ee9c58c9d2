//! Log lines from several sources, put in time order: pure parsing and formatting.
use std::time::{Duration, SystemTime};

use cluster::escape_control;
use cluster::time::{parse_rfc3339, rfc3339};

/// One line and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) at: SystemTime,
    pub(crate) source: String,
    pub(crate) text: String,
}

/// A line that starts with an RFC 3339 time then a space (`docker logs --timestamps`,
/// ha's /var/log/serf.log); None for anything else.
pub(crate) fn parse(source: &str, raw: &str) -> Option<Line> {
    let (stamp, text) = raw.split_once(' ').unwrap_or((raw, ""));
    let at = parse_rfc3339(stamp)?;
    Some(Line {
        at,
        source: source.to_string(),
        text: text.to_string(),
    })
}

/// Every source's lines in one time order; lines of the same instant keep their order.
pub(crate) fn interleave(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by_key(|line| line.at);
    lines
}

/// `ha    | text`, the prefix padded to `width` like `docker compose logs`. Control
/// characters are escaped: logs quote member names, which come from gossip.
pub(crate) fn format(line: &Line, width: usize, timestamps: bool) -> String {
    let prefix = format!("{:<width$} |", line.source);
    let text = escape_control(&line.text);
    if timestamps {
        format!("{prefix} {} {text}", rfc3339(line.at))
    } else {
        format!("{prefix} {text}")
    }
}

/// `--since`: an RFC 3339 time, or a duration ago (`90s`, `10m`, `1h 30m`); as Unix
/// seconds, what the Engine API takes.
pub(crate) fn parse_since(text: &str, now: SystemTime) -> Result<i64, String> {
    let at = match parse_rfc3339(text) {
        Some(at) => at,
        None => now
            .checked_sub(ago(text)?)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    };
    Ok(super::unix_seconds(at))
}

fn ago(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|_| {
        format!(
            "--since {text:?}: use a time (2026-12-01T08:00:00Z) or a duration ago (90s, 10m, 1h)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_serf_log_times_interleave() {
        let lines = vec![
            parse("s1", "2026-12-01T07:00:01.5Z GET /").unwrap(),
            parse("ha:serf", "2026-12-01T07:00:01Z member-join s1 backend").unwrap(),
            parse(
                "ha",
                "2026-12-01T07:00:01.123456789Z ha-agent: reload #2: +s1",
            )
            .unwrap(),
            parse("ha", "2026-12-01T07:00:00.9Z serf: joined").unwrap(),
        ];
        let sources: Vec<String> = interleave(lines.clone())
            .iter()
            .map(|l| l.source.clone())
            .collect::<Vec<_>>();
        assert_eq!(sources, ["ha", "ha:serf", "ha", "s1"]);
        assert_eq!(
            format(&lines[1], 7, false),
            "ha:serf | member-join s1 backend"
        );
        assert_eq!(format(&lines[0], 4, false), "s1   | GET /");
        assert!(parse("s1", "no time here").is_none());
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let line = parse(
            "ha:serf",
            "2026-12-01T07:00:01Z skipping member \x1b[2Js9\x07 at x",
        )
        .unwrap();
        assert_eq!(
            format(&line, 7, false),
            "ha:serf | skipping member \\x1b[2Js9\\x07 at x"
        );
        // A line that is no record (unknown to the format) is escaped all the same.
        let raw = parse("ha:serf", "2026-12-01T07:00:01Z \x1b]0;title\x07").unwrap();
        assert_eq!(
            format(&raw, 7, true),
            "ha:serf | 2026-12-01T07:00:01.000Z \\x1b]0;title\\x07"
        );
    }

    #[test]
    fn since_takes_a_time_or_a_duration_ago() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_since("10m", now), Ok(9_400));
        assert_eq!(parse_since("1970-01-01T00:00:42Z", now), Ok(42));
        assert!(parse_since("yesterday", now)
            .unwrap_err()
            .starts_with("--since \"yesterday\""));
    }
}
