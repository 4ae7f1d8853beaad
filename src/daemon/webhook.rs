//! Push webhooks from GitHub (HMAC-SHA256 of the body in `X-Hub-Signature-256`) and GitLab
//! (the shared token in `X-Gitlab-Token`). Pure: headers and body in, a verdict out, in two
//! steps so that whatever the headers can refuse is refused before a body is read. A
//! verified push only triggers an immediate fetch; what gets deployed is still whatever the
//! fetch finds, so a replayed or forged-but-verified payload cannot choose a revision.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::model::secret::{github_signature, Secret};

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A push: fetch now. `git_ref` is the pushed ref when the payload names one.
    Push { git_ref: Option<String> },
    /// Authenticated, but not a push (GitHub's `ping`, other events): nothing to do.
    Ignored(String),
    /// Missing or wrong signature/token: 401, nothing happens.
    Unauthorized(&'static str),
}

/// What the headers alone establish about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Auth {
    /// GitLab's token matched: the sender is authenticated before its body is read.
    GitLab,
    /// GitHub signs the body: it must be read (within a limit) and checked against this
    /// HMAC-SHA256.
    GitHub { signature: Vec<u8> },
}

/// Judges the headers, before any body is read. `header` looks a header up by lower-case
/// name. An error is the 401's reason.
pub fn authenticate<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    secret: &Secret,
) -> Result<Auth, &'static str> {
    if let Some(sig) = header("x-hub-signature-256") {
        let hex = sig
            .strip_prefix("sha256=")
            .ok_or("X-Hub-Signature-256 is not sha256=<hex>")?;
        let signature = decode_hex(hex).ok_or("X-Hub-Signature-256 is not hex")?;
        Ok(Auth::GitHub { signature })
    } else if let Some(token) = header("x-gitlab-token") {
        if constant_time_eq(token.as_bytes(), secret.expose().as_bytes()) {
            Ok(Auth::GitLab)
        } else {
            Err("X-Gitlab-Token does not match the webhook secret")
        }
    } else {
        Err("no X-Hub-Signature-256 (GitHub) or X-Gitlab-Token (GitLab)")
    }
}

/// Judges the body of a request `authenticate` let through.
pub fn judge_body<'a>(
    auth: &Auth,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    secret: &Secret,
) -> Verdict {
    let (event, push) = match auth {
        Auth::GitHub { signature } => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes any key");
            mac.update(body);
            // Constant-time comparison.
            if mac.verify_slice(signature).is_err() {
                return Verdict::Unauthorized("signature does not match the webhook secret");
            }
            let event = header("x-github-event").unwrap_or("");
            (event, event == "push")
        }
        Auth::GitLab => {
            let event = header("x-gitlab-event").unwrap_or("");
            (event, event == "Push Hook")
        }
    };
    if !push {
        return Verdict::Ignored(format!("event `{event}` is not a push"));
    }
    let git_ref = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("ref")?.as_str().map(str::to_string));
    Verdict::Push { git_ref }
}

/// Judges a whole request: `authenticate`, then `judge_body` (the server runs the two
/// around its bounded body read; tests and the fuzzer check the whole in one call).
pub fn verify<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    body: &[u8],
    secret: &Secret,
) -> Verdict {
    match authenticate(header, secret) {
        Ok(auth) => judge_body(&auth, header, body, secret),
        Err(why) => Verdict::Unauthorized(why),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Length is not secret (the token's length is fixed by the host's settings page).
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"ref":"refs/heads/main","after":"abc"}"#;

    fn judge(headers: &[(&str, &str)], body: &[u8]) -> Verdict {
        let secret = Secret::new("It's a Secret to Everybody".into()).unwrap();
        verify(
            |name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v),
            body,
            &secret,
        )
    }

    #[test]
    fn headers_alone_refuse_what_they_can() {
        let secret = Secret::new("It's a Secret to Everybody".into()).unwrap();
        let auth = |headers: &'static [(&'static str, &'static str)]| {
            authenticate(
                |name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v),
                &secret,
            )
        };
        assert_eq!(
            auth(&[("x-gitlab-token", "It's a Secret to Everybody")]),
            Ok(Auth::GitLab)
        );
        assert!(auth(&[("x-gitlab-token", "guess")]).is_err());
        assert!(auth(&[]).is_err());
        assert!(auth(&[("x-hub-signature-256", "sha256=zz")]).is_err());
        // GitHub's signature is over the body: only its form is judged here.
        assert!(matches!(
            auth(&[("x-hub-signature-256", "sha256=00ff")]),
            Ok(Auth::GitHub { .. })
        ));
    }

    #[test]
    fn github_known_vector() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        assert_eq!(
            github_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn github_push_with_a_good_signature_is_accepted() {
        let sig = github_signature("It's a Secret to Everybody", BODY);
        let v = judge(
            &[("x-hub-signature-256", &sig), ("x-github-event", "push")],
            BODY,
        );
        assert_eq!(
            v,
            Verdict::Push {
                git_ref: Some("refs/heads/main".into())
            }
        );
        let v = judge(
            &[("x-hub-signature-256", &sig), ("x-github-event", "ping")],
            BODY,
        );
        assert!(matches!(v, Verdict::Ignored(_)), "{v:?}");
    }

    #[test]
    fn github_bad_signatures_are_rejected() {
        let wrong = github_signature("another secret", BODY);
        let tampered = github_signature("It's a Secret to Everybody", b"{}");
        for sig in [
            wrong.as_str(),
            tampered.as_str(),
            "sha256=zz",
            "sha1=abcd",
            "sha256=abc",
        ] {
            let v = judge(
                &[("x-hub-signature-256", sig), ("x-github-event", "push")],
                BODY,
            );
            assert!(matches!(v, Verdict::Unauthorized(_)), "{sig}: {v:?}");
        }
        assert!(matches!(
            judge(&[("x-github-event", "push")], BODY),
            Verdict::Unauthorized(_)
        ));
    }

    #[test]
    fn gitlab_token() {
        let ok = judge(
            &[
                ("x-gitlab-token", "It's a Secret to Everybody"),
                ("x-gitlab-event", "Push Hook"),
            ],
            BODY,
        );
        assert_eq!(
            ok,
            Verdict::Push {
                git_ref: Some("refs/heads/main".into())
            }
        );
        let bad = judge(
            &[("x-gitlab-token", "guess"), ("x-gitlab-event", "Push Hook")],
            BODY,
        );
        assert!(matches!(bad, Verdict::Unauthorized(_)));
        let other = judge(
            &[
                ("x-gitlab-token", "It's a Secret to Everybody"),
                ("x-gitlab-event", "Issue Hook"),
            ],
            BODY,
        );
        assert!(matches!(other, Verdict::Ignored(_)));
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let s = Secret::new("hunter2\n".into()).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(Secret::new("  \n".into()).is_none());
    }
}
