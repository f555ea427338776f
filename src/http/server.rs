//! The HTTP server's connections: accepts them, tells each request its client's address (the
//! sign-in throttle and the chat's limits use it; behind a trusted reverse proxy, the address
//! the proxy forwards), closes a connection whose request headers do
//! not arrive within a time limit, and fails a request whose body pauses longer than another (a
//! client that sends half a request holds nothing for long),
//! and on Ctrl-C or SIGTERM stops accepting and lets open requests finish for a few seconds.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tower::ServiceExt;

/// How the server treats its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a request's body may pause between two pieces before the request fails.
    pub body_read_timeout: Duration,
    /// How long open requests may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client ([`client_address`]).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ServerOptions {
    /// Ten seconds for the headers and for each pause in a body; five seconds of grace.
    fn default() -> ServerOptions {
        ServerOptions {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The client a request comes from: the connection's peer, unless that is a trusted reverse
/// proxy, in which case the nearest address in `X-Forwarded-For` that is not itself a trusted
/// proxy (read from the right, since a client can write anything on the left). A proxy that
/// sends no usable header leaves its own address, and from anyone else the header is ignored,
/// so a shopper cannot pick the address their limits are counted against.
pub fn client_address(remote: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> SocketAddr {
    if !trusted.contains(&remote.ip()) {
        return remote;
    }
    let mut hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    hops.reverse();
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return SocketAddr::new(ip, remote.port()),
            // Garbage from the client's side: what is left of it cannot be trusted either.
            Err(_) => break,
        }
    }
    remote
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let trusted: std::sync::Arc<[IpAddr]> = options.trusted_proxies.clone().into();
    let (header_read_timeout, body_read_timeout) =
        (options.header_read_timeout, options.body_read_timeout);
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
        let trusted = trusted.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // What the limits and the logs know the client by.
            let client = client_address(remote, request.headers(), &trusted);
            request.extensions_mut().insert(ConnectInfo(client));
            // A body that stops arriving fails the request instead of holding it open.
            router.clone().oneshot(request.map(|body| {
                Body::new(tower_http::timeout::TimeoutBody::new(
                    body_read_timeout,
                    body,
                ))
            }))
        });
        let mut closing = closing.subscribe();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
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

#[cfg(test)]
mod tests {
    use super::client_address;
    use axum::http::HeaderMap;
    use std::net::{IpAddr, SocketAddr};

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_read_through_trusted_proxies_only() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let ip = |a: SocketAddr| a.ip().to_string();
        // Through the proxy: the nearest untrusted hop, whatever the client wrote to its left.
        assert_eq!(
            ip(client_address(
                proxy,
                &headers(&["1.2.3.4, 203.0.113.7"]),
                &trusted
            )),
            "203.0.113.7"
        );
        assert_eq!(
            ip(client_address(
                proxy,
                &headers(&["203.0.113.7", "10.0.0.2"]),
                &trusted
            )),
            "203.0.113.7"
        );
        // No header, or garbage nearest: the proxy's own address.
        assert_eq!(
            ip(client_address(proxy, &headers(&[]), &trusted)),
            "127.0.0.1"
        );
        assert_eq!(
            ip(client_address(
                proxy,
                &headers(&["203.0.113.7, junk"]),
                &trusted
            )),
            "127.0.0.1"
        );
        // From anyone else the header is ignored: a client cannot choose its address.
        let client: SocketAddr = "198.51.100.9:4000".parse().unwrap();
        assert_eq!(
            ip(client_address(client, &headers(&["203.0.113.7"]), &trusted)),
            "198.51.100.9"
        );
        assert_eq!(
            ip(client_address(proxy, &headers(&["203.0.113.7"]), &[])),
            "127.0.0.1"
        );
    }
}
