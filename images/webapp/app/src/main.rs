//! The lab's web app: `GET /` says hello with a per-cookie view counter,
//! `POST /delay` slows it down, `GET|POST /slow?ms=N` takes N ms (drain tests),
//! `GET /health` is for HAProxy's checks.
//!
//! On SIGTERM or SIGINT it keeps serving for `LEAVE_MS` (while Serf's leave takes the node
//! out of HAProxy), then stops accepting and lets in-flight requests finish for at most
//! `DRAIN_MS`, then exits, cutting what remains.

mod addr;
mod handlers;
mod session;

use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

fn main() -> Result<()> {
    // The image build runs `webapp --version` to prove the host-built binary starts.
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("webapp {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }

    // Resolve identity before the runtime starts: the DNS lookup blocks.
    let bind = bind_addr()?;
    let tag = std::env::var("TAG").unwrap_or_else(|_| "webapp".to_owned());
    let host = addr::hostname();
    let ip = addr::container_ip(&host)?;

    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(async {
            let shutdown = shutdown_signal()?;
            let listener = TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            let local = listener.local_addr().context("reading the bound address")?;
            println!("webapp listening on {local} as {host} ({ip})");

            let app = handlers::router(handlers::AppState::new(host, ip, tag));
            let (draining, drain_started) = tokio::sync::oneshot::channel();
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    shutdown.await;
                    let _ = draining.send(());
                })
                .into_future();
            let drain = env_ms("DRAIN_MS", 2500);
            // The drain's deadline starts when accepting stops; never before.
            let deadline = async move {
                match drain_started.await {
                    Ok(()) => tokio::time::sleep(drain).await,
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                served = serve => served.context("serving HTTP"),
                () = deadline => {
                    println!(
                        "webapp: requests still in flight after DRAIN_MS ({} ms); exiting, cutting them",
                        drain.as_millis()
                    );
                    Ok(())
                }
            }
        })
}

/// `BIND` (default 0.0.0.0) and `PORT` (default 3000); tests bind 127.0.0.1:0.
fn bind_addr() -> Result<SocketAddr> {
    let ip = std::env::var("BIND").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let ip = ip
        .parse::<std::net::IpAddr>()
        .with_context(|| format!("BIND={ip:?} is not an IP address"))?;
    let port = port
        .parse::<u16>()
        .with_context(|| format!("PORT={port:?} is not a port number"))?;
    Ok(SocketAddr::new(ip, port))
}

/// A duration in milliseconds from the environment, `default` when unset or not a number.
fn env_ms(name: &str, default: u64) -> std::time::Duration {
    let ms = std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    std::time::Duration::from_millis(ms)
}

/// Installs the SIGTERM (`docker stop`) and SIGINT (Ctrl-C) handlers now, so
/// a signal sent right after the "listening" line is not lost, and returns a
/// future that resolves on either. As PID 1 in a container SIGTERM would
/// otherwise be ignored.
fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};

    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        // Keep serving while Serf's leave takes this node out of HAProxy, so no request
        // is sent to a closed port (the node leaves and stops in parallel).
        let leave = env_ms("LEAVE_MS", 2500);
        if !leave.is_zero() {
            println!(
                "webapp got {name}, still serving for {} ms while the node leaves",
                leave.as_millis()
            );
            tokio::time::sleep(leave).await;
        }
        println!("webapp got {name}, finishing in-flight requests and exiting");
    })
}
