//! POSTs the daemon makes to services people watch (notification receivers, the Git
//! host's commit statuses): each try bounded in time, a few tries with a growing pause,
//! failures logged without the URL's credentials or any header. Callers run this in tasks
//! of their own, so a service that hangs delays only its own messages.

use std::time::Duration;

/// One try, from connecting to the answer.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per message, with `PAUSE * try` between them.
pub const TRIES: u32 = 3;
pub const PAUSE: Duration = Duration::from_secs(2);

/// The client for such POSTs: no redirects (a redirect could carry a token elsewhere).
pub fn client() -> Result<reqwest::Client, String> {
    crate::flink::rest::client_builder()
        .timeout(TRY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flinkops/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("building an HTTP client: {e}"))
}

/// POSTs `body` as JSON to `url` with `headers` until it is taken (2xx) or `TRIES` tries
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
                // The answer's start says why (bounded; it is the service's text).
                let text = tokio::time::timeout(TRY_TIMEOUT, resp.text())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                last = format!(
                    "HTTP {status}: {}",
                    crate::escape::terminal(&crate::escape::truncate(&text, 200))
                );
            }
            // Without its URL: the URL may carry a token.
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::debug!(to = %crate::redact::redact_url(url), attempt, error = %last, "POST not taken");
        if attempt < TRIES {
            tokio::time::sleep(PAUSE * attempt).await;
        }
    }
    Err(last)
}
