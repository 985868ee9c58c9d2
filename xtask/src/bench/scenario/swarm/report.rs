//! Scenario 9's part of the report: its targets and its section of results.md.
use super::{SwarmResult, SETTLE};
use crate::bench::report::{failures, opt, Section, Target};
use crate::bench::settings::Settings;

/// Its section's number in results.md.
const NUMBER: u32 = 9;

pub(crate) const SECTION: Section = Section {
    number: NUMBER,
    markdown: |md, r| section(md, &r.swarm, &r.settings),
    targets: |r| targets(&r.swarm),
};

/// Scenario 9's targets: a node loss costs no request and heals within a minute and a half.
pub(crate) fn targets(s: &SwarmResult) -> Vec<Target> {
    let (join, loss) = (&s.join, &s.node_loss);
    vec![
        Target {
            name: format!(
                "Swarm: failed requests while scaling {} -> {}",
                join.from, join.to
            ),
            goal: "0".into(),
            measured: format!("{} of {}", join.load.failed, join.load.requests),
            met: Some(join.load.failed == 0),
        },
        Target {
            name: "Swarm node loss: failed requests".into(),
            goal: "0".into(),
            measured: format!(
                "{} of {} ({} webapps lost with {})",
                loss.load.failed,
                loss.load.requests,
                loss.lost.len(),
                loss.node
            ),
            met: Some(loss.load.failed == 0),
        },
        Target {
            name: "Swarm: back to N serving after a node loss".into(),
            goal: "<= 90 s".into(),
            measured: format!(
                "{:.1} s (out of rotation after {:.1} s)",
                loss.back_s, loss.out_of_rotation_s
            ),
            met: Some(loss.back_s <= 90.0),
        },
    ]
}

