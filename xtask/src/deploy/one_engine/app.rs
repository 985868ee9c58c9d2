//! What differs between the three kinds of webapp (`[webapps]` image/build, or the lab's
//! app): the image a webapp runs, the s6 services the toolkit hands it, the Serf sidecar of
//! an app image, and how a webapp is drained before it stops.
use std::collections::HashMap;
use std::time::Duration;

use cluster::{labels, AppMode, Cluster, Node};

use crate::context::{Ctx, UsageError};
use anyhow::Context as _;

use crate::engine::{AttachedSpec, ContainerSpec, Engine, FileUpload};
use crate::wait::{Poll, Stopped, Wait};

/// Label on a sidecar: the webapp whose Serf agent it runs.
pub(crate) use cluster::labels::SIDECAR_OF;

/// Role label of a Serf sidecar, and of the containers of an app's trial run.
pub(crate) const SIDECAR: &str = labels::SIDECAR_ROLE;
const TRIAL: &str = "trial";

/// The container running webapp `node`'s Serf agent.
pub(crate) fn serf_container(cluster: &Cluster, node: &str) -> String {
    if cluster.has_sidecar() {
        Cluster::sidecar_name(node)
    } else {
        node.to_string()
    }
}

pub(crate) async fn upload_services(
    engine: &Engine,
    cluster: &Cluster,
    container: &str,
) -> anyhow::Result<()> {
    for file in cluster.supplied_s6_files() {
        let upload = FileUpload {
            dir: cluster::S6_DIR,
            name: file.path,
            contents: file.contents.as_bytes(),
            mode: if file.executable() { 0o755 } else { 0o644 },
        };
        engine.upload_file(container, &upload).await?;
    }
    Ok(())
}

/// Creates (not starts) the Serf sidecar of webapp `node`: a container of its own at the
/// sidecar's address, with the app's restart policy. It does not share the app's network
/// namespace, so it comes back after a daemon restart whatever the order, and nothing it
/// sends on its loopback (the RPC token) is visible to the app.
pub(crate) async fn create_sidecar(
    engine: &Engine,
    cluster: &Cluster,
    node: &Node,
    mut env: Vec<(String, String)>,
) -> anyhow::Result<String> {
    let name = Cluster::sidecar_name(&node.name);
    let ip = cluster
        .sidecar_ip(&node.name)
        .with_context(|| format!("network.subnet has no address for {name}"))?;
    let mut labels = HashMap::from([
        (labels::PROJECT.to_string(), cluster.project.clone()),
        (labels::ROLE.to_string(), SIDECAR.to_string()),
        (SIDECAR_OF.to_string(), node.name.clone()),
    ]);
    labels.extend(super::service_label(cluster));
    // The app's fixed address: a probe must not depend on the engine's DNS answering.
    env.push(("APP_HOST".to_string(), node.ip.to_string()));
    let spec = ContainerSpec {
        name: name.clone(),
        image: cluster.image_tag("base"),
        env,
        labels,
        network: cluster.network.name.clone(),
        ip,
        published: Vec::new(),
        bind: cluster.ha.bind,
        command: None,
        user: None,
        // As long as its app's: Serf must not be killed before it has left.
        stop_timeout_s: Some(cluster.webapps.stop_timeout_s()),
        health_interval_s: None,
        cap_drop: cluster::WEBAPP_CAP_DROP.map(String::from).to_vec(),
        cap_add: Vec::new(),
        no_new_privileges: true,
    };
    engine.create_container(&spec).await?;
    Ok(name)
}

/// Whether webapp `node`'s sidecar exists (its name, project, role and `sidecar-of`
/// labels). A container under that name that is not it is a usage error while the
/// cluster runs sidecars (the name is needed); otherwise it is none of ours and left alone.
pub(crate) async fn sidecar_exists(
    engine: &Engine,
    cluster: &Cluster,
    node: &str,
) -> anyhow::Result<bool> {
    let name = Cluster::sidecar_name(node);
    let Some(info) = engine.inspect_container(&name).await? else {
        return Ok(false);
    };
    let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
    let label = |key: &str| labels.get(key).map(String::as_str);
    let ours = label(SIDECAR_OF) == Some(node)
        && label(labels::PROJECT) == Some(cluster.project.as_str())
        && label(labels::ROLE) == Some(SIDECAR);
    if !ours && cluster.has_sidecar() {
        anyhow::bail!(UsageError(format!(
            "container name {name} is taken by a container that is not {node}'s Serf sidecar (project {}); remove or rename it",
            cluster.project
        )));
    }
    Ok(ours)
}

/// Stops and removes webapp `node`'s sidecar, if it has one (see [`sidecar_exists`]).
pub(crate) async fn remove_sidecar(
    engine: &Engine,
    cluster: &Cluster,
    node: &str,
) -> anyhow::Result<()> {
    if sidecar_exists(engine, cluster, node).await? {
        let name = Cluster::sidecar_name(node);
        engine
            .stop_container(&name, cluster.webapps.stop_timeout_s())
            .await?;
        engine.remove_container(&name).await?;
    }
    Ok(())
}

