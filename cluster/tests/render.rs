//! Snapshots of both rendered files, for the lab's cluster and a 10-webapp variant.
use cluster::{Backend, Cluster, ComposeInputs};

const HAPROXY: &str = include_str!("../../templates/haproxy.cfg.j2");
const COMPOSE: &str = include_str!("../../templates/docker-compose.yml.j2");
const LAB: &str = include_str!("../../cluster.toml");

fn lab() -> Cluster {
    cluster::parse(LAB, "cluster.toml").unwrap()
}

fn ten_webapps() -> Cluster {
    let text = LAB.replace("count = 2", "count = 10");
    cluster::parse(&text, "cluster.toml").unwrap()
}

fn declared_backends(cluster: &Cluster) -> Vec<Backend> {
    cluster
        .webapp_nodes(cluster.webapps.count)
        .iter()
        .map(Backend::from)
        .collect()
}

fn compose(cluster: &Cluster) -> String {
    let inputs = ComposeInputs {
        serf_secret_file: format!("../.state/{}/serf.json", cluster.project),
        tls_files: Vec::new(),
    };
    cluster::render_compose(COMPOSE, cluster, &inputs).unwrap()
}

/// haproxy.cfg with one server per declared webapp (the lab's static task 0 config).
fn haproxy_declared(cluster: &Cluster) -> String {
    cluster::render_haproxy(HAPROXY, cluster, &declared_backends(cluster)).unwrap()
}

#[test]
fn haproxy_lab() {
    insta::assert_snapshot!(haproxy_declared(&lab()));
}

#[test]
fn haproxy_ten_webapps() {
    insta::assert_snapshot!(haproxy_declared(&ten_webapps()));
}

#[test]
fn haproxy_sticky_without_backends() {
    let text = LAB.replace("sticky = false", "sticky = true");
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let rendered = cluster::render_haproxy(HAPROXY, &cluster, &[]).unwrap();
    assert!(rendered.contains("cookie SERVERID insert indirect nocache"));
    assert!(!rendered.contains("\n    server "));
}

#[test]
fn haproxy_order_does_not_depend_on_membership_order() {
    let cluster = ten_webapps();
    let mut backends = declared_backends(&cluster);
    let sorted = cluster::render_haproxy(HAPROXY, &cluster, &backends).unwrap();
    backends.reverse();
    assert_eq!(
        cluster::render_haproxy(HAPROXY, &cluster, &backends).unwrap(),
        sorted
    );
}

#[test]
fn haproxy_live_keeps_server_state_across_reloads() {
    let cluster = lab();
    let backends = declared_backends(&cluster);
    let live = cluster::render_haproxy_live(HAPROXY, &cluster, &backends).unwrap();
    let state = [
        "    server-state-file /var/lib/haproxy/server-state\n",
        "    load-server-state-from-file global\n",
    ];
    let mut without = live.clone();
    for line in state {
        assert!(live.contains(line), "{live}");
        without = without.replacen(line, "", 1);
    }
    // Otherwise the file ha makes live is the static one, comments aside.
    let code = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(code(&without), code(&haproxy_declared(&cluster)));
}

#[test]
fn compose_lab() {
    insta::assert_snapshot!(compose(&lab()));
}

#[test]
fn compose_ten_webapps() {
    insta::assert_snapshot!(compose(&ten_webapps()));
}

#[test]
fn model_round_trips_through_toml() {
    let cluster = ten_webapps();
    assert_eq!(
        cluster::parse(&cluster.to_toml(), "CLUSTER_TOML").unwrap(),
        cluster
    );
}

#[test]
fn webapp_addresses_skip_gateway_and_ha() {
    let text = LAB.replace("192.168.42.42", "192.168.42.3");
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let ips: Vec<String> = cluster
        .webapp_nodes(3)
        .iter()
        .map(|n| n.ip.to_string())
        .collect();
    assert_eq!(ips, ["192.168.42.2", "192.168.42.4", "192.168.42.5"]);
}

/// `[ha.tls]` with a redirect: HTTPS bind with modern settings, HTTP redirected; and the
/// model the agent gets round-trips.
#[test]
fn haproxy_tls_with_redirect() {
    let text = LAB.replace(
        "[webapps]",
        "[ha.tls]\ngenerate = true\nredirect = true\n\n[webapps]",
    );
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    assert_eq!(
        cluster::parse(&cluster.to_toml(), "agent").unwrap(),
        cluster
    );
    let rendered = haproxy_declared(&cluster);
    let frontend =
        &rendered[rendered.find("frontend http").unwrap()..rendered.find("backend nodes").unwrap()];
    insta::assert_snapshot!(frontend);
}

/// With `[ha.tls]`, compose publishes the HTTPS port and mounts the certificate into ha only.
#[test]
fn compose_tls_mounts_the_certificate_into_ha() {
    let text = LAB.replace("[webapps]", "[ha.tls]\ngenerate = true\n\n[webapps]");
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let inputs = ComposeInputs {
        serf_secret_file: "../.state/lab4/serf.json".into(),
        tls_files: vec![(
            "../.state/lab4/tls/server.pem".into(),
            "/etc/haproxy/tls/server.pem".into(),
        )],
    };
    let rendered = cluster::render_compose(COMPOSE, &cluster, &inputs).unwrap();
    assert!(rendered.contains("- \"127.0.0.1:443:443\""), "{rendered}");
    let mount = "- ../.state/lab4/tls/server.pem:/etc/haproxy/tls/server.pem:ro";
    assert_eq!(rendered.matches(mount).count(), 1, "{rendered}");
    let ha = &rendered[rendered.find("  ha:").unwrap()..rendered.find("  s1:").unwrap()];
    assert!(ha.contains(mount), "{ha}");
}
