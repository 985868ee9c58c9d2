//! ha's routes map (`cluster::ROUTES_MAP`): which backend a host and path prefix go to,
//! read by the frontend's `map_beg` lookups. The file is rendered on every run from the
//! template baked into the image and written before any config that reads it is checked
//! or loaded; while the config stays as it is, HAProxy's copy in memory is taken to the
//! file's entries through the runtime API (`add map`, `set map`, `del map`): a route
//! change alone never reloads.
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context as _};
use cluster::Cluster;

use crate::paths::Paths;
use crate::runtime;

/// The template as it was when the agent was built (the same file the image's copy comes
/// from, templates/routes.map.j2): used where none is baked in (tests, a hand-made image).
const BUILT_IN_TEMPLATE: &str = include_str!("../../../../templates/routes.map.j2");

/// The map a cluster wants: the file's text and its entries (key, backend), in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Routes {
    pub(crate) text: String,
    pub(crate) entries: Vec<(String, String)>,
}

impl Routes {
    pub(crate) fn render(paths: &Paths, cluster: &Cluster) -> anyhow::Result<Routes> {
        let template = match std::fs::read_to_string(&paths.routes_template) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BUILT_IN_TEMPLATE.into(),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("reading the template {}", paths.routes_template.display())
                })
            }
        };
        let text = cluster::render_routes_map(&template, cluster)
            .with_context(|| format!("rendering {}", paths.routes_template.display()))?;
        let entries = cluster
            .route_entries()
            .into_iter()
            .map(|entry| (entry.key, entry.backend))
            .collect();
        Ok(Routes { text, entries })
    }

    /// Writes the file (atomically) when it differs; what changed against the previous one.
    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<Counts> {
        let previous = std::fs::read_to_string(path).ok();
        if previous.as_deref() == Some(self.text.as_str()) {
            return Ok(Counts::default());
        }
        crate::files::write_atomically(path, self.text.as_bytes())
            .with_context(|| format!("writing the routes map {}", path.display()))?;
        let before = parse_file(previous.as_deref().unwrap_or_default());
        Ok(diff(&before, &self.entries).counts())
    }
}

/// A map file's entries: `<key> <value>` lines; comments and blank lines left out.
pub(crate) fn parse_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.split_once(char::is_whitespace)?;
            Some((key.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// `show map <file>`: one `<ref> <key> <value>` line per entry (`0x55e0c1d2 /api api`).
/// Anything else is HAProxy saying it has no such map, or worse: an error.
pub(crate) fn parse_show_map(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(reference), Some(key), Some(value)) if reference.starts_with("0x") => {
                let rest: Vec<&str> = std::iter::once(value).chain(words).collect();
                entries.push((key.to_string(), rest.join(" ")));
            }
            _ => bail!("`show map`: {}", text.trim()),
        }
    }
    Ok(entries)
}

/// How many entries a change adds, removes and points elsewhere.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) added: usize,
    pub(crate) removed: usize,
    pub(crate) changed: usize,
}

impl Counts {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed",
            self.added, self.removed, self.changed
        )
    }
}

/// How a run's changes reached HAProxy.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Nothing to change in HAProxy.
    #[default]
    Unchanged,
    RuntimeApi,
    Reload,
    /// HAProxy is down: it reads the files when it starts.
    NotRunning,
    /// Before HAProxy starts (`ha-agent init`).
    Starting,
}

impl Via {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Via::Unchanged => "HAProxy unchanged",
            Via::RuntimeApi => "runtime API",
            Via::Reload => "reload",
            Via::NotRunning => "HAProxy not running; it reads them when it starts",
            Via::Starting => "HAProxy starting",
        }
    }
}

/// What a run did to the routes, and how HAProxy got the run's changes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) routes: Counts,
    pub(crate) via: Via,
}

/// Runtime API commands that take one map's entries to another's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MapOps {
    pub(crate) add: Vec<(String, String)>,
    pub(crate) set: Vec<(String, String)>,
    pub(crate) del: Vec<String>,
}

