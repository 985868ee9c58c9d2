//! `cargo xtask down`: remove what carries this project's label, and nothing else.
use clap::Args;
use cluster::labels;

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
        let engine = ctx.engine().await?;
        let containers = stack::observe(engine, cluster).await?;
        // Webapps first, ha last: HAProxy keeps serving the remaining nodes meanwhile.
        let mut names: Vec<String> = containers.into_iter().map(|c| c.name).collect();
        names.sort_by_key(|n| (*n == cluster.ha.name, cluster::natural_key(n).1));
        names.reverse();
        names.sort_by_key(|n| *n == cluster.ha.name);
        for name in &names {
            stack::stop_and_remove(engine, name).await?;
            println!("removed container {name}");
        }
        for network in engine.networks().await? {
            let ours = network.labels.as_ref().and_then(|l| l.get(labels::PROJECT))
                == Some(&cluster.project);
            if let (true, Some(name)) = (ours, network.name) {
                engine.remove_network(&name).await?;
                println!("removed network {name}");
            }
        }
        if self.images {
            for (id, tags) in engine.project_images(&cluster.project).await? {
                engine.remove_image(&id).await?;
                let name = tags.first().cloned().unwrap_or(id);
                println!("removed image {name}");
            }
        }
        if names.is_empty() {
            println!("no container of project {} was running", cluster.project);
        }
        Ok(())
    }
}
