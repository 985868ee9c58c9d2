//! `[services.<name>]`: each checked by the rules of `[webapps]`, then against each
//! other: names, container names and routes never shared.
use std::collections::BTreeMap;

use crate::model::{AppMode, Cluster};
use crate::names::is_dns_label;
use crate::raw::RawCluster;
use crate::services::{Service, RESERVED_NAMES};
use crate::validate::{health, violation, webapps, Violation};

pub(crate) fn services(
    raw: &RawCluster,
    cluster: &Cluster,
) -> Result<BTreeMap<String, Service>, Violation> {
    let mut services = BTreeMap::new();
    for (name, raw_service) in &raw.services {
        let section = format!("services.{name}");
        if !is_dns_label(name) {
            return violation(
                section,
                format!("{name:?} is not a valid service name; use 1-63 lowercase letters, digits and '-', e.g. [services.api]"),
            );
        }
        if RESERVED_NAMES.contains(&name.as_str()) || *name == cluster.ha.name {
            return violation(
                section,
                format!("{name:?} is taken (by the default service [webapps], ha or HAProxy's own sections); choose another name, e.g. [services.api]"),
            );
        }
        let app = webapps(&section, &raw_service.app_keys(name))?;
        let health = match &raw_service.health {
            Some(raw_health) => health(&format!("{section}.health"), raw_health)?,
            None => cluster.ha.health.clone(),
        };
        // The lab's app image is built only for a default service that runs it.
        if app.mode() == AppMode::Lab && cluster.webapps.mode() != AppMode::Lab {
            return violation(
                section,
                "runs the lab's app, which is built only when [webapps] runs it too; set image = \"...\" or build = \"<folder>\"",
            );
        }
        let hosts = hosts(&section, &raw_service.hosts)?;
        let paths = paths(&section, &raw_service.paths)?;
        if hosts.is_empty() && paths.is_empty() {
            return violation(
                section,
                "has no route, so no request would reach it; add hosts = [\"api.localhost\"] or paths = [\"/api\"]",
            );
        }
        services.insert(
            name.clone(),
            Service {
                app,
                hosts,
                paths,
                health,
            },
        );
    }
    let cluster = Cluster {
        services,
        ..cluster.clone()
    };
    names_apart(&cluster)?;
    routes_apart(&cluster)?;
    fits(&cluster)?;
    if cluster.deploy.is_swarm() {
        // As for `[webapps] image`: the Swarm target deploys no sidecar service.
        if let Some(name) = cluster.services.iter().find_map(|(name, service)| {
            matches!(service.app.mode(), AppMode::Image(_)).then_some(name)
        }) {
            return violation(
                format!("services.{name}.image"),
                "runs beside a Serf sidecar container, which the Swarm target does not deploy; on deploy.target = \"swarm\" use build (a Dockerfile FROM the project's base) instead",
            );
        }
        if let Some(name) = cluster
            .services
            .iter()
            .find_map(|(name, service)| (!service.app.command.is_empty()).then_some(name))
        {
            return violation(
                format!("services.{name}.command"),
                crate::validate::SWARM_COMMAND,
            );
        }
    }
    Ok(cluster.services)
}

/// The key of a service's `name` key in the file (`webapps.prefix` for the default one).
fn key(service: &crate::ServiceRef<'_>, name: &str) -> String {
    match service.is_default() {
        true => format!("webapps.{name}"),
        false => format!("services.{}.{name}", service.name),
    }
}

/// No two services can make one container name: `s` + `11` and `s1` + `1` are both `s11`.
fn names_apart(cluster: &Cluster) -> Result<(), Violation> {
    let services = cluster.services();
    for (i, service) in services.iter().enumerate() {
        let prefix = &service.app.prefix;
        for other in &services[..i] {
            let theirs = &other.app.prefix;
            let (short, long) = match prefix.len() <= theirs.len() {
                true => (prefix, theirs),
                false => (theirs, prefix),
            };
            let Some(rest) = long.strip_prefix(short.as_str()) else {
                continue;
            };
            if !rest.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let example = match rest.is_empty() {
                true => format!("both name their first webapp {prefix}1"),
                false => format!("{long} + 1 and {short} + {rest}1 are both {long}1"),
            };
            return violation(
                key(service, "prefix"),
                format!(
                    "{prefix:?} collides with {} {theirs:?} ({example}); choose another prefix",
                    key(other, "prefix")
                ),
            );
        }
        let ha = &cluster.ha.name;
        if !service.is_default() && service.index_of(ha).is_some() {
            return violation(
                "ha.name",
                format!("{ha:?} is taken by a webapp of service {:?} ({prefix}1, {prefix}2...); choose another name or {}", service.name, key(service, "prefix")),
            );
        }
    }
    Ok(())
}

/// Each route leads to one service.
fn routes_apart(cluster: &Cluster) -> Result<(), Violation> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for service in cluster.services() {
        for route in service.routes() {
            let map_key = route.map_key();
            match seen.get(&map_key) {
                Some(owner) if *owner != service.name => {
                    let which = match route.host {
                        Some(_) => "hosts",
                        None => "paths",
                    };
                    return violation(
                        key(&service, which),
                        format!("the route {route} is also service {owner:?}'s; give each route to one service"),
                    );
                }
                _ => {
                    seen.insert(map_key, service.name);
                }
            }
        }
    }
    Ok(())
}

/// Every service's webapps (and app images' sidecars) fit in the subnet.
fn fits(cluster: &Cluster) -> Result<(), Violation> {
    let free = (cluster.network.subnet.hosts().count() as u32).saturating_sub(2);
    let mut used = 0u32;
    for service in cluster.services() {
        let each = match service.app.mode() {
            AppMode::Image(_) => 2,
            AppMode::Lab | AppMode::Build(_) => 1,
        };
        used = used.saturating_add(service.app.count.saturating_mul(each));
        if used > free && !service.is_default() {
            return violation(
                key(&service, "count"),
                format!("the services' webapps do not fit in network.subnet {} ({free} addresses besides the gateway and ha; an app image's webapp takes two with its Serf sidecar); lower the counts or use a larger subnet", cluster.network.subnet),
            );
        }
    }
    Ok(())
}

/// `hosts`: lowercase host names, a leading `*.` for one label of any name.
fn hosts(section: &str, hosts: &[String]) -> Result<Vec<String>, Violation> {
    let mut out = Vec::new();
    for host in hosts {
        let lower = host.to_ascii_lowercase();
        let name = lower.strip_prefix("*.").unwrap_or(&lower);
        let valid = name.len() <= 253 && name.split('.').all(is_dns_label);
        if !valid {
            return violation(
                format!("{section}.hosts"),
                format!("{host:?} is not a host name; use names such as \"api.localhost\" or \"*.example.com\" (no scheme, port or path)"),
            );
        }
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Ok(out)
}

/// `paths`: prefixes of the URL path, as HAProxy sees it (no query).
fn paths(section: &str, paths: &[String]) -> Result<Vec<String>, Violation> {
    let mut out = Vec::new();
    for path in paths {
        let valid = path.starts_with('/')
            && path.len() <= 1024
            && !path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#');
        if !valid {
            return violation(
                format!("{section}.paths"),
                format!("{path:?} is not a path prefix; use one that starts with '/' and has no spaces, '?' or '#', e.g. \"/api\""),
            );
        }
        if !out.contains(path) {
            out.push(path.clone());
        }
    }
    Ok(out)
}
