//! `cargo xtask down`: remove what carries this project's label, and nothing else.
use clap::Args;

use crate::context::Ctx;
use crate::deploy;
use crate::deploy::one_engine;

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
            let engine = ctx.engine().await?;
            // Only the three tags the build makes, checked against the project label: images
            // a user built FROM ours inherit that label and are not ours to remove.
            for image in ["ha", "webapp", "base"] {
                let tag = cluster.image_tag(image);
                if engine.image_of_project(&tag, &cluster.project).await? {
                    engine.remove_image(&tag).await?;
                    println!("removed image {tag}");
                }
            }
            // The tag a rollout put on the image it replaced (for --rollback): only while
            // it still names the image that rollout recorded.
            let previous = one_engine::previous_tag(cluster);
            let tagged = engine.image(&previous).await?.and_then(|image| image.id);
            if let Some(id) = tagged {
                if one_engine::recorded_previous(ctx, cluster).as_ref() == Some(&id) {
                    engine.remove_image(&previous).await?;
                    println!("removed image tag {previous}");
                } else {
                    println!(
                        "kept image tag {previous}: it is not the image this project's last rollout tagged"
                    );
                }
            }
        }
        if removed.is_empty() && !self.images {
            println!("nothing of project {} to remove", cluster.project);
        }
        Ok(())
    }
}
