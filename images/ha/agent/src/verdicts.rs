//! The orchestrator's word on one member, and the rules every verdict keeps (see
//! `trust`): a webapp's name follows one service's naming, DNS maps it to exactly the
//! member's address (or its sidecar's), and one address backs one server.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use cluster::{natural_key, Backend, Cluster};

use crate::dns::Answer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Legit,
    Refused(String),
    Unsure,
}

/// `ip:port` as the state and the live config's server list hold it.
fn served_addr(backend: &Backend) -> String {
    format!("{}:{}", backend.ip, backend.port)
}

/// `<prefix><number>`, the number without a leading zero: the names `up` and `scale`
/// give webapps, whatever the count.
pub(crate) fn follows_naming(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|number| {
        !number.is_empty()
            && !number.starts_with('0')
            && number.len() <= 9
            && number.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Whether `name` is a webapp's name of one of the services (their `prefixes`).
pub(crate) fn follows_any_naming(prefixes: &[String], name: &str) -> bool {
    prefixes.iter().any(|prefix| follows_naming(prefix, name))
}

/// The engine's word on a member: its name must resolve to exactly its address.
pub(crate) fn judge_engine(name: &str, ip: Ipv4Addr, answer: &Answer) -> Verdict {
    match answer {
        Answer::Addresses(addresses) if addresses.len() == 1 && addresses.contains(&ip) => {
            Verdict::Legit
        }
        Answer::Addresses(addresses) if addresses.is_empty() => {
            Verdict::Refused(format!("the engine's DNS has no address for {name}"))
        }
        Answer::Addresses(addresses) => Verdict::Refused(format!(
            "the engine's DNS gives {name} the address {}, not the member's",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Answer::NoSuchName => Verdict::Refused(format!(
            "no container named {name} on the cluster network (the engine's DNS does not know it)"
        )),
        Answer::Unsure => Verdict::Unsure,
    }
}

/// The engine's word on a member gossiping from a sidecar: `<name>-serf` resolves to
/// exactly its address, and `<name>` to exactly one address, the server's. Otherwise the
/// verdict on the name alone stands.
pub(crate) fn judge_sidecar(
    name: &str,
    ip: Ipv4Addr,
    app: &Answer,
    sidecar: &Answer,
) -> (Verdict, Option<Ipv4Addr>) {
    let sidecar_name = Cluster::sidecar_name(name);
    match (judge_engine(&sidecar_name, ip, sidecar), app) {
        (Verdict::Legit, Answer::Addresses(addresses)) if addresses.len() == 1 => {
            (Verdict::Legit, addresses.first().copied())
        }
        (Verdict::Unsure, _) => (Verdict::Unsure, None),
        _ => (judge_engine(name, ip, app), None),
    }
}

/// At most one server per address: one already serving keeps it, otherwise the first in
/// natural name order. Returns the admitted backends and each refused one with the name
/// of the member that holds its address.
pub(crate) fn one_server_per_address(
    legit: Vec<Backend>,
    serving: &BTreeMap<String, String>,
) -> (Vec<Backend>, Vec<(Backend, String)>) {
    let mut by_ip: BTreeMap<Ipv4Addr, Vec<Backend>> = BTreeMap::new();
    for backend in legit {
        by_ip.entry(backend.ip).or_default().push(backend);
    }
    let mut admitted = Vec::new();
    let mut doubles = Vec::new();
    for (_, mut claims) in by_ip {
        claims.sort_by(|a, b| {
            let serves = |b: &Backend| serving.get(&b.name) == Some(&served_addr(b));
            serves(b)
                .cmp(&serves(a))
                .then_with(|| natural_key(&a.name).cmp(&natural_key(&b.name)))
        });
        let mut claims = claims.into_iter();
        let holder = claims.next().expect("one claim at least");
        for other in claims {
            doubles.push((other, holder.name.clone()));
        }
        admitted.push(holder);
    }
    admitted.sort_by(|a, b| natural_key(&a.name).cmp(&natural_key(&b.name)));
    (admitted, doubles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn backend(name: &str, last: u8) -> Backend {
        Backend {
            name: name.into(),
            ip: [10, 0, 0, last].into(),
            port: 3000,
        }
    }

    #[test]
    fn names_follow_prefix_and_number() {
        for name in ["s1", "s9", "s12", "s100"] {
            assert!(follows_naming("s", name), "{name}");
        }
        for name in [
            "s",
            "s0",
            "s01",
            "x1",
            "s1a",
            "s-1",
            "s99999999999",
            "S1",
            "ha",
        ] {
            assert!(!follows_naming("s", name), "{name}");
        }
        assert!(follows_naming("e2e-s", "e2e-s3"));
    }

    #[test]
    fn the_engine_must_map_the_name_to_exactly_the_address() {
        let ip: Ipv4Addr = [10, 0, 0, 2].into();
        let one = |last: u8| Answer::Addresses([[10, 0, 0, last].into()].into());
        assert_eq!(judge_engine("s1", ip, &one(2)), Verdict::Legit);
        assert!(
            matches!(judge_engine("s1", ip, &one(3)), Verdict::Refused(r) if r.contains("10.0.0.3"))
        );
        let two = Answer::Addresses([ip, [10, 0, 0, 3].into()].into());
        assert!(matches!(judge_engine("s1", ip, &two), Verdict::Refused(_)));
        assert!(
            matches!(judge_engine("s9", ip, &Answer::NoSuchName), Verdict::Refused(r) if r.contains("no container named s9"))
        );
        assert!(matches!(
            judge_engine("s1", ip, &Answer::Addresses(BTreeSet::new())),
            Verdict::Refused(_)
        ));
        assert_eq!(judge_engine("s1", ip, &Answer::Unsure), Verdict::Unsure);
    }

    #[test]
    fn a_sidecar_member_serves_at_its_apps_address() {
        let gossip: Ipv4Addr = [10, 0, 0, 250].into();
        let one = |last: u8| Answer::Addresses([[10, 0, 0, last].into()].into());
        // s1-serf is the member's address: the server is s1's, from DNS.
        assert_eq!(
            judge_sidecar("s1", gossip, &one(2), &one(250)),
            (Verdict::Legit, Some([10, 0, 0, 2].into()))
        );
        // A member in another container claiming s1: neither name is its address.
        let (verdict, app) = judge_sidecar("s1", gossip, &one(2), &one(249));
        assert!(matches!(verdict, Verdict::Refused(r) if r.contains("10.0.0.2")));
        assert_eq!(app, None);
        assert!(matches!(
            judge_sidecar("s1", gossip, &one(2), &Answer::NoSuchName).0,
            Verdict::Refused(_)
        ));
        assert_eq!(
            judge_sidecar("s1", gossip, &one(2), &Answer::Unsure),
            (Verdict::Unsure, None)
        );
    }

    #[test]
    fn one_address_backs_one_server() {
        let mut rogue = backend("s99", 2);
        rogue.port = 3000;
        // s1 serves 10.0.0.2: the newcomer at that address is refused.
        let serving = BTreeMap::from([("s1".to_string(), "10.0.0.2:3000".to_string())]);
        let (admitted, doubles) = one_server_per_address(
            vec![rogue.clone(), backend("s1", 2), backend("s2", 3)],
            &serving,
        );
        assert_eq!(admitted, [backend("s1", 2), backend("s2", 3)]);
        assert_eq!(doubles, [(rogue, "s1".to_string())]);
        // Nobody serves it yet: natural order decides, the same way every time.
        let (admitted, doubles) =
            one_server_per_address(vec![backend("s10", 2), backend("s9", 2)], &BTreeMap::new());
        assert_eq!(admitted, [backend("s9", 2)]);
        assert_eq!(doubles[0].1, "s9");
    }
}
