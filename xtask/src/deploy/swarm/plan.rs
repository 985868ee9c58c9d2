//! What `up` and `scale` must change on a Swarm: the declared services against the
//! project's services there. Pure, so every case is a unit test.
use std::fmt;

/// A service as declared: its name, fingerprint and replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredService {
    pub(crate) name: String,
    pub(crate) fingerprint: String,
    pub(crate) replicas: u32,
}

/// A service of the project as the Swarm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedService {
    pub(crate) name: String,
    pub(crate) fingerprint: String,
    pub(crate) replicas: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceAction {
    Create(String),
    /// Its spec changed (image, settings): Swarm rolls its tasks over.
    Update(String),
    /// Only the replica count changed: Swarm adds or removes tasks, the others stay.
    Scale {
        name: String,
        from: u32,
        to: u32,
    },
    /// Not declared any more.
    Remove(String),
}

impl ServiceAction {
    /// The Swarm service it acts on.
    pub(crate) fn service(&self) -> &str {
        match self {
            ServiceAction::Create(name)
            | ServiceAction::Update(name)
            | ServiceAction::Scale { name, .. }
            | ServiceAction::Remove(name) => name,
        }
    }
}

impl fmt::Display for ServiceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceAction::Create(name) => write!(f, "create service {name}"),
            ServiceAction::Update(name) => write!(
                f,
                "update service {name} (its settings or image changed; Swarm rolls its tasks over)"
            ),
            ServiceAction::Scale { name, from, to } => {
                write!(f, "scale service {name} from {from} to {to} tasks")
            }
            ServiceAction::Remove(name) => write!(f, "remove service {name}"),
        }
    }
}

/// The declared services in order (ha first: a removed service's routes go before its
/// tasks), then removals.
pub(crate) fn plan(desired: &[DesiredService], observed: &[ObservedService]) -> Vec<ServiceAction> {
    let mut actions: Vec<ServiceAction> = desired
        .iter()
        .filter_map(|d| {
            let Some(o) = observed.iter().find(|o| o.name == d.name) else {
                return Some(ServiceAction::Create(d.name.clone()));
            };
            if o.fingerprint != d.fingerprint {
                Some(ServiceAction::Update(d.name.clone()))
            } else if o.replicas != Some(d.replicas) {
                Some(ServiceAction::Scale {
                    name: d.name.clone(),
                    from: o.replicas.unwrap_or(0),
                    to: d.replicas,
                })
            } else {
                None
            }
        })
        .collect();
    actions.extend(
        observed
            .iter()
            .filter(|o| !desired.iter().any(|d| d.name == o.name))
            .map(|o| ServiceAction::Remove(o.name.clone())),
    );
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(name: &str, fingerprint: &str, replicas: u32) -> DesiredService {
        DesiredService {
            name: name.into(),
            fingerprint: fingerprint.into(),
            replicas,
        }
    }

    fn observed(name: &str, fingerprint: &str, replicas: u32) -> ObservedService {
        ObservedService {
            name: name.into(),
            fingerprint: fingerprint.into(),
            replicas: Some(replicas),
        }
    }

    #[test]
    fn nothing_there_creates_both_services_ha_first() {
        let plan = plan(
            &[desired("p_ha", "a", 1), desired("p_webapps", "b", 4)],
            &[],
        );
        assert_eq!(
            plan,
            [
                ServiceAction::Create("p_ha".into()),
                ServiceAction::Create("p_webapps".into())
            ]
        );
    }

    #[test]
    fn converged_services_need_nothing() {
        let plan = plan(
            &[desired("p_ha", "a", 1), desired("p_webapps", "b", 4)],
            &[observed("p_webapps", "b", 4), observed("p_ha", "a", 1)],
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn a_new_count_scales_a_new_spec_updates_an_unknown_service_goes() {
        let plan = plan(
            &[desired("p_ha", "a2", 1), desired("p_webapps", "b", 8)],
            &[
                observed("p_ha", "a", 1),
                observed("p_webapps", "b", 4),
                observed("p_old", "c", 1),
            ],
        );
        assert_eq!(
            plan,
            [
                ServiceAction::Update("p_ha".into()),
                ServiceAction::Scale {
                    name: "p_webapps".into(),
                    from: 4,
                    to: 8
                },
                ServiceAction::Remove("p_old".into()),
            ]
        );
    }
}
