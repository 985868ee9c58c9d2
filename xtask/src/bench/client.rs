//! One `GET /` through the load balancer on a new TCP connection, classified the way the
//! benchmark counts it. A new connection per request is the worst case for a reload: every
//! request needs a listening socket at that instant.
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::http::{self, GetError};

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

pub(crate) async fn get(addr: SocketAddr, timeout: Duration) -> Outcome {
    tokio::time::timeout(timeout, exchange(addr))
        .await
        .unwrap_or(Outcome::Timeout)
}

async fn exchange(addr: SocketAddr) -> Outcome {
    match http::get(addr, "/").await {
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
