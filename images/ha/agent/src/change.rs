//! What a new config changes, for the `reload #n: +s3 -s1` line.
use std::collections::BTreeMap;
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

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = (self.added.iter().map(|n| format!("+{n}")))
            .chain(self.removed.iter().map(|n| format!("-{n}")))
            .chain(self.moved.iter().map(|n| format!("~{n}")))
            .collect();
        if words.is_empty() && self.servers == 0 {
            f.write_str("no servers")
        } else if words.is_empty() {
            // Same servers: the template or the cluster settings changed.
            f.write_str("servers unchanged")
        } else {
            f.write_str(&words.join(" "))
        }
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
}
