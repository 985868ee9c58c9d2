use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A problem in the cluster file, rendered as one line: `file:line: key: problem; fix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let span = err.span();
        let line = span.as_ref().map(|span| line_of_offset(text, span.start));
        // toml's message is multi-line (it quotes the source); keep only its first sentence.
        let message = err.message().lines().next().unwrap_or("invalid TOML");
        // serde speaks Rust types; users read TOML.
        let message = message.replace("expected i64", "expected an integer");
        let key = span
            .and_then(|span| key_at(text, &span))
            .unwrap_or_default();
        ConfigError {
            file: file.to_string(),
            line,
            key,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// One key of the file as toml parsed it: dotted from the root, where it is written
/// (from its name to the end of its value), and whether it holds a table.
struct Written {
    key: String,
    span: Range<usize>,
    table: bool,
}

/// Every key of the file, with toml's own spans, whatever the style it is written in
/// (`[table]` headers, dotted keys, inline tables). A file with errors yields what toml
/// could still make sense of.
fn written_keys(text: &str) -> Vec<Written> {
    fn walk(prefix: &str, table: &DeTable<'_>, out: &mut Vec<Written>) {
        for (name, value) in table.iter() {
            let key = match prefix {
                "" => name.get_ref().to_string(),
                _ => format!("{prefix}.{}", name.get_ref()),
            };
            let inner = match value.get_ref() {
                DeValue::Table(inner) => Some(inner),
                _ => None,
            };
            out.push(Written {
                key: key.clone(),
                span: name.span().start..value.span().end.max(name.span().end),
                table: inner.is_some(),
            });
            if let Some(inner) = inner {
                walk(&key, inner, out);
            }
        }
    }
    let (root, _errors) = DeTable::parse_recoverable(text);
    let mut out = Vec::new();
    walk("", root.get_ref(), &mut out);
    out
}

/// The dotted key toml's error points at: the key written around `span`, else (a key toml
/// refused to record, such as a duplicate) the name at `span` in the `[table]` above it.
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let written = written_keys(text);
    let around = written
        .iter()
        .filter(|w| w.span.contains(&span.start))
        .max_by_key(|w| w.key.matches('.').count());
    if let Some(around) = around {
        return Some(around.key.clone());
    }
    let name = text.get(span.clone()).filter(|name| is_bare_key(name))?;
    // A table's span is its header's name, `]` included.
    let header = written
        .iter()
        .filter(|w| w.table && w.span.end <= span.start)
        .filter(|w| text.get(w.span.clone()).is_some_and(|h| h.ends_with(']')))
        .max_by_key(|w| w.span.start);
    Some(match header {
        Some(table) => format!("{}.{name}", table.key),
        None => name.to_string(),
    })
}

fn is_bare_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The line where `key` (dotted, e.g. `ha.health.path`) is written, by toml's spans; None
/// when the key is absent (a default).
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    written_keys(text)
        .into_iter()
        .find(|w| w.key == key)
        .map(|w| line_of_offset(text, w.span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_in_any_style() {
        let text = "project = \"x\"\nha.http_port = 80\nserf = { profile = \"mars\" }\n\n[webapps]\ncount = 2\n";
        assert_eq!(line_of_key(text, "project"), Some(1));
        assert_eq!(line_of_key(text, "ha.http_port"), Some(2));
        assert_eq!(line_of_key(text, "serf.profile"), Some(3));
        assert_eq!(line_of_key(text, "webapps.count"), Some(6));
        assert_eq!(line_of_key(text, "webapps.port"), None, "a default");
        let err = crate::parse(text, "x.toml").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key, "serf.profile");
    }

    #[test]
    fn toml_errors_name_their_key() {
        let err = crate::parse("[ha]\nhttp_port = \"80\"\n", "x.toml").unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (Some(2), "ha.http_port"));
        let err = crate::parse("ha = { sticky = 1 }\n", "x.toml").unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (Some(1), "ha.sticky"));
        let err = crate::parse("[webapps]\ncount = 2\ncount = 3\n", "x.toml").unwrap_err();
        assert_eq!(err.to_string(), "x.toml:3: webapps.count: duplicate key");
    }
}
