//! The services ha serves besides the default one (`[webapps]`, backend `nodes`). On one
//! engine the host hands them over at runtime (`ha-agent services`, the `[services.*]`
//! tables of its cluster file on stdin), so adding one never recreates ha: `CLUSTER_TOML`
//! has none, and the model is `CLUSTER_TOML` followed by the tables last handed over, kept
//! in the agent's state dir (`services.toml`). On a Swarm (and with Compose) they come in
//! `CLUSTER_TOML` itself, a restarted task having no state, and none are handed over.
use std::io::Read;

use anyhow::{anyhow, Context as _};
use cluster::Cluster;

use crate::commands::reconcile_once_held;
use crate::lock;
use crate::paths::Paths;
use crate::reconcile::{Agent, Run};
use crate::routes::Via;

/// What errors call the environment's part of the model.
const BASE: &str = "CLUSTER_TOML";

/// The model: `CLUSTER_TOML` with the services last handed over.
pub(crate) fn load_cluster(paths: &Paths) -> anyhow::Result<Cluster> {
    load_cluster_with(paths, read_services(paths)?.as_deref())
}

/// The model with `services`, the text of the services' file as read.
pub(crate) fn load_cluster_with(paths: &Paths, services: Option<&str>) -> anyhow::Result<Cluster> {
    let name = paths.services_file.display().to_string();
    merge(&cluster_toml()?, services, &name)
}

/// `CLUSTER_TOML` alone, for what the services never change (the reload method).
pub(crate) fn load_base_cluster() -> anyhow::Result<Cluster> {
    cluster::parse(&cluster_toml()?, BASE).map_err(|e| anyhow!("{e}"))
}

