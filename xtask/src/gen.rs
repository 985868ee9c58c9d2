//! `cargo xtask gen`: render generated/docker-compose.yml, generated/stack.yml and
//! generated/haproxy.cfg (with a cluster's services, also routes.map and the s6 files the
//! compose file mounts), and remove what an earlier run wrote that this one does not.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use cluster::{Backend, Cluster, ComposeInputs, Node, StackInputs};

use crate::context::Ctx;
use crate::{secrets, tls};

#[derive(Args)]
pub(crate) struct Gen {
    /// Where to write the files.
    #[arg(long, default_value = "generated")]
    out: PathBuf,
    /// Write nothing; exit 1 when the files on disk differ from what would be generated.
    #[arg(long)]
    check: bool,
}

/// A generated file: its path under the output folder, its text, and whether it is a
/// program (an s6 `run` script the compose file mounts).
pub(crate) struct Generated {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) executable: bool,
}

impl Generated {
    fn file(name: &str, text: String) -> Generated {
        Generated {
            name: name.to_string(),
            text,
            executable: false,
        }
    }
}

impl Gen {
    pub(crate) fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let out = ctx.path(&self.out);
        let files = render_all(ctx, cluster, &out)?;
        let leftovers = leftovers(&out, &files)?;
        if self.check {
            return check(&out, &files, &leftovers);
        }
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        for file in &files {
            let path = out.join(&file.name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, &file.text)
                .with_context(|| format!("writing {}", path.display()))?;
            if file.executable {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("making {} executable", path.display()))?;
            }
            println!("wrote {}", path.display());
        }
        for path in &leftovers {
            remove_leftover(&out, path)?;
            println!("removed {} (no longer generated)", path.display());
        }
        let key = secrets::ensure_serf_key(ctx, cluster)?;
        println!("serf gossip key for the compose file: {}", key.display());
        secrets::stats_password(ctx, cluster)?;
        println!(
            "stats password for the stack file: {}",
            secrets::stats_password_path(ctx, cluster).display()
        );
        // The certificate the compose file mounts into ha: checked, or generated now.
        tls::server_pem(ctx, cluster)?;
        Ok(())
    }
}

pub(crate) fn read_template(ctx: &Ctx, name: &str) -> anyhow::Result<String> {
    let path = ctx.path("templates").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading template {}", path.display()))
}

/// Everything `gen` writes, rendered in memory first so nothing is half-written.
pub(crate) fn render_all(
    ctx: &Ctx,
    cluster: &Cluster,
    out: &Path,
) -> anyhow::Result<Vec<Generated>> {
    let inputs = ComposeInputs {
        serf_secret_file: relative_to(out, &secrets::serf_key_path(ctx, cluster)),
        tls_files: tls::compose_files(ctx, cluster)
            .into_iter()
            .map(|(host, inside)| (relative_to(out, &host), inside))
            .collect(),
    };
    let compose = cluster::render_compose(
        &read_template(ctx, "docker-compose.yml.j2")?,
        cluster,
        &inputs,
    )
    .context("rendering templates/docker-compose.yml.j2")?;
    // With the named services' webapps where a fresh `up` places them.
    let views = cluster.fresh_views().map_err(anyhow::Error::msg)?;
    let mut nodes = cluster.webapp_nodes(cluster.webapps.count);
    for view in &views {
        nodes.extend(view.webapp_nodes(view.webapps.count));
    }
    let haproxy = static_haproxy_for(ctx, cluster, &nodes)?;
    let stack = cluster::render_stack(
        &read_template(ctx, "stack.yml.j2")?,
        cluster,
        &StackInputs {
            images: cluster.swarm_latest_images(),
            secrets: cluster
                .swarm_secrets()
                .into_iter()
                .map(|secret| {
                    let file = secrets::swarm_secret_file(ctx, cluster, &secret.key);
                    (secret, relative_to(out, &file))
                })
                .collect(),
        },
    )
    .context("rendering templates/stack.yml.j2")?;
    let mut files = vec![
        Generated::file("stack.yml", stack),
        Generated::file("docker-compose.yml", compose),
        Generated::file("haproxy.cfg", haproxy),
    ];
    // The routes haproxy.cfg reads, where there are services to route to.
    if !cluster.services.is_empty() {
        let routes = cluster::render_routes_map(&read_template(ctx, "routes.map.j2")?, cluster)
            .context("rendering templates/routes.map.j2")?;
        files.push(Generated::file("routes.map", routes));
    }
    // The s6 services the compose file mounts where `up` would upload them.
    for view in std::iter::once(cluster).chain(&views) {
        for file in view.supplied_s6_files() {
            let name = view.compose_s6_file(&file);
            files.push(Generated {
                name: name.trim_start_matches("./").to_string(),
                executable: file.executable(),
                text: file.contents,
            });
        }
    }
    files.push(manifest(&files));
    Ok(files)
}

/// The lab's task 0 config: static, one server per webapp listed by hand (`webapps` of
/// them), from the same template and function as the agent's.
pub(crate) fn static_haproxy(ctx: &Ctx, cluster: &Cluster, webapps: u32) -> anyhow::Result<String> {
    static_haproxy_for(ctx, cluster, &cluster.webapp_nodes(webapps))
}

