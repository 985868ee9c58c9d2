//! `.dockerignore`, applied the way the docker CLI applies it before it sends a context
//! (the engine does not read it for the files it is sent): a port of moby's
//! patternmatcher. Lines are trimmed, `#` starts a comment, `!` makes an exception; a
//! pattern is cleaned like Go's `filepath.Clean` and a leading `/` dropped. `*` and `?`
//! stop at `/`, `**` crosses folders, `[...]` is a class, `\` escapes. A pattern excludes
//! a path when it matches the path or one of its parent folders, and the last pattern
//! that matches decides.
use std::path::Path;

use anyhow::Context as _;
use regex::Regex;

#[derive(Debug, Default)]
pub(crate) struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    /// The cleaned pattern.
    pattern: String,
    regex: Regex,
    exception: bool,
}

impl DockerIgnore {
    /// The `.dockerignore` at the root of `context`; none: nothing is excluded.
    pub(crate) fn read(context: &Path) -> anyhow::Result<DockerIgnore> {
        let path = context.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                DockerIgnore::parse(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<DockerIgnore> {
        // A byte-order mark is not part of the first pattern (as in moby).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
                anyhow::ensure!(!pattern.is_empty(), "line {}: `!` with no pattern", n + 1);
            }
            let mut pattern = clean(pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            let regex = Regex::new(&translate(&pattern))
                .with_context(|| format!("line {}: {pattern:?} is not a valid pattern", n + 1))?;
            rules.push(Rule {
                pattern,
                regex,
                exception,
            });
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether an exception names something inside excluded folder `dir`, by its text, as
    /// the CLI decides whether to walk such a folder (`!data/keep.txt` for `data`, not
    /// `!**/keep.txt`).
    pub(crate) fn has_exception_under(&self, dir: &str) -> bool {
        let dir = format!("{dir}/");
        self.rules
            .iter()
            .any(|r| r.exception && format!("{}/", r.pattern).starts_with(&dir))
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for rule in &self.rules {
            let matched =
                rule.regex.is_match(path) || parents.iter().any(|p| rule.regex.is_match(p));
            if matched {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

/// Go's `filepath.Clean` on a `/`-separated path: no empty or `.` elements, `..` resolved
/// where it can be, no trailing `/`.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The regular expression moby compiles a cleaned pattern to.
fn translate(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                out.push_str(if chars.peek().is_none() {
                    ".*"
                } else {
                    "(.*/)?"
                });
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '\\' => match chars.next() {
                Some(next) => out.push_str(&regex::escape(&next.to_string())),
                None => out.push_str(r"\\"),
            },
            // What moby escapes: regexp syntax that means nothing in a path pattern.
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn a_pattern_excludes_its_path_and_everything_under_it() {
        let i = ignore("# secrets\n.git\n/target/\nsecret.txt\n");
        for path in [
            ".git",
            ".git/HEAD",
            "target",
            "target/debug/app",
            "secret.txt",
        ] {
            assert!(i.excludes(path), "{path}");
        }
        for path in ["src/main.rs", "src/secret.txt", "Dockerfile", ".gitignore"] {
            assert!(!i.excludes(path), "{path}");
        }
    }

    #[test]
    fn stars_stop_at_slashes_and_double_stars_cross_them() {
        let i = ignore("*.log\n**/*.tmp\ndocs/**\n");
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("logs/a.log"), "anchored at the root");
        assert!(i.excludes("x.tmp") && i.excludes("a/b/c/x.tmp"));
        assert!(i.excludes("docs/a/b"));
        assert!(!i.excludes("docsy"));
    }

    #[test]
    fn the_last_matching_line_decides_and_exceptions_reinclude() {
        let i = ignore("*.md\n!README.md\nREADME-secret.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        assert!(i.excludes("README-secret.md"));
        let j = ignore("data\nbig\n!data/keep.txt\n");
        assert!(j.excludes("data/big.bin"));
        assert!(!j.excludes("data/keep.txt"));
        assert!(j.has_exception_under("data") && !j.has_exception_under("big"));
    }

    #[test]
    fn patterns_are_cleaned_like_go_paths() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/a/./b"), "/a/b");
        assert_eq!(clean("."), ".");
        let i = ignore("\u{feff}./build/\n/dist\n");
        assert!(i.excludes("build/x") && i.excludes("dist"));
    }

    #[test]
    fn classes_escapes_and_question_marks() {
        let i = ignore("file[0-9].txt\nwhy\\?\na?c\n");
        assert!(i.excludes("file7.txt") && !i.excludes("fileX.txt"));
        assert!(i.excludes("why?") && !i.excludes("whyy"));
        assert!(i.excludes("abc") && !i.excludes("a/c"));
        assert!(DockerIgnore::parse("!\n").is_err());
    }
}
