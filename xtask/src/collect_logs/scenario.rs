//! The lab's scenarios (LAB.md, "Deliverables per task"): the steps each task runs and the
//! files it captures after each one, with the lab's file names. Pure data, tested as such.
use std::collections::BTreeSet;

use cluster::Cluster;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Task(u8);

impl Task {
    pub(crate) const ALL: [Task; 7] = [
        Task(0),
        Task(1),
        Task(2),
        Task(3),
        Task(4),
        Task(5),
        Task(6),
    ];

    pub(crate) fn name(&self) -> String {
        format!("task{}", self.0)
    }

    /// What the lab builds in this task, for the README.
    pub(crate) fn summary(self) -> &'static str {
        match self.0 {
            0 => "ha + 2 webapps, HAProxy on the static configuration (generated/haproxy.cfg: the servers listed by hand; no s6, no Serf, no agent); the stats page on the stats port",
            1 => "s6 as PID 1 in every container; ha + 2 webapps up",
            2 => "a Serf agent in every container; start ha, then s1, then s2",
            3 => "Serf event handlers on ha log member events to /var/log/serf.log",
            4 => "ha renders haproxy.cfg from a template on every membership change",
            5 => "ha keeps one file per live backend in /nodes; a stopped node leaves both /nodes and haproxy.cfg",
            _ => "ha applies each change to HAProxy without refusing a connection (runtime API, or a hitless reload): scale to 4 webapps, then stop s2",
        }
    }

    /// Whether the task runs the lab's static stack (task 0): no Serf, no agent, no serf.log.
    pub(crate) fn is_static(self) -> bool {
        steps(self)
            .iter()
            .any(|s| matches!(s.action, Action::RunStatic { .. }))
    }

    /// The webapps the task's scenario needs at most (for the preflight checks).
    pub(crate) fn max_webapps(self) -> u32 {
        steps(self)
            .iter()
            .filter_map(|s| match s.action {
                Action::Run { webapps } | Action::RunStatic { webapps } => Some(webapps),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// A node by its lab name: `ha`, or webapp `s<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabNode {
    Ha,
    Webapp(u32),
}

impl LabNode {
    /// The name the lab (and the evidence's file names) use.
    pub(crate) fn lab_name(self) -> String {
        match self {
            LabNode::Ha => "ha".into(),
            LabNode::Webapp(n) => format!("s{n}"),
        }
    }

    /// The container (and Serf node) name in the configured cluster.
    pub(crate) fn container(self, cluster: &Cluster) -> String {
        match self {
            LabNode::Ha => cluster.ha.name.clone(),
            LabNode::Webapp(n) => cluster.webapp_name(n),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Converge to ha + `webapps` webapps, as `up` / `scale` do.
    Run { webapps: u32 },
    /// Lab task 0: ha + `webapps` webapps, HAProxy alone on the static config (the servers
    /// listed by hand, as `gen` writes generated/haproxy.cfg), no Serf, no agent.
    RunStatic { webapps: u32 },
    /// Change nothing: the step only looks.
    Observe,
    /// `docker stop` webapp `s<n>`.
    Stop(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum What {
    /// `docker logs` of the node.
    Logs(LabNode),
    /// ha's /var/log/serf.log.
    SerfLog,
    /// ha's live /etc/haproxy/haproxy.cfg.
    HaproxyCfg,
    /// The listing of ha's /nodes.
    Nodes,
    /// `docker ps` of the project's containers.
    DockerPs,
    /// `docker inspect` of the node.
    Inspect(LabNode),
    /// The stats page: a PNG screenshot, or its HTML and CSV without Chromium.
    Stats,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Capture {
    pub(crate) what: What,
    /// Relative to the task's folder; `.png` for `Stats`.
    pub(crate) file: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// In the lab's names (`start s1`).
    pub(crate) title: String,
    pub(crate) action: Action,
    pub(crate) captures: Vec<Capture>,
}

pub(crate) fn steps(task: Task) -> Vec<Step> {
    use LabNode::{Ha, Webapp};
    let s1 = Webapp(1);
    let s2 = Webapp(2);
    match task.0 {
        0 => vec![step(
            "start ha (static generated/haproxy.cfg), s1 and s2",
            Action::RunStatic { webapps: 2 },
            [
                (What::Stats, "stats.png"),
                (What::DockerPs, "docker_ps.log"),
            ],
        )],
        1 => vec![step(
            "start ha, s1 and s2",
            Action::Run { webapps: 2 },
            [
                (What::Stats, "stats.png"),
                (What::DockerPs, "docker_ps.log"),
            ],
        )],
        2 => vec![
            step("start ha", Action::Run { webapps: 0 }, []),
            step("start s1", Action::Run { webapps: 1 }, []),
            step(
                "start s2",
                Action::Run { webapps: 2 },
                [
                    (What::Logs(Ha), "ha.log"),
                    (What::Logs(s1), "s1.log"),
                    (What::Logs(s2), "s2.log"),
                ],
            ),
        ],
        3 => vec![
            step(
                "start ha",
                Action::Run { webapps: 0 },
                [(What::Logs(Ha), "ha_start.log")],
            ),
            step(
                "start s1",
                Action::Run { webapps: 1 },
                [
                    (What::Logs(s1), "s1_start.log"),
                    (What::Logs(Ha), "ha_after_s1.log"),
                ],
            ),
            step(
                "start s2",
                Action::Run { webapps: 2 },
                [
                    (What::Logs(s2), "s2_start.log"),
                    (What::Logs(Ha), "ha_after_s2.log"),
                    (What::SerfLog, "ha_serf.log"),
                ],
            ),
        ],
        4 => template_steps(""),
        5 => {
            let mut steps = template_steps("1/");
            steps.push(step(
                "list nodes",
                Action::Observe,
                [(What::Nodes, "2/nodes.log")],
            ));
            steps.push(step(
                "stop s1",
                Action::Stop(1),
                [
                    (What::HaproxyCfg, "3/haproxy_after_s1_stopped.cfg"),
                    (What::Nodes, "3/nodes_after_s1_stopped.log"),
                    (What::DockerPs, "3/docker_ps_after_s1_stopped.log"),
                ],
            ));
            steps
        }
        _ => vec![
            step("start ha, s1 and s2", Action::Run { webapps: 2 }, []),
            step(
                "scale to 4 webapps",
                Action::Run { webapps: 4 },
                [
                    (What::DockerPs, "docker_ps_with_4_webapps.log"),
                    (What::Stats, "stats_4_webapps.png"),
                ],
            ),
            step(
                "stop s2",
                Action::Stop(2),
                [
                    (What::DockerPs, "docker_ps_s2_stopped.log"),
                    (What::Stats, "stats_s2_stopped.png"),
                ],
            ),
        ],
    }
}

/// Task 4's three steps (task 5 repeats them under `1/`).
fn template_steps(dir: &str) -> Vec<Step> {
    use LabNode::{Ha, Webapp};
    let file = |name: &str| format!("{dir}{name}");
    let capture = |what, name: &str| Capture {
        what,
        file: file(name),
    };
    vec![
        Step {
            title: "start ha".into(),
            action: Action::Run { webapps: 0 },
            captures: vec![capture(What::HaproxyCfg, "haproxy_after_ha.cfg")],
        },
        Step {
            title: "start s1".into(),
            action: Action::Run { webapps: 1 },
            captures: vec![capture(What::HaproxyCfg, "haproxy_after_s1.cfg")],
        },
        Step {
            title: "start s2".into(),
            action: Action::Run { webapps: 2 },
            captures: vec![
                capture(What::HaproxyCfg, "haproxy_after_s2.cfg"),
                capture(What::DockerPs, "docker_ps.log"),
                capture(What::Inspect(Ha), "docker_inspect_ha.log"),
                capture(What::Inspect(Webapp(1)), "docker_inspect_s1.log"),
                capture(What::Inspect(Webapp(2)), "docker_inspect_s2.log"),
            ],
        },
    ]
}

fn step<const N: usize>(title: &str, action: Action, captures: [(What, &str); N]) -> Step {
    Step {
        title: title.into(),
        action,
        captures: captures
            .into_iter()
            .map(|(what, file)| Capture {
                what,
                file: file.into(),
            })
            .collect(),
    }
}

/// The webapps HAProxy must serve after each step: what the runner waits for before it
/// captures anything.
pub(crate) fn serving_after_each(steps: &[Step]) -> Vec<BTreeSet<u32>> {
    let mut serving = BTreeSet::new();
    steps
        .iter()
        .map(|step| {
            match step.action {
                Action::Run { webapps } | Action::RunStatic { webapps } => {
                    serving = (1..=webapps).collect()
                }
                Action::Observe => {}
                Action::Stop(n) => {
                    serving.remove(&n);
                }
            }
            serving.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(task: u8) -> Vec<String> {
        steps(Task(task))
            .into_iter()
            .flat_map(|s| s.captures)
            .map(|c| c.file)
            .collect()
    }

    #[test]
    fn file_names_are_the_labs() {
        assert_eq!(files(0), ["stats.png", "docker_ps.log"]);
        assert_eq!(files(2), ["ha.log", "s1.log", "s2.log"]);
        assert_eq!(
            files(3),
            [
                "ha_start.log",
                "s1_start.log",
                "ha_after_s1.log",
                "s2_start.log",
                "ha_after_s2.log",
                "ha_serf.log"
            ]
        );
        let task4 = [
            "haproxy_after_ha.cfg",
            "haproxy_after_s1.cfg",
            "haproxy_after_s2.cfg",
            "docker_ps.log",
            "docker_inspect_ha.log",
            "docker_inspect_s1.log",
            "docker_inspect_s2.log",
        ];
        assert_eq!(files(4), task4);
        let mut task5: Vec<String> = task4.iter().map(|f| format!("1/{f}")).collect();
        task5.extend(
            [
                "2/nodes.log",
                "3/haproxy_after_s1_stopped.cfg",
                "3/nodes_after_s1_stopped.log",
                "3/docker_ps_after_s1_stopped.log",
            ]
            .map(String::from),
        );
        assert_eq!(files(5), task5);
        assert_eq!(
            files(6),
            [
                "docker_ps_with_4_webapps.log",
                "stats_4_webapps.png",
                "docker_ps_s2_stopped.log",
                "stats_s2_stopped.png"
            ]
        );
    }

    #[test]
    fn waits_for_the_servers_each_step_leaves() {
        let sets = |task| {
            serving_after_each(&steps(Task(task)))
                .into_iter()
                .map(|s| s.into_iter().collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(sets(0), [vec![1, 2]]);
        assert_eq!(sets(5), [vec![], vec![1], vec![1, 2], vec![1, 2], vec![2]]);
        assert_eq!(sets(6), [vec![1, 2], vec![1, 2, 3, 4], vec![1, 3, 4]]);
        assert_eq!(Task(6).max_webapps(), 4);
        assert_eq!(Task(3).max_webapps(), 2);
    }

    #[test]
    fn task0_runs_the_static_config_and_task1_the_self_configuring_stack() {
        assert_eq!(steps(Task(0))[0].action, Action::RunStatic { webapps: 2 });
        assert_eq!(steps(Task(1))[0].action, Action::Run { webapps: 2 });
        assert!(Task(0).is_static());
        assert!(Task::ALL[1..].iter().all(|t| !t.is_static()));
        assert_eq!(Task(0).max_webapps(), 2);
    }
}
