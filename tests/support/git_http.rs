//! A Git server over HTTP for tests: the real `git http-backend` (smart protocol) behind
//! Basic authentication that accepts one token, as GitHub and GitLab do for HTTPS.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct GitHttp {
    /// `http://HOST:PORT`; a repository is at `/<directory name under root>`.
    pub base: String,
    /// Requests turned away for missing or wrong credentials.
    pub rejected: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the repositories under `root`, requiring HTTP Basic with password `token`.
pub async fn serve(root: PathBuf, token: String) -> GitHttp {
    serve_at("127.0.0.1", "127.0.0.1", root, token).await
}

/// `serve`, on every address of the host, named by `host` (an address Pods reach).
pub async fn serve_for_pods(host: &str, root: PathBuf, token: String) -> GitHttp {
    serve_at("0.0.0.0", host, root, token).await
}

async fn serve_at(bind: &str, host: &str, root: PathBuf, token: String) -> GitHttp {
    let listener = tokio::net::TcpListener::bind((bind, 0)).await.unwrap();
    let base = format!("http://{host}:{}", listener.local_addr().unwrap().port());
    let rejected = Arc::new(AtomicUsize::new(0));
    let state = Arc::new((root, token, rejected.clone()));
    let task = tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(req, &state).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(conn), service)
                    .await;
            });
        }
    });
    GitHttp {
        base,
        rejected,
        task,
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    (root, token, rejected): &(PathBuf, String, Arc<AtomicUsize>),
) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
        .is_some_and(|cred| cred.split_once(':').is_some_and(|(_, p)| p == token));
    if !authorized {
        rejected.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let root = root.clone();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", &path)
            .env("QUERY_STRING", &query)
            .env("REQUEST_METHOD", &method)
            .env("CONTENT_TYPE", &content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        child.wait_with_output().unwrap().stdout
    })
    .await
    .unwrap();
    // CGI output: headers, a blank line, the body.
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((out.len(), out.len()));
    let mut response = Response::builder();
    for line in String::from_utf8_lossy(&out[..split.0]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("status") {
                let code: u16 = v.split_whitespace().next().unwrap().parse().unwrap();
                response = response.status(code);
            } else {
                response = response.header(k.trim(), v);
            }
        }
    }
    response
        .body(Full::new(Bytes::copy_from_slice(&out[split.1..])))
        .unwrap()
}

fn base64_decode(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}
