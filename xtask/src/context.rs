//! What every command gets: the shell, the project root, the loaded cluster, and the
//! engine client (connected on first use, so `gen` works without Docker).
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cluster::{Cluster, ConfigError};
use tokio::sync::OnceCell;
use xshell::Shell;

use crate::engine::Engine;

pub(crate) struct Ctx {
    pub(crate) sh: Shell,
    /// The workspace root: templates/, images/ and generated/ are found from here.
    pub(crate) root: PathBuf,
    pub(crate) config_path: PathBuf,
    cluster: Result<Cluster, ConfigError>,
    engine: OnceCell<Engine>,
}

/// Bad input from the user: exit code 2, message printed as is.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    let bad_input = err.chain().any(|cause| {
        cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
    });
    if bad_input {
        2
    } else {
        1
    }
}

impl Ctx {
    pub(crate) fn new(config_path: PathBuf) -> anyhow::Result<Ctx> {
        let sh = Shell::new().context("creating the shell")?;
        let root = project_root();
        sh.change_dir(&root);
        // `cargo xtask` keeps the caller's directory: from a subfolder, the default
        // cluster.toml is the workspace's.
        let config_path = if config_path.is_relative()
            && !config_path.exists()
            && root.join(&config_path).exists()
        {
            root.join(config_path)
        } else {
            config_path
        };
        let cluster = load_cluster(&config_path)?;
        Ok(Ctx {
            sh,
            root,
            config_path,
            cluster,
            engine: OnceCell::new(),
        })
    }

    /// The validated cluster; an invalid file is reported (exit 2) by the commands that
    /// need it, so `ci` still runs with a broken cluster.toml.
    pub(crate) fn cluster(&self) -> anyhow::Result<&Cluster> {
        self.cluster.as_ref().map_err(|err| err.clone().into())
    }

    /// The cluster, for a command that runs on one engine only: a Swarm cluster file is
    /// refused (exit 2) with what to use instead.
    pub(crate) fn engine_cluster(&self, command: &str, instead: &str) -> anyhow::Result<&Cluster> {
        let cluster = self.cluster()?;
        if cluster.deploy.is_swarm() {
            return Err(UsageError(format!(
                "{}: deploy.target = \"swarm\": `cargo xtask {command}` runs on one engine only; {instead}",
                self.config_file()
            ))
            .into());
        }
        Ok(cluster)
    }

    pub(crate) async fn engine(&self) -> anyhow::Result<&Engine> {
        self.engine.get_or_try_init(Engine::connect).await
    }

    /// The cluster file as the user named it, for messages.
    pub(crate) fn config_file(&self) -> String {
        self.config_path.display().to_string()
    }

    pub(crate) fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }
}

fn load_cluster(config_path: &Path) -> anyhow::Result<Result<Cluster, ConfigError>> {
    let text = match std::fs::read_to_string(config_path) {
        Ok(text) => text,
        Err(err) => {
            return Ok(Err(ConfigError {
                file: config_path.display().to_string(),
                line: None,
                key: String::new(),
                message: format!(
                    "cannot read it ({err}); pass an existing file with --config PATH"
                ),
            }))
        }
    };
    Ok(cluster::parse(&text, &config_path.display().to_string()))
}

/// `cargo xtask` runs from anywhere in the workspace; the root is xtask's parent.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}
