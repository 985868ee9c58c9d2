//! The HAProxy stats page as evidence: a PNG from headless Chromium when it is installed,
//! else the page's HTML and CSV (a clear line says so). Only the stats port published on
//! the host (127.0.0.1 by default) is ever opened.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use cluster::Cluster;
use xshell::{cmd, Shell};

use super::capture::write;
use crate::{haproxy_stats, process};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Debian calls it `chromium`, other distributions `chromium-browser`.
pub(crate) fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Writes `png` (relative to `dir`) or, without Chromium, the `.html` and `.csv` next to
/// where it would be. Returns the files written, relative to `dir`.
pub(crate) async fn stats_page(
    sh: &Shell,
    cluster: &Cluster,
    dir: &Path,
    png: &str,
) -> anyhow::Result<Vec<String>> {
    let url = haproxy_stats::stats_url(cluster);
    match chromium() {
        Some(chromium) => {
            screenshot(sh, &chromium, &url, &dir.join(png)).await?;
            Ok(vec![png.to_string()])
        }
        None => {
            let stem = png.strip_suffix(".png").unwrap_or(png);
            let (html, csv) = (format!("{stem}.html"), format!("{stem}.csv"));
            println!("chromium is not installed (apt-get install chromium): saving the stats page as {html} and {csv} instead of {png}");
            write(dir, &html, &haproxy_stats::fetch_page(cluster, "/").await?)?;
            write(dir, &csv, &haproxy_stats::fetch_csv(cluster).await?)?;
            Ok(vec![html, csv])
        }
    }
}

async fn screenshot(sh: &Shell, chromium: &Path, url: &str, file: &Path) -> anyhow::Result<()> {
    // A profile of its own: a user's running browser or a stale lock cannot interfere.
    let profile = std::env::temp_dir().join(format!("lbkit-chromium-{}", std::process::id()));
    let size = "--window-size=1280,1000";
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let screenshot_arg = format!("--screenshot={}", file.display());
    let command = cmd!(
        sh,
        "{chromium} --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run {size} {profile_arg} {screenshot_arg} {url}"
    );
    // A headless browser that hangs must not hang the whole run.
    let output = process::output(command, Duration::from_secs(90)).await;
    let _ = std::fs::remove_dir_all(&profile);
    let output = output?;
    let png = std::fs::read(file).unwrap_or_default();
    if !output.status.success() || !png.starts_with(PNG_SIGNATURE) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "chromium did not save a screenshot of {url} ({}); its last lines:\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}
