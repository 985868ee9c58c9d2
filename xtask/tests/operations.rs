//! What an operator meets on the real engine: restart policy, HEALTHCHECK in `docker ps`,
//! HTTPS with the project's CA, the Prometheus exporter, s6 restarting a crashed app.
mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{docker, eventually, http_get, root, run_tool, Scratch, Stack};

/// A stack with `[ha.tls] generate = true, redirect = true`, HTTPS next to its HTTP port.
fn tls_stack(name: &str, slot: u16, webapps: u32) -> (Stack, u16) {
    tls_stack_with(name, slot, webapps, "generate = true\nredirect = true\n")
}

/// A stack whose `[ha.tls]` table holds `settings`, HTTPS next to its HTTP port.
fn tls_stack_with(name: &str, slot: u16, webapps: u32, settings: &str) -> (Stack, u16) {
    let mut https_port = 0;
    let stack = Stack::with(name, slot, webapps, |text| {
        let http: u16 = text
            .lines()
            .find_map(|l| l.strip_prefix("http_port = "))
            .and_then(|p| p.parse().ok())
            .expect("the stack's http_port");
        https_port = http + 1;
        let text = text.replace(
            "http_port = ",
            &format!("https_port = {https_port}\nhttp_port = "),
        );
        format!("{text}\n[ha.tls]\n{settings}")
    });
    (stack, https_port)
}

/// `docker ps` status of each of the project's containers.
fn ps_status(stack: &Stack) -> BTreeMap<String, String> {
    let filter = format!("label=lbkit.project={}", stack.name);
    docker(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--format",
        "{{.Names}}\t{{.Status}}",
    ])
    .stdout_text()
    .lines()
    .filter_map(|l| l.split_once('\t'))
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect()
}

fn all_healthy(stack: &Stack, names: &[String]) -> Option<()> {
    let status = ps_status(stack);
    names
        .iter()
        .all(|n| status.get(n).is_some_and(|s| s.contains("(healthy)")))
        .then_some(())
}

/// HTTPS through the load balancer, the chain verified against `ca`; the body, or why not.
fn https_get(ca: &std::path::Path, port: u16, path: &str) -> Result<String, String> {
    let url = format!("https://127.0.0.1:{port}{path}");
    let ca = ca.to_str().unwrap();
    let out = run_tool(
        "curl",
        &["-sS", "--fail", "--max-time", "10", "--cacert", ca, &url],
    );
    if out.status.success() {
        Ok(out.stdout_text())
    } else {
        Err(out.all_text())
    }
}

/// The `haproxy_server_status` series of the `nodes` backend whose value is 1: server -> state.
fn exporter_states(stats_port: u16) -> BTreeMap<String, String> {
    let body = http_get(&format!("http://127.0.0.1:{stats_port}/metrics")).expect("GET /metrics");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "haproxy_server_status")
        .filter(|s| s.labels.get("proxy") == Some("nodes"))
        .filter(|s| matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0))
        .map(|s| {
            (
                s.labels.get("server").unwrap().to_string(),
                s.labels.get("state").unwrap().to_string(),
            )
        })
        .collect()
}

