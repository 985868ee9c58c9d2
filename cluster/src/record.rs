//! What ha's agent records in /var/log/serf.log, one line per record: `<time> <record>`,
//! the time RFC 3339 in UTC to the millisecond ([`crate::time`]). The lab's task 3 reads
//! `<time> member-join s1 backend` there; the agent's own records follow, each led by its
//! keyword, so the file stays readable by a person. The agent writes through this module
//! and the host (bench, collect-logs, tests) reads through it: one format, one owner.
//!
//! Names and addresses come from gossip (untrusted): a token that could break the line is
//! written quoted and escaped, and free text is kept on one line by escaping newlines.
use std::fmt;
use std::time::SystemTime;

use crate::time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A Serf event about one member, as the lab logs it: `member-join s1 backend`.
    Event {
        event: String,
        member: String,
        role: String,
    },
    /// A config made live without a reload: `config #1: no servers (HAProxy starting)`.
    Config {
        generation: u64,
        change: Change,
        haproxy: Haproxy,
    },
    /// HAProxy reloaded on a new config: `reload #3: +s3 -s1`.
    Reload { generation: u64, change: Change },
    /// A membership change applied through HAProxy's runtime API, no reload:
    /// `update #4: +s3 (runtime API, no reload)`.
    Update { generation: u64, change: Change },
    /// `ha-agent reload`: the live config loaded again, not a new one:
    /// `forced reload of config #3 (hitless)`.
    ForcedReload { generation: u64, method: String },
    /// A config that was not made live (`haproxy -c` rejected it); the previous one keeps
    /// serving: `refused config #4: <why>`.
    Refused { generation: u64, reason: String },
    /// A member claiming to be a backend that cannot be rendered:
    /// `skipping member s9 at 10.0.0.9:7946: <why>`.
    Skipped {
        member: String,
        addr: String,
        reason: String,
    },
    /// The safety net found HAProxy's live servers apart from the live config and put
    /// them back: `repaired: s2 was in maintenance (set ready)`.
    Repaired { what: String },
    /// `error: <message>`.
    Error { message: String },
}

/// What a new config changes in the server list, or that the record retries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `+s3 -s1 ~s2`, `no servers`, `servers unchanged`.
    Servers(String),
    /// A reload HAProxy never confirmed, tried again on the same config.
    Retried,
}

/// Why a config went live without a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Haproxy {
    /// HAProxy starts right after, on this config.
    Starting,
    /// HAProxy is down; it loads this config when it starts.
    NotRunning,
}

impl Haproxy {
    fn as_str(self) -> &'static str {
        match self {
            Haproxy::Starting => "(HAProxy starting)",
            Haproxy::NotRunning => "(HAProxy not running; it loads this config when it starts)",
        }
    }
}

/// One line of serf.log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub at: SystemTime,
    pub record: Record,
}

impl Line {
    pub fn now(record: Record) -> Line {
        Line {
            at: SystemTime::now(),
            record,
        }
    }

    /// A line as [`Display`](fmt::Display) writes it; `None` for anything else.
    pub fn parse(line: &str) -> Option<Line> {
        let (stamp, rest) = line.trim().split_once(' ')?;
        Some(Line {
            at: time::parse_rfc3339(stamp)?,
            record: Record::parse(rest)?,
        })
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", time::rfc3339(self.at), self.record)
    }
}

/// Every line of a serf.log: parsed, or the text of a line this format does not know
/// (an older agent, a hand-written note). Empty lines are left out.
pub fn parse_log(log: &str) -> Vec<Result<Line, &str>> {
    log.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| Line::parse(line).ok_or(line))
        .collect()
}

impl Record {
    /// Whether this is a Serf event (what the lab's handlers logged).
    pub fn is_event(&self) -> bool {
        matches!(self, Record::Event { .. })
    }

    /// Whether HAProxy reloaded on a new config (forced reloads are not).
    pub fn is_reload(&self) -> bool {
        matches!(self, Record::Reload { .. })
    }

