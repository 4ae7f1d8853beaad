//! The daemon's HTTP endpoints on `--listen`: `/healthz` (the process serves), `/readyz`
//! (watches listed and a first cycle done), `/metrics` (Prometheus text) and `POST /webhook`
//! (GitHub/GitLab push events, verified, trigger an immediate fetch), and the status page
//! (`/`, `/status.json`).

use super::metrics::Metrics;
use super::status_page::{self, Snapshot};
use super::webhook::{self, Secret, Verdict};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB; pushes are far smaller).
const MAX_BODY: usize = 5 << 20;

pub struct Endpoints {
    pub metrics: Arc<Mutex<Metrics>>,
    /// `None`: `/webhook` answers 404 (not configured).
    pub webhook: Option<Secret>,
    /// Called for each verified push.
    pub on_push: Box<dyn Fn(Option<String>) + Send + Sync>,
    /// What the status page shows.
    pub page: Arc<Mutex<Snapshot>>,
    /// The repository's web page, for commit links.
    pub web_url: Option<String>,
}

pub async fn serve(listener: TcpListener, endpoints: Arc<Endpoints>) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let endpoints = endpoints.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(req, &endpoints).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(conn), service);
            let _ = conn.await;
        });
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", content_type);
    for (name, value) in status_page::security_headers() {
        r = r.header(name, value);
    }
    r.body(Full::new(body.into()))
        .expect("static response parts")
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn handle(req: Request<hyper::body::Incoming>, e: &Endpoints) -> Reply {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::POST, "/webhook") => webhook(req, e).await,
        (_, "/webhook") => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "POST only\n"),
        (&Method::GET, "/") => {
            let page = e.page.lock().map(|p| p.clone()).unwrap_or_default();
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                status_page::html(&page, e.web_url.as_deref()),
            )
        }
        (&Method::GET, "/status.json") => {
            let page = e.page.lock().map(|p| p.clone()).unwrap_or_default();
            reply(StatusCode::OK, "application/json", status_page::json(&page))
        }
        (&Method::GET, p) => {
            let (status, ct, body) = get(p, &e.metrics);
            reply(status, ct, body)
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n"),
    }
}

async fn webhook(req: Request<hyper::body::Incoming>, e: &Endpoints) -> Reply {
    let Some(secret) = &e.webhook else {
        return reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "webhook not configured: start flinkops with --webhook-secret-file or FLINKOPS_WEBHOOK_SECRET\n",
        );
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, TEXT, "body too large\n"),
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    match webhook::verify(header, &body, secret) {
        Verdict::Push { git_ref } => {
            tracing::info!(
                git_ref = git_ref.as_deref().unwrap_or(""),
                "webhook: push; fetching"
            );
            if let Ok(mut m) = e.metrics.lock() {
                m.webhook_accepted += 1;
            }
            (e.on_push)(git_ref);
            reply(StatusCode::ACCEPTED, TEXT, "fetching\n")
        }
        Verdict::Ignored(why) => reply(StatusCode::OK, TEXT, format!("ignored: {why}\n")),
        Verdict::Unauthorized(why) => {
            tracing::warn!(reason = why, "webhook: rejected");
            if let Ok(mut m) = e.metrics.lock() {
                m.webhook_rejected += 1;
            }
            reply(
                StatusCode::UNAUTHORIZED,
                TEXT,
                format!("unauthorized: {why}\n"),
            )
        }
    }
}

fn get(path: &str, metrics: &Mutex<Metrics>) -> (StatusCode, &'static str, String) {
    match path {
        "/healthz" => (StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => {
            if metrics.lock().map(|m| m.ready).unwrap_or(false) {
                (StatusCode::OK, TEXT, "ready\n".into())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    "not ready: watches listing or first cycle running\n".into(),
                )
            }
        }
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.lock().map(|m| m.render()).unwrap_or_default(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let m = Mutex::new(Metrics::default());
        assert_eq!(get("/healthz", &m).0, StatusCode::OK);
        assert_eq!(get("/readyz", &m).0, StatusCode::SERVICE_UNAVAILABLE);
        m.lock().unwrap().ready = true;
        assert_eq!(get("/readyz", &m).0, StatusCode::OK);
        let (status, ct, body) = get("/metrics", &m);
        assert_eq!(
            (status, ct),
            (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(body.contains("flinkops_sync_cycles_total 0"));
        assert_eq!(get("/nope", &m).0, StatusCode::NOT_FOUND);
    }
}
