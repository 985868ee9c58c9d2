//! `cargo xtask down`: remove what carries this project's label, and nothing else.
use clap::Args;

use crate::context::Ctx;
use crate::deploy;

#[derive(Args)]
pub(crate) struct Down {
    /// Also remove the project's images (the imported bootstrap base is kept).
    #[arg(long)]
    images: bool,
}

impl Down {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let removed = deploy::Deploy::of(cluster).remove(ctx, cluster).await?;
        for what in &removed {
            println!("removed {what}");
        }
        if self.images {
            for line in deploy::Deploy::of(cluster)
                .remove_images(ctx, cluster)
                .await?
            {
                println!("{line}");
            }
        }
        if removed.is_empty() && !self.images {
            println!("nothing of project {} to remove", cluster.project);
        }
        Ok(())
    }
}