/// Takes a webapp out of rotation before it stops: its Serf agent goes down (SIGINT:
/// it leaves), ha drops the server, in-flight requests finish during `drain_ms`. The lab's
/// app does this itself on `docker stop` (it keeps answering for DRAIN_MS).
pub(crate) async fn drain(engine: &Engine, cluster: &Cluster, node: &str) -> anyhow::Result<()> {
    if cluster.webapps.mode() == AppMode::Lab {
        return Ok(());
    }
    // Only into our own sidecar: checked before anything is run in it.
    if cluster.has_sidecar() && !sidecar_exists(engine, cluster, node).await? {
        return Ok(());
    }
    let serf = serf_container(cluster, node);
    let running = engine.is_container_running(&serf).await?;
    if running {
        engine
            .exec(&serf, &["s6-svc", "-d", "/etc/s6/serf"])
            .await?;
        tokio::time::sleep(Duration::from_millis(cluster.webapps.drain_ms.into())).await;
    }
    Ok(())
}

/// How long a trial app gets to listen on its port.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the app image in a trial container without a network and checks, from a probe
/// sharing its network namespace, that it listens on `[webapps] port`: an app serving on
/// another port is a one-line error before any serving webapp is replaced. An app that
/// listens on nothing (it crashed at start) is left to the rollout, which stops at the
/// first node and shows its logs.
pub(crate) async fn check_listens(ctx: &Ctx, cluster: &Cluster, image: &str) -> anyhow::Result<()> {
    if cluster.webapps.mode() == AppMode::Lab {
        return Ok(());
    }
    let engine = ctx.engine().await?;
    let trial = format!("{}-trial", cluster.project);
    let probe = format!("{}-probe", cluster.project);
    let labels = HashMap::from([
        (labels::PROJECT.to_string(), cluster.project.clone()),
        (labels::ROLE.to_string(), TRIAL.to_string()),
    ]);
    for name in [&probe, &trial] {
        engine.remove_owned(name, &cluster.project, TRIAL).await?;
    }
    let result = trial_run(engine, cluster, image, &trial, &probe, labels).await;
    for name in [&probe, &trial] {
        engine.remove_owned(name, &cluster.project, TRIAL).await?;
    }
    let port = cluster.webapps.port;
    let section = cluster.section();
    match result? {
        Trial::Listens | Trial::Nothing => Ok(()),
        Trial::Elsewhere(ports) => anyhow::bail!(UsageError(format!(
            "{}: {section}.port: the app ({image}) listens on {ports} but not on port {port} (tried for {} s in a trial container); set {section}.port to the port it serves on",
            ctx.config_file(),
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

enum Trial {
    Listens,
    /// Listens on these other ports.
    Elsewhere(String),
    /// Listens on no TCP port at all.
    Nothing,
}

async fn trial_run(
    engine: &Engine,
    cluster: &Cluster,
    image: &str,
    trial: &str,
    probe: &str,
    labels: HashMap<String, String>,
) -> anyhow::Result<Trial> {
    let port = cluster.webapps.port;
    engine
        .create_attached(&AttachedSpec {
            name: trial,
            image,
            network_mode: "none".into(),
            env: vec![("NODE_PORT".into(), port.to_string())],
            labels: labels.clone(),
            cmd: None,
            stop_timeout_s: None,
        })
        .await?;
    if cluster.webapps.mode() != AppMode::Image(image) {
        upload_services(engine, cluster, trial).await?;
    }
    if engine.start_container(trial).await.is_err() {
        // It cannot even start (a missing program): the rollout shows why, at its node.
        return Ok(Trial::Nothing);
    }
    let tries = PROBE_TIMEOUT.as_secs() * 2;
    // At the end it prints the ports that do listen.
    let script = format!(
        "for i in $(seq {tries}); do ss -Hltn 'sport = :{port}' | grep -q . && exit 0; sleep 0.5; done; ss -Hltn | awk '{{print $4}}' | sed 's/.*://' | sort -un | tr '\\n' ' '; exit 1"
    );
    let base = cluster.image_tag("base");
    engine
        .create_attached(&AttachedSpec {
            name: probe,
            image: &base,
            network_mode: format!("container:{trial}"),
            env: Vec::new(),
            labels,
            cmd: Some(vec!["bash".into(), "-c".into(), script]),
            stop_timeout_s: None,
        })
        .await?;
    engine.start_container(probe).await?;
    // The probe gives up by itself after PROBE_TIMEOUT; twice that is a safety margin.
    let probed = Wait::new("the trial's port probe", PROBE_TIMEOUT * 2)
        .poll(async || {
            let state = engine.inspect_container(probe).await?.and_then(|c| c.state);
            let probing = state.as_ref().and_then(|s| s.running).unwrap_or(false);
            let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
            Ok(match probing {
                true => Poll::Pending(code),
                false => Poll::Ready(code),
            })
        })
        .await;
    let code = match probed {
        Ok(code) | Err(Stopped::TimedOut(code)) => code,
        Err(Stopped::Failed(err)) => return Err(err),
    };
    if code == 0 {
        return Ok(Trial::Listens);
    }
    let ports = engine.logs(probe, None).await?;
    let ports: Vec<&str> = ports.split_whitespace().collect();
    Ok(if ports.is_empty() {
        Trial::Nothing
    } else {
        Trial::Elsewhere(format!("port {}", ports.join(", ")))
    })
}
