//! In-memory sessions, like express-session's default MemoryStore but bounded:
//! a load test without cookies creates a session per request.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Cookie name kept from the Express lab so existing scripts still match it.
pub(crate) const COOKIE_NAME: &str = "connect.sid";

/// Enough for any lab exercise; beyond it the oldest sessions are dropped.
pub(crate) const MAX_SESSIONS: usize = 10_000;

pub(crate) struct SessionStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    views: HashMap<String, u64>,
    /// Creation order, for evicting the oldest; sessions are only ever
    /// removed through here, so it holds exactly the keys of `views`.
    order: VecDeque<String>,
}

/// The outcome of one counted visit.
pub(crate) struct Visit {
    pub(crate) id: String,
    pub(crate) views: u64,
    /// True when the caller must send the cookie for a freshly made session.
    pub(crate) created: bool,
}

impl SessionStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// Counts a view on the session `id` names, or starts a new session when
    /// the id is missing or unknown (expired, evicted, or from another backend).
    pub(crate) fn visit(&self, id: Option<&str>) -> Result<Visit> {
        // A panic elsewhere cannot leave the counters inconsistent, so carry on.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, views)) = id.and_then(|id| Some((id, inner.views.get_mut(id)?))) {
            *views += 1;
            return Ok(Visit {
                id: id.to_owned(),
                views: *views,
                created: false,
            });
        }

        let id = new_id()?;
        while inner.order.len() >= self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.views.remove(&oldest);
            }
        }
        inner.views.insert(id.clone(), 1);
        inner.order.push_back(id.clone());
        Ok(Visit {
            id,
            views: 1,
            created: true,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().views.len()
    }
}

/// 128 random bits as hex: unguessable, so one client cannot ride another's session.
fn new_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).context("reading random bytes for a session id")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The session id from a `Cookie` header value (`a=1; connect.sid=...; b=2`).
pub(crate) fn id_from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value for a new session.
pub(crate) fn set_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; Path=/; HttpOnly")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_session_and_evicts_oldest() {
        let store = SessionStore::new(2);
        let a = store.visit(None).unwrap();
        assert_eq!((a.views, a.created, a.id.len()), (1, true, 32));
        let again = store.visit(Some(&a.id)).unwrap();
        assert_eq!((again.views, again.created), (2, false));

        let b = store.visit(Some("unknown")).unwrap();
        assert!(b.created && b.id != a.id);
        store.visit(None).unwrap(); // third session pushes out `a`
        assert_eq!(store.len(), 2);
        assert!(store.visit(Some(&a.id)).unwrap().created);
    }

    #[test]
    fn parses_cookie_header() {
        assert_eq!(id_from_cookie_header("connect.sid=abc"), Some("abc"));
        assert_eq!(
            id_from_cookie_header("x=1; connect.sid=abc ;y=2"),
            Some("abc")
        );
        assert_eq!(id_from_cookie_header("connect.sidx=abc; x"), None);
    }
}
