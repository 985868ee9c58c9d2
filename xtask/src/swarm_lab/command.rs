//! `cargo xtask swarm-lab up [--nodes N] | down`.
use clap::{Args, Subcommand};

use anyhow::bail;
use bollard::models::LocalNodeState;

use crate::context::{Ctx, UsageError};

use super::plan::DEFAULT_NODES;

#[derive(Args)]
pub(crate) struct SwarmLabCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Start N engines in containers, `<project>-node1`..`<project>-nodeN`, and form a
    /// swarm of them: node1 the manager (publishing ha's ports on 127.0.0.1), the others
    /// workers; wait until every node is Ready. Run again, it changes nothing, starts
    /// stopped nodes and creates missing ones; a larger N adds nodes, a smaller one is
    /// refused (run `swarm-lab down` first). Prints the manager's DOCKER_HOST last.
    Up {
        /// How many nodes (1 to 9).
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: u32,
    },
    /// Remove every node of the project's swarm lab, with its volume and socket folder.
    Down,
}

impl SwarmLabCmd {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        // The nodes are containers of this host's engine: with DOCKER_HOST still naming
        // the lab's manager (the README's `eval`), nodes would be sought in the wrong place.
        let local = ctx.engine().await?.swarm_local().await?;
        if local.state != LocalNodeState::INACTIVE {
            bail!(UsageError(format!(
                "swarm-lab runs on this host's engine, but the engine at {} is in a Swarm (state {}); unset DOCKER_HOST and run it again",
                std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".into()),
                local.state
            )));
        }
        match self.action {
            Action::Up { nodes } => super::up::up(ctx, nodes).await,
            Action::Down => super::down::down(ctx).await,
        }
    }
}
