//! Resource figures of running containers (`docker stats --no-stream`).
use anyhow::Context as _;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::Engine;

impl Engine {
    /// Memory the container uses now, in bytes (the cgroup's usage, as the engine reports
    /// it); None when the engine has no figure (a stopped container).
    pub(crate) async fn memory_usage(&self, name: &str) -> anyhow::Result<Option<u64>> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = self.docker.stats(name, Some(options));
        let stats = stream
            .next()
            .await
            .transpose()
            .with_context(|| format!("reading the stats of container {name}"))?;
        Ok(stats.and_then(|s| s.memory_stats?.usage))
    }
}