/// From `live` entries to `wanted`. A key HAProxy holds more than once (added twice
/// behind the agent's back) is deleted and added again: `set map` would set them all.
pub(crate) fn diff(live: &[(String, String)], wanted: &[(String, String)]) -> MapOps {
    let mut held: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, value) in live {
        held.entry(key).or_default().push(value);
    }
    let wanted_map: BTreeMap<&str, &str> = wanted
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let mut ops = MapOps::default();
    for (key, value) in &wanted_map {
        let entry = (key.to_string(), value.to_string());
        match held.get(key).map(Vec::as_slice) {
            None => ops.add.push(entry),
            Some([one]) if one == value => {}
            Some([_]) => ops.set.push(entry),
            Some(_) => {
                ops.del.push(key.to_string());
                ops.add.push(entry);
            }
        }
    }
    for key in held.keys().filter(|key| !wanted_map.contains_key(*key)) {
        ops.del.push(key.to_string());
    }
    ops
}

impl MapOps {
    pub(crate) fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set.is_empty() && self.del.is_empty()
    }

    /// A key both deleted and added (a duplicate put right) counts as changed.
    pub(crate) fn counts(&self) -> Counts {
        let readded = self
            .add
            .iter()
            .filter(|(key, _)| self.del.contains(key))
            .count();
        Counts {
            added: self.add.len() - readded,
            removed: self.del.len() - readded,
            changed: self.set.len() + readded,
        }
    }

    /// The commands, in the order they run: deletions of duplicates first (so the key is
    /// added once), additions, changes, then the remaining deletions.
    pub(crate) fn commands(&self, map: &str) -> Vec<String> {
        let map = cli_word(map);
        let readded = |key: &String| self.add.iter().any(|(k, _)| k == key);
        let del = |key: &String| format!("del map {map} {}", cli_word(key));
        let mut commands: Vec<String> = self.del.iter().filter(|k| readded(k)).map(del).collect();
        for (key, value) in &self.add {
            commands.push(format!(
                "add map {map} {} {}",
                cli_word(key),
                cli_word(value)
            ));
        }
        for (key, value) in &self.set {
            commands.push(format!(
                "set map {map} {} {}",
                cli_word(key),
                cli_word(value)
            ));
        }
        commands.extend(self.del.iter().filter(|k| !readded(k)).map(del));
        commands
    }

    /// One line for the log: `+api.localhost/ api -/admin ~/v2 api2`.
    pub(crate) fn describe(&self) -> String {
        let readded = |key: &String| self.add.iter().any(|(k, _)| k == key);
        let mut words: Vec<String> = Vec::new();
        for (key, value) in &self.add {
            let sign = if self.del.contains(key) { '~' } else { '+' };
            words.push(format!("{sign}{key} {value}"));
        }
        words.extend(
            self.set
                .iter()
                .map(|(key, value)| format!("~{key} {value}")),
        );
        words.extend(
            self.del
                .iter()
                .filter(|key| !readded(key))
                .map(|key| format!("-{key}")),
        );
        words.join(", ")
    }
}

