//! `[services.<name>]`: what a valid file makes, and one row per refusal with its exact
//! one-line message (file, line, key, fix).
const SERVICES: &str = include_str!("fixtures/services.toml");

fn error_for(text: &str) -> String {
    cluster::parse(text, "cluster.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_services_fixture_is_valid() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    let names: Vec<&str> = cluster.services().iter().map(|s| s.name).collect();
    assert_eq!(names, ["webapps", "api", "static"]);
    let api = cluster.service("api").unwrap();
    assert_eq!(
        (
            api.backend,
            api.app.prefix.as_str(),
            api.app.count,
            api.app.port
        ),
        ("api", "api", 3, 8080)
    );
    assert_eq!(api.health.path, "/api/health");
    // Not given: the service checks its webapps as [ha.health] says.
    assert_eq!(
        cluster.service("static").unwrap().health,
        &cluster.ha.health
    );
    assert_eq!(cluster.service("webapps").unwrap().backend, "nodes");
}

#[test]
fn the_lab_has_no_services_and_ha_is_never_given_them() {
    let lab = cluster::parse("", "x.toml").unwrap();
    assert!(lab.services.is_empty());
    assert_eq!(lab.services().len(), 1);
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    let ha_env = cluster.node_env(&cluster.ha_node(), &[]);
    let toml = &ha_env.iter().find(|(k, _)| k == "CLUSTER_TOML").unwrap().1;
    assert!(!toml.contains("services"), "{toml}");
}

#[test]
fn the_model_round_trips_through_toml() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    assert_eq!(cluster::parse(&cluster.to_toml(), "x").unwrap(), cluster);
}

#[test]
fn hosts_are_compared_in_lowercase() {
    let text = "[services.a]\nhosts = [\"API.Localhost\", \"api.localhost\"]\n";
    let cluster = cluster::parse(text, "x").unwrap();
    assert_eq!(cluster.services["a"].hosts, ["api.localhost"]);
}

