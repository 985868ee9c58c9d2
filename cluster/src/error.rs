use std::fmt;

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
        let line = err.span().map(|span| line_of_offset(text, span.start));
        // toml's message is multi-line (it quotes the source); keep only its first sentence.
        let message = err.message().lines().next().unwrap_or("invalid TOML");
        // serde speaks Rust types; users read TOML.
        let message = message.replace("expected i64", "expected an integer");
        let key = line
            .and_then(|line| key_at_line(text, line))
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

/// The dotted key assigned on `line` (1-based): its table header plus its name.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (index, current) in text.lines().enumerate() {
        let trimmed = current.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            table = header.trim_end_matches(']').trim().to_string();
        }
        if index + 1 == line {
            let (name, _) = trimmed.split_once('=')?;
            let name = name.trim();
            return Some(if table.is_empty() {
                name.to_string()
            } else {
                format!("{table}.{name}")
            });
        }
    }
    None
}

/// Finds the line of `key` (dotted, e.g. `ha.health.path`) in a conventionally laid out
/// file: a `[table]` header followed by `name = value` lines. Returns None when the key
/// is absent (a default) or written in another style.
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (table, name) = match key.rsplit_once('.') {
        Some((table, name)) => (table, name),
        None => ("", key),
    };
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header.trim_end_matches(']').trim().to_string();
            continue;
        }
        if current == table {
            if let Some((lhs, _)) = trimmed.split_once('=') {
                if lhs.trim() == name {
                    return Some(index + 1);
                }
            }
        }
    }
    None
}
