//! The task folder's README.md: what was run and when, what each file shows, and the
//! timeline of Serf events and HAProxy reloads. Pure: the run hands it what happened.
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use cluster::time::{rfc3339, time_of_day};
use cluster::Cluster;

use super::capture;
use super::output::SIGNATURE;
use super::scenario::{LabNode, Task, What};
use super::timeline::{self, Entry, Kind};
use crate::haproxy_stats;

/// One step as it ran.
pub(crate) struct StepRecord {
    pub(crate) title: String,
    pub(crate) started: SystemTime,
    /// When HAProxy showed exactly the expected servers.
    pub(crate) converged: SystemTime,
    /// From `started` to `converged`.
    pub(crate) took: Duration,
    /// The part of `took` spent waiting for HAProxy after the change was made.
    pub(crate) waited: Duration,
    /// The webapps HAProxy served then (container names).
    pub(crate) serving: Vec<String>,
}

/// One file written, and the step after which it was captured (index into the steps).
pub(crate) struct FileRecord {
    pub(crate) file: String,
    pub(crate) step: usize,
    pub(crate) what: What,
}

pub(crate) struct Report<'a> {
    pub(crate) task: Task,
    pub(crate) cluster: &'a Cluster,
    pub(crate) config: String,
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) files: Vec<FileRecord>,
    /// ha's /var/log/serf.log at the end of the run, if it could be read.
    pub(crate) serf_log: Option<String>,
}

pub(crate) fn render(report: &Report) -> String {
    let Report { task, cluster, .. } = report;
    let mut out = String::new();
    let started = report
        .steps
        .first()
        .map(|s| rfc3339(s.started))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "# {}: evidence collected by `{SIGNATURE}`\n",
        task.name()
    );
    let _ = writeln!(out, "Lab {}: {}.\n", task.name(), task.summary());
    let _ = writeln!(
        out,
        "Run on {started} from a fresh stack of project `{}` (config `{}`), with \
         `cargo xtask collect-logs {}`. Times are UTC.\n",
        cluster.project,
        report.config,
        task.name()
    );
    names_note(&mut out, report);
    steps_section(&mut out, report);
    files_section(&mut out, report);
    timeline_section(&mut out, report);
    out
}

/// File names and step titles use the lab's names; say which containers they are when
/// the configured names differ.
fn names_note(out: &mut String, report: &Report) {
    let most = report
        .steps
        .iter()
        .map(|s| s.serving.len())
        .max()
        .unwrap_or(0) as u32;
    let mut nodes = vec![LabNode::Ha];
    nodes.extend((1..=most.max(report.task.max_webapps())).map(LabNode::Webapp));
    let pairs: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.lab_name(), n.container(report.cluster)))
        .collect();
    if pairs.iter().any(|(lab, container)| lab != container) {
        let list: Vec<String> = pairs
            .iter()
            .map(|(lab, c)| format!("`{lab}` is `{c}`"))
            .collect();
        let _ = writeln!(
            out,
            "Names: file names and step titles use the lab's names; in this cluster {}.\n",
            list.join(", ")
        );
    }
}

fn steps_section(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "## Steps\n\nAfter each step the run waits until HAProxy's stats ({}) list exactly the \
         expected servers, all UP; only then is anything captured.\n",
        haproxy_stats::stats_url(report.cluster)
    );
    out.push_str(
        "| # | started | step | HAProxy then serves | converged in | of which waiting for HAProxy |\n\
         |---|---|---|---|---|---|\n",
    );
    for (i, step) in report.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} s | {:.1} s |",
            i + 1,
            time_of_day(step.started),
            cell(&step.title),
            cell(&serving(&step.serving)),
            step.took.as_secs_f64(),
            step.waited.as_secs_f64()
        );
    }
    out.push('\n');
}

fn files_section(out: &mut String, report: &Report) {
    out.push_str("## Files\n\n| file | captured after step | what it shows |\n|---|---|---|\n");
    for file in &report.files {
        let step = &report.steps[file.step];
        let _ = writeln!(
            out,
            "| [`{0}`]({0}) | {1}. {2} | {3} |",
            file.file,
            file.step + 1,
            cell(&step.title),
            cell(&describe(report.cluster, file, step))
        );
    }
    out.push('\n');
}

fn describe(cluster: &Cluster, file: &FileRecord, step: &StepRecord) -> String {
    let serving = serving(&step.serving);
    match file.what {
        What::Logs(node) => {
            let name = node.container(cluster);
            let services = match node {
                LabNode::Ha => "HAProxy, ha-agent and the Serf agent",
                LabNode::Webapp(_) => "the web app and the Serf agent",
            };
            format!("`docker logs {name}`: what {name}'s s6 services ({services}) printed so far")
        }
        What::SerfLog => format!(
            "ha's `{}`: each Serf event ha's handler received (member-join, member-leave, member-failed) and each change it made to HAProxy (`update #n`: runtime API, `reload #n`: reload)",
            capture::SERF_LOG
        ),
        What::HaproxyCfg => format!(
            "ha's live `{}` as its agent rendered it from the template: one `server` line per live webapp ({serving})",
            capture::HAPROXY_CFG
        ),
        What::Nodes => format!("`ls -l /nodes` on ha, then each file's content: one file per live backend ({serving})"),
        What::DockerPs => "the project's containers as `docker ps -a` prints them (containers of other projects are left out)".into(),
        What::Inspect(node) => format!("`docker inspect {}`: the container as the Engine API describes it", node.container(cluster)),
        What::Stats => {
            let url = haproxy_stats::stats_url(cluster);
            match file.file.rsplit_once('.').map(|(_, ext)| ext) {
                Some("png") => format!("screenshot of the HAProxy stats page ({url}); backend `nodes` lists {serving}"),
                Some("csv") => format!("the stats page as CSV ({url};csv), saved because Chromium was not installed"),
                _ => format!("the stats page's HTML ({url}), saved because Chromium was not installed"),
            }
        }
    }
}

