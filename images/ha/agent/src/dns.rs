//! Questions to the orchestrator's DNS: Docker's embedded server (the first `nameserver`
//! of /etc/resolv.conf, 127.0.0.11 in a container on a user network or an overlay). It
//! answers from what the engine or the Swarm assigned, not from what a member claims.
//!
//! Every name of a batch is asked at once over one UDP socket, each question twice at
//! most, within a bounded time: a slow or dead server delays a decision, it never blocks
//! the agent for long, and it never turns into a "no" (see [`Answer::Unsure`]).
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

/// How long one round of questions waits for its answers.
const ROUND: Duration = Duration::from_millis(600);
/// Rounds per batch: a lost datagram is asked again once.
const ROUNDS: usize = 2;
/// The answer size asked for (EDNS0), and the receive buffer.
const UDP_SIZE: u16 = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The name's IPv4 addresses (possibly none: the name exists without an A record).
    Addresses(BTreeSet<Ipv4Addr>),
    /// The server says the name does not exist.
    NoSuchName,
    /// No usable answer (timeout, server failure): nothing is known either way.
    Unsure,
}

pub(crate) struct Resolver {
    server: SocketAddr,
    next_id: u16,
}

impl Resolver {
    /// The container's resolver.
    pub(crate) fn system() -> Resolver {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Resolver::at(nameserver(&conf))
    }

    pub(crate) fn at(server: SocketAddr) -> Resolver {
        // Each batch has its own socket; ids only tell a batch's questions apart.
        Resolver { server, next_id: 0 }
    }

    /// The A records of each name, asked as is (no search domains: a container's name
    /// is a single label the embedded server knows).
    pub(crate) fn lookup_all(&mut self, names: &[String]) -> BTreeMap<String, Answer> {
        let mut answers: BTreeMap<String, Answer> =
            names.iter().map(|n| (n.clone(), Answer::Unsure)).collect();
        let Ok(socket) = UdpSocket::bind(("0.0.0.0", 0)) else {
            return answers;
        };
        if socket.connect(self.server).is_err() {
            return answers;
        }
        for _ in 0..ROUNDS {
            let pending: Vec<String> = answers
                .iter()
                .filter(|(_, a)| **a == Answer::Unsure)
                .map(|(n, _)| n.clone())
                .collect();
            if pending.is_empty() {
                break;
            }
            let mut asked: BTreeMap<u16, String> = BTreeMap::new();
            for name in pending {
                self.next_id = self.next_id.wrapping_add(1);
                if let Some(query) = query(self.next_id, &name) {
                    if socket.send(&query).is_ok() {
                        asked.insert(self.next_id, name);
                    }
                }
            }
            let deadline = Instant::now() + ROUND;
            let mut buf = [0u8; UDP_SIZE as usize];
            while !asked.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                let Ok(len) = socket.recv(&mut buf) else {
                    break;
                };
                if let Some((id, answer)) = parse(&buf[..len]) {
                    if let Some(name) = asked.remove(&id) {
                        answers.insert(name, answer);
                    }
                }
            }
        }
        answers
    }
}

/// The first `nameserver` line of resolv.conf; Docker's embedded server otherwise.
fn nameserver(conf: &str) -> SocketAddr {
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .find_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 11], 53)))
}

fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(simple_dns::PacketFlag::RECURSION_DESIRED);
    // EDNS0: a Swarm service's tasks do not fit the classic 512 bytes (about 25
    // addresses); Docker's server answers up to the size asked for.
    *packet.opt_mut() = Some(simple_dns::rdata::OPT {
        opt_codes: Vec::new(),
        udp_packet_size: UDP_SIZE,
        version: 0,
    });
    packet.questions.push(Question::new(
        Name::new(name).ok()?,
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().ok()
}

fn parse(datagram: &[u8]) -> Option<(u16, Answer)> {
    let packet = Packet::parse(datagram).ok()?;
    if packet.has_flags(simple_dns::PacketFlag::TRUNCATION) {
        // Part of the addresses only: judging by it would drop the ones left out.
        return Some((packet.id(), Answer::Unsure));
    }
    let answer = match packet.rcode() {
        RCODE::NoError => Answer::Addresses(
            packet
                .answers
                .iter()
                .filter_map(|record| match &record.rdata {
                    RData::A(a) => Some(Ipv4Addr::from(a.address)),
                    _ => None,
                })
                .collect(),
        ),
        RCODE::NameError => Answer::NoSuchName,
        _ => Answer::Unsure,
    };
    Some((packet.id(), answer))
}

/// A DNS server on loopback for tests: it answers from a zone the test changes as it
/// goes, and never answers a name the zone does not hold.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::BTreeMap;
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::sync::{Arc, Mutex};

    use simple_dns::rdata::{RData, A};
    use simple_dns::{Name, Packet, ResourceRecord, CLASS, RCODE};

    use super::Resolver;

    /// Name -> its addresses (maybe none), or `None`: no such name.
    type Zone = BTreeMap<String, Option<Vec<Ipv4Addr>>>;

    pub(crate) struct FakeDns {
        zone: Arc<Mutex<Zone>>,
        addr: SocketAddr,
    }

    impl FakeDns {
        pub(crate) fn start() -> FakeDns {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = socket.local_addr().unwrap();
            let zone: Arc<Mutex<Zone>> = Arc::default();
            let served = Arc::clone(&zone);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while let Ok((len, from)) = socket.recv_from(&mut buf) {
                    let Ok(query) = Packet::parse(&buf[..len]) else {
                        continue;
                    };
                    let name = query.questions[0].qname.to_string();
                    let Some(answer) = served.lock().unwrap().get(&name).cloned() else {
                        continue;
                    };
                    let mut reply = Packet::new_reply(query.id());
                    match answer {
                        None => *reply.rcode_mut() = RCODE::NameError,
                        Some(addresses) => {
                            for address in addresses {
                                reply.answers.push(ResourceRecord::new(
                                    Name::new_unchecked(&name),
                                    CLASS::IN,
                                    600,
                                    RData::A(A {
                                        address: u32::from(address),
                                    }),
                                ));
                            }
                        }
                    }
                    let _ = socket.send_to(&reply.build_bytes_vec().unwrap(), from);
                }
            });
            FakeDns { zone, addr }
        }

        /// `name` has `addresses` from now on; `None`: it does not exist.
        pub(crate) fn set(&self, name: &str, addresses: Option<&[Ipv4Addr]>) {
            let answer = addresses.map(<[Ipv4Addr]>::to_vec);
            self.zone.lock().unwrap().insert(name.to_string(), answer);
        }

        pub(crate) fn resolver(&self) -> Resolver {
            Resolver::at(self.addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::A;
    use simple_dns::ResourceRecord;

    #[test]
    fn finds_the_first_nameserver() {
        let conf = "search example\nnameserver 127.0.0.11\nnameserver 10.0.0.1\noptions ndots:0\n";
        assert_eq!(nameserver(conf), "127.0.0.11:53".parse().unwrap());
        assert_eq!(nameserver(""), "127.0.0.11:53".parse().unwrap());
    }

    fn reply(id: u16, rcode: RCODE, addresses: &[[u8; 4]]) -> Vec<u8> {
        let mut packet = Packet::new_reply(id);
        *packet.rcode_mut() = rcode;
        for address in addresses {
            packet.answers.push(ResourceRecord::new(
                Name::new_unchecked("s1"),
                CLASS::IN,
                600,
                RData::A(A {
                    address: u32::from(Ipv4Addr::from(*address)),
                }),
            ));
        }
        packet.build_bytes_vec().unwrap()
    }

    #[test]
    fn reads_addresses_missing_names_and_failures() {
        let two = reply(7, RCODE::NoError, &[[10, 0, 0, 2], [10, 0, 0, 3]]);
        assert_eq!(
            parse(&two),
            Some((
                7,
                Answer::Addresses([[10, 0, 0, 2].into(), [10, 0, 0, 3].into()].into())
            ))
        );
        assert_eq!(
            parse(&reply(8, RCODE::NameError, &[])),
            Some((8, Answer::NoSuchName))
        );
        assert_eq!(
            parse(&reply(9, RCODE::ServerFailure, &[])),
            Some((9, Answer::Unsure))
        );
        assert_eq!(parse(b"garbage"), None);
        let mut truncated = Packet::parse(&two).unwrap();
        truncated.set_flags(simple_dns::PacketFlag::TRUNCATION);
        let truncated = truncated.build_bytes_vec().unwrap();
        assert_eq!(parse(&truncated), Some((7, Answer::Unsure)));
    }

    #[test]
    fn questions_ask_for_large_answers() {
        let packet = query(1, "tasks.lab_webapps").unwrap();
        let parsed = Packet::parse(&packet).unwrap();
        assert_eq!(parsed.opt().map(|opt| opt.udp_packet_size), Some(UDP_SIZE));
    }

    /// A server on loopback that answers one name and ignores the rest: the batch gets
    /// the answer, and the ignored name is Unsure after the rounds, not a "no".
    #[test]
    fn a_silent_server_leaves_names_unsure_within_bounded_time() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((len, from)) = server.recv_from(&mut buf) {
                let packet = Packet::parse(&buf[..len]).unwrap();
                let name = packet.questions[0].qname.to_string();
                if name == "s1" {
                    let _ =
                        server.send_to(&reply(packet.id(), RCODE::NoError, &[[10, 0, 0, 2]]), from);
                }
            }
        });
        let started = Instant::now();
        let answers = Resolver::at(addr).lookup_all(&["s1".to_string(), "s2".to_string()]);
        assert_eq!(
            answers["s1"],
            Answer::Addresses([[10, 0, 0, 2].into()].into())
        );
        assert_eq!(answers["s2"], Answer::Unsure);
        assert!(started.elapsed() < ROUND * (ROUNDS as u32 + 1));
    }
}
