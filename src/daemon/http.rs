//! The daemon's HTTP endpoints on `--listen`: `/healthz` (the process serves), `/readyz`
//! (watches listed and a first cycle done), `/metrics` (OpenMetrics text) and `POST /webhook`
//! (GitHub/GitLab push events, verified, trigger an immediate fetch), and the status page
//! (`/`, `/status.json`).

use super::metrics::Metrics;
use super::status_page::{self, Snapshot};
use super::webhook::{self, Secret, Verdict};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What one client can make the server hold, and for how long. Everything on `--listen`
/// may come from anyone who reaches the port, before any authentication.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub connections: usize,
    /// For a request's headers (also: how long an idle keep-alive connection stays), and
    /// again for its body.
    pub read_timeout: Duration,
    /// Largest webhook body read (GitHub's signature covers the body, so a signed request
    /// is read whole before it can be judged).
    pub max_body: usize,
    /// Requests on one connection; the last answer closes it.
    pub requests_per_connection: usize,
    /// How long a connection may last at all (a client that reads its answer slowly).
    pub connection_lifetime: Duration,
    /// Pause after a failed accept (e.g. out of file descriptors), instead of retrying at
    /// once in a busy loop.
    pub accept_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 64,
            read_timeout: Duration::from_secs(10),
            // Push payloads are a few KiB to a few hundred KiB.
            max_body: 1 << 20,
            requests_per_connection: 100,
            connection_lifetime: Duration::from_secs(60),
            accept_backoff: Duration::from_millis(100),
        }
    }
}

pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    /// `None`: `/webhook` answers 404 (not configured).
    pub webhook: Option<Secret>,
    /// Called for each verified push.
    pub on_push: Box<dyn Fn(Option<String>) + Send + Sync>,
    /// What the status page shows.
    pub page: Arc<Mutex<Snapshot>>,
    /// The repository's web page, for commit links.
    pub web_url: Option<String>,
}

/// Serves `endpoints` on `listener` within `Limits::default()`.
pub async fn serve(listener: TcpListener, endpoints: Arc<Endpoints>) {
    serve_within(listener, endpoints, Limits::default()).await
}

pub async fn serve_within(listener: TcpListener, endpoints: Arc<Endpoints>, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut failures = 0u64;
    let mut log_failure = |e: &std::io::Error| {
        failures += 1;
        // Once per doubling: a lasting condition (EMFILE) does not flood the log.
        if failures.is_power_of_two() {
            tracing::warn!(error = %e, failures, "http: accepting a connection failed; backing off");
        }
    };
    loop {
        let conn = accept(&listener, limits.accept_backoff, &mut log_failure).await;
        // Full: close at once; a queue of waiting connections would be memory again.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                limit = limits.connections,
                "http: connection limit reached; closing a new connection"
            );
            continue;
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let served = Arc::new(AtomicUsize::new(0));
            let service = hyper::service::service_fn(move |req| {
                let endpoints = endpoints.clone();
                let n = served.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    let mut reply = handle(req, &endpoints, &limits).await;
                    if n >= limits.requests_per_connection {
                        reply.headers_mut().insert(
                            hyper::header::CONNECTION,
                            hyper::header::HeaderValue::from_static("close"),
                        );
                    }
                    Ok::<_, std::convert::Infallible>(reply)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(conn), service);
            let _ = tokio::time::timeout(limits.connection_lifetime, conn).await;
        });
    }
}

/// The next connection. A failed accept (out of file descriptors, memory, ...) is passed
/// to `on_error` and retried after `backoff`: it fails again at once until something
/// closes, so retrying without a pause would spin a core.
async fn accept(
    listener: &TcpListener,
    backoff: Duration,
    mut on_error: impl FnMut(&std::io::Error),
) -> tokio::net::TcpStream {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => return conn,
            Err(e) => {
                on_error(&e);
                tokio::time::sleep(backoff).await;
            }
        }
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

