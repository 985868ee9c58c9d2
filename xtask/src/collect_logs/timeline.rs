//! The task's timeline: the steps the run took, merged with the Serf events and HAProxy
//! reloads ha's agent logged to /var/log/serf.log. The parser is deliberately tolerant:
//! a line it cannot date keeps its place after the line before it.
use std::time::{SystemTime, UNIX_EPOCH};

use super::clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// collect-logs started a step.
    Step,
    /// collect-logs saw HAProxy serve what the step should leave.
    Converged,
    /// A Serf event ha's handler received (`member-join`, `member-leave`, ...).
    Serf,
    /// A HAProxy reload (`reload #3: +s3 -s1`).
    Reload,
    /// A membership change through HAProxy's runtime API (`update #3: +s3 (runtime API...)`).
    Update,
    /// Anything else the agent logged (a rejected config, an error...).
    Other,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Step | Kind::Converged => "step",
            Kind::Serf => "serf",
            Kind::Reload => "reload",
            Kind::Update => "update",
            Kind::Other => "agent",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) at: Option<SystemTime>,
    /// The time was written to the second only (the agent's stamps are).
    pub(crate) whole_second: bool,
    pub(crate) kind: Kind,
    pub(crate) text: String,
}

impl Entry {
    pub(crate) fn step(at: SystemTime, kind: Kind, text: String) -> Entry {
        Entry {
            at: Some(at),
            whole_second: false,
            kind,
            text,
        }
    }
}

/// One entry per non-empty line of serf.log: `<RFC 3339 time> <text>`, the time optional
/// (and possibly in brackets).
pub(crate) fn parse_serf_log(log: &str) -> Vec<Entry> {
    log.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let stamp = first.trim_start_matches('[').trim_end_matches(']');
            let (at, text) = match clock::parse_rfc3339(stamp) {
                Some(at) => (Some(at), rest.trim()),
                None => (None, line),
            };
            Entry {
                at,
                whole_second: at.is_some() && !stamp.contains('.'),
                kind: classify(text),
                text: text.to_string(),
            }
        })
        .collect()
}

fn classify(text: &str) -> Kind {
    let lower = text.to_ascii_lowercase();
    let first = lower.split_whitespace().next().unwrap_or_default();
    if first.starts_with("reload") {
        Kind::Reload
    } else if first == "update" {
        Kind::Update
    } else if first.starts_with("member-")
        || first.starts_with("user")
        || first.starts_with("query")
    {
        Kind::Serf
    } else {
        Kind::Other
    }
}

/// The steps and the log, both already in time order, merged. An undated log line
/// stays after the line before it.
pub(crate) fn merge(steps: Vec<Entry>, log: Vec<Entry>) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut steps = steps.into_iter().peekable();
    let mut last: Option<(SystemTime, bool)> = None;
    for entry in log {
        if let Some(at) = entry.at {
            last = Some((at, entry.whole_second));
        }
        while let Some(step) = steps.next_if(|step| step_comes_first(step, last)) {
            out.push(step);
        }
        out.push(entry);
    }
    out.extend(steps);
    out
}

/// Whether a step entry precedes a log line stamped `log`. Within the second of a stamp
/// written to the second, causality decides: starting a step comes before the events it
/// causes, and convergence after them.
fn step_comes_first(step: &Entry, log: Option<(SystemTime, bool)>) -> bool {
    let (Some(step_at), Some((log_at, whole_second))) = (step.at, log) else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    if whole_second && secs(step_at) == secs(log_at) {
        step.kind == Kind::Step
    } else {
        step_at < log_at || (step_at == log_at && step.kind == Kind::Step)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn reads_events_and_reloads_and_keeps_odd_lines() {
        let log = "1970-01-01T00:00:10Z member-join ha balancer\n\
                   [1970-01-01T00:00:11.5Z] reload #1: +s1\n\
                   \n\
                   haproxy -c rejected the new config\n\
                   1970-01-01T00:00:12Z error: reloading HAProxy: no master\n\
                   1970-01-01T00:00:12+00:00 member-leave s1 backend\n\
                   1970-01-01T00:00:13Z update #2: -s1 (runtime API, no reload)\n";
        let entries = parse_serf_log(log);
        let kinds: Vec<Kind> = entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Serf,
                Kind::Reload,
                Kind::Other,
                Kind::Other,
                Kind::Serf,
                Kind::Update
            ]
        );
        assert_eq!(entries[0].text, "member-join ha balancer");
        assert!(entries[0].whole_second);
        assert_eq!(entries[1].at, Some(at(11_500)));
        assert!(!entries[1].whole_second);
        assert_eq!(entries[2].at, None);
        assert_eq!(entries[2].text, "haproxy -c rejected the new config");
        assert_eq!(entries[4].at, Some(at(12_000)));
    }

    #[test]
    fn merges_steps_in_time_order() {
        let log = parse_serf_log(
            "1970-01-01T00:00:10Z member-join ha\nundated\n1970-01-01T00:00:20Z member-join s1\n",
        );
        let steps = vec![
            Entry::step(at(9_000), Kind::Step, "start ha".into()),
            Entry::step(at(11_000), Kind::Converged, "converged".into()),
            Entry::step(at(19_000), Kind::Step, "start s1".into()),
        ];
        let texts: Vec<String> = merge(steps, log).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            [
                "start ha",
                "member-join ha",
                "undated",
                "converged",
                "start s1",
                "member-join s1"
            ]
        );
    }

    #[test]
    fn within_a_logged_second_a_step_causes_events_and_converges_after_them() {
        // The agent stamps to the second: s1 joined at 5.9 s, logged as 5 s.
        let log = parse_serf_log(
            "1970-01-01T00:00:05Z member-join s1 backend\n1970-01-01T00:00:05Z reload #1: +s1\n",
        );
        let steps = vec![
            Entry::step(at(5_600), Kind::Step, "start s1".into()),
            Entry::step(at(5_950), Kind::Converged, "HAProxy serves s1".into()),
        ];
        let texts: Vec<String> = merge(steps, log).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            [
                "start s1",
                "member-join s1 backend",
                "reload #1: +s1",
                "HAProxy serves s1"
            ]
        );
    }
}
