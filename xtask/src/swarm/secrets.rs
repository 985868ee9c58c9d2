//! The Swarm secrets: the Serf secrets file and the stats password, from the project's
//! files on this host (never in an image, env or the stack file). Swarm secrets cannot
//! change: a label holds a hash of the contents, so a differing copy is refused.
use std::collections::HashMap;

use anyhow::{bail, Context as _};
use cluster::{labels, Cluster};

use crate::context::{Ctx, UsageError};
use crate::engine::Engine;
use crate::{secrets, stack};

/// Label on a secret: a hash of its contents.
const CONTENTS: &str = "lbkit.contents";

/// Creates the missing secrets; returns every secret's id by name.
pub(crate) async fn ensure(
    ctx: &Ctx,
    cluster: &Cluster,
    engine: &Engine,
) -> anyhow::Result<HashMap<String, String>> {
    secrets::ensure_serf_key(ctx, cluster)?;
    secrets::stats_password(ctx, cluster)?;
    let existing = engine
        .secrets_with_labels(&[(labels::PROJECT, &cluster.project)])
        .await?;
    let mut ids = HashMap::new();
    for secret in cluster.swarm_secrets() {
        let file = secrets::swarm_secret_file(ctx, cluster, &secret.key);
        let contents =
            std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let hash = format!("{:016x}", stack::fnv1a(&contents));
        let found = existing
            .iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(&secret.name));
        if let Some(found) = found {
            // `docker stack deploy` makes them without the label: nothing to compare.
            let label = found
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(CONTENTS));
            if label.is_some_and(|l| *l != hash) {
                bail!(UsageError(format!(
                    "Swarm secret {} differs from {}; run `cargo xtask down` (it removes the services and secrets), then `up` again",
                    secret.name,
                    file.display()
                )));
            }
        } else {
            let labels = HashMap::from([
                (labels::PROJECT.to_string(), cluster.project.clone()),
                (CONTENTS.to_string(), hash),
            ]);
            engine
                .create_secret(&secret.name, &contents, labels)
                .await?;
        }
    }
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
