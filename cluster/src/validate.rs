//! Semantic checks on the parsed file. Each failure names the key and what would be valid.
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

use crate::error::{line_of_key, ConfigError};
use crate::model::*;
use crate::names::is_dns_label;
use crate::raw::{RawCluster, RawHealth, RawWebapps};

pub(crate) struct Violation {
    key: String,
    message: String,
}

impl Violation {
    pub(crate) fn into_config_error(self, file: &str, text: &str) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            // A service's key left to its default (its prefix) is found at its table.
            line: line_of_key(text, &self.key).or_else(|| {
                let service = self.key.strip_prefix("services.")?.split('.').next()?;
                line_of_key(text, &format!("services.{service}"))
            }),
            key: self.key,
            message: self.message,
        }
    }
}

/// Why `command` is refused on a Swarm: the host puts it into a container before it
/// starts, which a Swarm task does not allow.
pub(crate) const SWARM_COMMAND: &str = "is handed to each container before it starts, which a Swarm task does not allow; on deploy.target = \"swarm\" put the app's s6 service in the image instead (COPY run /etc/s6/app/run, see examples/swarm-services)";

pub(crate) fn violation<T>(
    key: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, Violation> {
    Err(Violation {
        key: key.into(),
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
    let health = health("ha.health", &raw.ha.health)?;
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

    let webapps = webapps("webapps", &raw.webapps)?;
    let profile = keyword(
        "serf.profile",
        &raw.serf.profile,
        SerfProfile::parse,
        SerfProfile::ALL,
    )?;

    let deploy = deploy(&raw)?;

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
        webapps,
        serf: Serf { profile },
        deploy,
        services: Default::default(),
        view: None,
    };
    let cluster = Cluster {
        services: crate::validate_services::services(&raw, &cluster)?,
        ..cluster
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
    if cluster.deploy.is_swarm() {
        // The Swarm target deploys no sidecar service.
        if cluster.webapps.image.is_some() {
            return violation(
                "webapps.image",
                "runs beside a Serf sidecar container, which the Swarm target does not deploy; on deploy.target = \"swarm\" use webapps.build (a Dockerfile FROM the project's base) instead",
            );
        }
        if !cluster.webapps.command.is_empty() {
            return violation("webapps.command", SWARM_COMMAND);
        }
        if cluster.ha.name == "webapps" {
            return violation(
                "ha.name",
                "\"webapps\" is the name of the webapps' Swarm service; choose another name, e.g. \"ha\"",
            );
        }
        if cluster.ha.tls.is_some() {
            return violation(
                "ha.tls",
                "is not supported on deploy.target = \"swarm\" yet; remove [ha.tls] or deploy to one engine (target = \"engine\")",
            );
        }
    }
    let max = cluster.max_webapps();
    if cluster.webapps.count > max {
        let sidecars = match cluster.webapps.mode() {
            AppMode::Image(_) => ", two addresses each with their Serf sidecars",
            AppMode::Lab | AppMode::Build(_) => "",
        };
        return violation(
            "webapps.count",
            format!("{} webapps do not fit in network.subnet {} (room for {max} besides the gateway and ha{sidecars}); lower the count or use a larger subnet", cluster.webapps.count, cluster.network.subnet),
        );
    }
    Ok(())
}

fn dns_label(key: &str, value: &str) -> Result<String, Violation> {
    if is_dns_label(value) {
        Ok(value.to_string())
    } else {
        violation(
            key,
            format!("{value:?} is not a valid name; use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"),
        )
    }
}

fn docker_name(key: &str, value: &str) -> Result<String, Violation> {
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

fn non_empty(key: &str, value: &str, example: &str) -> Result<String, Violation> {
    if value.trim().is_empty() {
        violation(key, format!("is empty; use {example}"))
    } else {
        Ok(value.to_string())
    }
}

fn debian_suite(key: &str, value: &str) -> Result<String, Violation> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        Ok(value.to_string())
    } else {
        violation(
            key,
            format!("{value:?} is not a Debian suite name; use e.g. \"bookworm\""),
        )
    }
}

fn subnet(key: &str, value: &str) -> Result<Ipv4Net, Violation> {
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

fn host_address(key: &str, value: &str, subnet: Ipv4Net) -> Result<Ipv4Addr, Violation> {
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

fn port(key: &str, value: i64) -> Result<u16, Violation> {
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => violation(key, format!("{value} is not a TCP port; use 1-65535")),
    }
}

fn keyword<T>(
    key: &str,
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

/// A `health` table (`ha.health`, `services.<name>.health`).
pub(crate) fn health(section: &str, health: &RawHealth) -> Result<Health, Violation> {
    let key = |name: &str| format!("{section}.{name}");
    if !health.path.starts_with('/') || health.path.contains(char::is_whitespace) {
        return violation(
            key("path"),
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
                key("interval_ms"),
                format!("{} is too short; use 100 or more", health.interval_ms),
            )
        }
    };
    let count = |name: &str, value: i64| match u32::try_from(value) {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => violation(key(name), format!("{value} is out of range; use 1-100")),
    };
    Ok(Health {
        check: keyword(
            &key("check"),
            &health.check,
            HealthCheck::parse,
            HealthCheck::ALL,
        )?,
        path: health.path.clone(),
        interval_ms,
        rise: count("rise", health.rise)?,
        fall: count("fall", health.fall)?,
    })
}

/// The keys of `[webapps]` or of a `[services.<name>]` (`section`).
pub(crate) fn webapps(section: &str, webapps: &RawWebapps) -> Result<Webapps, Violation> {
    let key = |name: &str| format!("{section}.{name}");
    let count = match u32::try_from(webapps.count) {
        Ok(count) => count,
        Err(_) => {
            return violation(
                key("count"),
                format!("{} is negative; use 0 or more", webapps.count),
            )
        }
    };
    let prefix = webapps.prefix.clone();
    if !is_dns_label(&format!("{prefix}1")) || prefix.is_empty() {
        return violation(
            key("prefix"),
            format!("{prefix:?} does not make valid node names ({prefix}1, {prefix}2...); use lowercase letters, digits and '-', starting with a letter, e.g. \"s\""),
        );
    }
    let port = port(&key("port"), webapps.port)?;
    let optional = |name: &str, value: &Option<String>, example: &str| {
        value
            .as_deref()
            .map(|v| non_empty(&key(name), v, example))
            .transpose()
    };
    let image = optional(
        "image",
        &webapps.image,
        "an image on the engine, e.g. \"team/shop:1.4\"",
    )?;
    let build = optional(
        "build",
        &webapps.build,
        "a folder with a Dockerfile, e.g. \"app/\"",
    )?;
    if image.is_some() && build.is_some() {
        return violation(
            key("build"),
            format!("is set together with {section}.image; keep one: image (any image, Serf in a sidecar) or build (a Dockerfile FROM the project's base)"),
        );
    }
    if !webapps.command.is_empty() && build.is_none() {
        return violation(
            key("command"),
            format!("is only used with {section}.build (the s6 service of an app built on the base); remove it or set {section}.build"),
        );
    }
    if webapps.command.iter().any(|arg| arg.is_empty())
        || webapps.command.first().is_some_and(|c| c.trim().is_empty())
    {
        return violation(
            key("command"),
            "has an empty argument; use e.g. [\"python3\", \"-m\", \"http.server\", \"8000\"]",
        );
    }
    let max_unavailable = match u32::try_from(webapps.max_unavailable) {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => {
            return violation(
                key("max_unavailable"),
                format!(
                    "{} is out of range; use 1 or more (rolling updates replace that many webapps at a time)",
                    webapps.max_unavailable
                ),
            )
        }
    };
    // HAProxy's `timeout server` and `hard-stop-after` (30 s) bound any request anyway:
    // a longer drain would wait for nothing.
    let drain_ms = match u32::try_from(webapps.drain_ms) {
        Ok(ms) if ms <= 30_000 => ms,
        _ => {
            return violation(
                key("drain_ms"),
                format!(
                "{} is out of range; use 0-30000 (HAProxy's 30 s server timeout bounds a request)",
                webapps.drain_ms
            ),
            )
        }
    };
    Ok(Webapps {
        count,
        prefix,
        port,
        image,
        build,
        command: webapps.command.clone(),
        max_unavailable,
        drain_ms,
        cap_add: cap_add(&key("cap_add"), &webapps.cap_add)?,
    })
}

/// `cap_add`: Linux capabilities by Docker's name (`CAP_` and case optional),
/// none that would undo the webapps' hardening.
fn cap_add(key: &str, names: &[String]) -> Result<Vec<String>, Violation> {
    let mut caps = Vec::new();
    for name in names {
        let upper = name.trim().to_ascii_uppercase();
        let cap = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if crate::container::UNSAFE_CAPS.contains(&cap) {
            return violation(
                key,
                format!(
                    "{name:?} would undo the webapps' hardening (raw traffic on the cluster network, or a way out of the container); remove it"
                ),
            );
        }
        if !crate::container::KNOWN_CAPS.contains(&cap) {
            return violation(
                key,
                format!(
                    "{name:?} is not a Linux capability; use Docker's names, e.g. [\"SYS_NICE\"]"
                ),
            );
        }
        if !caps.iter().any(|c| c == cap) {
            caps.push(cap.to_string());
        }
    }
    // One order whatever the file's: reordering the list recreates nothing.
    caps.sort();
    Ok(caps)
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

/// `[deploy]`: the target, and the Swarm settings (checked on every target, so a typo
/// shows before the switch).
fn deploy(raw: &RawCluster) -> Result<Deploy, Violation> {
    let deploy = &raw.deploy;
    let target = keyword(
        "deploy.target",
        &deploy.target,
        DeployTarget::parse,
        DeployTarget::ALL,
    )?;
    let ha_constraint = deploy.ha_constraint.trim();
    if !["==", "!="].iter().any(|op| ha_constraint.contains(op)) {
        return violation(
            "deploy.ha_constraint",
            format!("{ha_constraint:?} is not a Swarm placement constraint; use e.g. \"node.role == manager\" or \"node.hostname == lb1\""),
        );
    }
    // Swarm takes the value as written (quotes become part of it), and the stack file
    // quotes the whole constraint.
    if ha_constraint.contains(['"', '\\', '\n']) {
        return violation(
            "deploy.ha_constraint",
            format!("{ha_constraint:?} has a quote, backslash or line break; write the value bare, e.g. \"node.labels.zone == a\""),
        );
    }
    let registry = match deploy.registry.as_deref().map(str::trim) {
        None => None,
        Some(prefix) if is_registry_prefix(prefix) => Some(prefix.trim_end_matches('/').to_string()),
        Some(prefix) => {
            return violation(
                "deploy.registry",
                format!("{prefix:?} is not a registry prefix; use host[:port][/path], e.g. \"registry.example:5000/team\""),
            )
        }
    };
    let Ok(address) = deploy.address.parse::<Ipv4Addr>() else {
        return violation(
            "deploy.address",
            format!(
                "{:?} is not an IPv4 address; use the address of ha's node as this host reaches it, e.g. \"127.0.0.1\"",
                deploy.address
            ),
        );
    };
    Ok(Deploy {
        target,
        ha_constraint: ha_constraint.to_string(),
        registry,
        address,
    })
}

/// `host[:port][/path]`: lowercase, a host with a dot or a port (or `localhost`), so the
/// engine never mistakes it for a Docker Hub user.
fn is_registry_prefix(prefix: &str) -> bool {
    let (host, path) = prefix.split_once('/').unwrap_or((prefix, ""));
    let host_ok = !host.is_empty()
        && (host.contains('.') || host.contains(':') || host == "localhost")
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:".contains(c));
    let path_ok = path.trim_end_matches('/').split('/').all(|part| {
        path.is_empty()
            || (!part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)))
    });
    host_ok && path_ok
}
