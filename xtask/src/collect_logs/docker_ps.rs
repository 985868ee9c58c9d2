//! `docker ps` as the docker CLI prints it, from the Engine API's container list, so the
//! evidence reads like the lab's without shelling out to the CLI.
use bollard::models::{ContainerSummary, PortSummary as Port};

const HEADERS: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// The CLI's table (tabwriter: min width 10, padding 3), newest container first.
/// `now_unix` makes CREATED ("5 seconds ago") reproducible in tests.
pub(crate) fn render(containers: &[ContainerSummary], now_unix: i64) -> String {
    let mut sorted: Vec<&ContainerSummary> = containers.iter().collect();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
    let mut rows = vec![HEADERS.map(String::from).to_vec()];
    rows.extend(sorted.into_iter().map(|c| row(c, now_unix)));
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|col| {
            rows.iter()
                .map(|r| r[col].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (col, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if col + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[col] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(c: &ContainerSummary, now_unix: i64) -> Vec<String> {
    let id: String =
        c.id.as_deref()
            .unwrap_or_default()
            .chars()
            .take(12)
            .collect();
    let created = match c.created {
        Some(at) => format!("{} ago", human_duration(now_unix - at)),
        None => String::new(),
    };
    let names: Vec<&str> = c
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        // The CLI hides legacy link aliases (`/other/alias`) unless --no-trunc.
        .filter(|n| !n.contains('/'))
        .collect();
    vec![
        id,
        image(c.image.as_deref().unwrap_or_default()),
        quote(&ellipsis(c.command.as_deref().unwrap_or_default(), 20)),
        created,
        c.status.clone().unwrap_or_default(),
        ports(c.ports.as_deref().unwrap_or_default()),
        names.join(","),
    ]
}

/// An image ID shortened to 12 hex digits, a digest dropped, a name kept as given.
fn image(image: &str) -> String {
    if image.is_empty() {
        return "<no image>".into();
    }
    if let Some(hex) = image.strip_prefix("sha256:") {
        return hex.chars().take(12).collect();
    }
    image.split('@').next().unwrap_or(image).to_string()
}

fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Go's `strconv.Quote` for the characters a command line holds.
fn quote(text: &str) -> String {
    let mut out = String::from('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's `units.HumanDuration`.
fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds as f64 / 3600.0).round() as i64;
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        s => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// The CLI's PORTS column: published ports as `ip:host->container/proto`, consecutive
/// ports of the same address and protocol grouped into ranges.
fn ports(ports: &[Port]) -> String {
    let mut ports: Vec<&Port> = ports.iter().collect();
    ports.sort_by(|a, b| {
        (a.private_port, a.ip.as_deref(), a.public_port, proto(a)).cmp(&(
            b.private_port,
            b.ip.as_deref(),
            b.public_port,
            proto(b),
        ))
    });
    // (key: "ip/proto" or "proto", first, last): the CLI's groups, in creation order.
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut remapped = Vec::new();
    for port in ports {
        let current = port.private_port;
        let key = match port.ip.as_deref().filter(|ip| !ip.is_empty()) {
            Some(ip) => {
                if port.public_port != Some(current) {
                    let public = port.public_port.unwrap_or(0);
                    remapped.push(format!(
                        "{}->{current}/{}",
                        join_host_port(ip, public),
                        proto(port)
                    ));
                    continue;
                }
                format!("{ip}/{}", proto(port))
            }
            None => proto(port).to_string(),
        };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(group) if current == group.2.wrapping_add(1) => group.2 = current,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                (group.1, group.2) = (current, current);
            }
        }
    }
    result.extend(
        groups
            .iter()
            .map(|(key, first, last)| form_group(key, *first, *last)),
    );
    result.extend(remapped);
    result.join(", ")
}

fn proto(port: &Port) -> String {
    port.typ.map(|t| t.to_string()).unwrap_or_default()
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = match key.rsplit_once('/') {
        Some((ip, proto)) => (Some(ip), proto),
        None => (None, key),
    };
    let range = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    match ip {
        Some(ip) => format!("{}->{range}/{proto}", join_host_port(ip, range.as_str())),
        None => format!("{range}/{proto}"),
    }
}

fn join_host_port(ip: &str, port: impl std::fmt::Display) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::PortSummaryTypeEnum as PortTypeEnum;

    use super::*;

    fn port(ip: Option<&str>, private: u16, public: Option<u16>) -> Port {
        Port {
            ip: ip.map(String::from),
            private_port: private,
            public_port: public,
            typ: Some(PortTypeEnum::TCP),
        }
    }

    fn container(
        id: &str,
        name: &str,
        image: &str,
        created: i64,
        status: &str,
        ports: Vec<Port>,
    ) -> ContainerSummary {
        ContainerSummary {
            id: Some(id.repeat(64 / id.len())),
            names: Some(vec![format!("/{name}")]),
            image: Some(image.into()),
            command: Some("s6-svscan /etc/s6".into()),
            created: Some(created),
            status: Some(status.into()),
            ports: Some(ports),
            ..Default::default()
        }
    }

    #[test]
    fn renders_like_the_cli() {
        let now = 1_000_000;
        let containers = [
            container(
                "a1",
                "ha",
                "lab4/ha:latest",
                now - 65,
                "Up About a minute",
                vec![
                    port(Some("127.0.0.1"), 1936, Some(1936)),
                    port(Some("127.0.0.1"), 80, Some(80)),
                ],
            ),
            container(
                "b2",
                "s1",
                "lab4/webapp:latest",
                now - 5,
                "Up 4 seconds",
                vec![port(None, 3000, None)],
            ),
            container(
                "c3",
                "s2",
                "sha256:0123456789abcdef0123",
                now - 3,
                "Exited (0) 1 second ago",
                vec![],
            ),
        ];
        let expected = "\
CONTAINER ID   IMAGE                COMMAND               CREATED              STATUS                    PORTS                                            NAMES
c3c3c3c3c3c3   0123456789ab         \"s6-svscan /etc/s6\"   3 seconds ago        Exited (0) 1 second ago                                                    s2
b2b2b2b2b2b2   lab4/webapp:latest   \"s6-svscan /etc/s6\"   5 seconds ago        Up 4 seconds              3000/tcp                                         s1
a1a1a1a1a1a1   lab4/ha:latest       \"s6-svscan /etc/s6\"   About a minute ago   Up About a minute         127.0.0.1:80->80/tcp, 127.0.0.1:1936->1936/tcp   ha
";
        assert_eq!(render(&containers, now), expected);
    }

    #[test]
    fn an_empty_list_is_the_header() {
        assert_eq!(
            render(&[], 0),
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn long_commands_are_cut_and_quoted() {
        assert_eq!(
            quote(&ellipsis("/usr/local/bin/docker-entrypoint.sh", 20)),
            "\"/usr/local/bin/dock…\""
        );
        assert_eq!(quote("sh -c \"x\""), "\"sh -c \\\"x\\\"\"");
    }

    #[test]
    fn ports_group_into_ranges_and_keep_remaps() {
        let list = [
            port(Some("0.0.0.0"), 81, Some(81)),
            port(Some("0.0.0.0"), 80, Some(80)),
            port(Some("::"), 80, Some(8080)),
            port(None, 3000, None),
        ];
        assert_eq!(
            ports(&list),
            "0.0.0.0:80-81->80-81/tcp, 3000/tcp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn durations_read_like_dockers() {
        let cases = [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (150, "2 minutes"),
            (3600, "About an hour"),
            (7200, "2 hours"),
            (3 * 86400, "3 days"),
        ];
        for (seconds, text) in cases {
            assert_eq!(human_duration(seconds), text);
        }
    }
}
