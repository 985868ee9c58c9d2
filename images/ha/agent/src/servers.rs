//! The `server` lines of the backends in a rendered config (one per service: `nodes` for
//! the default one), apart from the rest: when only those lines differ between the live
//! config and a new one, the difference is a membership change HAProxy can take through
//! its runtime API, without a reload.
use std::collections::{BTreeMap, BTreeSet};

pub(crate) use cluster::BACKEND;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Everything but the backends' `server` lines.
    skeleton: String,
    /// The backend sections, by name.
    sections: BTreeSet<String>,
    /// Each backend's `default-server` keywords: dynamic servers do not inherit them.
    defaults: BTreeMap<String, String>,
    /// name -> the rest of its `server` line (`ip:port keywords...`).
    servers: BTreeMap<String, String>,
    /// name -> the backend its `server` line is in.
    backends: BTreeMap<String, String>,
}

pub(crate) fn layout(text: &str) -> Layout {
    let mut layout = Layout::default();
    let mut backend: Option<String> = None;
    for line in text.lines() {
        let starts_section = !line.starts_with(char::is_whitespace) && !line.trim().is_empty();
        if starts_section && !line.starts_with('#') {
            let mut words = line.split_whitespace();
            backend = match (words.next(), words.next()) {
                (Some("backend"), Some(name)) => Some(name.to_string()),
                _ => None,
            };
            layout.sections.extend(backend.clone());
        }
        let trimmed = line.trim();
        if let Some(backend) = &backend {
            if let Some(rest) = trimmed.strip_prefix("server ") {
                let (name, args) = rest
                    .trim()
                    .split_once(char::is_whitespace)
                    .unwrap_or((rest, ""));
                layout
                    .servers
                    .insert(name.to_string(), args.trim().to_string());
                layout
                    .backends
                    .insert(name.to_string(), backend.to_string());
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix("default-server ") {
                layout
                    .defaults
                    .insert(backend.to_string(), rest.trim().to_string());
            }
        }
        layout.skeleton.push_str(line);
        layout.skeleton.push('\n');
    }
    layout
}

/// Runtime operations that take HAProxy from one config's servers to another's.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Ops {
    /// Servers to take out: name and the rest of its live `server` line.
    pub(crate) remove: Vec<(String, String)>,
    /// `add server` arguments after `<backend>/<name>`: address, then the backend's
    /// `default-server` keywords, then the server line's own (later ones win).
    pub(crate) add: Vec<(String, String)>,
    /// The backend of each server above (a server never changes backend here).
    pub(crate) backends: BTreeMap<String, String>,
}

impl Ops {
    /// Every server an operation touches: (backend, name).
    pub(crate) fn servers(&self) -> Vec<(String, String)> {
        self.remove
            .iter()
            .chain(&self.add)
            .map(|(name, _)| (self.backend(name).to_string(), name.clone()))
            .collect()
    }

    /// The backend server `name` is in.
    pub(crate) fn backend(&self, name: &str) -> &str {
        self.backends.get(name).map_or(BACKEND, String::as_str)
    }
}

/// The operations from `live` to `new`, or None when more than the servers changed (the
/// template, the settings, the backends, a server's backend): that needs a reload. A
/// server whose line changed (a new address) is removed and added again.
pub(crate) fn plan(live: &Layout, new: &Layout) -> Option<Ops> {
    if live.skeleton != new.skeleton {
        return None;
    }
    let moved = |name: &String| matches!((live.backends.get(name), new.backends.get(name)), (Some(a), Some(b)) if a != b);
    if live.servers.keys().any(moved) {
        return None;
    }
    let mut ops = Ops::default();
    for (name, args) in &live.servers {
        if new.servers.get(name) != Some(args) {
            ops.remove.push((name.clone(), args.clone()));
            ops.backends
                .insert(name.clone(), live.backend_of(name).to_string());
        }
    }
    for (name, args) in &new.servers {
        if live.servers.get(name) != Some(args) {
            ops.add.push((name.clone(), new.add_args(name, args)));
            ops.backends
                .insert(name.clone(), new.backend_of(name).to_string());
        }
    }
    Some(ops)
}

impl Layout {
    /// The servers of the config: name -> `ip:port keywords...`.
    pub(crate) fn servers(&self) -> &BTreeMap<String, String> {
        &self.servers
    }

    /// The backend sections of the config.
    pub(crate) fn sections(&self) -> &BTreeSet<String> {
        &self.sections
    }

    /// The backend server `name` is in (the default one for a server it does not have).
    pub(crate) fn backend_of(&self, name: &str) -> &str {
        self.backends.get(name).map_or(BACKEND, String::as_str)
    }

    /// The `default-server` keywords of `backend`'s section.
    pub(crate) fn defaults_of(&self, backend: &str) -> &str {
        self.defaults.get(backend).map_or("", String::as_str)
    }

