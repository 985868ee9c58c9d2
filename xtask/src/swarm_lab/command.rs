//! `cargo xtask swarm-lab up|down` (placeholder, being written).
use clap::Args;

use crate::context::Ctx;

#[derive(Args)]
pub(crate) struct SwarmLabCmd {}

impl SwarmLabCmd {
    pub(crate) async fn run(self, _ctx: &Ctx) -> anyhow::Result<()> {
        anyhow::bail!("swarm-lab is not written yet")
    }
}
