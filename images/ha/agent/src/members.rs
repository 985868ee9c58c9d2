//! Serf's membership, as `serf members -format json` prints it, turned into HAProxy
//! backends. Membership is gossip from any holder of the key: untrusted input, so only
//! what is provably well-formed and inside the cluster's network is ever rendered.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use cluster::record::Record;
use cluster::{is_dns_label, Backend, Cluster, Role};

pub(crate) use cluster::Member;

pub(crate) fn parse(json: &str) -> anyhow::Result<Vec<Member>> {
    cluster::parse_members(json).context("parsing the output of `serf members -format json`")
}

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

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) backends: Vec<Backend>,
    pub(crate) skipped: Vec<Skipped>,
}

/// The alive members tagged `role=backend` that are safe to render. Members that are not
/// alive or not backends (ha itself) are left out silently; backends that fail a check
/// are listed in `skipped` with the reason.
pub(crate) fn select_backends(members: &[Member], cluster: &Cluster) -> Selection {
    let mut selection = Selection::default();
    for member in members {
        if member.status != "alive"
            || member.tags.get("role").map(String::as_str) != Some(Role::Backend.as_str())
        {
            continue;
        }
        match backend(member, cluster) {
            Ok(backend) => selection.backends.push(backend),
            Err(reason) => selection.skipped.push(Skipped {
                name: member.name.clone(),
                addr: member.addr.clone(),
                reason,
            }),
        }
    }
    selection
}

fn backend(member: &Member, cluster: &Cluster) -> Result<Backend, String> {
    if !is_dns_label(&member.name) {
        return Err("the name is not a DNS label (lowercase letters, digits, '-')".into());
    }
    let ip = ipv4_of(&member.addr)?;
    check_address(ip, cluster)?;
    let port = match member.tags.get("port") {
        None => cluster.webapps.port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                return Err(format!(
                    "the port tag {text:?} is not a port number (1-65535)"
                ))
            }
        },
    };
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

    #[test]
    fn keeps_alive_backends_only() {
        let selection = select_backends(&parse(SERF_JSON).unwrap(), &cluster());
        assert_eq!(selection.backends, [backend("s1", [192, 168, 42, 2], 3000)]);
        assert!(selection.skipped.is_empty());
    }

    #[test]
    fn port_tag_falls_back_to_the_declared_port() {
        let members = [
            member("s1", "192.168.42.2:7946", &[("role", "backend")]),
            member(
                "s2",
                "192.168.42.3:7946",
                &[("role", "backend"), ("port", "8080")],
            ),
        ];
        let selection = select_backends(&members, &cluster());
        assert_eq!(
            selection.backends,
            [
                backend("s1", [192, 168, 42, 2], 3000),
                backend("s2", [192, 168, 42, 3], 8080)
            ]
        );
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
            ("s8", "192.168.42.8:7946", Some("0"), "not a port number"),
            (
                "s9",
                "192.168.42.9:7946",
                Some("3000 backup"),
                "not a port number",
            ),
            (
                "s10",
                "192.168.42.10:7946",
                Some("70000"),
                "not a port number",
            ),
        ];
        for (name, addr, port, expected) in table {
            let mut tags = vec![("role", "backend")];
            tags.extend(port.map(|p| ("port", p)));
            let selection = select_backends(&[member(name, addr, &tags)], &cluster());
            assert!(selection.backends.is_empty(), "{name:?} was rendered");
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
}