/// The kept `[services.*]` tables; none before the host first sent some.
pub(crate) fn read_services(paths: &Paths) -> anyhow::Result<Option<String>> {
    let path = &paths.services_file;
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// `base` followed by `services` (named `name` in errors), parsed and validated. An error
/// in the services names the line in them, not in the joined text.
pub(crate) fn merge(base: &str, services: Option<&str>, name: &str) -> anyhow::Result<Cluster> {
    let Some(services) = services.filter(|text| !text.trim().is_empty()) else {
        return cluster::parse(base, BASE).map_err(|e| anyhow!("{e}"));
    };
    only_services(services, name)?;
    // Said plainly rather than as the duplicate key joining them would be.
    let holds_services = toml::from_str::<toml::Table>(base).is_ok_and(|table| {
        table
            .get("services")
            .is_some_and(|s| s.as_table().is_some_and(|t| !t.is_empty()))
    });
    if holds_services {
        return Err(anyhow!(
            "{name}: {BASE} already holds the [services.*] tables (ha learns them from its spec on a Swarm or with Compose); they are not handed over at runtime"
        ));
    }
    let text = format!("{base}\n{services}");
    // The services' first line is the joined text's line `lines_before + 1`.
    let lines_before = base.matches('\n').count() + 1;
    cluster::parse(&text, BASE).map_err(|mut err| {
        match err.line {
            Some(line) if line > lines_before => {
                err.line = Some(line - lines_before);
                err.file = name.to_string();
            }
            None if err.key.starts_with("services") => err.file = name.to_string(),
            _ => {}
        }
        anyhow!("{err}")
    })
}

/// The services' text holds `[services.<name>]` tables and nothing else: a key before its
/// first table would land in `CLUSTER_TOML`'s last table once the two are joined.
fn only_services(text: &str, name: &str) -> anyhow::Result<()> {
    let table: toml::Table = toml::from_str(text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = err.message().lines().next().unwrap_or("invalid TOML");
        match line {
            Some(line) => anyhow!("{name}:{line}: {message}"),
            None => anyhow!("{name}: {message}"),
        }
    })?;
    let first = text
        .lines()
        .enumerate()
        .find(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    if let Some((number, line)) = first {
        if !line.trim_start().starts_with('[') {
            return Err(anyhow!(
                "{name}:{}: only [services.<name>] tables belong here; start with a table such as [services.api]",
                number + 1
            ));
        }
    }
    for (key, value) in &table {
        if key != "services" || !value.is_table() {
            return Err(anyhow!(
                "{name}: {key}: only [services.<name>] tables belong here; the rest of the cluster comes with {BASE}"
            ));
        }
    }
    Ok(())
}

/// Validates `text` (the `[services.*]` tables, maybe none) against `base` and keeps it
/// in place of the last ones when it differs: the model it makes, and whether it changed.
/// A text that does not validate changes nothing.
pub(crate) fn store(paths: &Paths, base: &str, text: &str) -> anyhow::Result<(Cluster, bool)> {
    let cluster = merge(base, Some(text), "stdin")?;
    let kept = read_services(paths)?.unwrap_or_default();
    if kept == text {
        return Ok((cluster, false));
    }
    let path = &paths.services_file;
    crate::files::write_atomically(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((cluster, true))
}

/// `ha-agent services`: the host's `[services.*]` tables on stdin (none: no services).
/// Kept, then applied by one reconcile before it returns, both under the agent's lock (no
/// other run applies them in between); one line says what changed, none when nothing did.
pub(crate) fn command(agent: &Agent) -> anyhow::Result<()> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the [services.*] tables from stdin")?;
    let held = lock::exclusive(&agent.paths.lock_file)?;
    let (cluster, changed) = store(&agent.paths, &cluster_toml()?, &text)?;
    let report = reconcile_once_held(agent, &held, Run::Triggered)?;
    if changed || !report.routes.is_empty() {
        println!("{}", summary(&cluster, report.routes, report.via));
    }
    Ok(())
}

/// `services: api, static; routes: 3 added, 1 removed, 0 changed (runtime API)`.
pub(crate) fn summary(cluster: &Cluster, routes: crate::routes::Counts, via: Via) -> String {
    let names: Vec<&str> = cluster.services.keys().map(String::as_str).collect();
    let names = match names.is_empty() {
        true => "none".to_string(),
        false => names.join(", "),
    };
    format!("services: {names}; routes: {routes} ({})", via.describe())
}

/// The model the host validated, handed over in `CLUSTER_TOML`. Serf and s6 pass the
/// container's environment on; PID 1's is the fallback if a runner cleared it.
pub(crate) fn cluster_toml() -> anyhow::Result<String> {
    match std::env::var("CLUSTER_TOML") {
        Ok(text) => Ok(text),
        Err(_) => pid1_env("CLUSTER_TOML")
            .context("CLUSTER_TOML is not set (the host sets it on the ha container)"),
    }
}

fn pid1_env(name: &str) -> Option<String> {
    let environ = std::fs::read("/proc/1/environ").ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = std::str::from_utf8(entry).ok()?;
        entry
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Counts;

    /// What the host gives ha: its model for the balancer, without services.
    fn base() -> String {
        cluster::parse("[webapps]\ncount = 2\n", "c.toml")
            .unwrap()
            .to_toml()
    }

    const API: &str = "[services.api]\nprefix = \"api\"\npaths = [\"/api\"]\nport = 8080\n";

    #[test]
    fn the_model_is_cluster_toml_with_the_services() {
        let cluster = merge(&base(), None, "s.toml").unwrap();
        assert!(cluster.services.is_empty());
        assert_eq!(merge(&base(), Some("\n"), "s.toml").unwrap(), cluster);
        let cluster = merge(&base(), Some(API), "s.toml").unwrap();
        assert_eq!(cluster.webapps.count, 2);
        assert_eq!(cluster.service("api").unwrap().app.port, 8080);
        // What the host sends (the services' part of its own model) gives its model back.
        let host = cluster::parse(
            &format!("[webapps]\ncount = 2\n\n{API}\n[services.web]\nhosts = [\"web.localhost\"]\n[services.web.health]\npath = \"/up\"\n"),
            "c.toml",
        )
        .unwrap();
        let sent = host.services_toml();
        assert_eq!(merge(&base(), Some(&sent), "s.toml").unwrap(), host);
    }

    #[test]
    fn an_error_names_the_services_line() {
        let err = merge(
            &base(),
            Some("[services.api]\npaths = [\"/api\"]\nport = 0\n"),
            "stdin",
        );
        let err = err.unwrap_err().to_string();
        assert!(err.starts_with("stdin:3: services.api.port"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = merge(&base(), Some("[services.api\n"), "stdin").unwrap_err();
        assert!(err.to_string().starts_with("stdin:1: "), "{err}");
    }

    #[test]
    fn only_services_tables_belong_in_the_file() {
        for text in [
            "count = 3\n[services.api]\npaths = [\"/api\"]\n",
            "[webapps]\ncount = 3\n",
            "services = 3\n",
            "services.api.paths = [\"/api\"]\n",
        ] {
            let err = merge(&base(), Some(text), "stdin").unwrap_err().to_string();
            assert!(
                err.contains("only [services.<name>] tables"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_file_is_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let (cluster, changed) = store(&paths, &base(), API).unwrap();
        assert!(changed);
        assert_eq!(cluster.services.len(), 1);
        let (_, again) = store(&paths, &base(), API).unwrap();
        assert!(!again, "the same tables again change nothing");
        for bad in [
            "[services.api]\n",
            "[services.webapps]\npaths = [\"/x\"]\n",
            "[services.api]\npaths = [\"/api\"]\nbogus = 1\n",
            "[services.s]\npaths = [\"/s\"]\n",
        ] {
            let err = store(&paths, &base(), bad).unwrap_err().to_string();
            assert!(err.starts_with("stdin"), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "{bad:?}: {err}");
            assert_eq!(read_services(&paths).unwrap().as_deref(), Some(API));
        }
        let files: Vec<_> = std::fs::read_dir(paths.services_file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["services.toml"], "a temporary file was left");
        let (cluster, changed) = store(&paths, &base(), "").unwrap();
        assert!(changed && cluster.services.is_empty());
    }

    /// On a Swarm ha's CLUSTER_TOML holds the services and `ha-agent services` never runs:
    /// with no services' file, the model's own serve, backends and routes alike.
    #[test]
    fn a_swarm_serves_the_services_of_cluster_toml() {
        let host = cluster::parse(
            "project = \"p\"\n[deploy]\ntarget = \"swarm\"\n[services.api]\nprefix = \"a\"\nhosts = [\"api.localhost\"]\nport = 8080\n",
            "c.toml",
        )
        .unwrap();
        let services = host.swarm_services(&host.swarm_latest_images(), &[], 0);
        let base = &services[0]
            .env
            .iter()
            .find(|(key, _)| key == "CLUSTER_TOML")
            .expect("ha's task has its model")
            .1;
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let kept = read_services(&paths).unwrap();
        assert_eq!(kept, None);
        let cluster = merge(base, kept.as_deref(), "s.toml").unwrap();
        assert!(cluster.deploy.is_swarm());
        assert_eq!(cluster.service("api").unwrap().app.port, 8080);
        let routes = crate::routes::Routes::render(&paths, &cluster).unwrap();
        assert_eq!(
            routes.entries,
            [("api.localhost/".to_string(), "api".to_string())]
        );
        let template = include_str!("../../../../templates/haproxy.cfg.j2");
        let api1 = cluster::Backend {
            name: "a1".into(),
            ip: [10, 0, 0, 3].into(),
            port: 8080,
        };
        let config = cluster::render_haproxy_live(template, &cluster, &[api1]).unwrap();
        assert!(config.contains("\nbackend api\n"), "{config}");
        assert!(config.contains("server a1 10.0.0.3:8080"), "{config}");
        // An empty services' file (`ha-agent services` with nothing) drops none of them,
        // and tables handed over anyway are refused, keeping nothing.
        assert_eq!(merge(base, Some(""), "s.toml").unwrap(), cluster);
        let err = store(&paths, base, &host.services_toml()).unwrap_err();
        assert!(err.to_string().contains("already holds"), "{err}");
        assert_eq!(read_services(&paths).unwrap(), None);
    }

    #[test]
    fn the_summary_names_the_services_and_counts_the_routes() {
        let cluster = merge(&base(), Some(API), "s.toml").unwrap();
        let routes = Counts {
            added: 3,
            removed: 1,
            changed: 0,
        };
        assert_eq!(
            summary(&cluster, routes, Via::RuntimeApi),
            "services: api; routes: 3 added, 1 removed, 0 changed (runtime API)"
        );
        let none = merge(&base(), None, "s.toml").unwrap();
        assert_eq!(
            summary(&none, Counts::default(), Via::Reload),
            "services: none; routes: 0 added, 0 removed, 0 changed (reload)"
        );
    }
}