    /// `add server` arguments for server `name`'s line's rest: address, then the
    /// `default-server` keywords of its backend, then the line's own (later ones win).
    pub(crate) fn add_args(&self, name: &str, args: &str) -> String {
        let (addr, own) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        [addr, self.defaults_of(self.backend_of(name)), own.trim()]
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The `ip:port` a server line's rest starts with.
pub(crate) fn address_of(args: &str) -> &str {
    args.split_whitespace().next().unwrap_or("")
}

/// `show servers state` output without the lines of `servers` (backend, name): a server
/// an interrupted runtime operation left half-done starts afresh from the config.
pub(crate) fn state_without(state: &str, servers: &[(String, String)]) -> String {
    state
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip(1);
            let (backend, server) = (words.next(), words.nth(1));
            !servers
                .iter()
                .any(|(b, s)| backend == Some(b.as_str()) && server == Some(s.as_str()))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "global\n    maxconn 10\n\nbackend nodes\n    balance roundrobin\n    default-server inter 1000 rise 1 fall 2\n    server s1 10.0.0.2:3000 check\n    server s2 10.0.0.3:3000 check\n# trailing comment\n";

    #[test]
    fn separates_the_servers_from_the_rest() {
        let layout = layout(CFG);
        assert_eq!(layout.defaults_of("nodes"), "inter 1000 rise 1 fall 2");
        assert_eq!(layout.servers["s2"], "10.0.0.3:3000 check");
        assert!(!layout.skeleton.contains("server s1"));
        assert!(layout.skeleton.contains("default-server"));
    }

    #[test]
    fn plans_adds_and_removals_when_only_servers_changed() {
        // s1 leaves, s2 moves, s3 joins.
        let new = CFG
            .replace("    server s1 10.0.0.2:3000 check\n", "")
            .replace(
                "    server s2 10.0.0.3:3000 check\n",
                "    server s2 10.0.0.9:3000 check\n    server s3 10.0.0.4:3000 check\n",
            );
        let ops = plan(&layout(CFG), &layout(&new)).unwrap();
        assert_eq!(
            ops.remove,
            [
                ("s1".to_string(), "10.0.0.2:3000 check".to_string()),
                ("s2".to_string(), "10.0.0.3:3000 check".to_string())
            ]
        );
        assert_eq!(
            ops.add,
            [
                (
                    "s2".to_string(),
                    "10.0.0.9:3000 inter 1000 rise 1 fall 2 check".to_string()
                ),
                (
                    "s3".to_string(),
                    "10.0.0.4:3000 inter 1000 rise 1 fall 2 check".to_string()
                ),
            ]
        );
        assert_eq!(plan(&layout(CFG), &layout(CFG)), Some(Ops::default()));
    }

    #[test]
    fn any_other_change_needs_a_reload() {
        assert_eq!(
            plan(&layout(CFG), &layout(&CFG.replace("fall 2", "fall 3"))),
            None
        );
        assert_eq!(
            plan(
                &layout(CFG),
                &layout(&CFG.replace("maxconn 10", "maxconn 9"))
            ),
            None
        );
    }

    #[test]
    fn state_drops_the_named_servers_only() {
        let state = "1\n# be_id be_name srv_id srv_name\n3 nodes 1 s1 10.0.0.2 2\n3 nodes 2 s2 10.0.0.3 2\n4 other 1 s2 x 2\n";
        assert_eq!(
            state_without(state, &[("nodes".to_string(), "s2".to_string())]),
            "1\n# be_id be_name srv_id srv_name\n3 nodes 1 s1 10.0.0.2 2\n4 other 1 s2 x 2\n"
        );
    }

    /// Two services: `nodes` and `api`, each with its own health settings.
    const TWO: &str = "backend nodes\n    default-server inter 1000 rise 1 fall 2\n    server s1 10.0.0.2:3000 check\n\nbackend api\n    option httpchk GET /health\n    default-server inter 500 rise 2 fall 3\n    server api1 10.0.0.7:8080 check\n";

    #[test]
    fn each_backend_has_its_default_server_line() {
        let layout = layout(TWO);
        assert_eq!(layout.defaults_of("nodes"), "inter 1000 rise 1 fall 2");
        assert_eq!(layout.defaults_of("api"), "inter 500 rise 2 fall 3");
        assert_eq!(layout.backend_of("api1"), "api");
        assert_eq!(layout.backend_of("s1"), "nodes");
        assert_eq!(
            layout.sections().iter().collect::<Vec<_>>(),
            ["api", "nodes"]
        );
        let new = TWO.replace(
            "    server api1 10.0.0.7:8080 check\n",
            "    server api1 10.0.0.7:8080 check\n    server api2 10.0.0.8:8080 check\n",
        );
        let ops = plan(&layout, &super::layout(&new)).unwrap();
        assert_eq!(
            ops.add,
            [(
                "api2".to_string(),
                "10.0.0.8:8080 inter 500 rise 2 fall 3 check".to_string()
            )]
        );
        assert_eq!(ops.servers(), [("api".to_string(), "api2".to_string())]);
        assert!(ops.remove.is_empty());
    }

    #[test]
    fn a_new_backend_or_a_server_in_another_needs_a_reload() {
        let one = "backend nodes\n    server s1 10.0.0.2:3000 check\n";
        assert_eq!(plan(&layout(one), &layout(TWO)), None);
        // The same line, in the other backend.
        let moved = TWO
            .replace("    server s1 10.0.0.2:3000 check\n", "")
            .replace(
                "    server api1 10.0.0.7:8080 check\n",
                "    server api1 10.0.0.7:8080 check\n    server s1 10.0.0.2:3000 check\n",
            );
        assert_eq!(layout(&moved).backend_of("s1"), "api");
        assert_eq!(plan(&layout(TWO), &layout(&moved)), None);
    }
}
