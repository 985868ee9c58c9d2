//! What `up` and `scale` must change: the difference between the declared nodes and the
//! project's containers on the engine. Pure, so every case is a unit test.
use std::collections::BTreeMap;

use cluster::{natural_key, Node};

/// A declared node with the fingerprint of everything its container is created from.
#[derive(Debug, Clone)]
pub(crate) struct Desired {
    pub(crate) node: Node,
    pub(crate) fingerprint: String,
    /// The image id its container runs.
    pub(crate) image: String,
}

/// A container of the project as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) name: String,
    pub(crate) running: bool,
    pub(crate) fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Create(String),
    /// The container was created from something else (image, address, settings).
    Recreate(String),
    Start(String),
    /// Not declared any more: stop gracefully (Serf leaves), then remove.
    Remove(String),
}

impl Action {
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Create(name) => format!("create {name}"),
            Action::Recreate(name) => format!("recreate {name} (its settings or image changed)"),
            Action::Start(name) => format!("start {name}"),
            Action::Remove(name) => format!("remove {name}"),
        }
    }
}

/// Removals first (highest numbers first), so a renamed node's address and ports are
/// free for its successor; then creates and starts in declared order, ha first.
pub(crate) fn plan(desired: &[Desired], observed: &[Observed]) -> Vec<Action> {
    let observed_by_name: BTreeMap<&str, &Observed> =
        observed.iter().map(|o| (o.name.as_str(), o)).collect();
    let mut extra: Vec<&str> = observed
        .iter()
        .map(|o| o.name.as_str())
        .filter(|name| !desired.iter().any(|d| d.node.name == *name))
        .collect();
    extra.sort_by_key(|name| std::cmp::Reverse(natural_key(name)));
    let mut actions: Vec<Action> = extra
        .into_iter()
        .map(|name| Action::Remove(name.to_string()))
        .collect();
    actions.extend(desired.iter().filter_map(|d| {
        let name = d.node.name.clone();
        match observed_by_name.get(d.node.name.as_str()) {
            None => Some(Action::Create(name)),
            Some(o) if o.fingerprint != d.fingerprint => Some(Action::Recreate(name)),
            Some(o) if !o.running => Some(Action::Start(name)),
            Some(_) => None,
        }
    }));
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::Role;

    fn desired(name: &str, fingerprint: &str) -> Desired {
        Desired {
            node: Node {
                name: name.into(),
                ip: "10.0.0.2".parse().unwrap(),
                role: Role::Backend,
                port: 3000,
            },
            fingerprint: fingerprint.into(),
            image: "sha256:0".into(),
        }
    }

    fn observed(name: &str, running: bool, fingerprint: &str) -> Observed {
        Observed {
            name: name.into(),
            running,
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn nothing_exists_so_everything_is_created_in_order() {
        let plan = plan(&[desired("ha", "a"), desired("s1", "b")], &[]);
        assert_eq!(
            plan,
            [Action::Create("ha".into()), Action::Create("s1".into())]
        );
    }

    #[test]
    fn converged_stack_needs_nothing() {
        let plan = plan(
            &[desired("ha", "a"), desired("s1", "b")],
            &[observed("s1", true, "b"), observed("ha", true, "a")],
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn stopped_changed_and_extra_containers() {
        let plan = plan(
            &[desired("ha", "a"), desired("s1", "b"), desired("s2", "c")],
            &[
                observed("ha", true, "old"),
                observed("s1", false, "b"),
                observed("s3", true, "c"),
                observed("s10", true, "c"),
                observed("s2", true, "c"),
            ],
        );
        assert_eq!(
            plan,
            [
                Action::Remove("s10".into()),
                Action::Remove("s3".into()),
                Action::Recreate("ha".into()),
                Action::Start("s1".into()),
            ]
        );
    }
}
