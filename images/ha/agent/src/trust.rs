//! Who may serve. Gossip says who is alive; the orchestrator says who is legitimate. The
//! gossip key proves only that a member belongs to the cluster's gossip (root in any
//! webapp can read it), so a member is put in rotation only when the address it gossips
//! is the one the orchestrator gave that workload:
//! - one engine: its name is `<prefix><number>` (the prefix of one of the services ha
//!   serves) and Docker's DNS maps that name (a
//!   container's, chosen by the engine) to exactly the member's address; or, for an app
//!   image's webapp, whose Serf runs in a sidecar container of its own, DNS maps
//!   `<name>-serf` to exactly the member's address, and the server is the address DNS
//!   gives `<name>` (the app's container), never one the member claims;
//! - a Swarm: its address is one of the tasks of the Swarm service of the cluster
//!   service its name belongs to (`tasks.<project>_<service>`), so a member of one
//!   service can never be admitted as another's.
//!
//! On both, one address backs at most one server. A DNS failure or a slow answer never
//! removes a serving backend: it keeps serving, and the question is asked again.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use cluster::{Backend, Cluster};

use crate::dns::{Answer, Resolver};
use crate::members::{Candidate, Skipped};
use crate::verdicts::{
    follows_any_naming, follows_naming, judge_engine, judge_sidecar, one_server_per_address,
    Verdict,
};

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
    /// The webapps' prefixes: the default service's first, then each service's.
    Engine { prefixes: Vec<String> },
    /// Each service's tasks, the default service's first.
    Swarm { services: Vec<SwarmTasks> },
}

/// One cluster service on a Swarm: its webapps are the tasks of its own Swarm service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SwarmTasks {
    /// The cluster service's name (`webapps` for the default one).
    pub(crate) service: String,
    /// Its webapps are named `<prefix><number>`.
    pub(crate) prefix: String,
    /// `tasks.<project>_<service>`: the addresses of its tasks in Swarm's DNS.
    pub(crate) tasks: String,
}

impl Orchestrator {
    pub(crate) fn of(cluster: &Cluster) -> Orchestrator {
        if cluster.deploy.is_swarm() {
            Orchestrator::Swarm {
                services: cluster
                    .services()
                    .iter()
                    .map(|service| SwarmTasks {
                        service: service.name.to_string(),
                        prefix: service.app.prefix.clone(),
                        tasks: format!("tasks.{}", cluster.swarm_service_of(service.name)),
                    })
                    .collect(),
            }
        } else {
            Orchestrator::Engine {
                prefixes: cluster
                    .services()
                    .iter()
                    .map(|service| service.app.prefix.clone())
                    .collect(),
            }
        }
    }
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
    /// A Swarm: each service's tasks' addresses (by tasks name), when they were last read.
    tasks: HashMap<String, (BTreeSet<Ipv4Addr>, Instant)>,
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
            tasks: HashMap::new(),
            first_seen: HashMap::new(),
            tasks_asked: None,
            trouble: None,
        }
    }

    /// The services changed (`ha-agent services`): what was learnt about each member stays.
    pub(crate) fn set_orchestrator(&mut self, orchestrator: Orchestrator) {
        self.orchestrator = orchestrator;
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
            Orchestrator::Engine { prefixes } => self.engine_verdicts(&prefixes, candidates, now),
            Orchestrator::Swarm { services } => self.swarm_verdicts(&services, candidates, now),
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
        prefixes: &[String],
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
            .filter(|c| follows_any_naming(prefixes, &c.backend.name))
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
                if !follows_any_naming(prefixes, name) {
                    return (not_a_webapp(prefixes), now + RECHECK_AT_MOST);
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
        services: &[SwarmTasks],
        candidates: &[Candidate],
        now: Instant,
    ) -> Vec<(Verdict, Instant)> {
        let ips: BTreeSet<Ipv4Addr> = candidates.iter().map(|c| c.backend.ip).collect();
        self.first_seen.retain(|ip, _| ips.contains(ip));
        for ip in &ips {
            self.first_seen.entry(*ip).or_insert(now);
        }
        // Services that are gone leave nothing behind.
        self.tasks
            .retain(|name, _| services.iter().any(|s| s.tasks == *name));
        // Each candidate's service, by its name; none: a name of no service.
        let owners: Vec<Option<&SwarmTasks>> = candidates
            .iter()
            .map(|c| {
                services
                    .iter()
                    .find(|s| follows_naming(&s.prefix, &c.backend.name))
            })
            .collect();
        // Asked again when a service with members was never read or its list is old, or
        // when an address unknown to its list showed up after it was read (a new task); a
        // refused address alone does not make it stale.
        let stale = candidates.iter().zip(&owners).any(|(c, owner)| {
            owner.is_some_and(|owner| {
                self.tasks.get(&owner.tasks).is_none_or(|(tasks, at)| {
                    now.duration_since(*at) >= TASKS_FRESH_FOR
                        || (!tasks.contains(&c.backend.ip) && self.first_seen[&c.backend.ip] >= *at)
                })
            })
        });
        let may_ask = self
            .tasks_asked
            .is_none_or(|at| now.duration_since(at) >= TASKS_AT_MOST_EVERY);
        if stale && may_ask {
            self.tasks_asked = Some(now);
            // Every service in one batch: one round trip however many services.
            let names: Vec<String> = services.iter().map(|s| s.tasks.clone()).collect();
            let mut answers = self.resolver.lookup_all(&names);
            let mut silent: Vec<&str> = Vec::new();
            for service in services {
                let gossiping = owners
                    .iter()
                    .any(|owner| owner.is_some_and(|o| o.tasks == service.tasks));
                match answers.remove(&service.tasks) {
                    Some(Answer::Addresses(addresses)) if !addresses.is_empty() => {
                        self.tasks.insert(service.tasks.clone(), (addresses, now));
                    }
                    // No task and no member: a service scaled to 0, nothing amiss.
                    Some(Answer::Addresses(_) | Answer::NoSuchName) if !gossiping => {
                        self.tasks
                            .insert(service.tasks.clone(), (BTreeSet::new(), now));
                    }
                    // No answer, or none while its members gossip (a service being
                    // replaced): keep what was known. A DNS failure never removes a
                    // serving backend.
                    _ => silent.push(&service.tasks),
                }
            }
            self.trouble = (!silent.is_empty()).then(|| {
                format!(
                    "the Swarm's DNS gave no task address for {}; the known ones stay in use, retrying",
                    silent.join(", ")
                )
            });
        }
        let recheck = now + TASKS_AT_MOST_EVERY;
        candidates
            .iter()
            .zip(&owners)
            .map(|(c, owner)| {
                let Some(owner) = owner else {
                    let prefixes: Vec<String> = services.iter().map(|s| s.prefix.clone()).collect();
                    return (not_a_webapp(&prefixes), now + RECHECK_AT_MOST);
                };
                match self.tasks.get(&owner.tasks) {
                    None => (Verdict::Unsure, recheck),
                    Some((tasks, _)) if tasks.contains(&c.backend.ip) => (Verdict::Legit, recheck),
                    // Read before this member showed up: ask again before saying no.
                    Some((_, at)) if *at < self.first_seen[&c.backend.ip] => {
                        (Verdict::Unsure, recheck)
                    }
                    Some((_, at)) => (
                        Verdict::Refused(format!(
                            "the address is not one of the Swarm's tasks of service {} ({})",
                            owner.service, owner.tasks
                        )),
                        *at + TASKS_FRESH_FOR,
                    ),
                }
            })
            .collect()
    }
}