    /// A record as [`Display`](fmt::Display) writes it (without the time).
    pub fn parse(text: &str) -> Option<Record> {
        if let Some(message) = text.strip_prefix("error: ") {
            return Some(Record::Error {
                message: unescape(message),
            });
        }
        if let Some(what) = text.strip_prefix("repaired: ") {
            return Some(Record::Repaired {
                what: unescape(what),
            });
        }
        if let Some(rest) = text.strip_prefix("forced reload of config #") {
            let (generation, method) = rest.split_once(" (")?;
            return Some(Record::ForcedReload {
                generation: generation.parse().ok()?,
                method: method.strip_suffix(')')?.to_string(),
            });
        }
        if let Some(rest) = text.strip_prefix("refused config #") {
            let (generation, reason) = rest.split_once(": ")?;
            return Some(Record::Refused {
                generation: generation.parse().ok()?,
                reason: unescape(reason),
            });
        }
        if let Some(rest) = text.strip_prefix("update #") {
            let rest = rest.strip_suffix(UPDATE_SUFFIX)?;
            let (generation, change) = generation_change(rest)?;
            return Some(Record::Update { generation, change });
        }
        if let Some(rest) = text.strip_prefix("reload #") {
            let (generation, change) = generation_change(rest)?;
            return Some(Record::Reload { generation, change });
        }
        if let Some(rest) = text.strip_prefix("config #") {
            let (rest, haproxy) = [Haproxy::Starting, Haproxy::NotRunning]
                .into_iter()
                .find_map(|h| Some((rest.strip_suffix(h.as_str())?.strip_suffix(' ')?, h)))?;
            let (generation, change) = generation_change(rest)?;
            return Some(Record::Config {
                generation,
                change,
                haproxy,
            });
        }
        if let Some(rest) = text.strip_prefix("skipping member ") {
            let (member, rest) = read_token(rest)?;
            let rest = rest.strip_prefix(" at ")?;
            let quoted = rest.starts_with('"');
            let (addr, rest) = read_token(rest)?;
            // A bare address runs up to the space, so it took the `:` that ends it.
            let (addr, reason) = if quoted {
                (addr, rest.strip_prefix(": ")?)
            } else {
                (addr.strip_suffix(':')?.to_string(), rest.strip_prefix(' ')?)
            };
            return Some(Record::Skipped {
                member,
                addr,
                reason: unescape(reason),
            });
        }
        // The lab's event line: `<event> <member> <role>`.
        let (event, rest) = read_token(text)?;
        let (member, rest) = read_token(rest.strip_prefix(' ')?)?;
        let (role, rest) = read_token(rest.strip_prefix(' ')?)?;
        let serf_event = event.starts_with("member-") || event == "user" || event == "query";
        (serf_event && rest.is_empty()).then_some(Record::Event {
            event,
            member,
            role,
        })
    }
}

const UPDATE_SUFFIX: &str = " (runtime API, no reload)";

/// `3: +s1` or `3 (retried)`.
fn generation_change(text: &str) -> Option<(u64, Change)> {
    if let Some(generation) = text.strip_suffix(" (retried)") {
        return Some((generation.parse().ok()?, Change::Retried));
    }
    let (generation, servers) = text.split_once(": ")?;
    Some((generation.parse().ok()?, Change::Servers(unescape(servers))))
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Servers(servers) => write!(f, ": {}", escape(servers)),
            Change::Retried => f.write_str(" (retried)"),
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Event {
                event,
                member,
                role,
            } => write!(f, "{} {} {}", token(event), token(member), token(role)),
            Record::Config {
                generation,
                change,
                haproxy,
            } => write!(f, "config #{generation}{change} {}", haproxy.as_str()),
            Record::Reload { generation, change } => write!(f, "reload #{generation}{change}"),
            Record::Update { generation, change } => {
                write!(f, "update #{generation}{change}{UPDATE_SUFFIX}")
            }
            Record::ForcedReload { generation, method } => write!(
                f,
                "forced reload of config #{generation} ({})",
                escape(method)
            ),
            Record::Refused { generation, reason } => {
                write!(f, "refused config #{generation}: {}", escape(reason))
            }
            Record::Skipped {
                member,
                addr,
                reason,
            } => write!(
                f,
                "skipping member {} at {}: {}",
                token(member),
                token(addr),
                escape(reason)
            ),
            Record::Repaired { what } => write!(f, "repaired: {}", escape(what)),
            Record::Error { message } => write!(f, "error: {}", escape(message)),
        }
    }
}

/// A word as it is, or quoted and escaped when it is empty or could break the line.
fn token(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    {
        text.to_string()
    } else {
        format!("\"{}\"", escape(text).replace('"', "\\\""))
    }
}