/// A word for HAProxy's CLI, which splits on spaces and `;` and drops a backslash before
/// any character: both escaped (keys have no spaces or control characters).
fn cli_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '\\' | ';' | ' ' | '\t') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Takes HAProxy's copy of `map` to `wanted` through the runtime API: what it changed, or
/// `None` when no HAProxy answers (it reads the file when it starts).
pub(crate) fn apply_runtime(
    socket: &Path,
    map: &str,
    wanted: &[(String, String)],
) -> anyhow::Result<Option<MapOps>> {
    if UnixStream::connect(socket).is_err() {
        return Ok(None);
    }
    let live = parse_show_map(&runtime::cli(socket, &format!("show map {map}"))?)?;
    let ops = diff(&live, wanted);
    for command in ops.commands(map) {
        runtime::expect_empty(socket, &command)?;
    }
    Ok(Some(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `show map /etc/haproxy/routes.map` as HAProxy 2.6 answers it.
    const SHOW_MAP: &str = "0x5581d9b1a0e0 /admin admin\n\
                            0x5581d9b1a160 api.localhost/api api\n\
                            0x5581d9b1a1e0 api.localhost/v2 static\n\n";

    #[test]
    fn reads_show_map_and_refuses_anything_else() {
        assert_eq!(
            parse_show_map(SHOW_MAP).unwrap(),
            entries(&[
                ("/admin", "admin"),
                ("api.localhost/api", "api"),
                ("api.localhost/v2", "static")
            ])
        );
        assert!(parse_show_map("").unwrap().is_empty());
        let err = parse_show_map("Unknown map identifier. Please use #<id> or <file>.\n");
        assert!(format!("{:#}", err.unwrap_err()).contains("Unknown map"));
    }

    #[test]
    fn the_map_diff_adds_sets_and_deletes() {
        let live = parse_show_map(SHOW_MAP).unwrap();
        let wanted = entries(&[
            ("*.static.localhost/", "static"),
            ("api.localhost/api", "api"),
            ("api.localhost/v2", "api"),
        ]);
        let ops = diff(&live, &wanted);
        assert_eq!(
            ops,
            MapOps {
                add: entries(&[("*.static.localhost/", "static")]),
                set: entries(&[("api.localhost/v2", "api")]),
                del: vec!["/admin".to_string()],
            }
        );
        assert_eq!(
            ops.counts(),
            Counts {
                added: 1,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(
            ops.commands("/etc/haproxy/routes.map"),
            [
                "add map /etc/haproxy/routes.map *.static.localhost/ static",
                "set map /etc/haproxy/routes.map api.localhost/v2 api",
                "del map /etc/haproxy/routes.map /admin",
            ]
        );
        assert_eq!(
            ops.describe(),
            "+*.static.localhost/ static, ~api.localhost/v2 api, -/admin"
        );
        assert!(diff(&wanted, &wanted).is_empty());
        assert_eq!(diff(&live, &[]).counts().removed, 3);
    }

    #[test]
    fn a_key_held_twice_is_put_back_once() {
        let live = entries(&[("/api", "api"), ("/api", "old")]);
        let ops = diff(&live, &entries(&[("/api", "api")]));
        assert_eq!(ops.commands("m"), ["del map m /api", "add map m /api api"]);
        assert_eq!(
            ops.counts(),
            Counts {
                added: 0,
                removed: 0,
                changed: 1
            }
        );
    }

    #[test]
    fn cli_words_escape_what_the_cli_splits_on() {
        let ops = diff(&[], &entries(&[("/a;b\\c", "api")]));
        assert_eq!(ops.commands("m"), ["add map m /a\\;b\\\\c api"]);
    }

    #[test]
    fn the_file_is_written_when_it_changes_and_counted_against_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let cluster = cluster::parse(
            "[services.api]\nhosts = [\"api.localhost\"]\npaths = [\"/api\"]\n",
            "c.toml",
        )
        .unwrap();
        let routes = Routes::render(&paths, &cluster).unwrap();
        assert_eq!(routes.entries, entries(&[("api.localhost/api", "api")]));
        assert!(
            routes.text.contains("\napi.localhost/api api\n"),
            "{}",
            routes.text
        );
        assert_eq!(parse_file(&routes.text), routes.entries);
        let first = routes.write(&paths.routes_map).unwrap();
        assert_eq!(first.added, 1);
        assert!(routes.write(&paths.routes_map).unwrap().is_empty());
        let none = Routes::render(&paths, &cluster::parse("", "c.toml").unwrap()).unwrap();
        assert!(none.entries.is_empty());
        assert_eq!(none.write(&paths.routes_map).unwrap().removed, 1);
    }

    /// A stand-in for HAProxy's admin socket: answers `show map` with `SHOW_MAP`, every
    /// other command with nothing (success), and keeps the commands it was sent.
    fn fake_haproxy(socket: &Path) -> std::sync::mpsc::Receiver<String> {
        use std::io::{Read, Write};
        let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut command = String::new();
                stream.read_to_string(&mut command).unwrap();
                let command = command.trim().to_string();
                if command.starts_with("show map ") {
                    stream.write_all(SHOW_MAP.as_bytes()).unwrap();
                }
                if !command.is_empty() && tx.send(command).is_err() {
                    return;
                }
            }
        });
        rx
    }

    #[test]
    fn the_runtime_api_takes_haproxys_map_to_the_wanted_one() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        assert_eq!(apply_runtime(&socket, "m", &[]).unwrap(), None);
        let sent = fake_haproxy(&socket);
        let wanted = entries(&[
            ("/admin", "admin"),
            ("api.localhost/api", "api"),
            ("api.localhost/v2", "api"),
        ]);
        let ops = apply_runtime(&socket, "/etc/haproxy/routes.map", &wanted)
            .unwrap()
            .unwrap();
        assert_eq!(ops.counts().changed, 1);
        let sent: Vec<String> = sent.try_iter().collect();
        assert_eq!(
            sent,
            [
                "show map /etc/haproxy/routes.map",
                "set map /etc/haproxy/routes.map api.localhost/v2 api"
            ]
        );
    }
}
