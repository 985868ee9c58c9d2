//! Clients of the local Serf agent's RPC port (msgpack over TCP): long-lived connections
//! for the watcher (its log stream, `monitor`, and its reads of `members`), instead of a
//! `serf members` process (and a line in Serf's log) per read.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::members::Member;

pub(crate) const ADDR: &str = "127.0.0.1:7373";
const TIMEOUT: Duration = Duration::from_secs(2);
/// Root-only file holding the gossip key and the RPC token (`rpc_auth`).
pub(crate) const SECRETS: &str = "/etc/serf/encrypt.json";

pub(crate) struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    seq: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RequestHeader<'a> {
    command: &'a str,
    seq: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseHeader {
    seq: u64,
    error: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature([String; 4]);

/// `stats` answers `{"agent": {..}, "runtime": {..}, "serf": {..}, "tags": {..}}`.
#[derive(Deserialize)]
struct StatsBody {
    serf: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MembersBody {
    members: Vec<RpcMember>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RpcMember {
    name: Lossy,
    addr: Bytes,
    port: u16,
    #[serde(default)]
    tags: BTreeMap<Lossy, Lossy>,
    status: Lossy,
}

/// Text from gossip: Serf checks none of it, so a name or tag may be any bytes. Invalid
/// UTF-8 becomes U+FFFD (that member is then refused for its name) instead of failing the
/// whole member list, which would stop every change from being applied.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Lossy(String);

impl<'de> Deserialize<'de> for Lossy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LossyVisitor;
        impl Visitor<'_> for LossyVisitor {
            type Value = Lossy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Lossy, E> {
                Ok(Lossy(v.to_string()))
            }
            // rmp-serde hands a str with invalid UTF-8 over as bytes.
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Lossy, E> {
                Ok(Lossy(String::from_utf8_lossy(v).into_owned()))
            }
        }
        deserializer.deserialize_str(LossyVisitor)
    }
}

/// Go's `net.IP`, sent as msgpack bin (4 or 16 bytes).
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(byte) = seq.next_element()? {
                    out.push(byte);
                }
                Ok(Bytes(out))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

impl Client {
    /// Connects, handshakes and authenticates with the token from `secrets`.
    pub(crate) fn connect(addr: &str, secrets: &Path) -> anyhow::Result<Client> {
        let token = token(secrets)?;
        let addr: SocketAddr = addr.parse().context("the Serf RPC address")?;
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .with_context(|| format!("connecting to Serf's RPC port {addr}"))?;
        // Every call is bounded: a hung Serf costs the watcher a poll, never its life.
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut client = Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            seq: 0,
        };
        client.call("handshake", Some(&Handshake { version: 1 }))?;
        client.call("auth", Some(&Auth { auth_key: &token }))?;
        Ok(client)
    }

    /// What changes when membership does: the member count, the failed and left counts
    /// and the member Lamport clock (joins and leaves advance it; a tag update does not,
    /// the safety net catches that) from Serf's `stats`. Its size does not grow with the
    /// cluster, unlike the member list: the watcher polls it only while Serf's log stream
    /// is down.
    pub(crate) fn membership_signature(&mut self) -> anyhow::Result<Signature> {
        self.call::<()>("stats", None)?;
        let body: StatsBody = self.read().context("reading Serf's stats")?;
        let value = |key: &str| body.serf.get(key).cloned().unwrap_or_default();
        Ok(Signature([
            value("members"),
            value("failed"),
            value("left"),
            value("member_time"),
        ]))
    }

    pub(crate) fn members(&mut self) -> anyhow::Result<Vec<Member>> {
        self.call::<()>("members", None)?;
        let body: MembersBody = self.read().context("reading Serf's members")?;
        Ok(body.members.into_iter().map(member).collect())
    }

    /// Sends one request and reads its header; a body, if the command has one, follows.
    fn call<B: Serialize>(&mut self, command: &str, body: Option<&B>) -> anyhow::Result<()> {
        self.seq += 1;
        let mut buf = Vec::new();
        let header = RequestHeader {
            command,
            seq: self.seq,
        };
        rmp_serde::encode::write_named(&mut buf, &header)?;
        if let Some(body) = body {
            rmp_serde::encode::write_named(&mut buf, body)?;
        }
        self.writer
            .write_all(&buf)
            .with_context(|| format!("sending `{command}` to Serf"))?;
        let response: ResponseHeader = self
            .read()
            .with_context(|| format!("reading Serf's answer to `{command}`"))?;
        if response.seq != self.seq {
            bail!(
                "Serf answered request {} to `{command}` (#{})",
                response.seq,
                self.seq
            );
        }
        if !response.error.is_empty() {
            bail!("Serf refused `{command}`: {}", response.error);
        }
        Ok(())
    }

    fn read<T: DeserializeOwned>(&mut self) -> anyhow::Result<T> {
        Ok(rmp_serde::from_read(&mut self.reader)?)
    }

    /// Turns this connection into a stream of Serf's log lines at INFO and above
    /// (`monitor`), where Serf says `EventMemberJoin`, `EventMemberFailed`... the moment it
    /// learns of a change, before its event handlers' coalescing.
    pub(crate) fn monitor(mut self) -> anyhow::Result<Monitor> {
        self.call("monitor", Some(&MonitorRequest { log_level: "INFO" }))?;
        Ok(Monitor { client: self })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MonitorRequest<'a> {
    log_level: &'a str,
}

/// One streamed log line: `{"Log": "..."}` after a header with the monitor's Seq.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LogRecord {
    /// Never read (it may hold any bytes from gossip): its arrival is the news.
    #[allow(dead_code)]
    log: serde::de::IgnoredAny,
}

