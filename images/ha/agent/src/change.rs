//! What a new config changes, for the `reload #n: +s3 -s1` line.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cluster::natural_key;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    /// Same name, new address or port.
    pub(crate) moved: Vec<String>,
    /// How many servers the new config has.
    pub(crate) servers: usize,
    /// Backends (services) the new config adds and drops.
    pub(crate) backends_added: Vec<String>,
    pub(crate) backends_removed: Vec<String>,
}

impl Change {
    /// From the servers of the live config to `new` (both name -> `ip:port`).
    pub(crate) fn between(
        old: &BTreeMap<String, String>,
        new: &BTreeMap<String, String>,
    ) -> Change {
        let mut change = Change {
            servers: new.len(),
            ..Change::default()
        };
        for (name, addr) in new {
            match old.get(name) {
                None => change.added.push(name.clone()),
                Some(old_addr) if old_addr != addr => change.moved.push(name.clone()),
                Some(_) => {}
            }
        }
        change.removed = old
            .keys()
            .filter(|name| !new.contains_key(*name))
            .cloned()
            .collect();
        for names in [&mut change.added, &mut change.removed, &mut change.moved] {
            names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
        }
        change
    }
}

impl Change {
    /// With the backends the config gains and loses, from the live config's (`None`: no
    /// live config, nothing to compare with).
    pub(crate) fn with_backends(
        mut self,
        old: Option<&BTreeSet<String>>,
        new: &BTreeSet<String>,
    ) -> Change {
        if let Some(old) = old {
            self.backends_added = new.difference(old).cloned().collect();
            self.backends_removed = old.difference(new).cloned().collect();
        }
        self
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = (self.added.iter().map(|n| format!("+{n}")))
            .chain(self.removed.iter().map(|n| format!("-{n}")))
            .chain(self.moved.iter().map(|n| format!("~{n}")))
            .collect();
        if words.is_empty() && self.servers == 0 {
            f.write_str("no servers")?;
        } else if words.is_empty() {
            // Same servers: the template or the cluster settings changed.
            f.write_str("servers unchanged")?;
        } else {
            f.write_str(&words.join(" "))?;
        }
        let backends: Vec<String> = (self.backends_added.iter().map(|n| format!("+{n}")))
            .chain(self.backends_removed.iter().map(|n| format!("-{n}")))
            .collect();
        if !backends.is_empty() {
            write!(f, "; backends {}", backends.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn lists_added_removed_and_moved_in_natural_order() {
        let old = servers(&[("s1", "ip1"), ("s2", "ip2"), ("s10", "ip10")]);
        let new = servers(&[("s2", "ip2b"), ("s3", "ip3"), ("s11", "ip11")]);
        let change = Change::between(&old, &new);
        assert_eq!(change.to_string(), "+s3 +s11 -s1 -s10 ~s2");
    }

    #[test]
    fn says_when_only_the_rest_of_the_config_changed() {
        let same = servers(&[("s1", "ip1")]);
        assert_eq!(
            Change::between(&same, &same).to_string(),
            "servers unchanged"
        );
        assert_eq!(Change::between(&BTreeMap::new(), &same).to_string(), "+s1");
    }

    #[test]
    fn says_which_backends_come_and_go() {
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let same = servers(&[("s1", "ip1")]);
        let change = Change::between(&same, &same)
            .with_backends(Some(&set(&["nodes", "old"])), &set(&["api", "nodes"]));
        assert_eq!(change.to_string(), "servers unchanged; backends +api -old");
        // No live config: nothing to compare the backends with.
        let first = Change::between(&BTreeMap::new(), &same).with_backends(None, &set(&["nodes"]));
        assert_eq!(first.to_string(), "+s1");
    }
}
