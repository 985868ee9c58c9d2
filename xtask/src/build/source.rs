//! The image base is built FROM: the cluster's `[base] image` when the engine has it or
//! can pull it, else a Debian root filesystem made with debootstrap and imported.
//!
//! The imported image is tagged `lbkit/bootstrap-<suite>:latest`, not per project: it
//! depends only on the suite, takes half a minute to make, and every project (the tests'
//! too) can share it. It is labelled `lbkit.role=bootstrap` without a project, so no
//! project's `down --images` removes it; `docker rmi` it to make a fresh one.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use cluster::Cluster;
use xshell::{cmd, Shell};

use super::report::Line;
use super::tarball;
use crate::engine::Engine;
use crate::process;

/// Long enough for a reachable registry to answer, short enough not to stall CI for long.
const PULL_TIMEOUT: Duration = Duration::from_secs(20);
/// debootstrap and apt-get: about 30 s usually, far more on a slow mirror, never this long.
const SLOW_PROGRAM: Duration = Duration::from_secs(20 * 60);

pub(crate) fn bootstrap_tag(suite: &str) -> String {
    format!("lbkit/bootstrap-{suite}:latest")
}

/// Finds or makes the image base is built FROM and returns its name.
pub(crate) async fn resolve(
    sh: &Shell,
    engine: &Engine,
    cluster: &Cluster,
    log_dir: &Path,
    line: &Line,
) -> anyhow::Result<String> {
    let wanted = &cluster.base.image;
    if engine.image_exists(wanted).await? {
        line.say(format!("from {wanted}"));
        return Ok(wanted.clone());
    }
    let bootstrapped = bootstrap_tag(&cluster.base.suite);
    // One bootstrap at a time on this machine (parallel builds, tests): the others wait,
    // then find the image imported.
    let lock_path = log_dir.join(format!("bootstrap-{}.lock", cluster.base.suite));
    let _lock = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        anyhow::Ok(file)
    })
    .await
    .context("waiting for the bootstrap lock")??;
    // Checked before pulling: with no registry, the pull would only fail again.
    if engine.image_exists(&bootstrapped).await? {
        line.say(format!("from {bootstrapped} (imported earlier)"));
        return Ok(bootstrapped);
    }
    line.say(format!("pulling {wanted}"));
    match engine.pull_image(wanted, PULL_TIMEOUT).await {
        Ok(()) => {
            line.say(format!("from {wanted} (pulled)"));
            return Ok(wanted.clone());
        }
        Err(err) => line.say(format!(
            "cannot pull {wanted} ({err:#}); bootstrapping Debian {} with debootstrap",
            cluster.base.suite
        )),
    }
    bootstrap(
        sh,
        engine,
        &cluster.base.suite,
        &bootstrapped,
        log_dir,
        line,
    )
    .await
    .with_context(|| format!("bootstrapping the base image {bootstrapped}"))?;
    Ok(bootstrapped)
}

async fn bootstrap(
    sh: &Shell,
    engine: &Engine,
    suite: &str,
    tag: &str,
    log_dir: &Path,
    line: &Line,
) -> anyhow::Result<()> {
    let debootstrap = ensure_debootstrap(sh, line).await?;
    // Under target/ rather than /tmp: debootstrap chroots into it, and /tmp is often noexec.
    let rootfs = Scratch::new(log_dir.join(format!("rootfs-{suite}")))?;

    line.say(format!(
        "debootstrap --variant=minbase {suite} (about 30 s)"
    ));
    let path = rootfs.0.as_path();
    let output = process::output(
        cmd!(sh, "{debootstrap} --variant=minbase {suite} {path}")
            .env("DEBIAN_FRONTEND", "noninteractive"),
        SLOW_PROGRAM,
    )
    .await?;
    let log = log_dir.join(format!("debootstrap-{suite}.log"));
    process::logged(&output, "debootstrap", &log)?;

    line.say(format!("importing the root filesystem as {tag}"));
    let path = rootfs.0.clone();
    let tar = tokio::task::spawn_blocking(move || tarball::rootfs(&path))
        .await
        .context("waiting for the archiver")??;
    drop(rootfs);
    let label = format!("LABEL {}=bootstrap", cluster::labels::ROLE);
    let changes = vec![r#"CMD ["bash"]"#, label.as_str()];
    engine.import_rootfs(tag, tar, changes).await?;
    Ok(())
}

/// A scratch folder, emptied first (a killed run may have left one) and removed when
/// dropped, on every path out of `bootstrap`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(path: PathBuf) -> anyhow::Result<Scratch> {
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// debootstrap's path; installed with apt-get when missing and we may (root).
async fn ensure_debootstrap(sh: &Shell, line: &Line) -> anyhow::Result<PathBuf> {
    if let Some(path) = find_program("debootstrap") {
        return Ok(path);
    }
    let root = is_root();
    if root && find_program("apt-get").is_some() {
        line.say("debootstrap is missing: installing it with apt-get (we are root)");
        for step in [
            cmd!(sh, "apt-get update -qq"),
            cmd!(sh, "apt-get install -y -qq debootstrap"),
        ] {
            let shown = step.to_string();
            let step = step.env("DEBIAN_FRONTEND", "noninteractive");
            let output = process::output(step, SLOW_PROGRAM).await?;
            if !output.status.success() {
                bail!(
                    "installing debootstrap: {shown} failed ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim_end()
                );
            }
        }
        return find_program("debootstrap")
            .context("apt-get installed debootstrap but it is not on PATH");
    }
    if root {
        bail!("no registry is reachable and debootstrap is missing: install debootstrap, or load a Debian image into the engine (docker load)");
    }
    bail!("no registry is reachable and bootstrapping a Debian image needs root: run `sudo apt-get install debootstrap` and then this command as root, or load a Debian image into the engine (docker load)")
}

/// Looks on PATH and in the sbin folders, which a non-login root shell may not have on PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    // The owner of /proc/self is our effective uid: no libc call, no external program.
    std::fs::metadata("/proc/self")
        .is_ok_and(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
}
