//! The fuzz targets' bodies and their input formats, shared by the AFL binaries in
//! `src/bin` (which only wrap them in `afl::fuzz!`) and by the tests below. Each body
//! panics exactly when flinkops misbehaves: a panic, stack overflow or runaway allocation
//! inside flinkops, or a broken invariant asserted here.

use flinkops::daemon::webhook::{self, Secret, Verdict};
use flinkops::edge::git::{Entry, Snapshot};
use flinkops::engine::{diff, plan, render};
use flinkops::model::spec;
use std::collections::BTreeMap;

/// The paths the parts of a `spec` input are stored at (see [`spec_snapshot`]).
pub const SPEC_PATHS: [&str; 3] = [spec::SETTINGS_FILE, "jobs/a.yaml", "clusters/b.yaml"];

/// `spec` input: NUL-separated parts (NUL cannot appear in YAML, so splitting never cuts
/// a valid document): the settings file, then up to two definition files, stored at
/// [`SPEC_PATHS`]. An empty settings part means no settings file (all defaults). Bytes
/// after a third NUL are ignored. Parts are raw bytes: non-UTF-8 is part of the input space.
pub fn spec_snapshot(data: &[u8]) -> Snapshot {
    let mut files = BTreeMap::new();
    for (i, part) in data.splitn(4, |b| *b == 0).take(3).enumerate() {
        if i == 0 && part.is_empty() {
            continue;
        }
        files.insert(SPEC_PATHS[i].to_string(), Entry::File(part.to_vec()));
    }
    Snapshot {
        commit: "f".repeat(40),
        files,
    }
}

/// The spec reader and the pure core behind it: files → Catalog → render → plan → diff.
pub fn spec(data: &[u8]) {
    let snapshot = spec_snapshot(data);
    // The YAML layer alone, as the reader sees each file.
    for entry in snapshot.files.values() {
        if let Entry::File(bytes) = entry {
            if let Ok(text) = std::str::from_utf8(bytes) {
                if let Ok(docs) = spec::yaml::parse_documents(text) {
                    for doc in &docs {
                        let _ = doc.root.to_json();
                    }
                }
            }
        }
    }
    let catalog = spec::load(&snapshot);
    // Every error names a file of the snapshot (users are sent to it).
    for e in catalog.errors() {
        assert!(
            snapshot.files.contains_key(&e.file),
            "error names a file that is not in the snapshot: {e}"
        );
        let _ = e.to_string();
    }
    for (id, job) in &catalog.jobs {
        assert_eq!(&job.id, id, "a job is filed under another id");
        let cx = render::Context {
            commit: &snapshot.commit,
            restore_from: None,
        };
        let rendered = render::render(job, &cx);
        for object in &rendered.objects {
            let _ = object.to_yaml();
        }
        // The render is documented as deterministic; the plan's "unchanged" relies on it.
        assert_eq!(
            rendered,
            render::render(job, &cx),
            "render is not deterministic"
        );
    }
    // A catalog planned against itself changes nothing.
    let same = plan::plan(&catalog.jobs, &catalog);
    assert!(
        !same.has_changes(),
        "a catalog planned against itself has changes: {:?}",
        same.jobs
    );
    // Against nothing: every valid job is created; the offline diff renders and diffs all.
    let empty = spec::Catalog::default();
    let report = diff::report(
        diff::Side {
            commit: "0".repeat(40).as_str(),
            catalog: &empty,
        },
        diff::Side {
            commit: &snapshot.commit,
            catalog: &catalog,
        },
    );
    let _ = diff::to_text(&report, true);
    let _ = diff::to_markdown(&report);
    let _ = diff::to_json(&report);
    let _ = diff::summary(&report.plan);
}

/// The secret the `webhook` target's requests are judged against.
pub const WEBHOOK_SECRET: &str = "fuzz-secret";
/// A GitHub signature header with this value is replaced by the body's true signature, so
/// that the fuzzer, which cannot forge an HMAC, still reaches what follows verification.
pub const SIGN_PLACEHOLDER: &str = "sign";

