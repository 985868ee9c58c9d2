//! The Swarm secrets: the Serf secrets file and the stats password, from the project's
//! files on this host (never in an image, env or the stack file). Swarm secrets cannot
//! change: a label holds a hash of the contents, so a differing copy is refused.
use std::collections::HashMap;

use anyhow::{bail, Context as _};
use cluster::{labels, Cluster, STACK_NAMESPACE};

use crate::context::{Ctx, UsageError};
use crate::engine::Engine;
use crate::secrets;

/// Label on a secret: a hash of its contents.
const CONTENTS: &str = "lbkit.contents";

/// Refuses (exit 2) a Swarm secret of the project whose contents differ from this host's
/// file (Swarm secrets cannot change): before anything is created.
pub(crate) async fn check(ctx: &Ctx, cluster: &Cluster, engine: &Engine) -> anyhow::Result<()> {
    let existing = engine
        .secrets_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?;
    for secret in cluster.swarm_secrets() {
        let file = secrets::swarm_secret_file(ctx, cluster, &secret.key);
        let label = existing
            .iter()
            .filter_map(|s| s.spec.as_ref())
            .find(|s| s.name.as_deref() == Some(&secret.name))
            .and_then(|s| s.labels.as_ref()?.get(CONTENTS));
        // `docker stack deploy` makes them without the label: nothing to compare.
        let Some(label) = label else { continue };
        let same = std::fs::read(&file).is_ok_and(|contents| *label == hash(&contents));
        if !same {
            bail!(UsageError(format!(
                "Swarm secret {} differs from {} (or the file is gone); run `cargo xtask down` (it removes the services and secrets), then `up` again",
                secret.name,
                file.display()
            )));
        }
    }
    Ok(())
}

fn hash(contents: &[u8]) -> String {
    format!("{:016x}", crate::deploy::stable_hash::fnv1a(contents))
}

/// Creates the missing secrets (after [`check`]); returns every secret's id by name.
pub(crate) async fn ensure(
    ctx: &Ctx,
    cluster: &Cluster,
    engine: &Engine,
) -> anyhow::Result<HashMap<String, String>> {
    secrets::ensure_serf_key(ctx, cluster)?;
    secrets::stats_password(ctx, cluster)?;
    let names: Vec<String> = engine
        .secrets_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .collect();
    for secret in cluster.swarm_secrets() {
        if names.contains(&secret.name) {
            continue;
        }
        let file = secrets::swarm_secret_file(ctx, cluster, &secret.key);
        let contents =
            std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let labels = HashMap::from([
            (labels::PROJECT.to_string(), cluster.project.clone()),
            (STACK_NAMESPACE.to_string(), cluster.project.clone()),
            (CONTENTS.to_string(), hash(&contents)),
        ]);
        engine
            .create_secret(&secret.name, &contents, labels)
            .await?;
    }
    let mut ids = HashMap::new();
    for secret in engine
        .secrets_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?
    {
        if let (Some(id), Some(name)) = (secret.id, secret.spec.and_then(|s| s.name)) {
            ids.insert(name, id);
        }
    }
    Ok(ids)
}
