//! Where a cluster runs: one Docker engine, or a Swarm of them. `up`, `scale`, `status`
//! and `down` talk to a [`Target`], each target's half of those commands; [`of`] is where
//! they pick it. (What differs only in data, such as where the stats page is published
//! and whether it asks for a password, the model answers: `Cluster::deploy`.)
mod engine;
mod swarm;
mod timings;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::Cluster;
use futures_util::future::LocalBoxFuture;

use crate::context::Ctx;
use crate::engine::Engine;
pub(crate) use timings::Timings;

/// What `up` asks of a target.
pub(crate) struct UpRequest {
    pub(crate) timeout: Duration,
    /// Put the webapps' previous image back.
    pub(crate) rollback: bool,
    /// Raise the host's neighbour-table thresholds when the cluster needs it.
    pub(crate) tune_host: Option<crate::stack::TuneHost>,
}

/// What `scale` asks of a target.
pub(crate) struct ScaleRequest {
    pub(crate) webapps: u32,
    pub(crate) timeout: Duration,
    pub(crate) tune_host: Option<crate::stack::TuneHost>,
}

/// One node of the cluster as its target runs it, for `status`.
#[derive(Default)]
pub(crate) struct Member {
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
pub(crate) struct Observed {
    pub(crate) members: Vec<Member>,
    pub(crate) ha: anyhow::Result<(Engine, String)>,
}

/// When the new webapps started, joined and were UP, and how many serve.
pub(crate) struct Scaled {
    pub(crate) timings: Timings,
    /// The new webapps' start times, from `timings.start`.
    pub(crate) started: BTreeMap<String, Duration>,
    pub(crate) serving: usize,
}

/// A deploy target: converge to the declared cluster, change the webapp count, observe it,
/// remove it. Each prints what it does in the same shapes.
pub(crate) trait Target {
    /// `up`: create or converge the stack, wait until HAProxy serves exactly the declared
    /// webapps, print where it is published.
    fn up<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a UpRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>>;

    /// `scale`: run `request.webapps` webapps, timing each new one's phases.
    fn scale<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
        request: &'a ScaleRequest,
    ) -> LocalBoxFuture<'a, anyhow::Result<Scaled>>;

    /// `status`: the nodes as the target runs them.
    fn observe<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Observed>>;

    /// `down`: everything of the project; what was removed.
    fn remove<'a>(
        &'a self,
        ctx: &'a Ctx,
        cluster: &'a Cluster,
    ) -> LocalBoxFuture<'a, anyhow::Result<Vec<String>>>;
}

/// The target `deploy.target` names.
pub(crate) fn of(cluster: &Cluster) -> &'static dyn Target {
    match cluster.deploy.target {
        cluster::DeployTarget::Engine => &engine::OneEngine,
        cluster::DeployTarget::Swarm => &swarm::Swarm,
    }
}
