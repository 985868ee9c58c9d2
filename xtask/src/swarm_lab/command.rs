//! `cargo xtask swarm-lab up [--nodes N] | down`.
use clap::{Args, Subcommand};

use crate::context::Ctx;

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
        match self.action {
            Action::Up { nodes } => super::up::up(ctx, nodes).await,
            Action::Down => super::down::down(ctx).await,
        }
    }
}