/// Serf's log as it happens: what lets the watcher sleep while nothing changes.
pub(crate) struct Monitor {
    client: Client,
}

impl Monitor {
    /// Waits up to `timeout` for log lines; true when at least one came (every line
    /// already received is consumed). Lines are only a hint that something changed: they
    /// come from gossip and are never parsed for names.
    pub(crate) fn wait(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        // The writer is the same socket: its timeout is the reader's.
        let socket = &self.client.writer;
        socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let waited = self.client.reader.fill_buf().map(|buf| buf.len());
        socket.set_read_timeout(Some(TIMEOUT))?;
        match waited {
            Ok(0) => bail!("Serf closed the monitor connection"),
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(false)
            }
            Err(err) => return Err(err).context("waiting for Serf's log"),
        }
        // Everything already here, not more: a flood of lines costs one member read.
        while !self.client.reader.buffer().is_empty() {
            let header: ResponseHeader = self.client.read().context("reading Serf's log")?;
            if !header.error.is_empty() {
                bail!("Serf's log stream: {}", header.error);
            }
            let _line: LogRecord = self.client.read().context("reading Serf's log")?;
        }
        Ok(true)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Handshake {
    version: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Auth<'a> {
    auth_key: &'a str,
}

fn token(secrets: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(secrets)
        .with_context(|| format!("reading the RPC token from {}", secrets.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", secrets.display()))?;
    Ok(json["rpc_auth"].as_str().unwrap_or_default().to_string())
}

fn tags(tags: BTreeMap<Lossy, Lossy>) -> BTreeMap<String, String> {
    tags.into_iter().map(|(k, v)| (k.0, v.0)).collect()
}

/// The same shape `serf members -format json` gives (`addr` as `ip:port`).
fn member(rpc: RpcMember) -> Member {
    let ip = match rpc.addr.0.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(rpc.addr.0.as_slice()).expect("4 bytes")),
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(rpc.addr.0.as_slice()).expect("16 bytes"));
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        // Not an address: `select_backends` skips it with a reason.
        _ => {
            return Member {
                name: rpc.name.0,
                addr: format!("{:?}", rpc.addr.0),
                status: rpc.status.0,
                tags: tags(rpc.tags),
            }
        }
    };
    Member {
        name: rpc.name.0,
        addr: SocketAddr::new(ip, rpc.port).to_string(),
        status: rpc.status.0,
        tags: tags(rpc.tags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serf sends whatever bytes a member chose as its name or tags: a name that is not
    /// UTF-8 must not make the whole list unreadable.
    #[test]
    fn a_member_whose_name_is_not_utf8_is_read_lossily() {
        let mut buf = Vec::new();
        rmp::encode::write_map_len(&mut buf, 1).unwrap();
        rmp::encode::write_str(&mut buf, "Members").unwrap();
        rmp::encode::write_array_len(&mut buf, 1).unwrap();
        rmp::encode::write_map_len(&mut buf, 5).unwrap();
        rmp::encode::write_str(&mut buf, "Name").unwrap();
        rmp::encode::write_str_len(&mut buf, 3).unwrap();
        buf.extend(b"s\xff1");
        rmp::encode::write_str(&mut buf, "Addr").unwrap();
        rmp::encode::write_bin(&mut buf, &[10, 0, 0, 2]).unwrap();
        rmp::encode::write_str(&mut buf, "Port").unwrap();
        rmp::encode::write_u16(&mut buf, 7946).unwrap();
        rmp::encode::write_str(&mut buf, "Tags").unwrap();
        rmp::encode::write_map_len(&mut buf, 1).unwrap();
        rmp::encode::write_str(&mut buf, "role").unwrap();
        rmp::encode::write_str_len(&mut buf, 2).unwrap();
        buf.extend(b"\xfe\xfd");
        rmp::encode::write_str(&mut buf, "Status").unwrap();
        rmp::encode::write_str(&mut buf, "alive").unwrap();
        let body: MembersBody = rmp_serde::from_slice(&buf).unwrap();
        let members: Vec<Member> = body.members.into_iter().map(member).collect();
        assert_eq!(members[0].name, "s\u{fffd}1");
        assert_eq!(members[0].tags["role"], "\u{fffd}\u{fffd}");
        assert_eq!(members[0].addr, "10.0.0.2:7946");
    }

    /// Bytes captured from Serf itself (see fixtures/README.md): the handshake's and the
    /// members request's response headers, then the members body.
    #[test]
    fn decodes_the_members_body_serf_sent() {
        let bytes: &[u8] = include_bytes!("../fixtures/serf-members.msgpack");
        let mut reader = bytes;
        for seq in [0, 1] {
            let header: ResponseHeader = rmp_serde::from_read(&mut reader).unwrap();
            assert_eq!((header.seq, header.error.as_str()), (seq, ""));
        }
        let body: MembersBody = rmp_serde::from_read(&mut reader).unwrap();
        assert!(reader.is_empty(), "the whole answer is read");
        let members: Vec<Member> = body.members.into_iter().map(member).collect();
        // Serf sends IPv4 addresses IPv4-mapped in 16 bytes.
        assert_eq!(members[0].name, "s1");
        assert_eq!(members[0].addr, "172.18.0.2:7946");
        assert_eq!(members[0].status, "alive");
        assert_eq!(members[0].tags["role"], "backend");
        assert_eq!(members[0].tags["port"], "3000");
        assert_eq!(members[1].name, "s2");
        assert_eq!(members[1].addr, "172.18.0.3:7946");
        assert_eq!(members[1].status, "left");
    }
}
