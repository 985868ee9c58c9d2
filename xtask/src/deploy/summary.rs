//! What `up` says on both targets, in the same words (the tests and users read them).
use std::time::Duration;

use cluster::Cluster;

/// `up` found nothing to create, replace or remove.
pub(crate) fn nothing_to_change(cluster: &Cluster) {
    println!(
        "stack {} is already as declared: nothing to change",
        cluster.project
    );
}

/// `<n> webapps UP behind <ha> in <s>s`, and where they run when the target says (a
/// Swarm's task names); each target then prints where the cluster is published.
pub(crate) fn serving(cluster: &Cluster, webapps: usize, took: Duration, on: Option<&str>) {
    let on = on
        .map(|on| format!(" (on Swarm: {on})"))
        .unwrap_or_default();
    println!(
        "{webapps} webapps UP behind {} in {:.1}s{on}",
        cluster.ha.name,
        took.as_secs_f64(),
    );
}

/// `service <name>: <n> webapps UP <change> (routes: ...)`: a named service after `up`;
/// `change` is `None` when it was already as declared.
pub(crate) fn service_serving(
    cluster: &Cluster,
    name: &str,
    webapps: usize,
    took: Option<Duration>,
) {
    let mut routes: Vec<String> = cluster
        .service(name)
        .map(|s| s.routes().iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    // A service may have thousands: the first few say which it is.
    const SHOWN: usize = 5;
    if routes.len() > SHOWN {
        let more = routes.len() - SHOWN;
        routes.truncate(SHOWN);
        routes.push(format!("and {more} more"));
    }
    let change = match took {
        None => "as declared".to_string(),
        Some(took) => format!("in {:.1}s", took.as_secs_f64()),
    };
    println!(
        "service {name}: {webapps} webapps UP {change} (routes: {})",
        routes.join(", ")
    );
}
