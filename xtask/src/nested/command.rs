//! `cargo xtask nested up|down`: one nested engine for the cluster file's project, with
//! the project's images loaded and ha's ports published on the host's 127.0.0.1. Point
//! the toolkit at it with the DOCKER_HOST it prints.
use clap::{Args, Subcommand};

use crate::context::{Ctx, UsageError};
use crate::nested;

#[derive(Args)]
pub(crate) struct NestedCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Start the nested engine `<project>-engine` and load the project's images into it.
    Up,
    /// Remove it, with everything its engine held.
    Down,
}

impl NestedCmd {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.engine_cluster("nested", "for a Swarm use `cargo xtask swarm-lab`")?;
        let engine = ctx.engine().await?;
        let name = format!("{}-engine", cluster.project);
        match self.action {
            Action::Up => {
                // Inside the node, ha must listen on the node's own address: the node
                // publishes those ports on the host's 127.0.0.1, and nothing else.
                if !cluster.ha.bind.is_unspecified() {
                    anyhow::bail!(UsageError(format!(
                        "{}: ha.bind: a cluster in a nested engine is published by the node on 127.0.0.1; set bind = \"0.0.0.0\" (inside the node only)",
                        ctx.config_file()
                    )));
                }
                let mut ports = vec![cluster.ha.http_port, cluster.ha.stats_port];
                ports.extend(cluster.ha.tls.as_ref().map(|_| cluster.ha.https_port));
                let node = nested::ensure(ctx, engine, cluster, &name, ports, None).await?;
                nested::load_project_images(engine, &node.engine, cluster).await?;
                println!("nested engine {} is up", node.node);
                println!("DOCKER_HOST=unix://{}", node.socket.display());
                Ok(())
            }
            Action::Down => nested::remove(ctx, engine, cluster, &name).await,
        }
    }
}