/// `webhook` input: like an HTTP request without its first line: `name: value` header lines
/// (LF or CRLF), an empty line, then the body. Names are matched case-insensitively and
/// the first of repeated headers wins, as hyper's `HeaderMap::get` does; a value that is
/// not visible ASCII reads as absent, as `HeaderValue::to_str` does in `daemon::http`.
pub fn webhook_request(data: &[u8]) -> (BTreeMap<String, String>, Vec<u8>) {
    let mut headers = BTreeMap::new();
    let mut rest = data;
    loop {
        let (line, after) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon])
            .trim()
            .to_ascii_lowercase();
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let visible = value
            .iter()
            .all(|b| *b == b'\t' || (0x20..0x7f).contains(b));
        if visible {
            let value = String::from_utf8_lossy(value).into_owned();
            headers.entry(name).or_insert(value);
        } else {
            headers.entry(name).or_insert_with(|| "\u{0}".to_string());
        }
    }
    if headers.get("x-hub-signature-256").map(String::as_str) == Some(SIGN_PLACEHOLDER) {
        headers.insert("x-hub-signature-256".into(), github_signature(rest));
    }
    (headers, rest.to_vec())
}

fn github_signature(body: &[u8]) -> String {
    webhook::github_signature(WEBHOOK_SECRET, body)
}

/// The webhook check and push-payload parser: a request is accepted (push or ignored)
/// exactly when it carries the right GitHub signature or, without one, the right GitLab
/// token; a push's ref is the payload's `ref` string.
pub fn webhook(data: &[u8]) {
    let (headers, body) = webhook_request(data);
    // A value that is not visible ASCII is stored as "\0" above: absent to the handler.
    let header = |name: &str| {
        headers
            .get(name)
            .map(String::as_str)
            .filter(|v| *v != "\u{0}")
    };
    let secret = Secret::new(WEBHOOK_SECRET.to_string()).expect("non-empty secret");
    let verdict = webhook::verify(header, &body, &secret);
    // GitHub's header, when readable, decides; otherwise GitLab's token does.
    let authentic = match header("x-hub-signature-256") {
        Some(sig) => sig.strip_prefix("sha256=").is_some_and(|hex| {
            Some(hex.to_ascii_lowercase().as_str())
                == github_signature(&body).strip_prefix("sha256=")
        }),
        None => header("x-gitlab-token") == Some(WEBHOOK_SECRET),
    };
    match &verdict {
        Verdict::Unauthorized(_) => assert!(!authentic, "an authentic request was refused"),
        Verdict::Ignored(_) | Verdict::Push { .. } => {
            assert!(authentic, "a forged request was accepted: {verdict:?}")
        }
    }
    if let Verdict::Push { git_ref } = &verdict {
        let expected = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("ref")?.as_str().map(str::to_string));
        assert_eq!(
            git_ref, &expected,
            "the push's ref is not the payload's `ref`"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_input_splits_into_settings_and_two_files() {
        let s = spec_snapshot(b"roots: [jobs]\0a: 1\0b: 2\0ignored");
        let paths: Vec<&str> = s.files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["clusters/b.yaml", "flinkops.yaml", "jobs/a.yaml"]);
        assert_eq!(s.files["jobs/a.yaml"], Entry::File(b"a: 1".to_vec()));
        let no_settings = spec_snapshot(b"\0a: 1");
        assert!(!no_settings.files.contains_key(spec::SETTINGS_FILE));
    }

    #[test]
    fn webhook_input_reads_headers_then_body() {
        let (h, body) = webhook_request(b"X-Gitlab-Token: t\r\nx-gitlab-token: u\r\n\r\n{}");
        assert_eq!(h["x-gitlab-token"], "t");
        assert_eq!(body, b"{}");
        let (h, body) = webhook_request(b"x-hub-signature-256: sign\n\nbody");
        assert_eq!(h["x-hub-signature-256"], github_signature(b"body"));
        assert_eq!(body, b"body");
    }

    #[test]
    fn signed_github_push_and_gitlab_push_are_accepted() {
        webhook(
            b"x-hub-signature-256: sign\nx-github-event: push\n\n{\"ref\":\"refs/heads/main\"}",
        );
        webhook(b"x-gitlab-token: fuzz-secret\nx-gitlab-event: Push Hook\n\n{\"ref\":\"x\"}");
        webhook(b"x-gitlab-token: wrong\n\n{}");
    }
}