async fn handle(req: Request<hyper::body::Incoming>, e: &Endpoints, limits: &Limits) -> Reply {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::POST, "/webhook") => webhook(req, e, limits).await,
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
        (&Method::GET, p) if p.starts_with("/history/") => history(e, &p["/history/".len()..]),
        (&Method::GET, p) => {
            let (status, ct, body) = get(p, &e.metrics);
            reply(status, ct, body)
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n"),
    }
}

/// `/history/NAMESPACE/NAME` (a page) or `/history/NAMESPACE/NAME.json`: a job's lineage,
/// from the ledgers the status page shows (tombstones of removed jobs included).
fn history(e: &Endpoints, rest: &str) -> Reply {
    let (rest, json) = match rest.strip_suffix(".json") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let not_found = || reply(StatusCode::NOT_FOUND, TEXT, "no such job\n");
    let Some((namespace, name)) = rest.split_once('/') else {
        return not_found();
    };
    let id = crate::model::spec::JobId {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let lineage = {
        let page = e.page.lock();
        let Some(ledger) = page.as_ref().ok().and_then(|p| p.ledgers.get(&id)) else {
            return not_found();
        };
        crate::engine::history::lineage(&id, ledger)
    };
    if json {
        let body = serde_json::to_string_pretty(&lineage).unwrap_or_default();
        reply(StatusCode::OK, "application/json", body)
    } else {
        reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            status_page::history_html(&lineage),
        )
    }
}

async fn webhook(req: Request<hyper::body::Incoming>, e: &Endpoints, limits: &Limits) -> Reply {
    let Some(secret) = &e.webhook else {
        return reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "webhook not configured: start flinkops with --webhook-secret-file or FLINKOPS_WEBHOOK_SECRET\n",
        );
    };
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    // Whatever the headers can refuse is refused before a byte of the body is read.
    let auth = match webhook::authenticate(header, secret) {
        Ok(auth) => auth,
        Err(why) => return unauthorized(e, why),
    };
    if hyper::body::Body::size_hint(&body).lower() > limits.max_body as u64 {
        return reply(StatusCode::PAYLOAD_TOO_LARGE, TEXT, "body too large\n");
    }
    let read = Limited::new(body, limits.max_body).collect();
    let body = match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return reply(StatusCode::PAYLOAD_TOO_LARGE, TEXT, "body too large\n"),
        Err(_) => return reply(StatusCode::REQUEST_TIMEOUT, TEXT, "body too slow\n"),
    };
    match webhook::judge_body(&auth, header, &body, secret) {
        Verdict::Push { git_ref } => {
            tracing::info!(
                git_ref = git_ref.as_deref().unwrap_or(""),
                "webhook: push; fetching"
            );
            e.metrics.webhook(true);
            (e.on_push)(git_ref);
            reply(StatusCode::ACCEPTED, TEXT, "fetching\n")
        }
        Verdict::Ignored(why) => reply(StatusCode::OK, TEXT, format!("ignored: {why}\n")),
        Verdict::Unauthorized(why) => unauthorized(e, why),
    }
}

fn unauthorized(e: &Endpoints, why: &str) -> Reply {
    tracing::warn!(reason = why, "webhook: rejected");
    e.metrics.webhook(false);
    reply(
        StatusCode::UNAUTHORIZED,
        TEXT,
        format!("unauthorized: {why}\n"),
    )
}

