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

/// A foreign app: built on the base, TCP checks, its own drain time and rollout width.
fn foreign_app() -> Cluster {
    let text = LAB
        .replace("path = \"/health\"", "check = \"tcp\"\npath = \"/health\"")
        .replace(
            "port = 3000",
            "port = 8000\nbuild = \"app\"\ncommand = [\"python3\", \"-m\", \"http.server\", \"8000\"]\nmax_unavailable = 2\ndrain_ms = 1000",
        );
    cluster::parse(&text, "cluster.toml").unwrap()
}

#[test]
fn haproxy_tcp_check() {
    let rendered = haproxy_declared(&foreign_app());
    assert!(!rendered.contains("httpchk"), "{rendered}");
    assert!(rendered.contains("server s1 192.168.42.2:8000 check\n"));
}

#[test]
fn foreign_app_round_trips_through_toml() {
    let cluster = foreign_app();
    assert_eq!(cluster.webapps.mode(), cluster::AppMode::Build("app"));
    assert_eq!(
        cluster::parse(&cluster.to_toml(), "CLUSTER_TOML").unwrap(),
        cluster
    );
}

#[test]
fn ha_is_not_recreated_for_a_new_app_version() {
    let ha = |cluster: &Cluster| cluster.node_env(&cluster.ha_node(), &[]);
    let v2 = LAB.replace(
        "port = 3000",
        "port = 3000\nimage = \"shop:2\"\nmax_unavailable = 2",
    );
    assert_eq!(
        ha(&lab()),
        ha(&cluster::parse(&v2, "cluster.toml").unwrap())
    );
}

/// ha drains a leaving server for up to drain_ms, the webapps' app for as long: both get it.
#[test]
fn drain_ms_reaches_ha_and_the_webapps() {
    let text = LAB.replace("port = 3000", "port = 3000\ndrain_ms = 15000");
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let env = |node: &cluster::Node| cluster.node_env(node, &[]);
    let ha = env(&cluster.ha_node());
    let model = &ha.iter().find(|(k, _)| k == "CLUSTER_TOML").unwrap().1;
    let model = cluster::parse(model, "CLUSTER_TOML").unwrap();
    assert_eq!(model.webapps.drain_ms, 15000);
    let s1 = env(&cluster.webapp_nodes(1)[0]);
    assert!(s1.contains(&("DRAIN_MS".into(), "15000".into())), "{s1:?}");
    assert!(
        s1.contains(&("SERF_BALANCER".into(), "ha".into())),
        "{s1:?}"
    );
    let addrs = ("SERF_BALANCER_ADDRS".into(), "192.168.42.42".into());
    assert!(s1.contains(&addrs), "{s1:?}");
    assert_eq!(cluster.webapps.stop_timeout_s(), 23);
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

const STACK: &str = include_str!("../../templates/stack.yml.j2");

fn swarm() -> Cluster {
    let text = format!("{LAB}\n[deploy]\ntarget = \"swarm\"\n");
    cluster::parse(&text, "cluster.toml").unwrap()
}

fn stack(cluster: &Cluster) -> String {
    let inputs = cluster::StackInputs {
        images: cluster.swarm_latest_images(),
        secrets: cluster
            .swarm_secrets()
            .into_iter()
            .map(|s| {
                let file = format!("../.state/lab4/{}", s.key);
                (s, file)
            })
            .collect(),
    };
    cluster::render_stack(STACK, cluster, &inputs).unwrap()
}

/// The stack file: host-mode ports on ha only, the webapps named by slot and joining ha
/// through Swarm's DNS, the secrets as files (never their contents).
#[test]
fn stack_lab() {
    insta::assert_snapshot!(stack(&swarm()));
}

/// gen renders the stack file from an engine cluster file too: ha's model there says
/// Swarm, so the stats page it serves asks for the password.
#[test]
fn stack_from_an_engine_file_is_a_swarm_stack() {
    assert_eq!(stack(&lab()), stack(&swarm()));
}

/// On a Swarm the stats page (and /metrics on it) asks for the password, taken from
/// HAProxy's environment; on the engine nothing changes.
#[test]
fn haproxy_on_swarm_asks_for_the_stats_password() {
    let rendered = haproxy_declared(&swarm());
    assert!(
        rendered.contains("    user lbkit insecure-password \"${LBKIT_STATS_PASSWORD}\"\n"),
        "{rendered}"
    );
    let stats = &rendered[rendered.find("listen stats").unwrap()..];
    let auth = stats
        .find("http-request auth realm stats unless { http_auth(stats_users) }")
        .expect("the stats page asks for credentials");
    let metrics = stats.find("prometheus-exporter").unwrap();
    assert!(auth < metrics, "/metrics is behind the password too");
    assert!(!haproxy_declared(&lab()).contains("userlist"));
}

#[test]
fn swarm_model_round_trips_through_toml() {
    let text = format!(
        "{LAB}\n[deploy]\ntarget = \"swarm\"\nregistry = \"registry.example:5000/team\"\nha_constraint = \"node.hostname == lb1\"\naddress = \"10.1.2.3\"\n"
    );
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    assert_eq!(
        cluster.swarm_image("ha", "abc"),
        "registry.example:5000/team/lab4/ha:abc"
    );
    assert_eq!(
        cluster::parse(&cluster.to_toml(), "CLUSTER_TOML").unwrap(),
        cluster
    );
    // The engine's default leaves [deploy] out: the lab's files and fingerprints stay.
    assert!(!lab().to_toml().contains("[deploy]"));
    assert_eq!(
        swarm().swarm_image("webapp", "1"),
        "lbkit.invalid/lab4/webapp:1"
    );
}

#[test]
fn an_app_images_sidecars_take_addresses_from_the_top_of_the_subnet() {
    let text = LAB.replace("count = 2", "count = 2\nimage = \"shop:1\"");
    let cluster = cluster::parse(&text, "cluster.toml").unwrap();
    let hosts = cluster.network.subnet.hosts().count() as u32;
    // Two addresses a webapp (its own, its sidecar's), besides the gateway and ha.
    assert_eq!(cluster.max_webapps(), (hosts - 2) / 2);
    let top = cluster.network.subnet.broadcast();
    let below = |n: u32| std::net::Ipv4Addr::from(u32::from(top) - n);
    assert_eq!(cluster.sidecar_ip("s1"), Some(below(1)));
    assert_eq!(cluster.sidecar_ip("s2"), Some(below(2)));
    let last = format!("s{}", cluster.max_webapps());
    let first_free = cluster.webapp_node(cluster.max_webapps()).unwrap().ip;
    assert!(cluster.sidecar_ip(&last).unwrap() > first_free);
    assert_eq!(
        cluster.sidecar_ip(&format!("s{}", cluster.max_webapps() + 1)),
        None
    );
    assert_eq!(cluster.sidecar_ip("x1"), None);
    // Serf joins the sidecars' addresses, where the webapps' agents listen.
    let nodes = cluster.webapp_nodes(2);
    let env = cluster.node_env(&cluster.ha_node(), &nodes);
    let join = env.iter().find(|(k, _)| k == "SERF_JOIN").unwrap();
    assert_eq!(join.1, format!("{} {}", below(1), below(2)));
    // The lab's webapps keep one address each.
    assert_eq!(lab().max_webapps(), hosts - 2);
    assert_eq!(
        lab().serf_ip(&lab().webapp_nodes(1)[0]),
        lab().webapp_nodes(1)[0].ip
    );
}
