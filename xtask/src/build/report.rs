//! What the user sees: one spinner line per job on a terminal, plain milestone lines
//! otherwise, and the closing table.
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar};

use super::job::Image;
use super::Outcome;
use crate::progress;
use crate::table::{self, Column};

/// One job's line (an image, the binaries).
pub(crate) struct Line {
    bar: ProgressBar,
    name: String,
    plain: bool,
}

impl Line {
    pub(crate) fn new(multi: &MultiProgress, name: &str) -> Line {
        Line {
            bar: progress::spinner(multi, name),
            name: name.to_string(),
            plain: !progress::interactive(),
        }
    }

    /// Restarts the elapsed time: the job starts now, not when the line appeared.
    pub(crate) fn start(&self, message: impl Into<String>) {
        self.bar.reset_elapsed();
        self.say(message);
    }

    /// The job's current state: on the spinner line, or one plain line (CI logs).
    pub(crate) fn say(&self, message: impl Into<String>) {
        let message = message.into();
        self.plain_line(&message);
        self.bar.set_message(message);
    }

    /// Fine-grained progress (a Dockerfile step): on the spinner only, CI logs stay short.
    pub(crate) fn step(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    pub(crate) fn done(&self, message: impl Into<String>) {
        let message = message.into();
        self.plain_line(&message);
        self.bar.finish_with_message(message);
    }

    /// Without a terminal (CI), milestones are plain lines instead of spinner updates.
    fn plain_line(&self, message: &str) {
        if self.plain {
            println!("{}: {message}", self.name);
        }
    }

    /// A block of text (a failing step's output) above the spinner lines.
    pub(crate) fn print(&self, text: impl AsRef<str>) {
        self.bar.suspend(|| eprintln!("{}", text.as_ref()));
    }

    /// Marks the job failed, unless a more precise failure was already shown.
    pub(crate) fn failed(&self, message: impl Into<String>) {
        if self.bar.is_finished() {
            return;
        }
        let message = message.into();
        self.plain_line(&message);
        self.bar.abandon_with_message(message);
    }
}

/// One row of the closing table.
pub(crate) struct Row {
    pub(crate) image: &'static str,
    pub(crate) result: &'static str,
    pub(crate) size: Option<i64>,
    pub(crate) time: Option<Duration>,
    pub(crate) check: String,
}

/// The table printed at the end; `unique` is the bytes all images take together.
pub(crate) fn table(rows: &[Row], unique: Option<i64>, total: Duration) -> String {
    let mut cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.image.to_string(),
                row.result.to_string(),
                row.size.map_or_else(|| "-".to_string(), megabytes),
                row.time.map_or_else(|| "-".to_string(), seconds),
                row.check.clone(),
            ]
        })
        .collect();
    cells.push(vec![
        "all".to_string(),
        String::new(),
        unique.map_or_else(|| "-".to_string(), megabytes),
        seconds(total),
        "(unique bytes, shared layers counted once)".to_string(),
    ]);
    let columns = [
        Column::left("image", 8),
        Column::left("result", 7),
        Column::right("size", 9),
        Column::right("time", 8),
        Column::left("check", 0).gap(2),
    ];
    table::render(&columns, &cells)
}

/// Decimal megabytes, as `docker images` shows sizes.
fn megabytes(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub(crate) fn seconds(time: Duration) -> String {
    format!("{:.1} s", time.as_secs_f64())
}

pub(crate) fn summary(outcomes: &[(Image, Outcome); 3], total: Duration) -> String {
    let rows: Vec<Row> = outcomes
        .iter()
        .map(|(image, outcome)| match outcome {
            Outcome::Built(built) => Row {
                image: image.name(),
                result: if built.cached { "cached" } else { "built" },
                size: Some(built.size),
                time: Some(built.time),
                check: match &built.check {
                    Ok(version) => version.clone(),
                    Err(_) => "FAILED".to_string(),
                },
            },
            Outcome::Failed(_) | Outcome::Skipped => Row {
                image: image.name(),
                result: if matches!(outcome, Outcome::Skipped) {
                    "skipped"
                } else {
                    "failed"
                },
                size: None,
                time: None,
                check: String::new(),
            },
        })
        .collect();
    table(&rows, unique_bytes(outcomes), total)
}

/// The bytes the three images take together: base once, plus what each child adds on top
/// of it (its layers start with base's).
fn unique_bytes(outcomes: &[(Image, Outcome); 3]) -> Option<i64> {
    let [(_, Outcome::Built(base)), rest @ ..] = outcomes else {
        return None;
    };
    let mut total = base.size;
    for (_, outcome) in rest {
        let Outcome::Built(built) = outcome else {
            return None;
        };
        let on_top = built.layers.starts_with(&base.layers);
        total += if on_top {
            built.size - base.size
        } else {
            built.size
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up() {
        let rows = [
            Row {
                image: "base",
                result: "cached",
                size: Some(127_400_000),
                time: Some(Duration::from_millis(400)),
                check: String::new(),
            },
            Row {
                image: "webapp",
                result: "built",
                size: Some(131_000_000),
                time: Some(Duration::from_millis(2500)),
                check: "webapp 0.1.0".to_string(),
            },
        ];
        let table = table(&rows, Some(131_000_000), Duration::from_secs(3));
        let expected = [
            "image    result       size     time  check",
            "base     cached   127.4 MB    0.4 s",
            "webapp   built    131.0 MB    2.5 s  webapp 0.1.0",
            "all               131.0 MB    3.0 s  (unique bytes, shared layers counted once)",
        ];
        assert_eq!(table.lines().collect::<Vec<_>>(), expected);
    }
}
