use clap::Args;

use crate::context::Ctx;

#[derive(Args)]
pub(crate) struct Status {}

impl Status {
    pub(crate) async fn run(self, _ctx: &Ctx) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
