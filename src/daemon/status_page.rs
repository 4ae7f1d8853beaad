//! The status page on `--listen` (`/`, and `/status.json`): every job with its commit,
//! health, Flink job state, last savepoint, upgrade in flight and last error, from the
//! ledgers in the daemon's watch cache. One self-contained HTML document (no external
//! assets, no script) that reloads itself, served with a Content-Security-Policy that
//! allows its one inline style by hash and nothing else.

use crate::edge::kube::daemon_status::DaemonStatus;
use crate::engine::job_status::{job_json, upgrade_text};
use crate::model::escape::{html as escape, short_commit, url_path_segment};
use crate::model::ledger::{Health, Ledger};
use crate::model::spec::JobId;
use crate::model::time::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

/// Seconds between reloads of the page.
pub const REFRESH_SECS: u32 = 5;

/// What the page shows, replaced by the run loop as the watches change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub daemon: Option<DaemonStatus>,
    pub leader: bool,
    pub ledgers: BTreeMap<JobId, Ledger>,
    pub at: Timestamp,
}

/// `/status.json`: the daemon and every job, as `flinkops status -o json` shows them.
pub fn json(s: &Snapshot) -> String {
    let jobs: Vec<serde_json::Value> = s
        .ledgers
        .iter()
        .map(|(id, l)| job_json(&id.namespace, &id.name, l))
        .collect();
    let v = serde_json::json!({
        "daemon": s.daemon,
        "leader": s.leader,
        "at": s.at,
        "jobs": jobs,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// A commit, linked to the repository's web page for it when `web_url` is set (GitHub and
/// GitLab both answer `<url>/commit/<sha>`). The URL is http(s) (checked on the command
/// line); the commit, read from the cluster, is percent-encoded as one path segment.
fn commit_cell(commit: &str, web_url: Option<&str>) -> String {
    if commit.is_empty() {
        return "-".into();
    }
    let text = escape(short_commit(commit));
    match web_url {
        Some(url) => format!(
            "<a href=\"{}/commit/{}\" title=\"{}\"><code>{text}</code></a>",
            escape(url.trim_end_matches('/')),
            escape(&url_path_segment(commit)),
            escape(commit)
        ),
        None => format!("<code title=\"{}\">{text}</code>", escape(commit)),
    }
}

fn health_class(h: Health) -> &'static str {
    match h {
        Health::Healthy => "ok",
        Health::Progressing | Health::Suspended => "wait",
        Health::Degraded | Health::Blocked | Health::Stalled => "bad",
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#1b1f24}\
h1{font-size:1.3em;margin:0 0 .3em}p.meta{color:#57606a;margin:.2em 0}\
table{border-collapse:collapse;margin-top:1em;width:100%}\
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #d0d7de;vertical-align:top}\
th{background:#f6f8fa}code{font:12px ui-monospace,monospace}\
.ok{color:#1a7f37;font-weight:600}.wait{color:#9a6700;font-weight:600}\
.bad{color:#cf222e;font-weight:600}.err{color:#cf222e}.path{word-break:break-all}";

/// The page's one inline style, allowed by its hash: no other style, no script, no
/// image, frame, form or base URL.
static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        base64(&Sha256::digest(STYLE.as_bytes()))
    )
});

/// Response headers for every answer on `--listen` (the page, JSON, metrics): what the
/// browser may load and run (see `CONTENT_SECURITY_POLICY`), no type sniffing, no framing
/// (clickjacking), and no Referer with the page's address to the commit links.
pub fn security_headers() -> [(&'static str, String); 4] {
    [
        (
            "content-security-policy",
            CONTENT_SECURITY_POLICY.to_string(),
        ),
        ("x-content-type-options", "nosniff".into()),
        ("x-frame-options", "DENY".into()),
        ("referrer-policy", "no-referrer".into()),
    ]
}

/// Standard base64 with padding (RFC 4648), for the policy's hash.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The page.
pub fn html(s: &Snapshot, web_url: Option<&str>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>flinkops</title><style>{STYLE}</style></head><body><h1>flinkops</h1>"
    );
    match &s.daemon {
        Some(d) => {
            let _ = write!(
                out,
                "<p class=\"meta\" id=\"source\">{}{} at {}</p>",
                escape(&d.repo),
                d.branch
                    .as_deref()
                    .map(|b| format!(" ({})", escape(b)))
                    .unwrap_or_default(),
                commit_cell(&d.commit, web_url)
            );
            let git = match &d.condition {
                None => "<span class=\"ok\">git: ok</span>".to_string(),
                Some(c) => format!(
                    "<span class=\"bad\">git: {} since {}</span>: {}",
                    escape(&c.reason),
                    escape(&c.since),
                    escape(&c.message)
                ),
            };
            let _ = write!(out, "<p class=\"meta\" id=\"git\">{git}</p>");
        }
        None => out.push_str("<p class=\"meta\">starting: no commit read yet</p>"),
    }
    let _ = write!(
        out,
        "<p class=\"meta\">{} · {} jobs · {} · reloads every {REFRESH_SECS} s</p>",
        if s.leader {
            "this replica leads"
        } else {
            "standby replica (read-only)"
        },
        s.ledgers.len(),
        s.at
    );
    out.push_str(
        "<table><thead><tr><th>Job</th><th>Kind</th><th>Commit</th><th>Health</th>\
         <th>Flink job</th><th>Last savepoint</th><th>Upgrade</th><th>Last error</th>\
         </tr></thead><tbody>",
    );
    if s.ledgers.is_empty() {
        out.push_str("<tr><td colspan=\"8\">No jobs yet.</td></tr>");
    }
    for (id, l) in &s.ledgers {
        let health = format!(
            "<span class=\"{}\">{:?}</span>{}",
            health_class(l.health),
            l.health,
            l.health_reason
                .as_deref()
                .map(|r| format!("<br>{}", escape(r)))
                .unwrap_or_default()
        );
        let savepoint = l.savepoints.last().map_or("-".to_string(), |sp| {
            format!(
                "<span class=\"path\">{}</span><br>{} ({})",
                escape(&sp.path),
                sp.at,
                escape(&sp.reason)
            )
        });
        let _ = write!(
            out,
            "<tr data-job=\"{id}\"><td><a href=\"{link}\">{id}</a></td><td>{}</td><td>{}</td><td>{health}</td>\
             <td>{}</td><td>{savepoint}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            l.spec.as_ref().map_or("?", |s| s.kind.as_str()),
            commit_cell(&l.applied_commit, web_url),
            escape(l.flink_state.as_ref().map_or("-", |s| s.as_str())),
            l.upgrade
                .as_ref()
                .map_or("-".into(), |u| escape(&upgrade_text(u))),
            escape(l.last_error.as_deref().unwrap_or("")),
            id = escape(&id.to_string()),
            link = history_link(id),
        );
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

/// Where a job's history page is, relative to the status page.
fn history_link(id: &JobId) -> String {
    format!(
        "history/{}/{}",
        url_path_segment(&id.namespace),
        url_path_segment(&id.name)
    )
}

/// `/history/NAMESPACE/NAME`: the job's lineage (`crate::engine::history`) as a page.
pub fn history_html(l: &crate::engine::history::Lineage) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>flinkops: {job}</title><style>{STYLE}</style></head><body>\
         <h1>{job}</h1><p class=\"meta\"><a href=\"../..\">all jobs</a> · {}</p>\
         <table><thead><tr><th>When</th><th>Commit</th><th>Action</th><th>State in</th>\
         <th>State out</th><th>Result</th></tr></thead><tbody>",
        match &l.removed {
            Some(r) => format!(
                "removed from Git at {} ({})",
                r.at,
                escape(short_commit(&r.commit))
            ),
            None => format!(
                "{:?} at {}",
                l.health,
                escape(short_commit(&l.applied_commit))
            ),
        },
        job = escape(&l.job),
    );
    let path = |p: &Option<String>| {
        p.as_deref().map_or("-".to_string(), |p| {
            format!("<span class=\"path\">{}</span>", escape(p))
        })
    };
    for s in &l.steps {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.at,
            escape(short_commit(&s.commit)),
            escape(&s.action),
            path(&s.state_in),
            path(&s.state_out),
            escape(&s.result)
        );
    }
    out.push_str(
        "</tbody></table><h2>Savepoints</h2><table><thead><tr><th>When</th><th>Of commit</th>\
         <th>Why</th><th>Path</th></tr></thead><tbody>",
    );
    for s in &l.savepoints {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"path\">{}</span></td></tr>",
            s.at,
            escape(short_commit(&s.commit)),
            escape(&s.reason),
            escape(&s.path)
        );
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::upgrade::SavepointRecord;

    fn snapshot() -> Snapshot {
        let id = JobId {
            namespace: "streaming".into(),
            name: "orders".into(),
        };
        let ledger = Ledger {
            applied_commit: "0123456789abcdef0123".into(),
            health: Health::Degraded,
            health_reason: Some("the Flink job is FAILED".into()),
            flink_state: Some(crate::model::flink::JobState::Failed),
            last_error: Some("<script>alert(1)</script>".into()),
            savepoints: vec![SavepointRecord {
                path: "s3://b/sp-1".into(),
                commit: "c".into(),
                reason: "periodic".into(),
                at: crate::model::time::Timestamp::from_unix(1),
            }],
            ..Default::default()
        };
        Snapshot {
            daemon: Some(DaemonStatus {
                repo: "https://git.example.com/jobs.git".into(),
                branch: Some("main".into()),
                commit: "fedcba9876543210".into(),
                condition: None,
                writer: "flinkops-0".into(),
            }),
            leader: true,
            ledgers: BTreeMap::from([(id, ledger)]),
            at: crate::model::time::Timestamp::parse("2026-11-23T10:00:05Z").unwrap(),
        }
    }

    #[test]
    fn the_page_shows_each_job_and_escapes_what_it_shows() {
        let page = html(&snapshot(), Some("https://git.example.com/jobs/"));
        assert!(page.contains("<tr data-job=\"streaming/orders\">"));
        assert!(
            page.contains("<a href=\"https://git.example.com/jobs/commit/0123456789abcdef0123\"")
        );
        assert!(page.contains("<span class=\"bad\">Degraded</span><br>the Flink job is FAILED"));
        assert!(page.contains("s3://b/sp-1"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>"), "no script, no external assets");
        assert!(!page.contains("src=") && !page.contains("<link"));
        assert!(page.contains("content=\"5\""));
        let plain = html(&snapshot(), None);
        assert!(plain.contains("<code title=\"0123456789abcdef0123\">0123456789ab</code>"));
        assert!(
            !plain.contains("<a href=\"http"),
            "no commit links without --web-url"
        );
        // Each job links to its history.
        assert!(plain.contains("<a href=\"history/streaming/orders\">streaming/orders</a>"));
    }

    #[test]
    fn the_history_page_shows_the_lineage_and_escapes_it() {
        let s = snapshot();
        let (id, ledger) = s.ledgers.iter().next().unwrap();
        let mut ledger = ledger.clone();
        ledger.history.push(crate::model::ledger::HistoryEntry {
            commit: "0123456789abcdef0123".into(),
            spec_hash: "h".into(),
            action: "savepoint-upgrade".into(),
            at: crate::model::time::Timestamp::parse("2026-11-23T10:01:00Z").unwrap(),
            result: "<img src=x onerror=alert(1)>".into(),
            state_in: Some("s3://b/sp-1".into()),
            state_out: Some("s3://b/sp-1\"><script>".into()),
            seconds: None,
        });
        let page = history_html(&crate::engine::history::lineage(id, &ledger));
        assert!(page.contains("<h1>streaming/orders</h1>"), "{page}");
        assert!(
            page.contains(
                "<td>savepoint-upgrade</td><td><span class=\"path\">s3://b/sp-1</span></td>"
            ),
            "{page}"
        );
        assert!(
            !page.contains("<img") && !page.contains("<script>"),
            "{page}"
        );
        assert!(page.contains("<td>periodic</td>"), "the savepoints: {page}");
        assert!(page.contains("<a href=\"../..\">all jobs</a>"));
    }

    #[test]
    fn hostile_commits_neither_panic_nor_escape_their_link() {
        let mut s = snapshot();
        let l = s.ledgers.values_mut().next().unwrap();
        l.applied_commit = "0123456789aé€\" onmouseover=\"x".into();
        let page = html(&s, Some("https://git.example.com/jobs"));
        assert!(
            page.contains("href=\"https://git.example.com/jobs/commit/0123456789a%C3%A9%E2%82%AC%22%20onmouseover%3D%22x\""),
            "{page}"
        );
        assert!(page.contains("<code>0123456789aé</code>"), "{page}");
        l_last_error_is_shown_escaped(&mut s);
    }

    fn l_last_error_is_shown_escaped(s: &mut Snapshot) {
        let l = s.ledgers.values_mut().next().unwrap();
        l.last_error = Some("a\x1b[2Jb".into());
        assert!(html(s, None).contains("a\\x1b[2Jb"));
    }

    #[test]
    fn headers_allow_exactly_the_page_s_own_style() {
        let page = html(&snapshot(), None);
        let style = page
            .split("<style>")
            .nth(1)
            .and_then(|r| r.split("</style>").next())
            .unwrap();
        let headers = security_headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name}"))
        };
        let csp = get("content-security-policy");
        let hash = format!("'sha256-{}'", base64(&Sha256::digest(style.as_bytes())));
        assert!(
            csp.contains(&format!("style-src {hash}")),
            "{csp} vs {hash}"
        );
        for directive in [
            "default-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(
            !csp.contains("unsafe") && !csp.contains("script-src"),
            "{csp}"
        );
        assert!(
            !page.contains("<script") && !page.contains(" style="),
            "only the one <style>"
        );
        assert_eq!(get("x-content-type-options"), "nosniff");
        assert_eq!(get("x-frame-options"), "DENY");
        assert_eq!(get("referrer-policy"), "no-referrer");
    }

    #[test]
    fn base64_is_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
    }

    #[test]
    fn the_json_is_the_status_command_s() {
        let v: serde_json::Value = serde_json::from_str(&json(&snapshot())).unwrap();
        assert_eq!(v["jobs"][0]["name"], "orders");
        assert_eq!(v["jobs"][0]["flinkState"], "FAILED");
        assert_eq!(v["daemon"]["branch"], "main");
        assert_eq!(v["leader"], true);
    }
}
