//! Semantic checks on the parsed file. Each failure names the key and what would be valid.
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

use crate::error::{line_of_key, ConfigError};
use crate::model::*;
use crate::names::is_dns_label;
use crate::raw::RawCluster;

pub(crate) struct Violation {
    key: &'static str,
    message: String,
}

impl Violation {
    pub(crate) fn into_config_error(self, file: &str, text: &str) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: line_of_key(text, self.key),
            key: self.key.to_string(),
            message: self.message,
        }
    }
}

fn violation<T>(key: &'static str, message: impl Into<String>) -> Result<T, Violation> {
    Err(Violation {
        key,
        message: message.into(),
    })
}

pub(crate) fn validate(raw: RawCluster) -> Result<Cluster, Violation> {
    let project = dns_label("project", &raw.project)?;
    let network_name = docker_name("network.name", &raw.network.name)?;
    let subnet = subnet("network.subnet", &raw.network.subnet)?;
    let base = Base {
        image: non_empty(
            "base.image",
            &raw.base.image,
            "an image reference such as \"debian:bookworm-slim\"",
        )?,
        suite: debian_suite("base.suite", &raw.base.suite)?,
    };

    let ha_name = dns_label("ha.name", &raw.ha.name)?;
    let ha_ip = host_address("ha.ip", &raw.ha.ip, subnet)?;
    let http_port = port("ha.http_port", raw.ha.http_port)?;
    let stats_port = port("ha.stats_port", raw.ha.stats_port)?;
    if http_port == stats_port {
        return violation(
            "ha.stats_port",
            format!("{stats_port} is also ha.http_port; use two different ports, e.g. 1936"),
        );
    }
    // IPv4 only: the published URLs and the compose port syntax are written for it.
    let bind: IpAddr = match raw.ha.bind.parse::<Ipv4Addr>() {
        Ok(ip) => IpAddr::V4(ip),
        Err(_) => {
            return violation(
                "ha.bind",
                format!(
                    "{:?} is not an IPv4 address; use \"127.0.0.1\" (local only) or \"0.0.0.0\"",
                    raw.ha.bind
                ),
            )
        }
    };
    let balance = keyword("ha.balance", &raw.ha.balance, Balance::parse, Balance::ALL)?;
    let reload = keyword(
        "ha.reload",
        &raw.ha.reload,
        ReloadMethod::parse,
        ReloadMethod::ALL,
    )?;
    let update = keyword(
        "ha.update",
        &raw.ha.update,
        UpdateMethod::parse,
        UpdateMethod::ALL,
    )?;
    let health = health(&raw)?;
    let https_port = port("ha.https_port", raw.ha.https_port)?;
    let tls = tls(&raw)?;
    if tls.is_some() && (https_port == http_port || https_port == stats_port) {
        return violation(
            "ha.https_port",
            format!(
                "{https_port} is also ha.http_port or ha.stats_port; use another port, e.g. 443"
            ),
        );
    }

    let count = match u32::try_from(raw.webapps.count) {
        Ok(count) => count,
        Err(_) => {
            return violation(
                "webapps.count",
                format!("{} is negative; use 0 or more", raw.webapps.count),
            )
        }
    };
    let prefix = raw.webapps.prefix;
    if !is_dns_label(&format!("{prefix}1")) || prefix.is_empty() {
        return violation(
            "webapps.prefix",
            format!("{prefix:?} does not make valid node names ({prefix}1, {prefix}2...); use lowercase letters, digits and '-', starting with a letter, e.g. \"s\""),
        );
    }
    let webapp_port = port("webapps.port", raw.webapps.port)?;
    let profile = keyword(
        "serf.profile",
        &raw.serf.profile,
        SerfProfile::parse,
        SerfProfile::ALL,
    )?;

    let cluster = Cluster {
        project,
        network: Network {
            name: network_name,
            subnet,
        },
        base,
        ha: Ha {
            name: ha_name,
            ip: ha_ip,
            http_port,
            stats_port,
            bind,
            balance,
            sticky: raw.ha.sticky,
            reload,
            update,
            health,
            https_port,
            tls,
        },
        webapps: Webapps {
            count,
            prefix,
            port: webapp_port,
        },
        serf: Serf { profile },
    };
    cross_checks(&cluster)?;
    Ok(cluster)
}

fn cross_checks(cluster: &Cluster) -> Result<(), Violation> {
    let gateway = cluster.gateway();
    if cluster.ha.ip == gateway {
        return violation(
            "ha.ip",
            format!("{gateway} is the gateway of network.subnet {} (Docker takes its first address); use another address, e.g. {}", cluster.network.subnet, Ipv4Addr::from(u32::from(gateway) + 41)),
        );
    }
    // ha.name "s1" with prefix "s" would make two containers of one name.
    let ha = &cluster.ha.name;
    if let Some(number) = ha.strip_prefix(cluster.webapps.prefix.as_str()) {
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            return violation(
                "ha.name",
                format!("{ha:?} collides with the webapp names {p}1, {p}2...; choose another name or webapps.prefix", p = cluster.webapps.prefix),
            );
        }
    }
    let max = cluster.max_webapps();
    if cluster.webapps.count > max {
        return violation(
            "webapps.count",
            format!("{} webapps do not fit in network.subnet {} (room for {max} besides the gateway and ha); lower the count or use a larger subnet", cluster.webapps.count, cluster.network.subnet),
        );
    }
    Ok(())
}

