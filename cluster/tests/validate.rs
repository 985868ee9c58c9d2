//! One row per validation error: the input change and the exact one-line message.
//! The rows edit a fixture of their own, not the user's cluster.toml: a comment added
//! there must not move the line numbers the messages expect.
const LAB: &str = include_str!("fixtures/lab.toml");
/// The repository's cluster file, which the fixture copies.
const ROOT: &str = include_str!("../../cluster.toml");

fn error_for(text: &str) -> String {
    cluster::parse(text, "cluster.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_lab_file_is_valid() {
    let cluster = cluster::parse(LAB, "cluster.toml").unwrap();
    assert_eq!(cluster.project, "lab4");
    assert_eq!(cluster.ha.ip.to_string(), "192.168.42.42");
    assert_eq!(cluster.webapp_nodes(2).len(), 2);
}

/// The fixture may differ from cluster.toml in comments and layout, never in meaning.
#[test]
fn the_fixture_declares_the_same_cluster_as_the_lab_file() {
    assert_eq!(
        cluster::parse(LAB, "tests/fixtures/lab.toml").unwrap(),
        cluster::parse(ROOT, "cluster.toml").unwrap(),
        "cluster.toml changed meaning: update tests/fixtures/lab.toml and the expected line numbers"
    );
}

#[test]
fn an_empty_file_means_the_lab_defaults() {
    assert_eq!(
        cluster::parse("", "x.toml").unwrap(),
        cluster::parse(LAB, "cluster.toml").unwrap()
    );
}

#[test]
fn each_mistake_has_a_precise_message() {
    let table: &[(&str, &str, &str)] = &[
        // (replace, with, expected message)
        ("[serf]", "colour = \"red\"\n[serf]", "cluster.toml:34: webapps.colour: unknown field `colour`, expected one of `count`, `prefix`, `port`, `image`, `build`, `command`, `max_unavailable`, `drain_ms`, `cap_add`"),
        ("[serf]", "cap_add = [\"NET_RAW\"]\n[serf]", "cluster.toml:34: webapps.cap_add: \"NET_RAW\" would undo the webapps' hardening (raw traffic on the cluster network, or a way out of the container); remove it"),
        ("[serf]", "cap_add = [\"all\"]\n[serf]", "cluster.toml:34: webapps.cap_add: \"all\" would undo the webapps' hardening (raw traffic on the cluster network, or a way out of the container); remove it"),
        ("[serf]", "cap_add = [\"CAP_SYS_PTRACE\"]\n[serf]", "cluster.toml:34: webapps.cap_add: \"CAP_SYS_PTRACE\" would undo the webapps' hardening (raw traffic on the cluster network, or a way out of the container); remove it"),
        ("[serf]", "cap_add = [\"FLY\"]\n[serf]", "cluster.toml:34: webapps.cap_add: \"FLY\" is not a Linux capability; use Docker's names, e.g. [\"SYS_NICE\"]"),
        ("count = 2", "count = \"two\"", "cluster.toml:30: webapps.count: invalid type: string \"two\", expected an integer"),
        ("count = 2", "count = 2\ncount = 3", "cluster.toml:31: webapps.count: duplicate key"),
        ("project = \"lab4\"", "project = \"Lab_4\"", "cluster.toml:3: project: \"Lab_4\" is not a valid name; use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"),
        ("name = \"ha\"", "name = \"-ha\"", "cluster.toml:14: ha.name: \"-ha\" is not a valid name; use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"),
        ("name = \"ha\"", "name = \"s1\"", "cluster.toml:14: ha.name: \"s1\" collides with the webapp names s1, s2...; choose another name or webapps.prefix"),
        ("prefix = \"s\"", "prefix = \"S_\"", "cluster.toml:31: webapps.prefix: \"S_\" does not make valid node names (S_1, S_2...); use lowercase letters, digits and '-', starting with a letter, e.g. \"s\""),
        ("name = \"heig\"", "name = \"heig net\"", "cluster.toml:6: network.name: \"heig net\" is not a valid Docker network name; use letters, digits, '_', '.' and '-', starting with a letter or digit"),
        ("192.168.42.0/24", "192.168.42.0/33", "cluster.toml:7: network.subnet: \"192.168.42.0/33\" is not an IPv4 subnet; use CIDR notation, e.g. \"192.168.42.0/24\""),
        ("192.168.42.0/24", "192.168.42.7/24", "cluster.toml:7: network.subnet: 192.168.42.7/24 has host bits set; use 192.168.42.0/24"),
        ("192.168.42.0/24", "192.168.42.0/30", "cluster.toml:7: network.subnet: 192.168.42.0/30 is too small; use a prefix of /29 or shorter, e.g. /24"),
        ("ip = \"192.168.42.42\"", "ip = \"192.168.43.42\"", "cluster.toml:15: ha.ip: 192.168.43.42 is outside network.subnet 192.168.42.0/24; use an address inside it"),
        ("ip = \"192.168.42.42\"", "ip = \"192.168.42.1\"", "cluster.toml:15: ha.ip: 192.168.42.1 is the gateway of network.subnet 192.168.42.0/24 (Docker takes its first address); use another address, e.g. 192.168.42.42"),
        ("ip = \"192.168.42.42\"", "ip = \"192.168.42.255\"", "cluster.toml:15: ha.ip: 192.168.42.255 is the network or broadcast address of 192.168.42.0/24; use a host address"),
        ("ip = \"192.168.42.42\"", "ip = \"ha.local\"", "cluster.toml:15: ha.ip: \"ha.local\" is not an IPv4 address; use one inside network.subnet 192.168.42.0/24"),
        ("192.168.42.0/24\"", "192.168.42.0/28\"\n", "cluster.toml:31: webapps.count: 20 webapps do not fit in network.subnet 192.168.42.0/28 (room for 12 besides the gateway and ha); lower the count or use a larger subnet"),
        ("http_port = 80", "http_port = 70000", "cluster.toml:16: ha.http_port: 70000 is not a TCP port; use 1-65535"),
        ("stats_port = 1936", "stats_port = 80", "cluster.toml:17: ha.stats_port: 80 is also ha.http_port; use two different ports, e.g. 1936"),
        ("port = 3000", "port = 0", "cluster.toml:32: webapps.port: 0 is not a TCP port; use 1-65535"),
        ("bind = \"127.0.0.1\"", "bind = \"::1\"", "cluster.toml:18: ha.bind: \"::1\" is not an IPv4 address; use \"127.0.0.1\" (local only) or \"0.0.0.0\""),
        ("bind = \"127.0.0.1\"", "bind = \"localhost\"", "cluster.toml:18: ha.bind: \"localhost\" is not an IPv4 address; use \"127.0.0.1\" (local only) or \"0.0.0.0\""),
        ("\"roundrobin\"", "\"fastest\"", "cluster.toml:19: ha.balance: \"fastest\" is not supported; use one of roundrobin, static-rr, leastconn, first, source, random"),
        ("reload = \"hitless\"", "reload = \"graceful\"", "cluster.toml:21: ha.reload: \"graceful\" is not supported; use one of hitless, restart"),
        ("reload = \"hitless\"", "reload = \"hitless\"\nupdate = \"hot\"", "cluster.toml:22: ha.update: \"hot\" is not supported; use one of runtime, reload"),
        ("path = \"/health\"", "path = \"health\"", "cluster.toml:24: ha.health.path: \"health\" is not an absolute URL path; use e.g. \"/health\""),
        ("interval_ms = 30000", "interval_ms = 10", "cluster.toml:25: ha.health.interval_ms: 10 is too short; use 100 or more"),
        ("fall = 2", "fall = 0", "cluster.toml:27: ha.health.fall: 0 is out of range; use 1-100"),
        ("profile = \"lan\"", "profile = \"lan\"\n[deploy]\ntarget = \"k8s\"", "cluster.toml:37: deploy.target: \"k8s\" is not supported; use one of engine, swarm"),
        ("profile = \"lan\"", "profile = \"lan\"\n[deploy]\nha_constraint = \"manager\"", "cluster.toml:37: deploy.ha_constraint: \"manager\" is not a Swarm placement constraint; use e.g. \"node.role == manager\" or \"node.hostname == lb1\""),
        ("profile = \"lan\"", "profile = \"lan\"\n[deploy]\nha_constraint = 'node.labels.zone == \"a\"'", "cluster.toml:37: deploy.ha_constraint: \"node.labels.zone == \\\"a\\\"\" has a quote, backslash or line break; write the value bare, e.g. \"node.labels.zone == a\""),
        ("profile = \"lan\"", "profile = \"lan\"\n[deploy]\nregistry = \"team\"", "cluster.toml:37: deploy.registry: \"team\" is not a registry prefix; use host[:port][/path], e.g. \"registry.example:5000/team\""),
        ("profile = \"lan\"", "profile = \"lan\"\n[deploy]\naddress = \"lb.example\"", "cluster.toml:37: deploy.address: \"lb.example\" is not an IPv4 address; use the address of ha's node as this host reaches it, e.g. \"127.0.0.1\""),
        ("port = 3000", "port = 3000\nimage = \"shop:1\"\n[deploy]\ntarget = \"swarm\"", "cluster.toml:33: webapps.image: runs beside a Serf sidecar container, which the Swarm target does not deploy; on deploy.target = \"swarm\" use webapps.build (a Dockerfile FROM the project's base) instead"),
        ("count = 2", "count = -1", "cluster.toml:30: webapps.count: -1 is negative; use 0 or more"),
        ("profile = \"lan\"", "profile = \"mars\"", "cluster.toml:35: serf.profile: \"mars\" is not supported; use one of lan, wan, local"),
        ("suite = \"bookworm\"", "suite = \"Bookworm 12\"", "cluster.toml:11: base.suite: \"Bookworm 12\" is not a Debian suite name; use e.g. \"bookworm\""),
        ("port = 3000", "port = 3000\nimage = \"\"", "cluster.toml:33: webapps.image: is empty; use an image on the engine, e.g. \"team/shop:1.4\""),
        ("port = 3000", "port = 3000\nimage = \"shop\"\nbuild = \"app\"", "cluster.toml:34: webapps.build: is set together with webapps.image; keep one: image (any image, Serf in a sidecar) or build (a Dockerfile FROM the project's base)"),
        ("port = 3000", "port = 3000\ncommand = [\"python3\"]", "cluster.toml:33: webapps.command: is only used with webapps.build (the s6 service of an app built on the base); remove it or set webapps.build"),
        ("port = 3000", "port = 3000\nbuild = \"app\"\ncommand = [\"\"]", "cluster.toml:34: webapps.command: has an empty argument; use e.g. [\"python3\", \"-m\", \"http.server\", \"8000\"]"),
        ("port = 3000", "port = 3000\nmax_unavailable = 0", "cluster.toml:33: webapps.max_unavailable: 0 is out of range; use 1 or more (rolling updates replace that many webapps at a time)"),
        ("port = 3000", "port = 3000\ndrain_ms = -5", "cluster.toml:33: webapps.drain_ms: -5 is out of range; use 0-30000 (HAProxy's 30 s server timeout bounds a request)"),
        ("path = \"/health\"", "check = \"udp\"\npath = \"/health\"", "cluster.toml:24: ha.health.check: \"udp\" is not supported; use one of http, tcp"),
        ("image = \"debian:bookworm-slim\"", "image = \"\"", "cluster.toml:10: base.image: is empty; use an image reference such as \"debian:bookworm-slim\""),
    ];
    let mut failures = Vec::new();
    for (from, to, expected) in table {
        assert!(
            LAB.contains(from),
            "test table: {from:?} not in tests/fixtures/lab.toml"
        );
        let mut text = LAB.replacen(from, to, 1);
        if expected.contains("webapps.count: 20") {
            text = text
                .replace("count = 2", "count = 20")
                .replace("192.168.42.42", "192.168.42.14");
        }
        let actual = error_for(&text);
        if actual != *expected {
            failures.push(format!(
                "{from:?} -> {to:?}\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
        assert!(!actual.contains('\n'), "message is one line: {actual}");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn tls_needs_both_files_or_generate() {
    let with_tls = |tls: &str| LAB.replace("[webapps]", &format!("[ha.tls]\n{tls}\n[webapps]"));
    let table: &[(&str, &str)] = &[
        ("", "cluster.toml:29: ha.tls: has no certificate; give cert and key (PEM paths) or generate = true"),
        ("cert = \"c.pem\"", "cluster.toml: ha.tls.key: is missing; give the PEM private key of ha.tls.cert"),
        ("key = \"k.pem\"", "cluster.toml: ha.tls.cert: is missing; give the PEM certificate of ha.tls.key"),
        ("cert = \"c.pem\"\nkey = \"k.pem\"\ngenerate = true", "cluster.toml:32: ha.tls.generate: cannot be true with cert and key; remove cert and key, or generate"),
        ("cert = \"\"\nkey = \"k.pem\"", "cluster.toml:30: ha.tls.cert: is empty; give the path of a PEM file"),
        ("generate = true\nhttps_port = 1", "cluster.toml:31: ha.tls.https_port: unknown field `https_port`, expected one of `cert`, `key`, `generate`, `redirect`"),
    ];
    let actual: Vec<String> = table
        .iter()
        .map(|(tls, _)| error_for(&with_tls(tls)))
        .collect();
    let expected: Vec<&str> = table.iter().map(|(_, e)| *e).collect();
    assert_eq!(actual, expected);
    let port = LAB
        .replace("http_port = 80", "http_port = 80\nhttps_port = 1936")
        .replace("[webapps]", "[ha.tls]\ngenerate = true\n\n[webapps]");
    assert_eq!(
        error_for(&port),
        "cluster.toml:17: ha.https_port: 1936 is also ha.http_port or ha.stats_port; use another port, e.g. 443"
    );
    assert!(cluster::parse(&with_tls("generate = true"), "cluster.toml").is_ok());
}

/// On a Swarm ha's name is also its service's: it cannot be the webapps' service name.
#[test]
fn swarm_reserves_the_webapps_service_name() {
    let text =
        LAB.replace("name = \"ha\"", "name = \"webapps\"") + "\n[deploy]\ntarget = \"swarm\"\n";
    assert_eq!(
        error_for(&text),
        "cluster.toml:14: ha.name: \"webapps\" is the name of the webapps' Swarm service; choose another name, e.g. \"ha\""
    );
}

/// The README's Swarm example is a valid Swarm cluster file.
#[test]
fn the_swarm_example_is_valid() {
    let text = include_str!("../../examples/swarm/cluster.toml");
    let cluster = cluster::parse(text, "examples/swarm/cluster.toml").unwrap();
    assert!(cluster.deploy.is_swarm());
    assert_eq!(
        cluster.swarm_service_name(cluster::Role::Backend),
        "swarmlab_webapps"
    );
}

#[test]
fn cap_add_takes_dockers_names_in_any_case_once_each() {
    let text = "[webapps]\ncap_add = [\"sys_nice\", \"CAP_SYS_NICE\", \"IPC_LOCK\"]\n";
    let cluster = cluster::parse(text, "c.toml").unwrap();
    assert_eq!(cluster.webapps.cap_add, ["IPC_LOCK", "SYS_NICE"]);
}
