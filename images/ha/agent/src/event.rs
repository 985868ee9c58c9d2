//! What Serf hands an event handler: the event in `SERF_EVENT`, one member per stdin line
//! (`name\taddress\trole\ttags`). Only logged: the reconcile that follows reads the whole
//! membership, so a missed or repeated event changes nothing.

/// One member line of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventMember {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) role: String,
}

pub(crate) fn parse_members(stdin: &str) -> Vec<EventMember> {
    stdin
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let mut next = || fields.next().unwrap_or("").to_string();
            EventMember {
                name: next(),
                addr: next(),
                role: next(),
            }
        })
        .collect()
}

/// `member-join s1 backend`, one per member: the lab's /var/log/serf.log line without its
/// timestamp. Fields come from gossip, so anything that could break the line is escaped.
/// Serf coalesces events that come close together and lists their members in no stable
/// order; the balancer first, then natural name order, keeps the log readable.
pub(crate) fn log_lines(event: &str, members: &[EventMember]) -> Vec<String> {
    let event = token(event);
    let mut members: Vec<&EventMember> = members.iter().collect();
    members.sort_by(|a, b| {
        cluster::node_order(a.role == "balancer", &a.name)
            .cmp(&cluster::node_order(b.role == "balancer", &b.name))
    });
    members
        .iter()
        .map(|m| format!("{event} {} {}", token(&m.name), token(&m.role)))
        .collect()
}

fn token(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else if text
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    {
        text.to_string()
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serf_member_lines() {
        let stdin = "s1\t192.168.42.2\tbackend\tport=3000,role=backend\n\
                     ha\t192.168.42.42\tbalancer\trole=balancer\n\n";
        let members = parse_members(stdin);
        assert_eq!(
            members,
            [
                EventMember {
                    name: "s1".into(),
                    addr: "192.168.42.2".into(),
                    role: "backend".into()
                },
                EventMember {
                    name: "ha".into(),
                    addr: "192.168.42.42".into(),
                    role: "balancer".into()
                },
            ]
        );
    }

    #[test]
    fn one_log_line_per_member() {
        let members = parse_members("s1\t192.168.42.2\tbackend\t\ns2\t192.168.42.3\t\t\n");
        assert_eq!(
            log_lines("member-leave", &members),
            ["member-leave s1 backend", "member-leave s2 -"]
        );
    }

    #[test]
    fn a_coalesced_event_lists_the_balancer_first_then_by_number() {
        let members = parse_members("s10\ta\tbackend\t\ns2\ta\tbackend\t\nha\ta\tbalancer\t\n");
        assert_eq!(
            log_lines("member-join", &members),
            [
                "member-join ha balancer",
                "member-join s2 backend",
                "member-join s10 backend"
            ]
        );
    }

    #[test]
    fn hostile_fields_cannot_forge_log_lines() {
        let members = parse_members("s1 member-join s9\t1.2.3.4\tbackend\n");
        assert_eq!(
            log_lines("member-join", &members),
            [r#"member-join "s1 member-join s9" backend"#]
        );
    }
}
