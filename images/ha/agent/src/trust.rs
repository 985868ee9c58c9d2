//! Who may serve. Gossip says who is alive; the orchestrator says who is legitimate. The
//! gossip key proves only that a member belongs to the cluster's gossip (root in any
//! webapp can read it), so a member is put in rotation only when the address it gossips
//! is the one the orchestrator gave that workload:
//! - one engine: its name is `<prefix><number>` and Docker's DNS maps that name (a
//!   container's, chosen by the engine) to exactly the member's address; or, for an app
//!   image's webapp, whose Serf runs in a sidecar container of its own, DNS maps
//!   `<name>-serf` to exactly the member's address, and the server is the address DNS
//!   gives `<name>` (the app's container), never one the member claims;
//! - a Swarm: its address is one of the webapps service's tasks (`tasks.<service>`).
//!
//! On both, one address backs at most one server. A DNS failure or a slow answer never
//! removes a serving backend: it keeps serving, and the question is asked again.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use cluster::{natural_key, Backend, Cluster, Role};

use crate::dns::{Answer, Resolver};
use crate::members::{Candidate, Skipped};

/// How soon a refused member is first asked about again (a name DNS does not know yet);
/// the wait doubles with each refusal, up to [`RECHECK_AT_MOST`], so a rogue that stays
/// costs a question every few minutes.
const RECHECK_REFUSED: Duration = Duration::from_secs(10);
/// How soon an unanswered question is first asked again (doubling likewise).
const RECHECK_UNSURE: Duration = Duration::from_secs(2);
const RECHECK_AT_MOST: Duration = Duration::from_secs(300);
/// How long a confirmed (name, address) stands before it is confirmed again, on the next
/// safety-net pass (an unanswered question then keeps it serving).
const LEGIT_FOR: Duration = Duration::from_secs(60);
/// How often the Swarm's task list may be asked for when an unknown address shows up.
const TASKS_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// How long a task list is used for addresses already known to be tasks.
const TASKS_FRESH_FOR: Duration = Duration::from_secs(30);

/// The reason recorded when the orchestrator's DNS did not answer: the same words each
/// time, so the member is recorded once, not once per kind of failure.
pub(crate) const UNSURE: &str = "the orchestrator's DNS did not answer; not in rotation until it confirms the member (retrying)";

/// The trouble said while the engine's DNS does not answer.
const ENGINE_DNS_SILENT: &str = "the engine's DNS did not answer: members it has confirmed keep serving, new ones wait (retrying)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Orchestrator {
    Engine { prefix: String },
    Swarm { tasks: String },
}