/// `status --json`: the HAProxy state of every webapp row.
fn status_states(stack: &Stack) -> BTreeMap<String, String> {
    let status = stack.xtask(&["status", "--json"]);
    status.assert_success();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout_text()).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] != stack.ha().as_str())
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["haproxy"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn https_metrics_health_and_restart_policy() {
    if support::skip_without_engine() {
        return;
    }
    let (stack, https_port) = tls_stack("e2e-ops", 71, 2);
    let _images = support::DropImages(&stack);
    let up = stack.xtask(&["up"]);
    up.assert_success();
    assert!(
        up.stdout_text()
            .contains(&format!("https://127.0.0.1:{https_port}/")),
        "{}",
        up.all_text()
    );
    let nodes = [stack.ha(), stack.node(1), stack.node(2)];

    // Every container comes back after a daemon restart, unless stopped by hand.
    for name in &nodes {
        let policy = docker(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", name]);
        assert_eq!(policy.stdout_text().trim(), "unless-stopped", "{name}");
    }

    // HEALTHCHECK: `docker ps` and `status` say (healthy).
    eventually(
        "(healthy) in docker ps for all",
        Duration::from_secs(90),
        || all_healthy(&stack, &nodes),
    );
    let status = stack.xtask(&["status"]);
    status.assert_success();
    assert_eq!(
        status.stdout_text().matches("running (healthy)").count(),
        3,
        "{}",
        status.stdout_text()
    );

    // HTTPS: the project's CA (owner-only) verifies the chain; the lab JSON comes back.
    let tls_dir = root().join(".state").join(&stack.name).join("tls");
    for file in ["ca.pem", "ca-key.pem", "server.pem"] {
        let mode = std::fs::metadata(tls_dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is owner-only");
    }
    let ca = tls_dir.join("ca.pem");
    let body = https_get(&ca, https_port, "/").expect("HTTPS verified against the project CA");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["hello"], "world!");
    // Without the CA the chain does not verify.
    let url = format!("https://127.0.0.1:{https_port}/");
    let unverified = run_tool("curl", &["-sS", "--max-time", "10", &url]);
    assert_eq!(
        unverified.status.code(),
        Some(60),
        "{}",
        unverified.all_text()
    );
    // Old protocols are refused.
    let tls11 = run_tool(
        "curl",
        &[
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            ca.to_str().unwrap(),
            "--tls-max",
            "1.1",
            &url,
        ],
    );
    assert!(!tls11.status.success(), "TLS 1.1 must be refused");
    // redirect = true: plain HTTP answers with the HTTPS address.
    let redirect = run_tool(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("http://127.0.0.1:{}/x?y=1", stack.http_port),
        ],
    );
    assert_eq!(
        redirect.stdout_text(),
        format!("301 https://127.0.0.1:{https_port}/x?y=1")
    );
    // Ten days left on the server certificate: `up` renews it with the same CA and ha,
    // not recreated, serves the new one.
    let (near_key, csr, near) = (
        tls_dir.join("near-key.pem"),
        tls_dir.join("near.csr"),
        tls_dir.join("near.pem"),
    );
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let mut request = vec!["req", "-new"];
    request.extend(NEW_EC_KEY);
    let (key_out, csr_out) = (path(&near_key), path(&csr));
    request.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        &key_out,
        "-out",
        &csr_out,
    ]);
    run_tool("openssl", &request).assert_success();
    let extensions = tls_dir.join("near.ext");
    std::fs::write(&extensions, "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run_tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &path(&csr),
            "-CA",
            &path(&ca),
            "-CAkey",
            &path(&tls_dir.join("ca-key.pem")),
            "-set_serial",
            "7",
            "-days",
            "10",
            "-extfile",
            &path(&extensions),
            "-out",
            &path(&near),
        ],
    )
    .assert_success();
    let pem =
        std::fs::read_to_string(&near).unwrap() + &std::fs::read_to_string(&near_key).unwrap();
    std::fs::write(tls_dir.join("server.pem"), pem).unwrap();
    for file in [&near_key, &csr, &near, &extensions] {
        std::fs::remove_file(file).unwrap();
    }
    let ha_id = docker(&["inspect", "-f", "{{.Id}}", &stack.ha()]).stdout_text();
    let renewed = stack.xtask(&["up"]);
    renewed.assert_success();
    let said = renewed.stdout_text();
    assert!(
        said.contains("renewed the project's server certificate")
            && said.contains("new certificate in place, applied by a hitless reload"),
        "{}",
        renewed.all_text()
    );
    let end = run_tool(
        "openssl",
        &[
            "x509",
            "-noout",
            "-checkend",
            &(300 * 86_400).to_string(),
            "-in",
            &path(&tls_dir.join("server.pem")),
        ],
    );
    assert!(
        end.status.success(),
        "valid for more than 300 days: {}",
        end.all_text()
    );
    https_get(&ca, https_port, "/").expect("the renewed certificate chains to the same CA");
    assert_eq!(
        docker(&["inspect", "-f", "{{.Id}}", &stack.ha()]).stdout_text(),
        ha_id
    );

    // Nothing published beyond the bind address, and never the runtime socket.
    let ports = docker(&["port", &stack.ha()]).stdout_text();
    assert_eq!(ports.lines().count(), 3, "{ports}");
    assert!(
        ports.lines().all(|l| l.contains("-> 127.0.0.1:")),
        "{ports}"
    );

    // /metrics: one series per webapp with its state, as `status --json` says.
    let exported = exporter_states(stack.stats_port);
    assert_eq!(
        exported.keys().cloned().collect::<Vec<_>>(),
        vec![stack.node(1), stack.node(2)]
    );
    assert_eq!(exported, status_states(&stack));

    // 20 hitless reloads under HTTPS load: no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, ca, url) = (stop.clone(), ca.clone(), url.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                // 20 requests, each on a new connection and a new TLS handshake.
                let mut args = vec!["-s", "--max-time", "20", "-H", "Connection: close"];
                args.extend(["--cacert", ca.to_str().unwrap(), "-w", "%{http_code}\n"]);
                for _ in 0..20 {
                    args.extend([url.as_str(), "-o", "/dev/null"]);
                }
                let out = run_tool("curl", &args);
                for code in out.stdout_text().lines() {
                    if code == "200" {
                        ok += 1;
                    } else {
                        failed.push(code.to_string());
                    }
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    for n in 0..20 {
        let reload = docker(&["exec", &stack.ha(), "ha-agent", "reload"]);
        assert!(reload.status.success(), "reload {n}: {}", reload.all_text());
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    eprintln!("HTTPS under 20 reloads: {ok} ok, {} failed", failed.len());
    assert!(ok > 100, "too little load to mean anything: {ok}");
    assert!(failed.is_empty(), "failed HTTPS requests: {failed:?}");

    // A crashed app is restarted by s6 and comes back into rotation.
    let s1 = stack.node(1);
    let crashed = std::time::Instant::now();
    let kill = docker(&["exec", &s1, "pkill", "-KILL", "-x", "webapp"]);
    assert!(kill.status.success(), "{}", kill.all_text());
    eventually(
        "s1 serving again after its app crashed",
        Duration::from_secs(60),
        || {
            let states = exporter_states(stack.stats_port);
            let up = states.get(&s1).is_some_and(|s| s == "UP");
            let answering = docker(&["exec", &s1, "http-probe", "3000", "/health"])
                .status
                .success();
            (up && answering).then_some(())
        },
    );
    eprintln!(
        "crashed app restarted by s6, answering and UP again: {:.1} s",
        crashed.elapsed().as_secs_f64()
    );

    // An app stopped for good (s6-svc -d) makes its container unhealthy; HAProxy drops it.
    let down = docker(&["exec", &s1, "s6-svc", "-d", "/etc/s6/webapp"]);
    assert!(down.status.success(), "{}", down.all_text());
    eventually(
        "s1 (unhealthy) in docker ps",
        Duration::from_secs(60),
        || {
            ps_status(&stack)
                .get(&s1)
                .is_some_and(|s| s.contains("(unhealthy)"))
                .then_some(())
        },
    );
    eventually(
        "metrics and status agree on s1 DOWN",
        // HAProxy checks an UP server every 30 s by default.
        Duration::from_secs(60),
        || {
            let exported = exporter_states(stack.stats_port);
            (exported.get(&s1).map(String::as_str) == Some("DOWN")
                && exported == status_states(&stack))
            .then_some(())
        },
    );
    assert!(ps_status(&stack)[&stack.node(2)].contains("(healthy)"));
}

#[test]
fn bad_certificate_files_are_refused_before_anything_starts() {
    if support::skip_without_engine() {
        return;
    }
    let scratch = Scratch::new("e2e-badtls-pem");
    let key = scratch.path("key.pem");
    let cert = scratch.path("cert.pem");
    let other = scratch.path("other.pem");
    self_signed(&cert, &key, "localhost");
    self_signed(&scratch.path("other-cert.pem"), &other, "localhost");
    let cases = [
        (cert.clone(), scratch.path("missing.pem"), "ha.tls.key: "),
        (scratch.path("missing.pem"), key.clone(), "ha.tls.cert: "),
        (
            cert.clone(),
            other.clone(),
            "does not match the certificate",
        ),
        (key.clone(), key.clone(), "ha.tls.cert: "),
    ];
    for (n, (cert, key, expected)) in cases.into_iter().enumerate() {
        let stack = Stack::with("e2e-badtls", 72, 1, |text| {
            format!(
                "{text}\n[ha.tls]\ncert = {:?}\nkey = {:?}\n",
                cert.to_str().unwrap(),
                key.to_str().unwrap()
            )
        });
        let up = stack.xtask(&["up"]);
        assert_eq!(up.status.code(), Some(2), "case {n}: {}", up.all_text());
        let stderr = up.stderr_text();
        assert_eq!(stderr.lines().count(), 1, "case {n}: one line: {stderr}");
        assert!(stderr.contains(expected), "case {n}: {stderr}");
        assert!(stack.containers().is_empty(), "case {n}: nothing created");
        assert!(stack.networks().is_empty(), "case {n}: nothing created");
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 with its key, at `cert`/`key`.
fn self_signed(cert: &std::path::Path, key: &std::path::Path, name: &str) {
    let subject = format!("/CN={name}");
    let mut args = vec!["req", "-x509"];
    args.extend(NEW_EC_KEY);
    args.extend([
        "-subj",
        &subject,
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-days",
        "2",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    run_tool("openssl", &args).assert_success();
}

/// openssl's arguments for a new P-256 key, unencrypted.
const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

#[test]
fn a_user_certificate_is_served_and_replaced_in_place_without_a_failed_request() {
    if support::skip_without_engine() {
        return;
    }
    let scratch = Scratch::new("e2e-usertls-pem");
    let (cert, key) = (scratch.path("cert.pem"), scratch.path("key.pem"));
    self_signed(&cert, &key, "first");
    let first = scratch.path("first.pem");
    std::fs::copy(&cert, &first).unwrap();
    let files = format!(
        "cert = {:?}\nkey = {:?}\n",
        cert.to_str().unwrap(),
        key.to_str().unwrap()
    );
    let (stack, https_port) = tls_stack_with("e2e-usertls", 75, 2, &files);
    stack.xtask(&["up"]).assert_success();
    let body = https_get(&first, https_port, "/").expect("the user's certificate served");
    assert!(body.contains("world"), "{body}");
    let ha_id = docker(&["inspect", "-f", "{{.Id}}", &stack.ha()]).stdout_text();

    // Both files replaced where they are: the next `up` puts them in place, hitlessly.
    self_signed(&cert, &key, "second");
    let load = support::Load::start(&stack, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(1));
    let up = stack.xtask(&["up"]);
    std::thread::sleep(Duration::from_secs(1));
    load.finish().assert_none_failed();
    up.assert_success();
    assert!(
        up.stdout_text()
            .contains("new certificate in place, applied by a hitless reload"),
        "{}",
        up.all_text()
    );
    https_get(&cert, https_port, "/").expect("the new certificate served");
    assert!(
        https_get(&first, https_port, "/").is_err(),
        "the old certificate is gone"
    );
    let same_ha = docker(&["inspect", "-f", "{{.Id}}", &stack.ha()]).stdout_text();
    assert_eq!(same_ha, ha_id, "ha was not recreated");
    // Nothing changed since: nothing to do.
    let again = stack.xtask(&["up"]);
    again.assert_success();
    assert!(
        !again.stdout_text().contains("new certificate"),
        "{}",
        again.all_text()
    );
}
