//! Notifications: what the daemon does (an upgrade started, done, failed or rolled back, a
//! savepoint taken, drift reverted, a job removed, Git unreachable), POSTed to the
//! receivers the operator lists (`--notify URL`, `--notify-slack URL`). JSON receivers get
//! the event as JSON, signed with HMAC-SHA256 over the body when a secret is set
//! (`X-Flinkops-Signature-256: sha256=<hex>`, GitHub's scheme), so a receiver can tell
//! them from forgeries; Slack receivers (incoming webhooks) get a line of text.
//!
//! Delivery never slows reconciliation: each receiver has a bounded queue (a full one
//! drops the newest event and says so in the log and metrics) and a task of its own that
//! sends (`outbound::post`: each try bounded in time, a few tries with a pause); a
//! receiver that hangs delays only its own events.

use crate::model::escape::short_commit;
use crate::model::spec::JobId;
use crate::model::time::Timestamp;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use tokio::sync::mpsc;

/// Events waiting to be sent; more are dropped.
const QUEUE: usize = 1024;

pub const SIGNATURE_HEADER: &str = "X-Flinkops-Signature-256";

/// One event, as a JSON receiver gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `UpgradeStarted`, `Upgraded`, `UpgradeFailed`, `RolledBack`, `SavepointTaken`,
    /// `Synced`, `DriftReverted`, `Removed`, `Blocked`, `Stalled`, `SyncFailed`,
    /// `GitUnreachable`, `GitReadable`.
    pub event: String,
    /// `Normal` or `Warning`, as Kubernetes Events.
    #[serde(rename = "type")]
    pub type_: String,
    /// NAMESPACE/NAME, for a job's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub message: String,
    pub at: Timestamp,
}

impl Notification {
    /// An event of the daemon's own (no job), now.
    pub fn new(event: &str, warning: bool, message: &str) -> Notification {
        Notification {
            event: event.into(),
            type_: if warning { "Warning" } else { "Normal" }.into(),
            job: None,
            commit: None,
            action: None,
            message: message.into(),
            at: crate::runtime::clock::now(),
        }
    }

    /// An event of job `id` at `commit` (empty: none), by `action` (empty: none), now.
    pub fn of_job(
        event: &str,
        warning: bool,
        id: &JobId,
        commit: &str,
        action: &str,
        message: &str,
    ) -> Notification {
        Notification {
            job: Some(id.to_string()),
            commit: (!commit.is_empty()).then(|| commit.to_string()),
            action: (!action.is_empty()).then(|| action.to_string()),
            ..Notification::new(event, warning, message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Slack,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub url: String,
    pub format: Format,
}

/// The body a receiver of `format` gets.
pub fn body(n: &Notification, format: Format) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(n).expect("notifications serialize"),
        Format::Slack => serde_json::to_vec(&serde_json::json!({ "text": slack_text(n) }))
            .expect("notifications serialize"),
    }
}

/// One line for Slack's mrkdwn: text from the repository and the cluster only as text,
/// its hazards visible as for a terminal (`escape::terminal`: no line of its own, no
/// bidirectional overrides) and `&`, `<` and `>` escaped as Slack asks (they would make
/// links or mentions).
pub fn slack_text(n: &Notification) -> String {
    let esc = |s: &str| {
        crate::model::escape::terminal(s)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mark = if n.type_ == "Warning" {
        ":warning: "
    } else {
        ""
    };
    let mut out = format!("{mark}flinkops: *{}*", esc(&n.event));
    if let Some(job) = &n.job {
        out.push_str(&format!(" `{}`", esc(job).replace('`', "'")));
    }
    match (&n.action, &n.commit) {
        (Some(a), Some(c)) => out.push_str(&format!(" ({} at {})", esc(a), esc(short_commit(c)))),
        (Some(a), None) => out.push_str(&format!(" ({})", esc(a))),
        (None, Some(c)) => out.push_str(&format!(" (at {})", esc(short_commit(c)))),
        (None, None) => {}
    }
    out.push_str(": ");
    out.push_str(&esc(&crate::model::escape::truncate(&n.message, 1000)));
    out
}

/// The sending half: cheap to clone, never blocks. A queue and a task per receiver, so a
/// receiver that hangs delays only its own notifications.
#[derive(Clone)]
pub struct Notifier {
    queues: Vec<mpsc::Sender<Notification>>,
}

/// Events dropped because the queue was full (for /metrics).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Events a receiver did not take after every try.
pub static FAILED: AtomicU64 = AtomicU64::new(0);

impl Notifier {
    /// Starts a sender task per receiver. `secret` signs JSON bodies.
    pub fn start(
        receivers: Vec<Receiver>,
        secret: Option<crate::model::secret::Secret>,
    ) -> Result<Notifier, String> {
        let http = crate::runtime::outbound::client().map_err(|e| format!("notifications: {e}"))?;
        let queues = receivers
            .into_iter()
            .map(|r| {
                let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE);
                let (http, secret) = (http.clone(), secret.clone());
                tokio::spawn(async move {
                    while let Some(n) = rx.recv().await {
                        deliver(&http, &r, secret.as_ref().map(|s| s.expose()), &n).await;
                    }
                });
                tx
            })
            .collect();
        Ok(Notifier { queues })
    }

    pub fn send(&self, n: Notification) {
        for q in &self.queues {
            if q.try_send(n.clone()).is_err() {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = %n.event, "notification dropped: a receiver's queue is full");
            }
        }
    }
}

