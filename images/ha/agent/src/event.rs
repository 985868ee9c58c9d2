//! What Serf hands an event handler: the event in `SERF_EVENT`, one member per stdin line
//! (`name\taddress\trole\ttags`). Only logged: the reconcile that follows reads the whole
//! membership, so a missed or repeated event changes nothing.
use cluster::record::Record;

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

/// One event record per member (`member-join s1 backend`: the lab's /var/log/serf.log
/// line). Serf coalesces events that come close together and lists their members in no
/// stable order; the balancer first, then natural name order, keeps the log readable.
pub(crate) fn records(event: &str, members: &[EventMember]) -> Vec<Record> {
    let mut members: Vec<&EventMember> = members.iter().collect();
    members.sort_by(|a, b| {
        cluster::node_order(a.role == "balancer", &a.name)
            .cmp(&cluster::node_order(b.role == "balancer", &b.name))
    });
    members
        .iter()
        .map(|m| Record::Event {
            event: event.to_string(),
            member: m.name.clone(),
            role: m.role.clone(),
        })
        .collect()
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

    fn lines(event: &str, stdin: &str) -> Vec<String> {
        records(event, &parse_members(stdin))
            .iter()
            .map(Record::to_string)
            .collect()
    }

    #[test]
    fn one_log_line_per_member() {
        assert_eq!(
            lines(
                "member-leave",
                "s1\t192.168.42.2\tbackend\t\ns2\t192.168.42.3\t\t\n"
            ),
            ["member-leave s1 backend", "member-leave s2 \"\""]
        );
    }

    #[test]
    fn a_coalesced_event_lists_the_balancer_first_then_by_number() {
        assert_eq!(
            lines(
                "member-join",
                "s10\ta\tbackend\t\ns2\ta\tbackend\t\nha\ta\tbalancer\t\n"
            ),
            [
                "member-join ha balancer",
                "member-join s2 backend",
                "member-join s10 backend"
            ]
        );
    }

    #[test]
    fn hostile_fields_cannot_forge_log_lines() {
        assert_eq!(
            lines("member-join", "s1 member-join s9\t1.2.3.4\tbackend\n"),
            [r#"member-join "s1 member-join s9" backend"#]
        );
    }
}
