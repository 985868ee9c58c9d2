//! A long-lived client of the local Serf agent's RPC port (msgpack over TCP), for the
//! watcher's frequent member polls: one connection for the container's life instead of a
//! `serf members` process (and a line in Serf's log) per poll.
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::members::Member;

pub(crate) const ADDR: &str = "127.0.0.1:7373";
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MembersBody {
    members: Vec<RpcMember>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RpcMember {
    name: String,
    addr: Bytes,
    port: u16,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    status: String,
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
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("connecting to Serf's RPC port {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut client = Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            seq: 0,
        };
        client.call("handshake", Some(&Handshake { version: 1 }))?;
        client.call("auth", Some(&Auth { auth_key: &token }))?;
        Ok(client)
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
                name: rpc.name,
                addr: format!("{:?}", rpc.addr.0),
                status: rpc.status,
                tags: rpc.tags,
            }
        }
    };
    Member {
        name: rpc.name,
        addr: SocketAddr::new(ip, rpc.port).to_string(),
        status: rpc.status,
        tags: rpc.tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_members_body_as_serf_sends_it() {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Out {
            name: &'static str,
            #[serde(with = "bin")]
            addr: Vec<u8>,
            port: u16,
            tags: BTreeMap<String, String>,
            status: &'static str,
            protocol_min: u8,
        }
        mod bin {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let mut v4_mapped = vec![0u8; 10];
        v4_mapped.extend([0xff, 0xff, 10, 0, 0, 2]);
        let mut buf = Vec::new();
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Body {
            members: Vec<Out>,
        }
        let tags = BTreeMap::from([("role".to_string(), "backend".to_string())]);
        rmp_serde::encode::write_named(
            &mut buf,
            &Body {
                members: vec![
                    Out {
                        name: "s1",
                        addr: v4_mapped,
                        port: 7946,
                        tags: tags.clone(),
                        status: "alive",
                        protocol_min: 2,
                    },
                    Out {
                        name: "s2",
                        addr: vec![10, 0, 0, 3],
                        port: 7946,
                        tags,
                        status: "failed",
                        protocol_min: 2,
                    },
                ],
            },
        )
        .unwrap();
        let body: MembersBody = rmp_serde::from_slice(&buf).unwrap();
        let members: Vec<Member> = body.members.into_iter().map(member).collect();
        assert_eq!(members[0].addr, "10.0.0.2:7946");
        assert_eq!(members[0].tags["role"], "backend");
        assert_eq!(members[1].addr, "10.0.0.3:7946");
        assert_eq!(members[1].status, "failed");
    }
}
