//! `cargo xtask ci`: what CI runs, runnable by anyone: formatting, lints, every test
//! (the end-to-end ones run against the real Docker engine, which it requires: without
//! it `cargo test` alone skips them, `ci` never does).
use anyhow::bail;
use clap::Args;
use xshell::cmd;

use crate::context::Ctx;

#[derive(Args)]
pub(crate) struct Ci {}

impl Ci {
    pub(crate) fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let sh = &ctx.sh;
        // At once, before minutes of building: the end-to-end tests need the engine.
        let format = "{{.ServerVersion}}";
        let info = cmd!(sh, "docker info --format {format}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run();
        if info.is_err() {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
            bail!(
                "the Docker engine at {host} is unreachable: `cargo xtask ci` runs every end-to-end test against it; start it or fix DOCKER_HOST (plain `cargo test --workspace` runs the fast tests without it)"
            );
        }
        cmd!(sh, "cargo fmt --all --check").run()?;
        cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
        cmd!(sh, "cargo test --workspace")
            .env("LBKIT_REQUIRE_ENGINE", "1")
            .run()?;
        Ok(())
    }
}