/// The verdict on a name that follows no service's naming (`prefixes`).
fn not_a_webapp(prefixes: &[String]) -> Verdict {
    let naming: Vec<String> = prefixes.iter().map(|p| format!("{p}<number>")).collect();
    Verdict::Refused(format!(
        "the name does not follow the webapps' naming ({})",
        naming.join(", ")
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::fake::FakeDns;

    fn backend(name: &str, last: u8) -> Backend {
        Backend {
            name: name.into(),
            ip: [10, 0, 0, last].into(),
            port: 3000,
        }
    }

    #[test]
    fn a_serving_member_survives_an_unanswered_question() {
        // A resolver nobody answers: every question is Unsure.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut trust = Trust::new(
            Orchestrator::Engine {
                prefixes: vec!["s".into()],
            },
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
            Orchestrator::Engine {
                prefixes: vec!["s".into()],
            },
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

    #[test]
    fn every_services_naming_is_known_to_the_engine() {
        let cluster = cluster::parse("[services.api]\npaths = [\"/api\"]\n", "c.toml").unwrap();
        let Orchestrator::Engine { prefixes } = Orchestrator::of(&cluster) else {
            panic!("one engine");
        };
        assert_eq!(prefixes, ["s", "api"]);
        assert!(follows_any_naming(&prefixes, "api2"));
        assert!(follows_any_naming(&prefixes, "s2"));
        assert!(!follows_any_naming(&prefixes, "web2"));
    }

    fn candidate(name: &str, last: u8) -> Candidate {
        Candidate {
            backend: backend(name, last),
            addr: format!("10.0.0.{last}:7946"),
        }
    }

    fn ip(last: u8) -> Ipv4Addr {
        [10, 0, 0, last].into()
    }

    /// Project `p` on a Swarm: `(service, prefix)`, the default service's first.
    fn swarm(services: &[(&str, &str)]) -> Orchestrator {
        Orchestrator::Swarm {
            services: services
                .iter()
                .map(|(service, prefix)| SwarmTasks {
                    service: service.to_string(),
                    prefix: prefix.to_string(),
                    tasks: format!("tasks.p_{service}"),
                })
                .collect(),
        }
    }

    fn refused(decision: &Decision) -> Vec<(&str, &str)> {
        decision
            .refused
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect()
    }

    #[test]
    fn every_service_is_its_own_swarm_service() {
        let cluster = cluster::parse(
            "project = \"p\"\n[deploy]\ntarget = \"swarm\"\n[services.api]\nprefix = \"a\"\npaths = [\"/api\"]\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(
            Orchestrator::of(&cluster),
            swarm(&[("webapps", "s"), ("api", "a")])
        );
    }

    #[test]
    fn a_member_of_one_service_is_never_admitted_as_anothers() {
        let dns = FakeDns::start();
        dns.set("tasks.p_webapps", Some(&[ip(2)]));
        dns.set("tasks.p_api", Some(&[ip(3)]));
        let mut trust = Trust::new(swarm(&[("webapps", "s"), ("api", "a")]), dns.resolver());
        let serving = BTreeMap::new();
        // a1 gossips from a task of the default service: not one of api's.
        let candidates = [candidate("a1", 2), candidate("a2", 3)];
        let now = Instant::now();
        let decision = trust.decide(&candidates, &serving, now);
        assert_eq!(decision.admitted, [backend("a2", 3)]);
        assert_eq!(
            refused(&decision),
            [(
                "a1",
                "the address is not one of the Swarm's tasks of service api (tasks.p_api)"
            )]
        );
        assert_eq!(decision.trouble, None);
        // Among api's tasks on the next read: admitted.
        dns.set("tasks.p_api", Some(&[ip(2), ip(3)]));
        let later = now + TASKS_FRESH_FOR;
        let decision = trust.decide(&candidates, &serving, later);
        assert_eq!(decision.admitted, [backend("a1", 2), backend("a2", 3)]);
        assert!(decision.refused.is_empty());
    }

    #[test]
    fn a_service_scaled_to_zero_is_no_trouble() {
        let dns = FakeDns::start();
        dns.set("tasks.p_webapps", None);
        dns.set("tasks.p_api", Some(&[ip(3)]));
        let mut trust = Trust::new(swarm(&[("webapps", "s"), ("api", "a")]), dns.resolver());
        let serving = BTreeMap::new();
        let now = Instant::now();
        let decision = trust.decide(&[candidate("a1", 3), candidate("evil", 5)], &serving, now);
        assert_eq!(decision.admitted, [backend("a1", 3)]);
        assert_eq!(decision.trouble, None);
        let reasons = refused(&decision);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].0, "evil");
        assert!(
            reasons[0].1.contains("s<number>, a<number>"),
            "{}",
            reasons[0].1
        );
        // A member of the default service gossips while it has no task: asked again,
        // not refused, and said.
        let candidates = [candidate("a1", 3), candidate("s1", 4)];
        let decision = trust.decide(&candidates, &serving, now + TASKS_AT_MOST_EVERY);
        assert_eq!(decision.admitted, [backend("a1", 3)]);
        assert_eq!(refused(&decision), [("s1", UNSURE)]);
        let trouble = decision.trouble.unwrap();
        assert!(trouble.contains("tasks.p_webapps;"), "{trouble}");
        assert!(!trouble.contains("tasks.p_api"), "{trouble}");
    }

    #[test]
    fn a_swarm_admits_its_tasks_and_a_silent_dns_removes_none() {
        let dns = FakeDns::start();
        dns.set("tasks.p_webapps", Some(&[ip(2)]));
        let mut trust = Trust::new(swarm(&[("webapps", "s")]), dns.resolver());
        let serving = BTreeMap::new();
        let now = Instant::now();
        let decision = trust.decide(&[candidate("s1", 2), candidate("s2", 3)], &serving, now);
        assert_eq!(decision.admitted, [backend("s1", 2)]);
        assert_eq!(
            refused(&decision),
            [(
                "s2",
                "the address is not one of the Swarm's tasks of service webapps (tasks.p_webapps)"
            )]
        );
        // A new task: its address, unknown to the list, has the list read again.
        dns.set("tasks.p_webapps", Some(&[ip(2), ip(4)]));
        let candidates = [candidate("s1", 2), candidate("s3", 4)];
        let soon = now + TASKS_AT_MOST_EVERY;
        let decision = trust.decide(&candidates, &serving, soon);
        assert_eq!(decision.admitted, [backend("s1", 2), backend("s3", 4)]);
        // No task address while members gossip: the known ones stay, and it is said.
        dns.set("tasks.p_webapps", Some(&[]));
        let decision = trust.decide(&candidates, &serving, soon + TASKS_FRESH_FOR);
        assert_eq!(decision.admitted, [backend("s1", 2), backend("s3", 4)]);
        assert!(decision.trouble.unwrap().contains("tasks.p_webapps"));
        dns.set("tasks.p_webapps", Some(&[ip(2), ip(4)]));
        let decision = trust.decide(&candidates, &serving, soon + TASKS_FRESH_FOR * 2);
        assert_eq!(decision.trouble, None);

        // A fresh agent whose DNS does not answer: a serving member keeps serving.
        let silent = FakeDns::start();
        let mut fresh = Trust::new(swarm(&[("webapps", "s")]), silent.resolver());
        let serving = BTreeMap::from([("s1".to_string(), "10.0.0.2:3000".to_string())]);
        let decision = fresh.decide(&candidates, &serving, now);
        assert_eq!(decision.admitted, [backend("s1", 2)]);
        assert_eq!(refused(&decision), [("s3", UNSURE)]);
        assert!(decision.trouble.unwrap().contains("tasks.p_webapps"));
    }
}
