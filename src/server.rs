//! The accept loop the mock and the proxy share: HTTP/1 on a listener, with
//! a header timeout and a connection cap, so that clients that never finish
//! their requests cannot starve a shared server. The body timeout and the
//! size check are the handlers' (they answer 408 and 413 in their own words).

use std::time::Duration;

/// What a server grants one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// To send a request's headers (the connection is closed after it).
    pub header_timeout: Duration,
    /// To send a request's body (408 after it).
    pub body_timeout: Duration,
    /// Connections held at once; one more is closed at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait, then go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream); // over the cap: closed at once
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = connection.await;
            drop(slot);
        });
    }
}

/// The length a request declares, if it declares one that parses.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
