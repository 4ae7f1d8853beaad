//! POSTs the daemon makes to services people watch (notification receivers, the Git
//! host's commit statuses): each try bounded in time, a few tries with a growing pause,
//! failures logged without the URL's credentials or any header. Callers run this in tasks
//! of their own, so a service that hangs delays only its own messages.

use std::time::Duration;

/// One try, from connecting to the answer.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per message, with `PAUSE * try` between them.
pub const TRIES: u32 = 3;
#[cfg(not(test))]
pub const PAUSE: Duration = Duration::from_secs(2);
#[cfg(test)]
pub const PAUSE: Duration = Duration::from_millis(10);

/// The client for such POSTs: no redirects (a redirect could carry a token elsewhere).
pub fn client() -> Result<reqwest::Client, String> {
    crate::edge::flink::rest::client_builder()
        .timeout(TRY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flinkops/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building an HTTP client: {e}"))
}

/// Bytes of a refusal's body read for its reason.
const REASON_BYTES: usize = 1024;

/// The start of a response's body as text, read no further than `REASON_BYTES`.
async fn reason(mut resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < REASON_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(REASON_BYTES);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// POSTs `body` as JSON to `url` with `headers` until it is taken (2xx), refused for good
/// (a 4xx other than 408 and 429: trying again would get the same answer) or `TRIES` tries
/// failed; the error is the last try's, fit to log.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 1..=TRIES {
        let mut req = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                // The answer's start says why: at most `REASON_BYTES` of the service's
                // text are read (the try's timeout bounds the time).
                let text = reason(resp).await;
                last = format!(
                    "HTTP {status}: {}",
                    crate::model::escape::terminal(&crate::model::escape::truncate(&text, 200))
                );
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    break;
                }
            }
            // Without its URL: the URL may carry a token.
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::debug!(to = %crate::engine::redact::redact_url(url), attempt, error = %last, "POST not taken");
        if attempt < TRIES {
            tokio::time::sleep(PAUSE * attempt).await;
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in receiver (for this error path only) that answers every request with
    /// `status` and counts them.
    async fn answering(status: u16) -> (String, Arc<AtomicUsize>) {
        answering_with(status, "nope").await
    }

    /// The same, with `body` as every answer's body.
    async fn answering_with(status: u16, body: &str) -> (String, Arc<AtomicUsize>) {
        let body = body.to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0; 4096];
                let _ = conn.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_refusal_is_not_tried_again_but_a_failure_is() {
        let http = client().unwrap();
        let (url, seen) = answering(404).await;
        let e = post(&http, &url, &[], b"{}").await.unwrap_err();
        assert_eq!(e, "HTTP 404: nope");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        for status in [503, 429] {
            let (url, seen) = answering(status).await;
            let e = post(&http, &url, &[], b"{}").await.unwrap_err();
            assert!(e.starts_with(&format!("HTTP {status}")), "{e}");
            assert_eq!(seen.load(Ordering::SeqCst), TRIES as usize, "{status}");
        }
        let (url, _) = answering_with(400, &"x".repeat(1 << 20)).await;
        let e = post(&http, &url, &[], b"{}").await.unwrap_err();
        assert!(
            e.starts_with("HTTP 400: xxx") && e.chars().count() < 250,
            "{e}"
        );
        let (url, seen) = answering(204).await;
        post(&http, &url, &[], b"{}").await.unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}
