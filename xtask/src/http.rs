//! The host's one HTTP client (hyper, which bollard builds anyway): a GET on a new
//! connection to a port published on the host, for the stats polls, the stats page and the
//! benchmark's load. Async, so a poll never takes a runtime worker or a thread of its own.
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONNECTION, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// Why a GET got no answer: the benchmark counts the two apart.
#[derive(Debug)]
pub(crate) enum GetError {
    /// The TCP connection could not be made.
    Connect(std::io::Error),
    /// Connected, but the answer never came whole (reset, closed early, bad HTTP).
    Read(hyper::Error),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Connect(err) => write!(f, "cannot connect: {err}"),
            GetError::Read(err) => write!(f, "no whole answer: {err}"),
        }
    }
}

impl std::error::Error for GetError {}

/// `GET path` on a new connection, closed after the answer.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Result<Response, GetError> {
    get_authorized(addr, path, None).await
}

/// [`get`] with an `Authorization` header (the stats page on a Swarm).
pub(crate) async fn get_authorized(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> Result<Response, GetError> {
    get_as(addr, &addr.to_string(), path, authorization).await
}

/// [`get`] for host `host` (the `Host` header ha routes by).
pub(crate) async fn get_host(
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Result<Response, GetError> {
    get_as(addr, host, path, None).await
}

async fn get_as(
    addr: SocketAddr,
    host: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<Response, GetError> {
    let stream = TcpStream::connect(addr).await.map_err(GetError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(GetError::Read)?;
    let mut request = Request::get(path)
        .header(HOST, host)
        .header(CONNECTION, "close");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .body(Empty::new())
        .expect("a GET of a path is a valid request");
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response { status, body })
    };
    // The connection is driven here rather than spawned, so dropping this future (a
    // timeout) drops the connection too.
    let (response, _) = tokio::join!(exchange, connection);
    response.map_err(GetError::Read)
}

/// The body of a 2xx answer to `GET path` within `limit`, as text.
pub(crate) async fn get_text(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
    limit: Duration,
) -> anyhow::Result<String> {
    let response = tokio::time::timeout(limit, get_authorized(addr, path, authorization))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", limit.as_secs()))??;
    if !(200..300).contains(&response.status) {
        anyhow::bail!("answered HTTP {}", response.status);
    }
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

/// One connection kept open for GET after GET (HTTP/1.1 keep-alive), for the benchmark's
/// closed-loop load; the connection is driven by a task of the current runtime.
pub(crate) struct KeepAlive {
    addr: SocketAddr,
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl KeepAlive {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<KeepAlive, GetError> {
        let stream = TcpStream::connect(addr).await.map_err(GetError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(GetError::Read)?;
        // Ends when the sender is dropped or the peer closes.
        tokio::spawn(connection);
        Ok(KeepAlive { addr, sender })
    }

    /// Whether the peer has closed the connection (after an answer): open a new one.
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// `GET path` on this connection; after an error the connection is not to be reused.
    pub(crate) async fn get(&mut self, path: &str) -> Result<Response, GetError> {
        self.sender.ready().await.map_err(GetError::Read)?;
        let request = Request::get(path)
            .header(HOST, self.addr.to_string())
            .body(Empty::new())
            .expect("a GET of a path is a valid request");
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(GetError::Read)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(GetError::Read)?
            .to_bytes();
        Ok(Response { status, body })
    }
}
