//! `cargo xtask ci`: what CI runs, runnable by anyone: formatting, lints, every test
//! (the end-to-end ones run against the real Docker engine).
use clap::Args;
use xshell::cmd;

use crate::context::Ctx;

#[derive(Args)]
pub(crate) struct Ci {}

impl Ci {
    pub(crate) fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let sh = &ctx.sh;
        cmd!(sh, "cargo fmt --all --check").run()?;
        cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
        cmd!(sh, "cargo test --workspace").run()?;
        Ok(())
    }
}
