//! Runs the real `webapp` binary on 127.0.0.1 with an ephemeral port and
//! talks to it over HTTP, as HAProxy and the lab's curl commands would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;

struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    base: String,
    agent: Agent,
}

impl Server {
    /// Starts the binary and waits for its "listening on <addr>" line.
    fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webapp"))
            .env("BIND", "127.0.0.1")
            .env("PORT", "0")
            // No leave phase unless a test asks for one: stops are immediate.
            .env("LEAVE_MS", "0")
            .env_remove("DRAIN_MS")
            .env_remove("NODE_IP")
            .env_remove("TAG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn webapp");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("webapp listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self {
            child,
            stdout,
            base: format!("http://{addr}"),
            agent,
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            req = req.header("Cookie", cookie);
        }
        Reply::from(req.call().expect("GET"))
    }

    fn post_delay(&self, body: &str) -> Reply {
        let req = self
            .agent
            .post(format!("{}/delay", self.base))
            .header("Content-Type", "application/json");
        Reply::from(req.send(body).expect("POST"))
    }

    fn post(&self, path: &str, request_id: Option<&str>) -> Reply {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(id) = request_id {
            req = req.header("X-Request-Id", id);
        }
        Reply::from(req.send_empty().expect("POST"))
    }

    /// Sends `GET path` on a connection of its own and returns once the server has read
    /// it: the request is in flight. The thread answers the whole reply (or the error).
    fn in_flight(&self, path: &str) -> std::thread::JoinHandle<std::io::Result<String>> {
        let addr = self.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).expect("connect");
        let client_port = stream.local_addr().unwrap().port();
        let server_port = stream.peer_addr().unwrap().port();
        let request = format!("GET {path} HTTP/1.1\r\nHost: webapp\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let reply = std::thread::spawn(move || {
            let mut reply = String::new();
            stream.read_to_string(&mut reply).map(|_| reply)
        });
        wait_until_read(server_port, client_port);
        reply
    }

    /// Whether a new connection is accepted now.
    fn accepts(&self) -> bool {
        let addr = self.base.trim_start_matches("http://").to_string();
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            return false;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = b"GET /health HTTP/1.1\r\nHost: webapp\r\nConnection: close\r\n\r\n";
        let mut reply = String::new();
        stream.write_all(request).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.starts_with("HTTP/1.1 200")
    }

    /// What the server printed after its first line, once it has exited.
    fn rest_of_stdout(&mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    backend_ip: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

impl From<ureq::http::Response<ureq::Body>> for Reply {
    fn from(mut res: ureq::http::Response<ureq::Body>) -> Self {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        Self {
            status: res.status().as_u16(),
            backend_ip: header("x-backend-ip"),
            set_cookie: header("set-cookie"),
            body: res.body_mut().read_to_string().unwrap(),
        }
    }
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// `connect.sid=<id>` from Set-Cookie, ready to send back as Cookie.
    fn cookie(&self) -> String {
        let set = self.set_cookie.as_deref().expect("Set-Cookie");
        set.split(';').next().unwrap().to_owned()
    }
}

#[test]
fn hello_reports_identity_session_and_header() {
    let server = Server::start(&[("NODE_IP", "10.1.2.3"), ("TAG", "blue")]);
    let reply = server.get("/", None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.backend_ip.as_deref(), Some("10.1.2.3"));

    let json = reply.json();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["hello", "host", "id", "ip", "sessionViews", "tag"]);
    assert_eq!(json["hello"], "world!");
    assert_eq!(json["ip"], "10.1.2.3");
    assert_eq!(json["tag"], "blue");
    assert_eq!(json["sessionViews"], 1);
    assert!(!json["host"].as_str().unwrap().is_empty());
    let id = json["id"].as_str().unwrap();
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));

    let set_cookie = reply.set_cookie.as_deref().unwrap();
    assert!(set_cookie.starts_with(&format!("connect.sid={id};")));
    assert!(set_cookie.contains("Path=/") && set_cookie.contains("HttpOnly"));
}

#[test]
fn detected_ip_matches_header_and_tag_defaults() {
    let server = Server::start(&[]);
    let reply = server.get("/", None);
    let json = reply.json();
    let ip = json["ip"].as_str().unwrap();
    ip.parse::<std::net::IpAddr>().expect("ip is an address");
    assert_eq!(reply.backend_ip.as_deref(), Some(ip));
    assert_eq!(json["tag"], "webapp");
}

#[test]
fn session_views_count_per_cookie() {
    let server = Server::start(&[]);
    let first = server.get("/", None);
    let cookie = first.cookie();
    let id = first.json()["id"].clone();

    let second = server.get("/", Some(&format!("other=1; {cookie}")));
    assert_eq!(second.json()["sessionViews"], 2);
    assert_eq!(second.json()["id"], id);
    assert_eq!(second.set_cookie, None, "known session keeps its cookie");
    assert_eq!(server.get("/", Some(&cookie)).json()["sessionViews"], 3);

    let fresh = server.get("/", None);
    assert_eq!(fresh.json()["sessionViews"], 1);
    assert_ne!(fresh.json()["id"], id);

    let unknown = server.get("/", Some("connect.sid=deadbeef"));
    assert_eq!(unknown.json()["sessionViews"], 1);
    assert!(unknown.set_cookie.is_some());
}

#[test]
fn health_is_plain_ok_without_session() {
    let server = Server::start(&[]);
    let reply = server.get("/health", None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.set_cookie, None);
}