pub(crate) fn section(md: &mut String, w: &SwarmResult, s: &Settings) {
    let (j, l) = (&w.join, &w.node_loss);
    md.push_str(&format!(
        "\n## {NUMBER}. Swarm ({} nodes)\n\nThe same cluster on a local Swarm: `cargo xtask swarm-lab up --nodes {}` runs {} Docker \
         engines in containers of this host's engine (node1 the manager, running ha, the others workers), and the toolkit \
         drives it as a user does, in child processes: `--config` a cluster file derived from the bench's (project `{}`, \
         its own ports, `[deploy] target = \"swarm\"`), DOCKER_HOST the manager's engine. Load: {} req/s to {} (the \
         manager's published port: every request crosses the host's port publication, the manager's and the overlay). \
         Join: `scale --webapps {} -> {}` under load, each new task timed from the command to UP in HAProxy and to \
         its first answer (the stats are read every 250 ms: a first answer can come before the read showing the \
         server UP). Node loss: with {} webapps under load, the engine of the worker running \
         the most of them SIGKILLed on the host (`docker kill`): until HAProxy shows none of its webapps UP (out of \
         rotation), then until it shows all {} UP again with `status --json` placing every one on a surviving node \
         (Swarm reschedules the tasks; they come back under their names once Serf has reaped the dead members); \
         requests from the kill to {} s after. Not in the timeline below.\n\n\
         | new webapp | to UP in HAProxy (s) | to first answer (s) |\n|---|---|---|\n",
        w.nodes,
        w.nodes,
        w.nodes,
        w.project,
        s.swarm_rate,
        w.target,
        j.from,
        j.to,
        l.webapps,
        l.webapps,
        SETTLE.as_secs()
    ));
    for n in &j.nodes {
        md.push_str(&format!(
            "| {} | {:.2} | {} |\n",
            n.name,
            n.up_s,
            opt(n.first_answer_s, 2)
        ));
    }
    md.push_str(&format!(
        "\n| p50 (s) | p95 (s) | max (s) | `scale` (s) | requests | failed |\n|---|---|---|---|---|---|\n\
         | {} | {} | {} | {:.1} | {} | {} |\n",
        opt(j.p50_s, 2),
        opt(j.p95_s, 2),
        opt(j.max_s, 2),
        j.scale_s,
        j.load.requests,
        j.load.failed
    ));
    failures(md, " (scale)", &j.load);
    let placed = |placement: &std::collections::BTreeMap<String, String>| {
        placement
            .iter()
            .map(|(webapp, node)| format!("{webapp}: {node}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    md.push_str(&format!(
        "\n| node killed | webapps lost | out of rotation (s) | back to {} serving (s) | requests | failed | p99 (ms) | max (ms) |\n\
         |---|---|---|---|---|---|---|---|\n| {} | {} | {:.1} | {:.1} | {} | {} | {} | {} |\n\n\
         Before: {}. After: {}.\n",
        l.webapps,
        l.node,
        l.lost.join(", "),
        l.out_of_rotation_s,
        l.back_s,
        l.load.requests,
        l.load.failed,
        opt(l.load.p99_ms, 1),
        opt(l.load.max_ms, 1),
        placed(&l.before),
        placed(&l.after)
    ));
    failures(md, " (node loss)", &l.load);
    md.push_str(&format!(
        "\n| command | time (s) |\n|---|---|\n\
         | `build` (on the host: the Swarm project's images, from the build cache) | {:.1} |\n\
         | `swarm-lab up --nodes {}` | {:.1} |\n\
         | `up` ({} webapps) | {:.1} |\n\
         | `down` (after the node loss) | {:.1} |\n\
         | `swarm-lab down` | {:.1} |\n",
        w.build_s, w.nodes, w.lab_up_s, j.from, w.up_s, w.down_s, w.lab_down_s
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario::swarm::{NodeLoss, SwarmJoin, SwarmNodeJoin};
    use crate::bench::stats::tests::load;

    fn swarm_run() -> SwarmResult {
        let placed = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(w, n)| (w.to_string(), n.to_string()))
                .collect()
        };
        SwarmResult {
            project: "lab4-swarm".into(),
            nodes: 3,
            target: "http://127.0.0.1:81/".into(),
            build_s: 30.0,
            lab_up_s: 20.0,
            up_s: 40.0,
            join: SwarmJoin {
                from: 2,
                to: 4,
                scale_s: 9.0,
                nodes: vec![SwarmNodeJoin {
                    name: "s3".into(),
                    up_s: 6.0,
                    first_answer_s: Some(6.1),
                }],
                p50_s: Some(6.0),
                p95_s: Some(6.0),
                max_s: Some(6.0),
                load: load(1000, 0),
            },
            node_loss: NodeLoss {
                webapps: 4,
                node: "lab4-swarm-node3".into(),
                lost: vec!["s3".into()],
                out_of_rotation_s: 3.0,
                back_s: 45.0,
                before: placed(&[("s3", "lab4-swarm-node3")]),
                after: placed(&[("s3", "lab4-swarm-node2")]),
                load: load(5000, 0),
            },
            down_s: 5.0,
            lab_down_s: 4.0,
        }
    }

    fn swarm_met(s: &SwarmResult) -> Vec<Option<bool>> {
        targets(s).into_iter().map(|t| t.met).collect()
    }

    #[test]
    fn a_swarm_node_loss_must_fail_nothing_and_heal_within_90_s() {
        let mut run = swarm_run();
        assert_eq!(swarm_met(&run), [Some(true); 3]);
        run.node_loss.back_s = 90.0;
        assert_eq!(swarm_met(&run), [Some(true); 3]);
        run.node_loss.back_s = 90.1;
        assert_eq!(swarm_met(&run), [Some(true), Some(true), Some(false)]);
        let mut run = swarm_run();
        run.node_loss.load = load(5000, 1);
        assert_eq!(swarm_met(&run), [Some(true), Some(false), Some(true)]);
        let mut run = swarm_run();
        run.join.load = load(1000, 2);
        assert_eq!(swarm_met(&run), [Some(false), Some(true), Some(true)]);
        let names: Vec<String> = targets(&run).into_iter().map(|t| t.name).collect();
        assert_eq!(names[0], "Swarm: failed requests while scaling 2 -> 4");
    }

    #[test]
    fn the_swarm_section_names_what_was_killed_and_where_the_webapps_went() {
        let mut md = String::new();
        section(&mut md, &swarm_run(), &Settings::new(true));
        assert!(md.starts_with("\n## 9. Swarm (3 nodes)\n"), "{md}");
        assert!(
            md.contains("| lab4-swarm-node3 | s3 | 3.0 | 45.0 | 5000 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| s3 | 6.00 | 6.10 |"), "{md}");
        assert!(
            md.contains("Before: s3: lab4-swarm-node3. After: s3: lab4-swarm-node2."),
            "{md}"
        );
    }
}
