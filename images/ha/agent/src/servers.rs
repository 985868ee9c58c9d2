//! The `server` lines of the `nodes` backend in a rendered config, apart from the rest:
//! when only those lines differ between the live config and a new one, the difference is
//! a membership change HAProxy can take through its runtime API, without a reload.
use std::collections::BTreeMap;

pub(crate) use cluster::BACKEND;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Everything but the backend's `server` lines.
    skeleton: String,
    /// The backend's `default-server` keywords: dynamic servers do not inherit them.
    defaults: String,
    /// name -> the rest of its `server` line (`ip:port keywords...`).
    servers: BTreeMap<String, String>,
}

pub(crate) fn layout(text: &str) -> Layout {
    let mut layout = Layout::default();
    let mut in_backend = false;
    for line in text.lines() {
        let starts_section = !line.starts_with(char::is_whitespace) && !line.trim().is_empty();
        if starts_section && !line.starts_with('#') {
            let mut words = line.split_whitespace();
            in_backend = words.next() == Some("backend") && words.next() == Some(BACKEND);
        }
        let trimmed = line.trim();
        if in_backend {
            if let Some(rest) = trimmed.strip_prefix("server ") {
                let (name, args) = rest
                    .trim()
                    .split_once(char::is_whitespace)
                    .unwrap_or((rest, ""));
                layout
                    .servers
                    .insert(name.to_string(), args.trim().to_string());
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix("default-server ") {
                layout.defaults = rest.trim().to_string();
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
    /// `add server` arguments after `nodes/<name>`: address, then the backend's
    /// `default-server` keywords, then the server line's own (later ones win).
    pub(crate) add: Vec<(String, String)>,
}

impl Ops {
    /// Every server an operation touches.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.remove.iter().map(|(name, _)| name.clone()).collect();
        names.extend(self.add.iter().map(|(name, _)| name.clone()));
        names
    }
}

/// The operations from `live` to `new`, or None when more than the servers changed (the
/// template or the settings): that needs a reload. A server whose line changed (a new
/// address) is removed and added again.
pub(crate) fn plan(live: &Layout, new: &Layout) -> Option<Ops> {
    if live.skeleton != new.skeleton {
        return None;
    }
    let mut ops = Ops::default();
    for (name, args) in &live.servers {
        if new.servers.get(name) != Some(args) {
            ops.remove.push((name.clone(), args.clone()));
        }
    }
    for (name, args) in &new.servers {
        if live.servers.get(name) != Some(args) {
            ops.add.push((name.clone(), new.add_args(args)));
        }
    }
    Some(ops)
}

impl Layout {
    /// The servers of the config: name -> `ip:port keywords...`.
    pub(crate) fn servers(&self) -> &BTreeMap<String, String> {
        &self.servers
    }

    /// `add server` arguments for a `server` line's rest: address, then the backend's
    /// `default-server` keywords, then the line's own (later ones win).
    pub(crate) fn add_args(&self, args: &str) -> String {
        let (addr, own) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        [addr, self.defaults.as_str(), own.trim()]
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

/// `show servers state` output without the lines of `names` in the `nodes` backend: a
/// server an interrupted runtime operation left half-done starts afresh from the config.
pub(crate) fn state_without(state: &str, names: &[String]) -> String {
    state
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip(1);
            let (backend, server) = (words.next(), words.nth(1));
            !(backend == Some(BACKEND) && server.is_some_and(|s| names.iter().any(|n| n == s)))
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
        assert_eq!(layout.defaults, "inter 1000 rise 1 fall 2");
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
            state_without(state, &["s2".to_string()]),
            "1\n# be_id be_name srv_id srv_name\n3 nodes 1 s1 10.0.0.2 2\n4 other 1 s2 x 2\n"
        );
    }
}
