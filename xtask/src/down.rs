//! `cargo xtask down`: remove what carries this project's label, and nothing else.
use clap::Args;

use crate::context::Ctx;
use crate::stack;

#[derive(Args)]
pub(crate) struct Down {
    /// Also remove the project's images (the imported bootstrap base is kept).
    #[arg(long)]
    images: bool,
}

impl Down {
    pub(crate) async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let cluster = ctx.cluster()?;
        let removed = stack::remove_stack(ctx, cluster).await?;
        for what in &removed {
            println!("removed {what}");
        }
        if self.images {
            let engine = ctx.engine().await?;
            for (id, tags) in engine.project_images(&cluster.project).await? {
                engine.remove_image(&id).await?;
                let name = tags.first().cloned().unwrap_or(id);
                println!("removed image {name}");
            }
        }
        if removed.is_empty() {
            println!("nothing of project {} to remove", cluster.project);
        }
        Ok(())
    }
}
