//! Serf's membership as `serf members -format json` prints it: read by the ha agent (to
//! render HAProxy's servers) and by the host (status, scale), from one definition.
use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    pub name: String,
    /// `ip:port` of the member's gossip endpoint.
    pub addr: String,
    /// `alive`, `leaving`, `left` or `failed`.
    pub status: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

/// Parses `serf members -format json`.
pub fn parse_members(json: &str) -> Result<Vec<Member>, serde_json::Error> {
    serde_json::from_str::<Members>(json).map(|parsed| parsed.members)
}

/// Display order for nodes: the balancer first, then natural name order (s2 before s10).
pub fn node_order(is_balancer: bool, name: &str) -> (bool, (&str, u64, &str)) {
    (!is_balancer, crate::natural_key(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serf_json() {
        let json = r#"{"members":[{"name":"s1","addr":"10.0.0.2:7946","port":7946,"tags":{"role":"backend"},"status":"alive","protocol":{"max":5,"min":2,"version":5}}]}"#;
        let members = parse_members(json).unwrap();
        assert_eq!(members[0].name, "s1");
        assert_eq!(members[0].tags["role"], "backend");
        assert!(parse_members("not json").is_err());
    }
}
