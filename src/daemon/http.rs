//! The daemon's HTTP endpoints on `--listen`: `/healthz` (the process serves), `/readyz`
//! (watches listed and a first cycle done), `/metrics` (Prometheus text). A deliberately
//! small HTTP/1.1 responder: GET only, one request per connection.

use super::metrics::Metrics;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub async fn serve(listener: TcpListener, metrics: Arc<Mutex<Metrics>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let request = String::from_utf8_lossy(&buf[..n]);
            let (status, content_type, body) = respond(&request, &metrics);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

fn respond(request: &str, metrics: &Mutex<Metrics>) -> (&'static str, &'static str, String) {
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let text = "text/plain; charset=utf-8";
    if method != "GET" {
        return ("405 Method Not Allowed", text, "GET only\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/healthz" => ("200 OK", text, "ok\n".into()),
        "/readyz" => {
            if metrics.lock().map(|m| m.ready).unwrap_or(false) {
                ("200 OK", text, "ready\n".into())
            } else {
                (
                    "503 Service Unavailable",
                    text,
                    "not ready: watches listing or first cycle running\n".into(),
                )
            }
        }
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.lock().map(|m| m.render()).unwrap_or_default(),
        ),
        _ => ("404 Not Found", text, "not found\n".into()),
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
        assert_eq!(respond("GET /healthz HTTP/1.1\r\n", &m).0, "200 OK");
        assert_eq!(
            respond("GET /readyz HTTP/1.1\r\n", &m).0,
            "503 Service Unavailable"
        );
        m.lock().unwrap().ready = true;
        assert_eq!(respond("GET /readyz HTTP/1.1\r\n", &m).0, "200 OK");
        let (status, ct, body) = respond("GET /metrics HTTP/1.1\r\n", &m);
        assert_eq!(
            (status, ct),
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(body.contains("flinkops_sync_cycles_total 0"));
        assert_eq!(respond("GET /nope HTTP/1.1\r\n", &m).0, "404 Not Found");
        assert_eq!(
            respond("POST /metrics HTTP/1.1\r\n", &m).0,
            "405 Method Not Allowed"
        );
    }
}