#[test]
fn each_refusal_has_a_precise_message() {
    let table: &[(&str, &str)] = &[
        (
            "[services.api]\nhosts = [\"a.localhost\"]\n[services.web]\nhosts = [\"A.localhost\"]\n",
            "cluster.toml:4: services.web.hosts: the route host a.localhost is also service \"api\"'s; give each route to one service",
        ),
        (
            "[services.api]\npaths = [\"/api\"]\n[services.web]\npaths = [\"/api\"]\n",
            "cluster.toml:4: services.web.paths: the route path /api is also service \"api\"'s; give each route to one service",
        ),
        (
            "[services.api]\nprefix = \"s1\"\nhosts = [\"a.localhost\"]\n",
            "cluster.toml:2: services.api.prefix: \"s1\" collides with webapps.prefix \"s\" (s1 + 1 and s + 11 are both s11); choose another prefix",
        ),
        (
            "[services.s]\nhosts = [\"a.localhost\"]\n",
            "cluster.toml:1: services.s.prefix: \"s\" collides with webapps.prefix \"s\" (both name their first webapp s1); choose another prefix",
        ),
        (
            "[services.Api]\nhosts = [\"a.localhost\"]\n",
            "cluster.toml:1: services.Api: \"Api\" is not a valid service name; use 1-63 lowercase letters, digits and '-', e.g. [services.api]",
        ),
        (
            "[services.ha]\nprefix = \"h\"\nhosts = [\"a.localhost\"]\n",
            "cluster.toml:1: services.ha: \"ha\" is taken (by the default service [webapps], ha or HAProxy's own sections); choose another name, e.g. [services.api]",
        ),
        (
            "[services.nodes]\nhosts = [\"a.localhost\"]\n",
            "cluster.toml:1: services.nodes: \"nodes\" is taken (by the default service [webapps], ha or HAProxy's own sections); choose another name, e.g. [services.api]",
        ),
        (
            "[services.api]\nhosts = [\"http://a.localhost\"]\n",
            "cluster.toml:2: services.api.hosts: \"http://a.localhost\" is not a host name; use names such as \"api.localhost\" or \"*.example.com\" (no scheme, port or path)",
        ),
        (
            "[services.api]\nhosts = [\"a.localhost:8080\"]\n",
            "cluster.toml:2: services.api.hosts: \"a.localhost:8080\" is not a host name; use names such as \"api.localhost\" or \"*.example.com\" (no scheme, port or path)",
        ),
        (
            "[services.api]\npaths = [\"api\"]\n",
            "cluster.toml:2: services.api.paths: \"api\" is not a path prefix; use one that starts with '/' and has no spaces, '?' or '#', e.g. \"/api\"",
        ),
        (
            "[services.api]\ncount = 2\n",
            "cluster.toml:1: services.api: has no route, so no request would reach it; add hosts = [\"api.localhost\"] or paths = [\"/api\"]",
        ),
        (
            "[services.api]\npaths = [\"/api\"]\ncolour = 1\n",
            "cluster.toml:3: services.api.colour: unknown field `colour`, expected one of `count`, `prefix`, `port`, `image`, `build`, `command`, `max_unavailable`, `drain_ms`, `cap_add`, `health`, `hosts`, `paths`",
        ),
        (
            "[services.api]\npaths = [\"/api\"]\ncount = -1\n",
            "cluster.toml:3: services.api.count: -1 is negative; use 0 or more",
        ),
        (
            "[services.api]\npaths = [\"/api\"]\n[services.api.health]\npath = \"health\"\n",
            "cluster.toml:4: services.api.health.path: \"health\" is not an absolute URL path; use e.g. \"/health\"",
        ),
        (
            "[services.api]\npaths = [\"/api\"]\nimage = \"x\"\nbuild = \"y\"\n",
            "cluster.toml:4: services.api.build: is set together with services.api.image; keep one: image (any image, Serf in a sidecar) or build (a Dockerfile FROM the project's base)",
        ),
        (
            "[ha]\nname = \"api7\"\n[services.api]\npaths = [\"/api\"]\n",
            "cluster.toml:2: ha.name: \"api7\" is taken by a webapp of service \"api\" (api1, api2...); choose another name or services.api.prefix",
        ),
        (
            "[network]\nsubnet = \"10.0.0.0/28\"\n[ha]\nip = \"10.0.0.14\"\n[services.api]\ncount = 12\npaths = [\"/api\"]\n",
            "cluster.toml:6: services.api.count: the services' webapps do not fit in network.subnet 10.0.0.0/28 (12 addresses besides the gateway and ha; an app image's webapp takes two with its Serf sidecar); lower the counts or use a larger subnet",
        ),
        (
            "[webapps]\nimage = \"nginx\"\n[services.api]\npaths = [\"/api\"]\n",
            "cluster.toml:3: services.api: runs the lab's app, which is built only when [webapps] runs it too; set image = \"...\" or build = \"<folder>\"",
        ),
        (
            "[deploy]\ntarget = \"swarm\"\n[services.api]\nimage = \"nginx:1\"\npaths = [\"/api\"]\n",
            "cluster.toml:4: services.api.image: runs beside a Serf sidecar container, which the Swarm target does not deploy; on deploy.target = \"swarm\" use build (a Dockerfile FROM the project's base) instead",
        ),
        (
            "[deploy]\ntarget = \"swarm\"\n[services.api]\nbuild = \"api\"\ncommand = [\"api\"]\npaths = [\"/api\"]\n",
            "cluster.toml:5: services.api.command: is handed to each container before it starts, which a Swarm task does not allow; on deploy.target = \"swarm\" put the app's s6 service in the image instead (COPY run /etc/s6/app/run, see examples/swarm-services)",
        ),
        (
            "[deploy]\ntarget = \"swarm\"\n[webapps]\nbuild = \"app\"\ncommand = [\"app\"]\n",
            "cluster.toml:5: webapps.command: is handed to each container before it starts, which a Swarm task does not allow; on deploy.target = \"swarm\" put the app's s6 service in the image instead (COPY run /etc/s6/app/run, see examples/swarm-services)",
        ),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(text, expected)| error_for(text) != *expected)
        .map(|(text, expected)| {
            format!(
                "{text}\n  got:      {}\n  expected: {expected}",
                error_for(text)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const HAPROXY: &str = include_str!("../../templates/haproxy.cfg.j2");
const ROUTES: &str = include_str!("../../templates/routes.map.j2");

/// One backend per service, each server in its own service's, and the routing lines.
#[test]
fn haproxy_with_three_services() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    let mut servers: Vec<cluster::Backend> = cluster
        .webapp_nodes(2)
        .iter()
        .map(cluster::Backend::from)
        .collect();
    for view in cluster.fresh_views().unwrap() {
        let count = view.webapps.count;
        servers.extend(view.webapp_nodes(count).iter().map(cluster::Backend::from));
    }
    let text = cluster::render_haproxy(HAPROXY, &cluster, &servers).unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn routes_map_of_three_services() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    insta::assert_snapshot!(cluster::render_routes_map(ROUTES, &cluster).unwrap());
}

/// What ha is handed at runtime, added to its own model, is the declared cluster.
#[test]
fn ha_model_plus_services_is_the_cluster() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    let ha_env = cluster.node_env(&cluster.ha_node(), &[]);
    let base = &ha_env.iter().find(|(k, _)| k == "CLUSTER_TOML").unwrap().1;
    let merged = format!("{base}\n{}", cluster.services_toml());
    let seen = cluster::parse(&merged, "merged").unwrap();
    assert_eq!(seen.services, cluster.services);
    assert_eq!(seen.route_entries(), cluster.route_entries());
}

const COMPOSE: &str = include_str!("../../templates/docker-compose.yml.j2");

/// Every service's webapps, with their image, label and Serf tag; ha's model holds the
/// services (compose has no `up` to hand them over).
#[test]
fn compose_with_three_services() {
    let cluster = cluster::parse(SERVICES, "cluster.toml").unwrap();
    let inputs = cluster::ComposeInputs {
        serf_secret_file: "../.state/shop/serf.json".into(),
        tls_files: Vec::new(),
    };
    insta::assert_snapshot!(cluster::render_compose(COMPOSE, &cluster, &inputs).unwrap());
}

/// The compose client interpolates `$NAME` in every value: a `command` in ha's model
/// keeps its `$` (as `$$`).
#[test]
fn compose_values_are_not_interpolated() {
    let text = SERVICES.replace(
        "command = [\"python3\", \"app.py\"]",
        "command = [\"sh\", \"-c\", \"echo \\\"api $(hostname)\\\"\"]",
    );
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let inputs = cluster::ComposeInputs {
        serf_secret_file: "../.state/shop/serf.json".into(),
        tls_files: Vec::new(),
    };
    let compose = cluster::render_compose(COMPOSE, &cluster, &inputs).unwrap();
    assert!(compose.contains("$$(hostname)"), "{compose}");
    assert!(!compose.replace("$$", "").contains('$'), "{compose}");
}
