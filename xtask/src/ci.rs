use clap::Args;

use crate::context::Ctx;

#[derive(Args)]
pub(crate) struct Ci {}

impl Ci {
    pub(crate) fn run(self, _ctx: &Ctx) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
