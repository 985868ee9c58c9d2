//! Who this instance is: hostname and container IP, shown in every answer so
//! the lab can see which backend HAProxy picked.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

use anyhow::{Context, Result};

/// The kernel's (UTS namespace) hostname, i.e. the container ID under Docker.
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `NODE_IP` if set, else the first non-loopback IPv4 the hostname resolves
/// to (Docker puts the container's address in /etc/hosts), else 127.0.0.1.
pub(crate) fn container_ip(host: &str) -> Result<IpAddr> {
    if let Some(ip) = std::env::var("NODE_IP").ok().filter(|ip| !ip.is_empty()) {
        return ip
            .trim()
            .parse()
            .with_context(|| format!("NODE_IP={ip:?} is not an IP address"));
    }
    let resolved = (host, 0)
        .to_socket_addrs()
        .into_iter()
        .flatten()
        .map(|sa| sa.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified());
    Ok(resolved.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)))
}
