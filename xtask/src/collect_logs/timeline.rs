//! The task's timeline: the steps the run took, merged with the Serf events and HAProxy
//! reloads ha's agent recorded in /var/log/serf.log. Both sides stamp to the millisecond,
//! so plain time order is causal order. A line that is not a record keeps its place
//! after the line before it.
use std::time::SystemTime;

use cluster::record::{self, Line, Record};

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
    pub(crate) kind: Kind,
    pub(crate) text: String,
}

impl Entry {
    pub(crate) fn step(at: SystemTime, kind: Kind, text: String) -> Entry {
        Entry {
            at: Some(at),
            kind,
            text,
        }
    }
}

/// One entry per non-empty line of serf.log, read as the agent's records; a line that
/// is not one is kept, undated, as it is.
pub(crate) fn parse_serf_log(log: &str) -> Vec<Entry> {
    record::parse_log(log)
        .into_iter()
        .map(|line| match line {
            Ok(Line { at, record }) => Entry {
                at: Some(at),
                kind: match record {
                    Record::Event { .. } => Kind::Serf,
                    Record::Reload { .. } => Kind::Reload,
                    Record::Update { .. } => Kind::Update,
                    _ => Kind::Other,
                },
                text: record.to_string(),
            },
            Err(text) => Entry {
                at: None,
                kind: Kind::Other,
                text: text.to_string(),
            },
        })
        .collect()
}

/// The steps and the log, both already in time order, merged by their millisecond
/// stamps (a step first on a tie: it causes what follows). An undated log line stays
/// after the line before it.
pub(crate) fn merge(steps: Vec<Entry>, log: Vec<Entry>) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut steps = steps.into_iter().peekable();
    let mut last: Option<SystemTime> = None;
    for entry in log {
        last = entry.at.or(last);
        while let Some(step) =
            steps.next_if(|step| matches!((step.at, last), (Some(s), Some(l)) if s <= l))
        {
            out.push(step);
        }
        out.push(entry);
    }
    out.extend(steps);
    out
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
        let log = "1970-01-01T00:00:10.000Z member-join ha balancer\n\
                   1970-01-01T00:00:11.500Z reload #1: +s1\n\
                   \n\
                   haproxy -c rejected the new config\n\
                   1970-01-01T00:00:12.000Z error: reloading HAProxy: no master\n\
                   1970-01-01T00:00:12.250Z member-leave s1 backend\n\
                   1970-01-01T00:00:13.000Z update #2: -s1 (runtime API, no reload)\n";
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
        assert_eq!(entries[1].at, Some(at(11_500)));
        assert_eq!(entries[2].at, None);
        assert_eq!(entries[2].text, "haproxy -c rejected the new config");
        assert_eq!(entries[3].text, "error: reloading HAProxy: no master");
        assert_eq!(entries[4].at, Some(at(12_250)));
    }

    #[test]
    fn merges_steps_in_millisecond_order() {
        let log = parse_serf_log(
            "1970-01-01T00:00:05.700Z member-join s1 backend\n\
             odd line\n\
             1970-01-01T00:00:05.900Z reload #1: +s1\n\
             1970-01-01T00:00:20.000Z member-join s2 backend\n",
        );
        let steps = vec![
            Entry::step(at(5_600), Kind::Step, "start s1".into()),
            Entry::step(at(5_950), Kind::Converged, "HAProxy serves s1".into()),
            Entry::step(at(20_000), Kind::Step, "start s2".into()),
        ];
        let texts: Vec<String> = merge(steps, log).into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            [
                "start s1",
                "member-join s1 backend",
                "odd line",
                "reload #1: +s1",
                "HAProxy serves s1",
                "start s2",
                "member-join s2 backend",
            ]
        );
    }
}