/// [`static_haproxy`] listing `nodes` by hand: the webapps of another cluster variant (a
/// second balancer's addresses would shift its own webapps' numbering).
pub(crate) fn static_haproxy_for(
    ctx: &Ctx,
    cluster: &Cluster,
    nodes: &[Node],
) -> anyhow::Result<String> {
    let backends: Vec<Backend> = nodes.iter().map(Backend::from).collect();
    cluster::render_haproxy(&read_template(ctx, "haproxy.cfg.j2")?, cluster, &backends)
        .context("rendering templates/haproxy.cfg.j2")
}

/// The list of what `gen` wrote last in its output folder, so that a later run removes
/// what it no longer writes (the routes map of a cluster without services now, the s6
/// files of a service gone) and nothing it did not write.
const MANIFEST: &str = ".gen-files";

/// `files` as the manifest lists them, one name per line.
fn manifest(files: &[Generated]) -> Generated {
    let mut names: Vec<&str> = files.iter().map(|file| file.name.as_str()).collect();
    names.sort_unstable();
    let mut text = String::from(
        "# Written by `cargo xtask gen`: the files it wrote here. A file listed here that a\n\
         # later run does not write is removed by it (`gen --check` reports it).\n",
    );
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    Generated::file(MANIFEST, text)
}

/// Files the last run's manifest lists that `files` no longer has and that still exist.
/// Only plain names below `out` count: a manifest edited to point elsewhere removes
/// nothing outside it.
fn leftovers(out: &Path, files: &[Generated]) -> anyhow::Result<Vec<PathBuf>> {
    let path = out.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let found = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|name| files.iter().all(|file| file.name != *name))
        .map(Path::new)
        .filter(|name| {
            name.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .map(|name| out.join(name))
        .filter(|path| path.symlink_metadata().is_ok())
        .collect();
    Ok(found)
}

/// Removes `file` and then each folder above it, up to `out`, that it left empty.
fn remove_leftover(out: &Path, file: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(file).with_context(|| format!("removing {}", file.display()))?;
    for dir in file.ancestors().skip(1).take_while(|dir| *dir != out) {
        // A folder that still holds something stays.
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
    Ok(())
}

fn check(out: &Path, files: &[Generated], leftovers: &[PathBuf]) -> anyhow::Result<()> {
    let mut stale: Vec<String> = files
        .iter()
        .filter(|file| {
            let path = out.join(&file.name);
            let text = std::fs::read_to_string(&path).ok();
            // s6 runs a `run` file only when it is executable.
            text.as_deref() != Some(file.text.as_str())
                || (file.executable && !is_executable(&path))
        })
        .map(|file| out.join(&file.name).display().to_string())
        .collect();
    stale.extend(
        leftovers
            .iter()
            .map(|path| format!("{} (no longer generated)", path.display())),
    );
    if stale.is_empty() {
        println!("generated files are up to date");
        Ok(())
    } else {
        anyhow::bail!(
            "stale generated files: {}; run `cargo xtask gen`",
            stale.join(", ")
        )
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0)
}

/// `target` as the compose file should name it: relative when both sit in the workspace,
/// so the committed file does not depend on where the repository is checked out.
fn relative_to(from_dir: &Path, target: &Path) -> String {
    let mut from = from_dir.components().peekable();
    let mut to = target.components().peekable();
    while let (Some(a), Some(b)) = (from.peek(), to.peek()) {
        if a != b {
            break;
        }
        from.next();
        to.next();
    }
    let mut relative = PathBuf::new();
    for _ in from {
        relative.push("..");
    }
    relative.extend(to);
    relative.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::{leftovers, manifest, relative_to, remove_leftover, Generated, MANIFEST};
    use std::path::Path;

    #[test]
    fn only_files_the_last_run_wrote_are_leftovers() {
        let out = tempfile::tempdir().unwrap();
        let generated = |names: &[&str]| -> Vec<Generated> {
            let mut files: Vec<Generated> = names
                .iter()
                .map(|name| Generated {
                    name: name.to_string(),
                    text: "x".into(),
                    executable: false,
                })
                .collect();
            files.push(manifest(&files));
            files
        };
        let before = generated(&["docker-compose.yml", "routes.map", "s6/api/app/run"]);
        for file in &before {
            let path = out.path().join(&file.name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &file.text).unwrap();
        }
        // A user's file, and a manifest line pointing outside: never touched.
        std::fs::write(out.path().join("s6/notes.txt"), "mine").unwrap();
        let manifest_path = out.path().join(MANIFEST);
        let mut text = std::fs::read_to_string(&manifest_path).unwrap();
        text.push_str("../outside\n");
        std::fs::write(&manifest_path, text).unwrap();

        let now = generated(&["docker-compose.yml"]);
        let found = leftovers(out.path(), &now).unwrap();
        assert_eq!(
            found,
            [
                out.path().join("routes.map"),
                out.path().join("s6/api/app/run")
            ]
        );
        for path in &found {
            remove_leftover(out.path(), path).unwrap();
        }
        assert!(!out.path().join("s6/api").exists());
        assert!(out.path().join("s6/notes.txt").is_file());
        assert!(out.path().join("docker-compose.yml").is_file());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(
                Path::new("/w/generated"),
                Path::new("/w/.state/lab4/serf.json")
            ),
            "../.state/lab4/serf.json"
        );
        assert_eq!(
            relative_to(Path::new("/w/a/b"), Path::new("/w/x")),
            "../../x"
        );
    }
}
