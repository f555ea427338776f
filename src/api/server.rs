//! The HTTP server's connections: accepts them, tells each request its client's address (the
//! sign-in throttle and the chat's limits use it), closes a connection whose request headers do
//! not arrive within a time limit (a client that sends half a request holds nothing for long),
//! and on Ctrl-C or SIGTERM stops accepting and lets open requests finish for a few seconds.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tower::ServiceExt;

/// How the server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long open requests may run on after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    /// Ten seconds for the headers; five seconds of grace.
    fn default() -> ServerOptions {
        ServerOptions {
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, and go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let mut closing = closing.subscribe();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %remote, "connection ended");
                    }
                }
                () = async {
                    while !*closing.borrow_and_update() {
                        if closing.changed().await.is_err() {
                            break;
                        }
                    }
                } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are collected as they go.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    closing.send_replace(true);
    let _ = tokio::time::timeout(options.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