/// One token from the start of `text` (up to a space, or quoted); the rest after it.
fn read_token(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(' ').unwrap_or(text.len());
        return (end > 0).then(|| (text[..end].to_string(), &text[end..]));
    };
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match (escaped, c) {
            (false, '\\') => escaped = true,
            (false, '"') => return Some((unescape(&quoted[..i]), &quoted[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// Free text on one line that cannot drive a terminal: backslashes, line breaks and every
/// other control character (C0, DEL, C1: a gossip name could carry an escape sequence)
/// escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let hex: String = chars.clone().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) if hex.len() == 2 => {
                        out.push(char::from(byte));
                        chars.nth(1);
                    }
                    _ => out.push('x'),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn event(event: &str, member: &str, role: &str) -> Record {
        Record::Event {
            event: event.into(),
            member: member.into(),
            role: role.into(),
        }
    }

    fn every_kind() -> Vec<(Record, &'static str)> {
        vec![
            (
                event("member-join", "s1", "backend"),
                "member-join s1 backend",
            ),
            (event("member-leave", "s2", ""), "member-leave s2 \"\""),
            (
                Record::Config {
                    generation: 1,
                    change: Change::Servers("no servers".into()),
                    haproxy: Haproxy::Starting,
                },
                "config #1: no servers (HAProxy starting)",
            ),
            (
                Record::Config {
                    generation: 2,
                    change: Change::Retried,
                    haproxy: Haproxy::NotRunning,
                },
                "config #2 (retried) (HAProxy not running; it loads this config when it starts)",
            ),
            (
                Record::Reload {
                    generation: 3,
                    change: Change::Servers("+s3 -s1 ~s2".into()),
                },
                "reload #3: +s3 -s1 ~s2",
            ),
            (
                Record::Reload {
                    generation: 3,
                    change: Change::Retried,
                },
                "reload #3 (retried)",
            ),
            (
                Record::Update {
                    generation: 4,
                    change: Change::Servers("+s3 -s1".into()),
                },
                "update #4: +s3 -s1 (runtime API, no reload)",
            ),
            (
                Record::ForcedReload {
                    generation: 3,
                    method: "hitless".into(),
                },
                "forced reload of config #3 (hitless)",
            ),
            (
                Record::Refused {
                    generation: 4,
                    reason: "`haproxy -c` rejected the config:\n[ALERT] unknown keyword".into(),
                },
                "refused config #4: `haproxy -c` rejected the config:\\n[ALERT] unknown keyword",
            ),
            (
                Record::Skipped {
                    member: "s9".into(),
                    addr: "10.0.0.9:7946".into(),
                    reason: "the address is outside the cluster network 192.168.42.0/24".into(),
                },
                "skipping member s9 at 10.0.0.9:7946: the address is outside the cluster network 192.168.42.0/24",
            ),
            (
                Record::Repaired {
                    what: "s2 was in maintenance (set ready)".into(),
                },
                "repaired: s2 was in maintenance (set ready)",
            ),
            (
                Record::Error {
                    message: "reading C:\\x: no\nsecond line".into(),
                },
                "error: reading C:\\\\x: no\\nsecond line",
            ),
        ]
    }

    #[test]
    fn every_record_is_one_readable_line_that_parses_back() {
        for (record, text) in every_kind() {
            assert_eq!(record.to_string(), text);
            assert_eq!(Record::parse(text), Some(record), "{text}");
        }
    }

    #[test]
    fn lines_carry_a_millisecond_stamp() {
        let at = UNIX_EPOCH + Duration::from_millis(1_767_225_600_123);
        let line = Line {
            at,
            record: event("member-failed", "s2", "backend"),
        };
        let text = line.to_string();
        assert_eq!(text, "2026-01-01T00:00:00.123Z member-failed s2 backend");
        assert_eq!(Line::parse(&text), Some(line));
    }

    #[test]
    fn control_characters_never_reach_the_line() {
        let hostile = "evil\u{1b}[31m\u{7}\u{7f}\u{9b}2J";
        for record in [
            event("member-join", hostile, "backend"),
            Record::Skipped {
                member: hostile.into(),
                addr: "10.0.0.9:7946".into(),
                reason: hostile.into(),
            },
            Record::Repaired {
                what: hostile.into(),
            },
        ] {
            let text = record.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.contains("evil\\x1b[31m\\x07\\x7f\\x9b2J"), "{text}");
            assert_eq!(Record::parse(&text), Some(record), "{text}");
        }
    }

    #[test]
    fn hostile_fields_cannot_forge_records() {
        let forged = event(
            "member-join",
            "s1 member-join s9\nreload #9: +s9",
            "backend",
        );
        let text = forged.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(
            text,
            r#"member-join "s1 member-join s9\nreload #9: +s9" backend"#
        );
        assert_eq!(Record::parse(&text), Some(forged));
        let skipped = Record::Skipped {
            member: "a\"b".into(),
            addr: "x y".into(),
            reason: "r".into(),
        };
        assert_eq!(Record::parse(&skipped.to_string()), Some(skipped));
        let colon = Record::Skipped {
            member: "s1".into(),
            addr: "x:".into(),
            reason: "r: s".into(),
        };
        assert_eq!(Record::parse(&colon.to_string()), Some(colon));
    }

    #[test]
    fn unknown_lines_are_kept_as_text() {
        let log = "2026-01-01T00:00:00.000Z member-join ha balancer\n\n\
                   something an older agent wrote\n\
                   2026-01-01T00:00:01Z reload #1: +s1\n\
                   2026-01-01T00:00:02.000Z member-join\n";
        let lines = parse_log(log);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].as_ref().is_ok_and(|l| l.record.is_event()));
        assert_eq!(lines[1], Err("something an older agent wrote"));
        assert!(lines[2].as_ref().is_ok_and(|l| l.record.is_reload()));
        assert_eq!(lines[3], Err("2026-01-01T00:00:02.000Z member-join"));
    }
}
