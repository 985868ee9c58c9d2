//! The timeline as an SVG: servers UP (step line, left axis) and failed requests per
//! second (bars, right axis) over the run, with a shaded band per scenario. Written by
//! hand: two series do not justify a plotting crate's compile time.
use std::fmt::Write as _;

use super::timeline::Timeline;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 50.0;
const UP_COLOR: &str = "#1f77b4";
const FAILED_COLOR: &str = "#d62728";

pub(crate) fn svg(timeline: &Timeline) -> String {
    let span = timeline.points.len().max(1) as f64;
    let max_up = timeline
        .points
        .iter()
        .filter_map(|p| p.servers_up)
        .max()
        .unwrap_or(0)
        .max(1) as f64
        + 1.0;
    let max_failed = timeline.points.iter().map(|p| p.failed).max().unwrap_or(0);
    // 5, 10, 20, 50...: five whole-number ticks.
    let failed_top = nice_ceiling(max_failed.max(5)) as f64;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / span * plot_w;
    let y_up = |v: f64| TOP + plot_h - v / max_up * plot_h;
    let y_failed = |v: f64| TOP + plot_h - v / failed_top * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="24" font-size="16" font-weight="bold">Servers UP and failed requests over time</text>
<text x="{LEFT}" y="44" fill="#555">Shaded bands: the scenarios, numbered as in results.md. Gaps in the line: HAProxy's stats did not answer.</text>"##
    );

    // Scenario bands, alternately shaded, each named by a vertical label (a short phase
    // would not fit a horizontal one).
    for (i, phase) in timeline.phases.iter().enumerate() {
        let (x0, x1) = (x(phase.start.as_secs_f64()), x(phase.end.as_secs_f64()));
        let fill = if i % 2 == 0 { "#f2f2f2" } else { "#e4e4e4" };
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="{fill}"/>"#,
            (x1 - x0).max(0.5)
        );
        let _ = writeln!(
            out,
            r##"<text transform="translate({:.1} {:.1}) rotate(90)" fill="#555">{}</text>"##,
            x0 + 4.0,
            TOP + 6.0,
            escape(&phase.name)
        );
    }
    // Axes, grid and ticks.
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    let up_step = ((max_up / 6.0).ceil()).max(1.0);
    let mut v = 0.0;
    while v <= max_up {
        let y = y_up(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ccc" stroke-dasharray="2,3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{UP_COLOR}">{v}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
        v += up_step;
    }
    for tick in 0..=5 {
        let value = failed_top * f64::from(tick) / 5.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" fill="{FAILED_COLOR}">{}</text>"#,
            LEFT + plot_w + 6.0,
            y_failed(value) + 4.0,
            value
        );
    }
    let time_step = nice_ceiling((span / 10.0).ceil() as u64).max(1);
    let mut t = 0;
    while (t as f64) <= span {
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{t}</text>"##,
            x(t as f64),
            TOP + plot_h + 16.0
        );
        t += time_step;
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">time since the start of the run (s)</text>
<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="{UP_COLOR}">servers UP in HAProxy</text>
<text transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle" fill="{FAILED_COLOR}">failed requests per second</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        TOP + plot_h / 2.0,
        WIDTH - 14.0,
        TOP + plot_h / 2.0
    );

    // Failed requests: one bar per second that had any.
    let bar = plot_w / span;
    for p in timeline.points.iter().filter(|p| p.failed > 0) {
        let top = y_failed(p.failed as f64);
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{FAILED_COLOR}" opacity="0.8"><title>{} s: {} failed, {} ok</title></rect>"#,
            x(p.t as f64),
            bar.max(1.5),
            TOP + plot_h - top,
            p.t,
            p.failed,
            p.ok
        );
    }

    // Servers UP: a step line, broken where HAProxy's stats did not answer.
    for run in up_runs(timeline) {
        let mut path = String::new();
        for (i, (t, v)) in run.iter().enumerate() {
            let (px, py) = (x(*t as f64), y_up(f64::from(*v)));
            if i == 0 {
                let _ = write!(path, "M{px:.1},{py:.1}");
            } else {
                let _ = write!(path, " H{px:.1} V{py:.1}");
            }
        }
        if let Some((t, _)) = run.last() {
            let _ = write!(path, " H{:.1}", x(*t as f64 + 1.0));
        }
        let _ = writeln!(
            out,
            r#"<path d="{path}" fill="none" stroke="{UP_COLOR}" stroke-width="2"/>"#
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Consecutive seconds with a servers-UP value.
fn up_runs(timeline: &Timeline) -> Vec<Vec<(u64, u32)>> {
    let mut runs = vec![Vec::new()];
    for p in &timeline.points {
        match p.servers_up {
            Some(v) => runs.last_mut().expect("never empty").push((p.t, v)),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// The smallest 1, 2 or 5 times a power of ten at or above `n`: readable axis limits.
fn nice_ceiling(n: u64) -> u64 {
    let mut scale = 1;
    loop {
        for step in [1, 2, 5] {
            if step * scale >= n {
                return step * scale;
            }
        }
        scale *= 10;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::timeline::{Phase, Point};

    #[test]
    fn draws_bands_bars_and_a_broken_step_line() {
        let point = |t, up, failed| Point {
            t,
            servers_up: up,
            ok: 10,
            failed,
        };
        let timeline = Timeline {
            bucket_s: 1,
            phases: vec![Phase {
                name: "reloads <restart>".into(),
                start: Duration::ZERO,
                end: Duration::from_secs(4),
            }],
            points: vec![
                point(0, Some(2), 0),
                point(1, Some(3), 4),
                point(2, None, 0),
                point(3, Some(3), 0),
            ],
        };
        let svg = svg(&timeline);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(">reloads &lt;restart&gt;</text>"));
        assert_eq!(svg.matches("<path ").count(), 2, "the gap breaks the line");
        assert_eq!(svg.matches("failed, 10 ok").count(), 1, "one bar");
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(1), 1);
    }
}