fn get(path: &str, metrics: &Metrics) -> (StatusCode, &'static str, String) {
    match path {
        "/healthz" => (StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => {
            if metrics.ready() {
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
            super::metrics::CONTENT_TYPE,
            metrics.render(),
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
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const SECRET: &str = "It's a Secret to Everybody";
    /// How long a test waits for an answer or a close before it fails (far above every
    /// limit, so it only ends a test that would otherwise hang).
    const PATIENCE: Duration = Duration::from_secs(40);

    #[test]
    fn routes() {
        let m = Metrics::new();
        assert_eq!(get("/healthz", &m).0, StatusCode::OK);
        assert_eq!(get("/readyz", &m).0, StatusCode::SERVICE_UNAVAILABLE);
        m.set_ready(true);
        assert_eq!(get("/readyz", &m).0, StatusCode::OK);
        let (status, ct, body) = get("/metrics", &m);
        assert_eq!(
            (status, ct),
            (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )
        );
        assert!(body.contains("\nflinkops_sync_cycles_total 0\n"));
        assert!(body.ends_with("# EOF\n"));
        assert_eq!(get("/nope", &m).0, StatusCode::NOT_FOUND);
    }

    /// The real server on 127.0.0.1 with a webhook secret; counts verified pushes.
    async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
        server_within(Limits::default()).await
    }

    async fn server_within(limits: Limits) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pushes = Arc::new(AtomicUsize::new(0));
        let counted = pushes.clone();
        let endpoints = Arc::new(Endpoints {
            metrics: Default::default(),
            webhook: Secret::new(SECRET.into()),
            on_push: Box::new(move |_| {
                counted.fetch_add(1, SeqCst);
            }),
            page: Default::default(),
            web_url: None,
        });
        tokio::spawn(serve_within(listener, endpoints, limits));
        (addr, pushes)
    }

    /// What the server sends back on `conn` until it closes the connection (true) or
    /// `PATIENCE` passes (false). A reset counts as closed.
    async fn until_closed(conn: &mut TcpStream) -> (String, bool) {
        let mut got = Vec::new();
        let closed = tokio::time::timeout(PATIENCE, async {
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        (String::from_utf8_lossy(&got).into_owned(), closed)
    }

    /// The status line of the answer to `request` on a new connection, or None when none
    /// came within `PATIENCE`.
    async fn status_of(addr: SocketAddr, request: &[u8]) -> Option<String> {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(request).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .ok()?;
        let text = String::from_utf8_lossy(&got).into_owned();
        text.lines()
            .next()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
    }

    /// A webhook POST declaring `length` bytes of body, with `headers`, carrying only
    /// the first `sent` bytes of it.
    fn post(headers: &str, length: usize, sent: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "POST /webhook HTTP/1.1\r\nhost: test\r\ncontent-length: {length}\r\n{headers}\r\n"
        )
        .into_bytes();
        r.extend_from_slice(sent);
        r
    }

    #[tokio::test]
    async fn signed_pushes_are_accepted() {
        let (addr, pushes) = server().await;
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = webhook::github_signature(SECRET, body);
        let github = format!("x-hub-signature-256: {sig}\r\nx-github-event: push\r\n");
        let gitlab = format!("x-gitlab-token: {SECRET}\r\nx-gitlab-event: Push Hook\r\n");
        for headers in [github, gitlab] {
            let status = status_of(addr, &post(&headers, body.len(), body)).await;
            assert_eq!(
                status.as_deref(),
                Some("HTTP/1.1 202 Accepted"),
                "{headers}"
            );
        }
        assert_eq!(pushes.load(SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unauthenticated_body_is_refused_before_it_is_read() {
        let (addr, pushes) = server().await;
        // 100 MiB declared, 1 KiB sent: an answer proves the rest was not waited for.
        for headers in ["", "x-gitlab-token: guess\r\nx-gitlab-event: Push Hook\r\n"] {
            let status = status_of(addr, &post(headers, 100 << 20, &[b'x'; 1024])).await;
            assert_eq!(
                status.as_deref(),
                Some("HTTP/1.1 401 Unauthorized"),
                "{headers:?}"
            );
        }
        assert_eq!(pushes.load(SeqCst), 0);
    }

    #[tokio::test]
    async fn a_signed_body_over_the_limit_is_refused_by_its_length() {
        let (addr, _) = server().await;
        // GitHub's signature covers the body, so it must be read: a declared length over
        // the limit is refused before reading any of it.
        let sig = webhook::github_signature(SECRET, b"{}");
        let headers = format!("x-hub-signature-256: {sig}\r\nx-github-event: push\r\n");
        let status = status_of(addr, &post(&headers, 2 << 20, &[b'x'; 1024])).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 413 Payload Too Large"));
    }

    #[tokio::test]
    async fn a_client_that_stalls_is_dropped() {
        // A short read timeout keeps the test short; the default is enforced the same way.
        let (addr, _) = server_within(Limits {
            read_timeout: Duration::from_secs(1),
            ..Limits::default()
        })
        .await;
        let sig = webhook::github_signature(SECRET, b"{}");
        let signed = format!("x-hub-signature-256: {sig}\r\nx-github-event: push\r\n");
        let stalls: [(&str, Vec<u8>); 2] = [
            (
                "in the headers",
                b"POST /webhook HTTP/1.1\r\nhost: test\r\n".to_vec(),
            ),
            ("in the body", post(&signed, 100, b"{\"ref\":")),
        ];
        for (what, request) in stalls {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.write_all(&request).await.unwrap();
            let (answer, closed) = until_closed(&mut conn).await;
            assert!(closed, "a client stalling {what} is still connected");
            assert!(!answer.contains(" 202 "), "{what}: {answer}");
        }
        // An idle keep-alive connection is closed too.
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let (answer, closed) = until_closed(&mut conn).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(closed, "an idle keep-alive connection is kept");
    }

    #[tokio::test]
    async fn connections_over_the_limit_are_closed_at_once() {
        let (addr, _) = server().await;
        let limit = Limits::default().connections;
        // `limit` clients that send half a request and wait hold every slot.
        let mut held = Vec::new();
        for _ in 0..limit {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            held.push(c);
        }
        // The next one is closed without an answer, not queued or served.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
            .await;
        let (answer, closed) = until_closed(&mut extra).await;
        assert!(
            closed && answer.is_empty(),
            "served over the limit: {answer}"
        );
        // Slots come back when their clients go.
        drop(held);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let request = b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
            if status_of(addr, request).await.as_deref() == Some("HTTP/1.1 200 OK") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no slot came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Set in the child process `accept_backs_off_when_file_descriptors_run_out` starts.
    const FD_CHILD: &str = "FLINKOPS_TEST_FD_EXHAUSTED_CHILD";

    #[test]
    fn accept_backs_off_when_file_descriptors_run_out() {
        let name = "daemon::http::tests::accept_backs_off_when_file_descriptors_run_out";
        if std::env::var_os(FD_CHILD).is_none() {
            // The file descriptor limit is the whole process's: lower it in a child.
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--nocapture", "--test-threads=1"])
                .env(FD_CHILD, "1")
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "the child ran no test: {text}");
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Connections waiting to be accepted, while no descriptor is left for them.
            let _clients: Vec<_> = (0..2)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            exhaust_file_descriptors();
            let failed = std::cell::Cell::new(0u64);
            let accepted = tokio::time::timeout(
                Duration::from_secs(1),
                accept(&listener, Limits::default().accept_backoff, |_| {
                    failed.set(failed.get() + 1)
                }),
            )
            .await;
            assert!(accepted.is_err(), "accepted without a file descriptor");
            // A back-off of 100 ms fails about 10 times a second; a spinning loop fails
            // hundreds of thousands of times.
            assert!(
                failed.get() <= 50,
                "{} failed accepts in one second: the accept loop spins",
                failed.get()
            );
            assert!(failed.get() >= 1, "accept never failed: the test is void");
        });
    }

    fn exhaust_file_descriptors() {
        use std::os::fd::AsRawFd;
        let probe = std::fs::File::open("/dev/null").unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls on this (child) process's own limit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            limit.rlim_cur = probe.as_raw_fd() as libc::rlim_t + 1;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        let mut hold = vec![probe];
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hold.push(f);
        }
        std::mem::forget(hold);
    }
}
