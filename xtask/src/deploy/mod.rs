//! Where a cluster runs: one Docker engine, or a Swarm of them. `up`, `scale`, `status`
//! and `down` talk to a [`Deploy`], each target's half of those commands; [`Deploy::of`]
//! is where they pick it. (What differs only in data, such as where the stats page is published
//! and whether it asks for a password, the model answers: `Cluster::deploy`.)
pub(crate) mod app_input;
pub(crate) mod neighbours;
pub(crate) mod network;
pub(crate) mod one_engine;
pub(crate) mod serving;
pub(crate) mod stable_hash;
mod summary;
pub(crate) mod swarm;
mod timings;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::Cluster;

use crate::context::Ctx;
use crate::engine::Engine;
pub(crate) use timings::Timings;

/// What `up` asks of a target.
pub(crate) struct UpRequest {
    pub(crate) timeout: Duration,
    /// Put this service's previous image back (`webapps`: the default service's).
    pub(crate) rollback: Option<String>,
    /// Raise the host's neighbour-table thresholds when the cluster needs it.
    pub(crate) tune_host: Option<neighbours::TuneHost>,
}

/// What `scale` asks of a target.
pub(crate) struct ScaleRequest {
    pub(crate) webapps: u32,
    pub(crate) timeout: Duration,
    pub(crate) tune_host: Option<neighbours::TuneHost>,
}

/// One node of the cluster as its target runs it, for `status`.
#[derive(Default)]
pub(crate) struct NodeStatus {
    pub(crate) name: String,
    /// The container's (or the Swarm task's) state.
    pub(crate) state: String,
    pub(crate) health: String,
    /// The engine's host, or on a Swarm the node running the task.
    pub(crate) node: String,
    /// Empty where the target gives none (a Swarm task); Serf tells it then.
    pub(crate) ip: String,
}

/// The nodes, and ha's container with the engine it runs on (or why it cannot be reached).
pub(crate) struct ClusterStatus {
    pub(crate) members: Vec<NodeStatus>,
    pub(crate) ha: anyhow::Result<(Engine, String)>,
}

/// When the new webapps started, joined and were UP, and how many serve.
pub(crate) struct Scaled {
    pub(crate) timings: Timings,
    /// The new webapps' start times, from `timings.start`.
    pub(crate) started: BTreeMap<String, Duration>,
    pub(crate) serving: usize,
}

/// Where the cluster runs, as `deploy.target` says: a closed set, so an enum. Each
/// command below is that target's half of `up`, `scale`, `status` and `down`; both print
/// what they do in the same shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deploy {
    OneEngine,
    Swarm,
}

impl Deploy {
    pub(crate) fn of(cluster: &Cluster) -> Deploy {
        match cluster.deploy.target {
            cluster::DeployTarget::Engine => Deploy::OneEngine,
            cluster::DeployTarget::Swarm => Deploy::Swarm,
        }
    }

    /// `up`: create or converge the stack, wait until HAProxy serves exactly the declared
    /// webapps, print where it is published.
    pub(crate) async fn up(
        self,
        ctx: &Ctx,
        cluster: &Cluster,
        request: &UpRequest,
    ) -> anyhow::Result<()> {
        match self {
            Deploy::OneEngine => one_engine::ops::up(ctx, cluster, request).await,
            Deploy::Swarm => swarm::ops::up(ctx, cluster, request).await,
        }
    }

    /// `scale`: run `request.webapps` webapps, timing each new one's phases.
    pub(crate) async fn scale(
        self,
        ctx: &Ctx,
        cluster: &Cluster,
        request: &ScaleRequest,
    ) -> anyhow::Result<Scaled> {
        match self {
            Deploy::OneEngine => one_engine::ops::scale_to(ctx, cluster, request).await,
            Deploy::Swarm => swarm::ops::scale_to(ctx, cluster, request).await,
        }
    }

    /// Service `name` of `cluster` as a cluster of its own (its app, health and backend)
    /// with `webapps` webapps, placed as this target places them: what `scale` converges
    /// for one service. The default service (`webapps`) is the cluster itself.
    pub(crate) async fn service(
        self,
        ctx: &Ctx,
        cluster: &Cluster,
        name: &str,
        webapps: u32,
    ) -> anyhow::Result<Cluster> {
        match self {
            Deploy::OneEngine => one_engine::services::view(ctx, cluster, name, webapps).await,
            // Swarm places the tasks (and gives their addresses) itself.
            Deploy::Swarm => cluster
                .view_of(name, BTreeMap::new())
                .ok_or_else(|| anyhow::anyhow!("service {name} is not declared")),
        }
    }

    /// `status`: the nodes as the target runs them.
    pub(crate) async fn observe(
        self,
        ctx: &Ctx,
        cluster: &Cluster,
    ) -> anyhow::Result<ClusterStatus> {
        match self {
            Deploy::OneEngine => one_engine::ops::observe(ctx, cluster).await,
            Deploy::Swarm => swarm::ops::observe(ctx, cluster).await,
        }
    }

    /// `down --images`: the images the toolkit made for the project; what was done, one
    /// line each.
    pub(crate) async fn remove_images(
        self,
        ctx: &Ctx,
        cluster: &Cluster,
    ) -> anyhow::Result<Vec<String>> {
        match self {
            Deploy::OneEngine => one_engine::ops::remove_images(ctx, cluster).await,
            Deploy::Swarm => swarm::ops::remove_images(ctx, cluster).await,
        }
    }

    /// `down`: everything of the project; what was removed.
    pub(crate) async fn remove(self, ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<String>> {
        match self {
            Deploy::OneEngine => one_engine::ops::remove(ctx, cluster).await,
            Deploy::Swarm => swarm::ops::remove(ctx, cluster).await,
        }
    }
}