fn dns_label(key: &'static str, value: &str) -> Result<String, Violation> {
    if is_dns_label(value) {
        Ok(value.to_string())
    } else {
        violation(
            key,
            format!("{value:?} is not a valid name; use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"),
        )
    }
}

fn docker_name(key: &'static str, value: &str) -> Result<String, Violation> {
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(value.to_string())
    } else {
        violation(
            key,
            format!("{value:?} is not a valid Docker network name; use letters, digits, '_', '.' and '-', starting with a letter or digit"),
        )
    }
}

fn non_empty(key: &'static str, value: &str, example: &str) -> Result<String, Violation> {
    if value.trim().is_empty() {
        violation(key, format!("is empty; use {example}"))
    } else {
        Ok(value.to_string())
    }
}

fn debian_suite(key: &'static str, value: &str) -> Result<String, Violation> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        Ok(value.to_string())
    } else {
        violation(
            key,
            format!("{value:?} is not a Debian suite name; use e.g. \"bookworm\""),
        )
    }
}

fn subnet(key: &'static str, value: &str) -> Result<Ipv4Net, Violation> {
    let Ok(net) = value.parse::<Ipv4Net>() else {
        return violation(
            key,
            format!("{value:?} is not an IPv4 subnet; use CIDR notation, e.g. \"192.168.42.0/24\""),
        );
    };
    if net.prefix_len() > 29 {
        return violation(
            key,
            format!("{value} is too small; use a prefix of /29 or shorter, e.g. /24"),
        );
    }
    if net.trunc() != net {
        return violation(
            key,
            format!("{value} has host bits set; use {}", net.trunc()),
        );
    }
    Ok(net)
}

fn host_address(key: &'static str, value: &str, subnet: Ipv4Net) -> Result<Ipv4Addr, Violation> {
    let Ok(ip) = value.parse::<Ipv4Addr>() else {
        return violation(
            key,
            format!("{value:?} is not an IPv4 address; use one inside network.subnet {subnet}"),
        );
    };
    if !subnet.contains(&ip) {
        return violation(
            key,
            format!("{ip} is outside network.subnet {subnet}; use an address inside it"),
        );
    }
    if ip == subnet.network() || ip == subnet.broadcast() {
        return violation(
            key,
            format!("{ip} is the network or broadcast address of {subnet}; use a host address"),
        );
    }
    Ok(ip)
}

fn port(key: &'static str, value: i64) -> Result<u16, Violation> {
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => violation(key, format!("{value} is not a TCP port; use 1-65535")),
    }
}

fn keyword<T>(
    key: &'static str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Result<T, Violation> {
    parse(value).map_or_else(
        || {
            violation(
                key,
                format!("{value:?} is not supported; use one of {}", all.join(", ")),
            )
        },
        Ok,
    )
}

fn health(raw: &RawCluster) -> Result<Health, Violation> {
    let health = &raw.ha.health;
    if !health.path.starts_with('/') || health.path.contains(char::is_whitespace) {
        return violation(
            "ha.health.path",
            format!(
                "{:?} is not an absolute URL path; use e.g. \"/health\"",
                health.path
            ),
        );
    }
    let interval_ms = match u32::try_from(health.interval_ms) {
        Ok(ms) if ms >= 100 => ms,
        _ => {
            return violation(
                "ha.health.interval_ms",
                format!("{} is too short; use 100 or more", health.interval_ms),
            )
        }
    };
    let count = |key: &'static str, value: i64| match u32::try_from(value) {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => violation(key, format!("{value} is out of range; use 1-100")),
    };
    Ok(Health {
        path: health.path.clone(),
        interval_ms,
        rise: count("ha.health.rise", health.rise)?,
        fall: count("ha.health.fall", health.fall)?,
    })
}

/// `[ha.tls]`: either both files or `generate`, never both. Whether the files exist and
/// match is checked by the host, which can read them.
fn tls(raw: &RawCluster) -> Result<Option<Tls>, Violation> {
    let Some(tls) = &raw.ha.tls else {
        return Ok(None);
    };
    let path = |key: &'static str, value: &Option<String>| match value {
        Some(path) if path.trim().is_empty() => {
            violation(key, "is empty; give the path of a PEM file")
        }
        other => Ok(other.clone()),
    };
    let cert = path("ha.tls.cert", &tls.cert)?;
    let key = path("ha.tls.key", &tls.key)?;
    match (&cert, &key, tls.generate) {
        (Some(_), Some(_), false) | (None, None, true) => {}
        (Some(_), Some(_), true) => {
            return violation(
                "ha.tls.generate",
                "cannot be true with cert and key; remove cert and key, or generate",
            )
        }
        (Some(_), None, _) => {
            return violation(
                "ha.tls.key",
                "is missing; give the PEM private key of ha.tls.cert",
            )
        }
        (None, Some(_), _) => {
            return violation(
                "ha.tls.cert",
                "is missing; give the PEM certificate of ha.tls.key",
            )
        }
        (None, None, false) => {
            return violation(
                "ha.tls",
                "has no certificate; give cert and key (PEM paths) or generate = true",
            )
        }
    }
    Ok(Some(Tls {
        cert,
        key,
        generate: tls.generate,
        redirect: tls.redirect,
    }))
}