#[test]
fn delay_slows_later_hello_but_not_health() {
    let server = Server::start(&[]);
    let reply = server.post_delay(r#"{"delay": 300}"#);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({ "delay": 300 }));

    let started = Instant::now();
    assert_eq!(server.get("/", None).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    assert_eq!(server.get("/health", None).status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));

    assert_eq!(server.post_delay(r#"{"delay": 0}"#).status, 200);
    let started = Instant::now();
    server.get("/", None);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn bad_delay_body_is_400_with_json_error() {
    let server = Server::start(&[]);
    for body in [
        "",
        "nope",
        "{}",
        r#"{"delay": -5}"#,
        r#"{"delay": "100"}"#,
        r#"{"delay": 600000}"#,
    ] {
        let reply = server.post_delay(body);
        assert_eq!(reply.status, 400, "body {body:?}");
        assert!(reply.json()["error"].is_string(), "body {body:?}");
    }
    // Nothing was applied.
    let started = Instant::now();
    server.get("/", None);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn sigterm_finishes_in_flight_request_then_exits_zero() {
    let mut server = Server::start(&[]);
    assert_eq!(server.post_delay(r#"{"delay": 500}"#).status, 200);

    // A raw connection, so the test knows its port and can see the request read.
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let client_port = stream.local_addr().unwrap().port();
    let server_port = stream.peer_addr().unwrap().port();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: webapp\r\nConnection: close\r\n\r\n")
        .unwrap();
    let in_flight = std::thread::spawn(move || {
        let mut reply = String::new();
        stream.read_to_string(&mut reply).map(|_| reply)
    });
    wait_until_read(server_port, client_port);
    server.signal("TERM");

    let reply = in_flight
        .join()
        .unwrap()
        .expect("in-flight request answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(server.child.wait().unwrap().success());
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("SIGTERM"), "shutdown line: {rest:?}");
}

/// Waits until the server has read the request sent from `client_port`: the client's
/// bytes are acknowledged (nothing left in its send queue) and the server's socket holds
/// none unread (`/proc/net/tcp`, queues in hex). Before accepting, the server would leave
/// them queued in the kernel.
fn wait_until_read(server_port: u16, client_port: u16) {
    let queues = |local: u16, remote: u16| -> Option<(u64, u64)> {
        let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
            if port(fields.get(1)?)? != local || port(fields.get(2)?)? != remote {
                return None;
            }
            let (tx, rx) = fields.get(4)?.split_once(':')?;
            Some((
                u64::from_str_radix(tx, 16).ok()?,
                u64::from_str_radix(rx, 16).ok()?,
            ))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = queues(client_port, server_port).is_some_and(|(tx, _)| tx == 0);
        let read = queues(server_port, client_port).is_some_and(|(_, rx)| rx == 0);
        if sent && read {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not read the request within 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn slow_takes_the_time_asked_and_names_the_host() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let reply = server.get("/slow?ms=300", None);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["slept_ms"], 300);
    assert!(!json["host"].as_str().unwrap().is_empty());
    assert_eq!(reply.set_cookie, None, "no session");
    for bad in [
        "/slow",
        "/slow?ms=",
        "/slow?ms=abc",
        "/slow?ms=-1",
        "/slow?ms=600000",
    ] {
        let reply = server.get(bad, None);
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.json()["error"].is_string(), "{bad}");
    }
}

/// Each POST that runs says so once, with its request id: a test counts executions.
#[test]
fn a_slow_post_prints_one_line_when_it_executes() {
    let mut server = Server::start(&[]);
    assert_eq!(server.post("/slow?ms=10&x=1", Some("abc-1")).status, 200);
    assert_eq!(server.post("/slow?ms=0", None).status, 200);
    assert_eq!(server.get("/slow?ms=0", None).status, 200);
    assert_eq!(server.post("/slow?ms=nope", Some("bad")).status, 400);
    server.signal("INT");
    assert!(server.child.wait().unwrap().success());
    let executed: Vec<String> = server
        .rest_of_stdout()
        .lines()
        .filter(|l| l.contains("executed"))
        .map(String::from)
        .collect();
    assert_eq!(
        executed,
        [
            "webapp: executed POST /slow id=abc-1",
            "webapp: executed POST /slow id=-"
        ]
    );
}

/// SIGTERM: new requests are still served for LEAVE_MS, then accepting stops and the
/// request in flight finishes within DRAIN_MS.
#[test]
fn sigterm_serves_during_leave_then_drains_in_flight_requests() {
    let mut server = Server::start(&[("LEAVE_MS", "700"), ("DRAIN_MS", "5000")]);
    let in_flight = server.in_flight("/slow?ms=2000");
    let signalled = Instant::now();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.accepts(), "a new request during the leave is served");
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        !server.accepts(),
        "no new connection once the leave is over"
    );
    let reply = in_flight
        .join()
        .unwrap()
        .expect("in-flight request answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"slept_ms\":2000"), "{reply}");
    assert!(server.child.wait().unwrap().success());
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exits once drained"
    );
}

/// A request longer than DRAIN_MS is cut: the app exits when DRAIN_MS has passed.
#[test]
fn sigterm_cuts_what_outlives_the_drain() {
    let mut server = Server::start(&[("DRAIN_MS", "300")]);
    let in_flight = server.in_flight("/slow?ms=20000");
    let signalled = Instant::now();
    server.signal("TERM");
    assert!(server.child.wait().unwrap().success());
    let waited = signalled.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let reply = in_flight.join().unwrap().unwrap_or_default();
    assert!(!reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(server.rest_of_stdout().contains("cutting"));
}

#[test]
fn sigint_exits_zero() {
    let mut server = Server::start(&[]);
    server.signal("INT");
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn version_flag_prints_and_exits() {
    let out = Command::new(env!("CARGO_BIN_EXE_webapp"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = format!("webapp {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}
