//! Serf's membership, as `serf members -format json` prints it, turned into HAProxy
//! backends. Membership is gossip from any holder of the key: untrusted input, so only
//! what is provably well-formed and inside the cluster's network is ever rendered.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cluster::record::Record;
use cluster::{is_dns_label, Backend, Cluster, Role, DEFAULT_SERVICE};

pub(crate) use cluster::Member;

/// A member that claims to be a backend but cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) reason: String,
}

impl Skipped {
    /// The record names the member as gossip gave it; the format escapes what it must.
    pub(crate) fn record(&self) -> Record {
        Record::Skipped {
            member: self.name.clone(),
            addr: self.addr.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// A well-formed backend, not yet corroborated by the orchestrator (see `trust`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Candidate {
    pub(crate) backend: Backend,
    /// The gossip address as Serf gave it, for the records.
    pub(crate) addr: String,
}

impl Candidate {
    pub(crate) fn skipped(&self, reason: &str) -> Skipped {
        Skipped {
            name: self.backend.name.clone(),
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Sorted, so two reads of the same membership compare equal whatever order Serf
    /// listed its members in.
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) skipped: Vec<Skipped>,
}

/// The alive members tagged `role=backend` that are safe to render. Members that are not
/// alive or not backends (ha itself) are left out silently; backends that fail a check
/// are listed in `skipped` with the reason. A member serves in the service its name
/// belongs to (`api3`: service `api`), whose name its `service` tag must give (none for
/// the default service), at that service's port.
pub(crate) fn select_backends(members: &[Member], cluster: &Cluster) -> Selection {
    let mut selection = Selection::default();
    for member in members {
        if member.status != "alive"
            || member.tags.get("role").map(String::as_str) != Some(Role::Backend.as_str())
        {
            continue;
        }
        match backend(member, cluster) {
            Ok(backend) => selection.candidates.push(Candidate {
                backend,
                addr: member.addr.clone(),
            }),
            Err(reason) => selection.skipped.push(Skipped {
                name: member.name.clone(),
                addr: member.addr.clone(),
                reason,
            }),
        }
    }
    selection.candidates.sort();
    selection
        .skipped
        .sort_by(|a, b| (&a.name, &a.addr).cmp(&(&b.name, &b.addr)));
    selection
}

fn backend(member: &Member, cluster: &Cluster) -> Result<Backend, String> {
    if !is_dns_label(&member.name) {
        return Err("the name is not a DNS label (lowercase letters, digits, '-')".into());
    }
    let ip = ipv4_of(&member.addr)?;
    check_address(ip, cluster)?;
    // A name of no service is judged as the default service's webapps are (and refused
    // by `trust`, which knows every service's naming).
    let service = cluster.service_of(&member.name);
    if let Some(service) = &service {
        let claimed = member
            .tags
            .get("service")
            .map_or(DEFAULT_SERVICE, String::as_str);
        if claimed != service.name {
            return Err(format!(
                "claims service {claimed:?} but its name is a {:?} webapp",
                service.name
            ));
        }
    }
    // The port is the declared one: a member cannot aim HAProxy at another port of a
    // container (its tag only has to agree).
    let (port, whose) = match service.filter(|s| !s.is_default()) {
        Some(service) => (service.app.port, format!("service {:?}'s", service.name)),
        None => (cluster.webapps.port, "the webapps'".to_string()),
    };
    match member.tags.get("port") {
        Some(text) if text.parse::<u16>() != Ok(port) => {
            return Err(format!(
                "the port tag {text:?} is not {whose} declared port {port}"
            ))
        }
        _ => {}
    }
    Ok(Backend {
        name: member.name.clone(),
        ip,
        port,
    })
}

fn ipv4_of(addr: &str) -> Result<Ipv4Addr, String> {
    let ip = addr
        .parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| addr.parse::<IpAddr>())
        .map_err(|_| "the address is not an IP address".to_string())?;
    match ip {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(ip) => ip
            .to_ipv4_mapped()
            .ok_or_else(|| "the address is IPv6; the cluster network is IPv4".to_string()),
    }
}

fn check_address(ip: Ipv4Addr, cluster: &Cluster) -> Result<(), String> {
    let subnet = cluster.network.subnet;
    if !subnet.contains(&ip) {
        return Err(format!(
            "the address is outside the cluster network {subnet}"
        ));
    }
    if ip == subnet.network() || ip == subnet.broadcast() {
        return Err(format!("the address is not a host address of {subnet}"));
    }
    // HAProxy must never be pointed at the Docker host or at itself.
    if ip == cluster.gateway() {
        return Err("the address is the network's gateway (the Docker host)".into());
    }
    if ip == cluster.ha.ip {
        return Err("the address is the load balancer's own".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    const SERF_JSON: &str = r#"{
      "members": [
        {"name": "ha", "addr": "192.168.42.42:7946", "port": 7946,
         "tags": {"role": "balancer", "port": "80"}, "status": "alive",
         "protocol": {"max": 5, "min": 2, "version": 5}},
        {"name": "s1", "addr": "192.168.42.2:7946", "port": 7946,
         "tags": {"port": "3000", "role": "backend"}, "status": "alive",
         "protocol": {"max": 5, "min": 2, "version": 5}},
        {"name": "s2", "addr": "192.168.42.3:7946", "port": 7946,
         "tags": {"role": "backend"}, "status": "failed",
         "protocol": {"max": 5, "min": 2, "version": 5}}
      ]
    }"#;

    fn parse(json: &str) -> anyhow::Result<Vec<Member>> {
        cluster::parse_members(json).context("parsing the output of `serf members -format json`")
    }

    fn cluster() -> Cluster {
        cluster::parse("", "cluster.toml").expect("defaults are valid")
    }

    fn member(name: &str, addr: &str, tags: &[(&str, &str)]) -> Member {
        Member {
            name: name.into(),
            addr: addr.into(),
            status: "alive".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn backend(name: &str, ip: [u8; 4], port: u16) -> Backend {
        Backend {
            name: name.into(),
            ip: ip.into(),
            port,
        }
    }

    /// `serf members -format=json` as Serf printed it (see fixtures/README.md).
    #[test]
    fn parses_the_json_serf_printed() {
        let members = parse(include_str!("../fixtures/serf-members.json")).unwrap();
        let seen: Vec<(&str, &str, &str)> = members
            .iter()
            .map(|m| (m.name.as_str(), m.addr.as_str(), m.status.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("s1", "172.18.0.2:7946", "alive"),
                ("s2", "172.18.0.3:7946", "left")
            ]
        );
        assert_eq!(members[0].tags["role"], "backend");
        assert_eq!(members[1].tags["port"], "3000");
    }

    #[test]
    fn parses_serf_members_json() {
        let members = parse(SERF_JSON).unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(members[1].name, "s1");
        assert_eq!(members[1].addr, "192.168.42.2:7946");
        assert_eq!(members[1].tags["port"], "3000");
        assert_eq!(members[2].status, "failed");
    }

    #[test]
    fn rejects_output_that_is_not_serf_json() {
        let err = parse("Error connecting to Serf agent").unwrap_err();
        assert!(format!("{err:#}").contains("serf members"), "{err:#}");
    }

    fn backends(selection: &Selection) -> Vec<Backend> {
        selection
            .candidates
            .iter()
            .map(|c| c.backend.clone())
            .collect()
    }

    #[test]
    fn keeps_alive_backends_only() {
        let selection = select_backends(&parse(SERF_JSON).unwrap(), &cluster());
        assert_eq!(
            backends(&selection),
            [backend("s1", [192, 168, 42, 2], 3000)]
        );
        assert_eq!(selection.candidates[0].addr, "192.168.42.2:7946");
        assert!(selection.skipped.is_empty());
    }

    #[test]
    fn the_port_is_the_declared_one() {
        let members = [
            member("s1", "192.168.42.2:7946", &[("role", "backend")]),
            member(
                "s2",
                "192.168.42.3:7946",
                &[("role", "backend"), ("port", "3000")],
            ),
            member(
                "s3",
                "192.168.42.4:7946",
                &[("role", "backend"), ("port", "22")],
            ),
        ];
        let selection = select_backends(&members, &cluster());
        assert_eq!(
            backends(&selection),
            [
                backend("s1", [192, 168, 42, 2], 3000),
                backend("s2", [192, 168, 42, 3], 3000)
            ]
        );
        assert!(selection.skipped[0].reason.contains("declared port 3000"));
    }

    #[test]
    fn the_same_membership_in_any_order_selects_the_same() {
        let mut members = parse(SERF_JSON).unwrap();
        members.push(member("s3", "192.168.42.4:7946", &[("role", "backend")]));
        let first = select_backends(&members, &cluster());
        members.reverse();
        assert_eq!(select_backends(&members, &cluster()), first);
    }

    #[test]
    fn skips_untrusted_backends_with_a_reason() {
        let table = [
            ("S1", "192.168.42.2:7946", None, "DNS label"),
            ("s1\nserver evil", "192.168.42.2:7946", None, "DNS label"),
            ("s2", "10.0.0.2:7946", None, "outside the cluster network"),
            ("s3", "not-an-ip", None, "not an IP address"),
            ("s4", "[fe80::1]:7946", None, "IPv6"),
            ("s5", "192.168.42.1:7946", None, "gateway"),
            ("s6", "192.168.42.42:7946", None, "load balancer"),
            ("s7", "192.168.42.255:7946", None, "not a host address"),
            ("s8", "192.168.42.8:7946", Some("0"), "declared port"),
            (
                "s9",
                "192.168.42.9:7946",
                Some("3000 backup"),
                "declared port",
            ),
            ("s10", "192.168.42.10:7946", Some("70000"), "declared port"),
        ];
        for (name, addr, port, expected) in table {
            let mut tags = vec![("role", "backend")];
            tags.extend(port.map(|p| ("port", p)));
            let selection = select_backends(&[member(name, addr, &tags)], &cluster());
            assert!(selection.candidates.is_empty(), "{name:?} was rendered");
            let reason = &selection.skipped[0].reason;
            assert!(reason.contains(expected), "{name:?}: {reason}");
        }
    }

    #[test]
    fn skipped_members_are_printed_escaped() {
        let skipped = Skipped {
            name: "s1\nserver evil 1.2.3.4:80".into(),
            addr: "x".into(),
            reason: "r".into(),
        };
        assert!(!skipped.record().to_string().contains('\n'));
    }

    #[test]
    fn ignores_non_backends_and_members_not_alive() {
        let mut leaving = member("s1", "192.168.42.2:7946", &[("role", "backend")]);
        leaving.status = "leaving".into();
        let members = [
            leaving,
            member("x", "192.168.42.9:7946", &[("role", "monitor")]),
            member("y", "192.168.42.10:7946", &[]),
        ];
        assert_eq!(select_backends(&members, &cluster()), Selection::default());
    }

    fn with_services() -> Cluster {
        cluster::parse(
            "[services.api]\npaths = [\"/api\"]\nport = 8080\n\n[services.static]\nhosts = [\"static.localhost\"]\n",
            "cluster.toml",
        )
        .unwrap()
    }

    #[test]
    fn each_member_serves_in_the_service_of_its_name_and_tag() {
        let members = [
            member("s1", "192.168.42.2:7946", &[("role", "backend")]),
            member(
                "api1",
                "192.168.42.3:7946",
                &[("role", "backend"), ("service", "api"), ("port", "8080")],
            ),
            member(
                "static1",
                "192.168.42.4:7946",
                &[("role", "backend"), ("service", "static")],
            ),
        ];
        let selection = select_backends(&members, &with_services());
        assert_eq!(
            backends(&selection),
            [
                backend("api1", [192, 168, 42, 3], 8080),
                backend("s1", [192, 168, 42, 2], 3000),
                backend("static1", [192, 168, 42, 4], 3000),
            ]
        );
        assert!(selection.skipped.is_empty());
    }

    #[test]
    fn a_wrong_or_missing_service_tag_is_refused() {
        let table = [
            (
                "api1",
                vec![],
                "claims service \"webapps\" but its name is a \"api\" webapp",
            ),
            (
                "api2",
                vec![("service", "static")],
                "claims service \"static\" but its name is a \"api\" webapp",
            ),
            (
                "s1",
                vec![("service", "api")],
                "claims service \"api\" but its name is a \"webapps\" webapp",
            ),
            (
                "static1",
                vec![("service", "webapps")],
                "claims service \"webapps\" but its name is a \"static\" webapp",
            ),
        ];
        for (name, extra, expected) in table {
            let mut tags = vec![("role", "backend")];
            tags.extend(extra);
            let selection = select_backends(
                &[member(name, "192.168.42.5:7946", &tags)],
                &with_services(),
            );
            assert!(selection.candidates.is_empty(), "{name} was rendered");
            assert_eq!(selection.skipped[0].reason, expected, "{name}");
        }
    }

    #[test]
    fn the_port_is_the_one_of_the_members_service() {
        let api = |port: &str| {
            member(
                "api1",
                "192.168.42.3:7946",
                &[("role", "backend"), ("service", "api"), ("port", port)],
            )
        };
        let selection = select_backends(&[api("3000")], &with_services());
        assert!(selection.candidates.is_empty());
        assert_eq!(
            selection.skipped[0].reason,
            "the port tag \"3000\" is not service \"api\"'s declared port 8080"
        );
        let untagged = member(
            "api1",
            "192.168.42.3:7946",
            &[("role", "backend"), ("service", "api")],
        );
        let selection = select_backends(&[untagged], &with_services());
        assert_eq!(selection.candidates[0].backend.port, 8080);
        // A name of no service keeps today's checks; `trust` refuses it by its naming.
        let stranger = member("web1", "192.168.42.9:7946", &[("role", "backend")]);
        let selection = select_backends(&[stranger], &with_services());
        assert_eq!(selection.candidates[0].backend.port, 3000);
    }
}