fn timeline_section(out: &mut String, report: &Report) {
    out.push_str("## Timeline\n\n");
    let log = match &report.serf_log {
        Some(log) => {
            let _ = writeln!(
                out,
                "The run's steps merged with ha's `{}`: Serf events received by ha's handler and the \
                 changes it made to HAProxy (runtime updates and reloads).\n",
                capture::SERF_LOG
            );
            timeline::parse_serf_log(log)
        }
        None if report.task.is_static() => {
            out.push_str(
                "As in the lab's task 0, nothing runs Serf or an agent: HAProxy serves the \
                 static configuration, so the timeline has the steps only.\n\n",
            );
            Vec::new()
        }
        None => {
            let _ = writeln!(
                out,
                "ha's `{}` could not be read at the end of the run: steps only.\n",
                capture::SERF_LOG
            );
            Vec::new()
        }
    };
    let mut steps = Vec::new();
    for (i, step) in report.steps.iter().enumerate() {
        steps.push(Entry::step(
            step.started,
            Kind::Step,
            format!("{}. {}", i + 1, step.title),
        ));
        let done = format!(
            "HAProxy serves {} ({:.1} s)",
            serving(&step.serving),
            step.took.as_secs_f64()
        );
        steps.push(Entry::step(step.converged, Kind::Converged, done));
    }
    out.push_str("| time | source | event |\n|---|---|---|\n");
    for entry in timeline::merge(steps, log) {
        let at = entry.at.map(time_of_day).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {at} | {} | {} |",
            entry.kind.as_str(),
            cell(&entry.text)
        );
    }
}

/// `s1, s2`, or `no server`.
pub(crate) fn serving(names: &[String]) -> String {
    if names.is_empty() {
        "no server".into()
    } else {
        names.join(", ")
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::collect_logs::scenario::steps;

    fn cluster(prefix: &str) -> Cluster {
        let text = format!("[webapps]\nprefix = \"{prefix}\"\n");
        cluster::parse(&text, "cluster.toml").unwrap()
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn report(cluster: &Cluster, serf_log: Option<&str>) -> String {
        let task = Task::ALL[5];
        let names = |list: &[u32]| {
            list.iter()
                .map(|n| cluster.webapp_name(*n))
                .collect::<Vec<_>>()
        };
        let served = [
            names(&[]),
            names(&[1]),
            names(&[1, 2]),
            names(&[1, 2]),
            names(&[2]),
        ];
        let steps: Vec<StepRecord> = steps(task)
            .iter()
            .zip(served)
            .enumerate()
            .map(|(i, (step, serving))| StepRecord {
                title: step.title.clone(),
                started: at(10 * i as u64),
                converged: at(10 * i as u64 + 2),
                took: Duration::from_millis(2_000),
                waited: Duration::from_millis(500),
                serving,
            })
            .collect();
        let files = vec![
            FileRecord {
                file: "1/haproxy_after_s1.cfg".into(),
                step: 1,
                what: What::HaproxyCfg,
            },
            FileRecord {
                file: "3/nodes_after_s1_stopped.log".into(),
                step: 4,
                what: What::Nodes,
            },
        ];
        render(&Report {
            task,
            cluster,
            config: "cluster.toml".into(),
            steps,
            files,
            serf_log: serf_log.map(String::from),
        })
    }

    #[test]
    fn lists_steps_files_and_a_merged_timeline() {
        let cluster = cluster("s");
        let log = "2023-11-14T22:13:21.000Z member-join ha balancer\n2023-11-14T22:13:31.250Z member-join s1 backend\n2023-11-14T22:13:31.500Z reload #1: +s1\n2023-11-14T22:14:01.000Z member-leave s1 backend\n";
        let text = report(&cluster, Some(log));
        assert!(
            text.starts_with("# task5: evidence collected by `cargo xtask collect-logs`\n"),
            "{text}"
        );
        assert!(
            text.contains("| 2 | 22:13:30.000 | start s1 | s1 | 2.0 s | 0.5 s |"),
            "{text}"
        );
        assert!(
            text.contains("| 5 | 22:14:00.000 | stop s1 | s2 | 2.0 s | 0.5 s |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| [`3/nodes_after_s1_stopped.log`](3/nodes_after_s1_stopped.log) | 5. stop s1 |"
            ),
            "{text}"
        );
        assert!(
            !text.contains("Names:"),
            "lab names are the configured ones"
        );
        let timeline = &text[text.find("## Timeline").unwrap()..];
        let order = [
            "1. start ha",
            "member-join ha",
            "2. start s1",
            "member-join s1",
            "reload #1: +s1",
            "HAProxy serves s1 (2.0 s)",
            "5. stop s1",
            "member-leave s1",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|t| {
                timeline
                    .find(t)
                    .unwrap_or_else(|| panic!("{t} in {timeline}"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{timeline}");
        assert!(
            timeline.contains("| 22:13:31.500 | reload | reload #1: +s1 |"),
            "{timeline}"
        );
    }

    #[test]
    fn names_the_mapping_and_a_missing_serf_log() {
        let cluster = cluster("web");
        let text = report(&cluster, None);
        assert!(text.contains("`s1` is `web1`, `s2` is `web2`"), "{text}");
        assert!(text.contains("could not be read"), "{text}");
        assert!(
            text.contains("one `server` line per live webapp (web1)"),
            "{text}"
        );
    }
}