impl Orchestrator {
    pub(crate) fn of(cluster: &Cluster) -> Orchestrator {
        if cluster.deploy.is_swarm() {
            Orchestrator::Swarm {
                tasks: format!("tasks.{}", cluster.swarm_service_name(Role::Backend)),
            }
        } else {
            Orchestrator::Engine {
                prefix: cluster.webapps.prefix.clone(),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Legit,
    Refused(String),
    Unsure,
}

/// What one pass decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) admitted: Vec<Backend>,
    pub(crate) refused: Vec<Skipped>,
    /// When a refused or unanswered member should be asked about again.
    pub(crate) recheck_at: Option<Instant>,
    /// Why the orchestrator could not be asked (said once by the caller while it lasts).
    pub(crate) trouble: Option<String>,
}

pub(crate) struct Trust {
    orchestrator: Orchestrator,
    resolver: Resolver,
    /// One engine: the verdict on each (name, address), until when it holds, and how
    /// many times in a row it was not a yes (the backoff).
    verdicts: HashMap<(String, Ipv4Addr), (Verdict, Instant, u32)>,
    /// One engine: the app's address of each confirmed (name, address) gossiping from a
    /// sidecar, as DNS gave it.
    apps: HashMap<(String, Ipv4Addr), Ipv4Addr>,
    /// A Swarm: the tasks' addresses, when they were last read.
    tasks: Option<(BTreeSet<Ipv4Addr>, Instant)>,
    /// A Swarm: when each candidate address was first seen (a task list read before that
    /// cannot refuse it).
    first_seen: HashMap<Ipv4Addr, Instant>,
    tasks_asked: Option<Instant>,
    trouble: Option<String>,
}

impl Trust {
    pub(crate) fn new(orchestrator: Orchestrator, resolver: Resolver) -> Trust {
        Trust {
            orchestrator,
            resolver,
            verdicts: HashMap::new(),
            apps: HashMap::new(),
            tasks: None,
            first_seen: HashMap::new(),
            tasks_asked: None,
            trouble: None,
        }
    }

    /// Which candidates serve. `serving` is the live config's servers (name ->
    /// `ip:port`): a serving member the orchestrator cannot be asked about keeps serving.
    pub(crate) fn decide(
        &mut self,
        candidates: &[Candidate],
        serving: &BTreeMap<String, String>,
        now: Instant,
    ) -> Decision {
        let verdicts: Vec<(Verdict, Instant)> = match self.orchestrator.clone() {
            Orchestrator::Engine { prefix } => self.engine_verdicts(&prefix, candidates, now),
            Orchestrator::Swarm { tasks } => self.swarm_verdicts(&tasks, candidates, now),
        };
        let mut decision = Decision::default();
        // Each admitted backend with the candidate it came from.
        let mut legit: Vec<(Backend, &Candidate)> = Vec::new();
        for (candidate, (verdict, until)) in candidates.iter().zip(verdicts) {
            let backend = self.served_backend(candidate);
            if verdict != Verdict::Legit {
                decision.recheck_at = Some(decision.recheck_at.map_or(until, |t| t.min(until)));
            }
            match verdict {
                Verdict::Legit => legit.push((backend, candidate)),
                Verdict::Unsure => match live_backend(&backend.name, serving) {
                    // Serving since it was confirmed: it keeps its live address. On one
                    // engine a webapp's address is fixed, and a sidecar's member gossips
                    // from another one than it is served at (its app's, which gossip does
                    // not carry); a Swarm task that moved is a new address to confirm.
                    Some(live) if live == backend || self.is_engine() => {
                        legit.push((live, candidate))
                    }
                    _ => decision.refused.push(candidate.skipped(UNSURE)),
                },
                Verdict::Refused(reason) => decision.refused.push(candidate.skipped(&reason)),
            }
        }
        let backends = legit.iter().map(|(backend, _)| backend.clone()).collect();
        let (admitted, doubles) = one_server_per_address(backends, serving);
        decision.admitted = admitted;
        decision.trouble = self.trouble.clone();
        for (backend, holder) in doubles {
            let candidate = legit
                .iter()
                .find(|(b, _)| *b == backend)
                .map(|(_, c)| *c)
                .expect("a double is a candidate");
            decision.refused.push(candidate.skipped(&format!(
                "{holder} already serves the address {}",
                backend.ip
            )));
        }
        decision
    }

    fn is_engine(&self) -> bool {
        matches!(self.orchestrator, Orchestrator::Engine { .. })
    }

    /// The server a candidate would be: a sidecar's member serves at its app's address.
    fn served_backend(&self, candidate: &Candidate) -> Backend {
        let backend = &candidate.backend;
        let key = (backend.name.clone(), backend.ip);
        Backend {
            ip: self.apps.get(&key).copied().unwrap_or(backend.ip),
            ..backend.clone()
        }
    }

    fn engine_verdicts(
        &mut self,
        prefix: &str,
        candidates: &[Candidate],
        now: Instant,
    ) -> Vec<(Verdict, Instant)> {
        let present: BTreeSet<(String, Ipv4Addr)> = candidates
            .iter()
            .map(|c| (c.backend.name.clone(), c.backend.ip))
            .collect();
        // Forget members that are gone: memory stays bounded by Serf's own list.
        self.verdicts.retain(|key, _| present.contains(key));
        self.apps.retain(|key, _| present.contains(key));
        let to_ask: Vec<String> = candidates
            .iter()
            .filter(|c| follows_naming(prefix, &c.backend.name))
            .filter(|c| {
                let key = (c.backend.name.clone(), c.backend.ip);
                self.verdicts
                    .get(&key)
                    .is_none_or(|(_, until, _)| *until <= now)
            })
            .map(|c| c.backend.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let answers = if to_ask.is_empty() {
            BTreeMap::new()
        } else {
            self.resolver.lookup_all(&to_ask)
        };
        // A name that is a container at another address may be an app image's webapp,
        // whose Serf gossips from its sidecar: asked only then (a name Docker's DNS does
        // not know is forwarded to the host's resolvers).
        let sidecars: Vec<String> = candidates
            .iter()
            .filter(|c| match answers.get(&c.backend.name) {
                Some(Answer::Addresses(addresses)) => {
                    addresses.len() == 1 && !addresses.contains(&c.backend.ip)
                }
                _ => false,
            })
            .map(|c| Cluster::sidecar_name(&c.backend.name))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let sidecar_answers = if sidecars.is_empty() {
            BTreeMap::new()
        } else {
            self.resolver.lookup_all(&sidecars)
        };
        if !answers.is_empty() {
            let unsure = answers
                .values()
                .chain(sidecar_answers.values())
                .any(|a| *a == Answer::Unsure);
            self.trouble = unsure.then(|| ENGINE_DNS_SILENT.to_string());
        }
        candidates
            .iter()
            .map(|c| {
                let (name, ip) = (&c.backend.name, c.backend.ip);
                if !follows_naming(prefix, name) {
                    let reason =
                        format!("the name does not follow the webapps' naming ({prefix}<number>)");
                    return (Verdict::Refused(reason), now + RECHECK_AT_MOST);
                }
                let key = (name.clone(), ip);
                if let Some(answer) = answers.get(name) {
                    let (previous, _, misses) =
                        self.verdicts
                            .get(&key)
                            .cloned()
                            .unwrap_or((Verdict::Unsure, now, 0));
                    let judged = match sidecar_answers.get(&Cluster::sidecar_name(name)) {
                        Some(sidecar) => judge_sidecar(name, ip, answer, sidecar),
                        None => (judge_engine(name, ip, answer), None),
                    };
                    if let (Verdict::Legit, Some(app)) = judged {
                        self.apps.insert(key.clone(), app);
                    }
                    let verdict = match judged.0 {
                        // A confirmed member is not dropped because DNS is slow.
                        Verdict::Unsure if previous == Verdict::Legit => Verdict::Legit,
                        verdict => verdict,
                    };
                    let (until, misses) = match &verdict {
                        Verdict::Legit => (now + LEGIT_FOR, 0),
                        Verdict::Refused(_) => (now + backoff(RECHECK_REFUSED, misses), misses + 1),
                        Verdict::Unsure => (now + backoff(RECHECK_UNSURE, misses), misses + 1),
                    };
                    self.verdicts.insert(key.clone(), (verdict, until, misses));
                }
                self.verdicts
                    .get(&key)
                    .map(|(verdict, until, _)| (verdict.clone(), *until))
                    .unwrap_or((Verdict::Unsure, now + RECHECK_UNSURE))
            })
            .collect()
    }

    fn swarm_verdicts(
        &mut self,
        tasks_name: &str,
        candidates: &[Candidate],
        now: Instant,
    ) -> Vec<(Verdict, Instant)> {
        let ips: BTreeSet<Ipv4Addr> = candidates.iter().map(|c| c.backend.ip).collect();
        self.first_seen.retain(|ip, _| ips.contains(ip));
        for ip in &ips {
            self.first_seen.entry(*ip).or_insert(now);
        }
        // Asked again when old, or when an address unknown to the list showed up after
        // it was read (a new task); a refused address alone does not make it stale.
        let stale = self.tasks.as_ref().is_none_or(|(tasks, at)| {
            now.duration_since(*at) >= TASKS_FRESH_FOR
                || ips
                    .iter()
                    .any(|ip| !tasks.contains(ip) && self.first_seen[ip] >= *at)
        });
        let may_ask = self
            .tasks_asked
            .is_none_or(|at| now.duration_since(at) >= TASKS_AT_MOST_EVERY);
        if stale && may_ask && !candidates.is_empty() {
            self.tasks_asked = Some(now);
            match self
                .resolver
                .lookup_all(&[tasks_name.to_string()])
                .remove(tasks_name)
            {
                Some(Answer::Addresses(addresses)) if !addresses.is_empty() => {
                    self.tasks = Some((addresses, now));
                    self.trouble = None;
                }
                // No answer, or an empty one while members gossip (a service being
                // replaced): keep what was known. A DNS failure never removes a serving
                // backend.
                _ => {
                    self.trouble = Some(format!(
                        "the Swarm's DNS gave no task address for {tasks_name}; the known ones stay in use, retrying"
                    ));
                }
            }
        }
        let recheck = now + TASKS_AT_MOST_EVERY;
        candidates
            .iter()
            .map(|c| match &self.tasks {
                None => (Verdict::Unsure, recheck),
                Some((tasks, _)) if tasks.contains(&c.backend.ip) => (Verdict::Legit, recheck),
                // Read before this member showed up: ask again before saying no.
                Some((_, at)) if *at < self.first_seen[&c.backend.ip] => (Verdict::Unsure, recheck),
                Some((_, at)) => (
                    Verdict::Refused(format!(
                        "the address is not one of the Swarm's tasks of the webapps ({tasks_name})"
                    )),
                    *at + TASKS_FRESH_FOR,
                ),
            })
            .collect()
    }
}

/// `base`, doubled for each miss in a row, at most [`RECHECK_AT_MOST`].
fn backoff(base: Duration, misses: u32) -> Duration {
    base.saturating_mul(1 << misses.min(8)).min(RECHECK_AT_MOST)
}

/// Server `name` as the live config serves it, if it does.
fn live_backend(name: &str, serving: &BTreeMap<String, String>) -> Option<Backend> {
    let addr: std::net::SocketAddrV4 = serving.get(name)?.parse().ok()?;
    Some(Backend {
        name: name.to_string(),
        ip: *addr.ip(),
        port: addr.port(),
    })
}

/// `ip:port` as the state and the live config's server list hold it.
fn served_addr(backend: &Backend) -> String {
    format!("{}:{}", backend.ip, backend.port)
}

/// `<prefix><number>`, the number without a leading zero: the names `up` and `scale`
/// give webapps, whatever the count.
pub(crate) fn follows_naming(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|number| {
        !number.is_empty()
            && !number.starts_with('0')
            && number.len() <= 9
            && number.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The engine's word on a member: its name must resolve to exactly its address.
pub(crate) fn judge_engine(name: &str, ip: Ipv4Addr, answer: &Answer) -> Verdict {
    match answer {
        Answer::Addresses(addresses) if addresses.len() == 1 && addresses.contains(&ip) => {
            Verdict::Legit
        }
        Answer::Addresses(addresses) if addresses.is_empty() => {
            Verdict::Refused(format!("the engine's DNS has no address for {name}"))
        }
        Answer::Addresses(addresses) => Verdict::Refused(format!(
            "the engine's DNS gives {name} the address {}, not the member's",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Answer::NoSuchName => Verdict::Refused(format!(
            "no container named {name} on the cluster network (the engine's DNS does not know it)"
        )),
        Answer::Unsure => Verdict::Unsure,
    }
}

/// The engine's word on a member gossiping from a sidecar: `<name>-serf` resolves to
/// exactly its address, and `<name>` to exactly one address, the server's. Otherwise the
/// verdict on the name alone stands.
pub(crate) fn judge_sidecar(
    name: &str,
    ip: Ipv4Addr,
    app: &Answer,
    sidecar: &Answer,
) -> (Verdict, Option<Ipv4Addr>) {
    let sidecar_name = Cluster::sidecar_name(name);
    match (judge_engine(&sidecar_name, ip, sidecar), app) {
        (Verdict::Legit, Answer::Addresses(addresses)) if addresses.len() == 1 => {
            (Verdict::Legit, addresses.first().copied())
        }
        (Verdict::Unsure, _) => (Verdict::Unsure, None),
        _ => (judge_engine(name, ip, app), None),
    }
}

/// At most one server per address: one already serving keeps it, otherwise the first in
/// natural name order. Returns the admitted backends and each refused one with the name
/// of the member that holds its address.
pub(crate) fn one_server_per_address(
    legit: Vec<Backend>,
    serving: &BTreeMap<String, String>,
) -> (Vec<Backend>, Vec<(Backend, String)>) {
    let mut by_ip: BTreeMap<Ipv4Addr, Vec<Backend>> = BTreeMap::new();
    for backend in legit {
        by_ip.entry(backend.ip).or_default().push(backend);
    }
    let mut admitted = Vec::new();
    let mut doubles = Vec::new();
    for (_, mut claims) in by_ip {
        claims.sort_by(|a, b| {
            let serves = |b: &Backend| serving.get(&b.name) == Some(&served_addr(b));
            serves(b)
                .cmp(&serves(a))
                .then_with(|| natural_key(&a.name).cmp(&natural_key(&b.name)))
        });
        let mut claims = claims.into_iter();
        let holder = claims.next().expect("one claim at least");
        for other in claims {
            doubles.push((other, holder.name.clone()));
        }
        admitted.push(holder);
    }
    admitted.sort_by(|a, b| natural_key(&a.name).cmp(&natural_key(&b.name)));
    (admitted, doubles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, last: u8) -> Backend {
        Backend {
            name: name.into(),
            ip: [10, 0, 0, last].into(),
            port: 3000,
        }
    }

    #[test]
    fn names_follow_prefix_and_number() {
        for name in ["s1", "s9", "s12", "s100"] {
            assert!(follows_naming("s", name), "{name}");
        }
        for name in [
            "s",
            "s0",
            "s01",
            "x1",
            "s1a",
            "s-1",
            "s99999999999",
            "S1",
            "ha",
        ] {
            assert!(!follows_naming("s", name), "{name}");
        }
        assert!(follows_naming("e2e-s", "e2e-s3"));
    }

    #[test]
    fn the_engine_must_map_the_name_to_exactly_the_address() {
        let ip: Ipv4Addr = [10, 0, 0, 2].into();
        let one = |last: u8| Answer::Addresses([[10, 0, 0, last].into()].into());
        assert_eq!(judge_engine("s1", ip, &one(2)), Verdict::Legit);
        assert!(
            matches!(judge_engine("s1", ip, &one(3)), Verdict::Refused(r) if r.contains("10.0.0.3"))
        );
        let two = Answer::Addresses([ip, [10, 0, 0, 3].into()].into());
        assert!(matches!(judge_engine("s1", ip, &two), Verdict::Refused(_)));
        assert!(
            matches!(judge_engine("s9", ip, &Answer::NoSuchName), Verdict::Refused(r) if r.contains("no container named s9"))
        );
        assert!(matches!(
            judge_engine("s1", ip, &Answer::Addresses(BTreeSet::new())),
            Verdict::Refused(_)
        ));
        assert_eq!(judge_engine("s1", ip, &Answer::Unsure), Verdict::Unsure);
    }

    #[test]
    fn a_sidecar_member_serves_at_its_apps_address() {
        let gossip: Ipv4Addr = [10, 0, 0, 250].into();
        let one = |last: u8| Answer::Addresses([[10, 0, 0, last].into()].into());
        // s1-serf is the member's address: the server is s1's, from DNS.
        assert_eq!(
            judge_sidecar("s1", gossip, &one(2), &one(250)),
            (Verdict::Legit, Some([10, 0, 0, 2].into()))
        );
        // A member in another container claiming s1: neither name is its address.
        let (verdict, app) = judge_sidecar("s1", gossip, &one(2), &one(249));
        assert!(matches!(verdict, Verdict::Refused(r) if r.contains("10.0.0.2")));
        assert_eq!(app, None);
        assert!(matches!(
            judge_sidecar("s1", gossip, &one(2), &Answer::NoSuchName).0,
            Verdict::Refused(_)
        ));
        assert_eq!(
            judge_sidecar("s1", gossip, &one(2), &Answer::Unsure),
            (Verdict::Unsure, None)
        );
    }

    #[test]
    fn one_address_backs_one_server() {
        let mut rogue = backend("s99", 2);
        rogue.port = 3000;
        // s1 serves 10.0.0.2: the newcomer at that address is refused.
        let serving = BTreeMap::from([("s1".to_string(), "10.0.0.2:3000".to_string())]);
        let (admitted, doubles) = one_server_per_address(
            vec![rogue.clone(), backend("s1", 2), backend("s2", 3)],
            &serving,
        );
        assert_eq!(admitted, [backend("s1", 2), backend("s2", 3)]);
        assert_eq!(doubles, [(rogue, "s1".to_string())]);
        // Nobody serves it yet: natural order decides, the same way every time.
        let (admitted, doubles) =
            one_server_per_address(vec![backend("s10", 2), backend("s9", 2)], &BTreeMap::new());
        assert_eq!(admitted, [backend("s9", 2)]);
        assert_eq!(doubles[0].1, "s9");
    }

    #[test]
    fn a_serving_member_survives_an_unanswered_question() {
        // A resolver nobody answers: every question is Unsure.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut trust = Trust::new(
            Orchestrator::Engine { prefix: "s".into() },
            Resolver::at(silent.local_addr().unwrap()),
        );
        let candidates = [
            Candidate {
                backend: backend("s1", 2),
                addr: "10.0.0.2:7946".into(),
            },
            Candidate {
                backend: backend("s2", 3),
                addr: "10.0.0.3:7946".into(),
            },
            Candidate {
                backend: backend("evil", 4),
                addr: "10.0.0.4:7946".into(),
            },
        ];
        let serving = BTreeMap::from([("s1".to_string(), "10.0.0.2:3000".to_string())]);
        let now = Instant::now();
        let decision = trust.decide(&candidates, &serving, now);
        assert_eq!(decision.admitted, [backend("s1", 2)]);
        let reasons: Vec<(&str, &str)> = decision
            .refused
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons[0], ("s2", UNSURE));
        assert_eq!(reasons[1].0, "evil");
        assert!(reasons[1].1.contains("naming"), "{}", reasons[1].1);
        assert_eq!(decision.recheck_at, Some(now + RECHECK_UNSURE));

        // A sidecar's member (gossiping from .250) serving at its app's .5, asked about
        // by a fresh agent (nothing cached) while DNS is silent: it keeps serving at .5.
        let mut fresh = Trust::new(
            Orchestrator::Engine { prefix: "s".into() },
            Resolver::at(silent.local_addr().unwrap()),
        );
        let sidecar = [Candidate {
            backend: backend("s3", 250),
            addr: "10.0.0.250:7946".into(),
        }];
        let serving = BTreeMap::from([("s3".to_string(), "10.0.0.5:3000".to_string())]);
        let decision = fresh.decide(&sidecar, &serving, now);
        assert_eq!(decision.admitted, [backend("s3", 5)]);
    }
}
