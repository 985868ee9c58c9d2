//! Progress for long work: spinners on a terminal, nothing in CI logs (plain lines only).
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// True when progress bars should be drawn: stdout is a terminal and we are not in CI.
pub(crate) fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("CI").is_none()
}

/// A group of spinner lines (one per image, per node...) hidden when not interactive.
pub(crate) fn multi() -> MultiProgress {
    let target = if interactive() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    MultiProgress::with_draw_target(target)
}

/// One spinner line: `{prefix} {message} {elapsed}`.
pub(crate) fn spinner(multi: &MultiProgress, prefix: impl Into<String>) -> ProgressBar {
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<10} {wide_msg} {elapsed:>4}")
            .expect("static template"),
    );
    bar.set_prefix(prefix.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
