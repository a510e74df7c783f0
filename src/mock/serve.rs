//! The mock over HTTP: axum in front of [`Mock::respond`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::contract::Contract;
use crate::mock::{BODY_LIMIT, FaultKind, Incoming, Mock, MockConfig, Reply, error_body, errors};

/// A mock listening on a socket.
pub struct RunningMock {
    pub base_url: String,
    pub addr: SocketAddr,
    pub mock: Arc<Mock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningMock {
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves the mock on `listener` until stopped.
pub async fn serve(
    mock: Arc<Mock>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<RunningMock> {
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(mock.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = mock.config.connections;
    let task = tokio::spawn(crate::server::accept_loop(listener, app, limits, rx));
    Ok(RunningMock {
        base_url: format!("http://{addr}"),
        addr,
        mock,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Starts a mock on an ephemeral loopback port.
pub async fn start_local(
    contract: Arc<Contract>,
    config: MockConfig,
) -> std::io::Result<RunningMock> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    serve(Arc::new(Mock::new(contract, config)), listener).await
}

async fn handle(
    axum::extract::State(mock): axum::extract::State<Arc<Mock>>,
    req: Request,
) -> Response {
    let started = std::time::Instant::now();
    if !mock.config.latency.is_zero() {
        tokio::time::sleep(mock.config.latency).await;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let family = errors::family_of_path(&path);
    let body_timeout = mock.config.connections.body_timeout;
    let bytes =
        match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, BODY_LIMIT)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                return to_response(
                    &mock,
                    Reply::json(413, error_body(family, 413, "request body too large")),
                );
            }
            Err(_) => {
                let message = format!(
                    "the request body did not arrive within {}s",
                    body_timeout.as_secs_f64()
                );
                return to_response(&mock, Reply::json(408, error_body(family, 408, &message)));
            }
        };
    // A signature covers any header; without authentication only the Content-Type is read.
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            mock.config.require_auth
                || *k == header::CONTENT_TYPE
                || *k == header::HOST
                || k.as_str().eq_ignore_ascii_case("openstack-api-version")
                || k.as_str()
                    .eq_ignore_ascii_case("x-openstack-nova-api-version")
        })
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if mock.config.require_auth
        && !headers.iter().any(|(k, _)| k == "host")
        && let Some(authority) = parts.uri.authority()
    {
        headers.push(("host".into(), authority.to_string()));
    }
    let incoming = Incoming {
        method: parts.method.as_str(),
        raw_path: &path,
        raw_query: parts.uri.query(),
        headers: &headers,
        body: &bytes,
    };
    let reply = mock.respond(&incoming);
    mock.log_request(parts.method.as_str(), &path, &reply, started.elapsed());
    to_response(&mock, reply)
}

fn to_response(mock: &Mock, reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => {
            let mut r = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
            let ct = if mock.config.faults.has(&FaultKind::WrongContentType) {
                "text/plain"
            } else {
                "application/json;charset=UTF-8"
            };
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = status;
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
