//! HTTP routes: `GET /`, `POST /delay`, `GET|POST /slow?ms=N`, `GET /health`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::session::{self, SessionStore};

const BACKEND_IP: HeaderName = HeaderName::from_static("x-backend-ip");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Upper bound for `POST /delay`, so a typo cannot park requests (and a
/// graceful shutdown) for hours; a minute is plenty to trip HAProxy timeouts.
pub(crate) const MAX_DELAY_MS: u64 = 60_000;

#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

struct Shared {
    host: String,
    ip: IpAddr,
    tag: String,
    /// Added before every `GET /` answer; set through `POST /delay`.
    delay_ms: AtomicU64,
    sessions: SessionStore,
}

impl AppState {
    pub(crate) fn new(host: String, ip: IpAddr, tag: String) -> Self {
        Self(Arc::new(Shared {
            host,
            ip,
            tag,
            delay_ms: AtomicU64::new(0),
            sessions: SessionStore::new(session::MAX_SESSIONS),
        }))
    }
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/delay", post(set_delay))
        .route("/slow", get(slow).post(slow))
        .route("/health", get(health))
        .with_state(state)
}

/// Field names and order match the Express lab's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Hello<'a> {
    hello: &'static str,
    ip: String,
    host: &'a str,
    tag: &'a str,
    session_views: u64,
    id: &'a str,
}

async fn hello(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let delay = state.0.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let cookie_id = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(session::id_from_cookie_header);
    let visit = state.0.sessions.visit(cookie_id)?;

    let ip = state.0.ip.to_string();
    let body = Hello {
        hello: "world!",
        ip: ip.clone(),
        host: &state.0.host,
        tag: &state.0.tag,
        session_views: visit.views,
        id: &visit.id,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        BACKEND_IP,
        HeaderValue::from_str(&ip).context("IP as header")?,
    );
    if visit.created {
        let cookie = HeaderValue::from_str(&session::set_cookie(&visit.id))
            .context("session cookie as header")?;
        headers.insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct DelayRequest {
    delay: u64,
}

/// Parses the body by hand, whatever its content type, so every bad body is
/// a 400 with a JSON reason (axum's `Json` extractor would give 415/422).
async fn set_delay(State(state): State<AppState>, body: Bytes) -> Response {
    let delay = match serde_json::from_slice::<DelayRequest>(&body) {
        Ok(DelayRequest { delay }) if delay <= MAX_DELAY_MS => delay,
        Ok(_) => return bad_request(format!("delay must be at most {MAX_DELAY_MS} ms")),
        Err(e) => return bad_request(format!("expected {{\"delay\": <milliseconds>}}: {e}")),
    };
    state.0.delay_ms.store(delay, Ordering::Relaxed);
    Json(json!({ "delay": delay })).into_response()
}

/// A request that takes `ms` milliseconds, for drain tests. A POST says once, when it
/// starts executing, that it did (with its X-Request-Id), so a test can count executions
/// across `docker logs`: a replayed POST shows twice.
async fn slow(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ms = query.as_deref().unwrap_or("").split('&').find_map(|pair| {
        let value = pair.strip_prefix("ms=")?;
        Some(value.parse::<u64>().ok().filter(|ms| *ms <= MAX_DELAY_MS))
    });
    let Some(Some(ms)) = ms else {
        return bad_request(format!("expected ?ms=<0-{MAX_DELAY_MS}>"));
    };
    if method == Method::POST {
        let id = headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        println!("webapp: executed POST /slow id={id}");
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "host": state.0.host, "slept_ms": ms })).into_response()
}

fn bad_request(error: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// Hit every second by HAProxy: no session, no delay.
async fn health() -> &'static str {
    "ok"
}

/// Unexpected failures (e.g. no randomness for a session id) become a 500.
struct AppError(anyhow::Error);

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        eprintln!("webapp: {:#}", self.0);
        let body = Json(json!({ "error": format!("{:#}", self.0) }));
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}
