//! One `GET /` through the load balancer, classified the way the benchmark counts it: on a
//! new TCP connection (the worst case for a reload: every request needs a listening socket
//! at that instant), or on a kept-alive one (the data path at saturation).
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::http::{self, GetError, KeepAlive};

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP answer; `host` is the web app that served it (its JSON `host` field), when
    /// the answer came from a web app at all.
    Answered { status: u16, host: Option<String> },
    /// The TCP connection to the published port could not be made.
    Connect,
    /// Connected, but the answer never came whole (reset, closed early, bad HTTP).
    Read,
    /// No whole answer within the request timeout.
    Timeout,
}

impl Outcome {
    /// A request the user would see fail: anything but a 2xx answer.
    pub(crate) fn failed(&self) -> bool {
        !matches!(self, Outcome::Answered { status, .. } if (200..300).contains(status))
    }

    /// The web app that served a successful answer.
    pub(crate) fn served_by(&self) -> Option<&str> {
        match self {
            Outcome::Answered { status, host } if (200..300).contains(status) => host.as_deref(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Hello {
    host: String,
}

/// `route`'s path with its `Host` (ha routes by them); `None`: `GET /`.
pub(crate) async fn get_routed(
    addr: SocketAddr,
    route: Option<&Route>,
    timeout: Duration,
) -> Outcome {
    tokio::time::timeout(timeout, exchange(addr, route))
        .await
        .unwrap_or(Outcome::Timeout)
}

/// A request's `Host` header and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) host: String,
    pub(crate) path: String,
}

async fn exchange(addr: SocketAddr, route: Option<&Route>) -> Outcome {
    let response = match route {
        Some(route) => http::get_host(addr, &route.host, &route.path).await,
        None => http::get(addr, "/").await,
    };
    match response {
        Ok(response) => Outcome::Answered {
            status: response.status,
            host: serde_json::from_slice::<Hello>(&response.body)
                .ok()
                .map(|hello| hello.host),
        },
        Err(GetError::Connect(_)) => Outcome::Connect,
        Err(GetError::Read(_)) => Outcome::Read,
    }
}

/// `GET /` on `conn`, opened first when there is none or the peer closed it; after a
/// failure the connection is dropped, so the next request opens a new one. The answer's
/// `host` is not read: at saturation the generator's time is the measure's.
pub(crate) async fn get_kept(
    conn: &mut Option<KeepAlive>,
    addr: SocketAddr,
    timeout: Duration,
) -> Outcome {
    if conn.as_ref().is_some_and(KeepAlive::is_closed) {
        *conn = None;
    }
    let exchange = async {
        let open = match conn {
            Some(open) => open,
            None => conn.insert(KeepAlive::connect(addr).await?),
        };
        open.get("/").await
    };
    let outcome = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(response)) => Outcome::Answered {
            status: response.status,
            host: None,
        },
        Ok(Err(GetError::Connect(_))) => Outcome::Connect,
        Ok(Err(GetError::Read(_))) => Outcome::Read,
        Err(_) => Outcome::Timeout,
    };
    if !matches!(outcome, Outcome::Answered { .. }) {
        *conn = None;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_answers_succeed() {
        let ok = Outcome::Answered {
            status: 200,
            host: Some("s1".into()),
        };
        assert!(!ok.failed());
        assert_eq!(ok.served_by(), Some("s1"));
        let unavailable = Outcome::Answered {
            status: 503,
            host: None,
        };
        assert!(unavailable.failed());
        assert_eq!(unavailable.served_by(), None);
        for outcome in [Outcome::Connect, Outcome::Read, Outcome::Timeout] {
            assert!(outcome.failed());
        }
    }
}
