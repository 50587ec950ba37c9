//! Serves the API on a TCP listener with limits that keep clients from holding the agent:
//! a deadline for a request's head, a limit on connections, and a deadline on graceful
//! shutdown. The deadline of a whole request is the router's
//! ([`ApiSettings::request_timeout`](super::ApiSettings::request_timeout)), since changes are
//! exempt from it.
//!
//! It does not terminate TLS or speak HTTP/2: put a proxy in front for either.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a connection may take to send a request's head, counted from when the server
    /// waits for it: a connection that opens and stays silent, or sends its head a byte at a
    /// time, is closed after this. Also bounds an idle kept-alive connection.
    pub header_read_timeout: Duration,
    /// The most connections served at once; further ones wait in the listen queue until one
    /// closes.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for the requests in flight before it closes their
    /// connections. Idle connections are closed at once.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    /// Head within 10 s, 1024 connections, 30 s to finish at shutdown.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// How long to wait before accepting again when accepting fails (out of file descriptors,
/// say): long enough not to spin, short enough not to be noticed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting, lets the requests in flight finish for at most
/// [`shutdown_timeout`](ServerLimits::shutdown_timeout), and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max_connections));
    let (closing, closing_seen) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "the HTTP API cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        // Cloned before `closing` is sent, so the change is seen even when sent at once.
        let mut closing_seen = closing_seen.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = closing_seen.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "an HTTP API connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it ends: all permits back means all closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let drained =
        tokio::time::timeout(limits.shutdown_timeout, connections.acquire_many(all)).await;
    if drained.is_err() {
        tracing::warn!(
            open = max_connections - connections.available_permits(),
            deadline_seconds = limits.shutdown_timeout.as_secs(),
            "requests still in flight at the shutdown deadline; closing their connections"
        );
    }
}