async fn deliver(http: &reqwest::Client, r: &Receiver, secret: Option<&str>, n: &Notification) {
    let payload = body(n, r.format);
    let headers: Vec<(&str, String)> = match (secret, r.format) {
        (Some(s), Format::Json) => vec![(
            SIGNATURE_HEADER,
            crate::model::secret::github_signature(s, &payload),
        )],
        _ => vec![],
    };
    if let Err(e) = crate::runtime::outbound::post(http, &r.url, &headers, &payload).await {
        FAILED.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(receiver = %crate::engine::redact::redact_url(&r.url), event = %n.event, error = %e, "notification not delivered");
    }
}

static GLOBAL: OnceLock<Notifier> = OnceLock::new();

/// Makes `n` the process's notifier (the daemon, once at start).
pub fn install(n: Notifier) {
    let _ = GLOBAL.set(n);
}

/// Sends `n` if a notifier is installed (the daemon with receivers); otherwise nothing.
pub fn notify(n: Notification) {
    if let Some(g) = GLOBAL.get() {
        g.send(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Notification {
        Notification {
            event: "Upgraded".into(),
            type_: "Normal".into(),
            job: Some("streaming/orders".into()),
            commit: Some("0123456789abcdef0123".into()),
            action: Some("savepoint-upgrade".into()),
            message: "restored from s3://b/sp-1".into(),
            at: crate::model::time::Timestamp::parse("2026-11-26T10:00:00Z").unwrap(),
        }
    }

    #[test]
    fn json_receivers_get_the_event_as_documented() {
        let v: serde_json::Value = serde_json::from_slice(&body(&event(), Format::Json)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "event": "Upgraded", "type": "Normal", "job": "streaming/orders",
                "commit": "0123456789abcdef0123", "action": "savepoint-upgrade",
                "message": "restored from s3://b/sp-1", "at": "2026-11-26T10:00:00Z"
            })
        );
        // The signature is GitHub's scheme over exactly these bytes.
        let b = body(&event(), Format::Json);
        let sig = crate::model::secret::github_signature("s3cret", &b);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
    }

    #[test]
    fn slack_gets_one_line_that_cannot_mention_or_link() {
        let text = slack_text(&event());
        assert_eq!(
            text,
            "flinkops: *Upgraded* `streaming/orders` (savepoint-upgrade at 0123456789ab): restored from s3://b/sp-1"
        );
        let mut evil = event();
        evil.type_ = "Warning".into();
        evil.message =
            "<!channel> <https://evil|click> & more\nsecond line \u{202e}reversed".into();
        let text = slack_text(&evil);
        assert!(text.starts_with(":warning: "), "{text}");
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains('\n'),
            "{text}"
        );
        assert!(!text.contains('\u{202e}'), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&body(&evil, Format::Slack)).unwrap();
        assert_eq!(v["text"], text);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (tx, _rx) = mpsc::channel(1);
        let n = Notifier { queues: vec![tx] };
        let before = DROPPED.load(Ordering::Relaxed);
        n.send(event());
        n.send(event());
        n.send(event());
        assert_eq!(DROPPED.load(Ordering::Relaxed) - before, 2);
    }
}
