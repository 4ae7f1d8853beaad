//! Shared secrets (webhook and notification keys) and GitHub's HMAC-SHA256 signature
//! scheme, used both to verify pushes and to sign notifications.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A shared secret: a webhook's (as configured in the Git host's settings) or a
/// notification receiver's. `Debug` hides it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Option<Secret> {
        let s = s.trim().to_string();
        (!s.is_empty()).then_some(Secret(s))
    }

    /// The secret itself, for signing (never for printing: `Debug` hides it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The `X-Hub-Signature-256` value GitHub sends for `body` (for tests and the fuzz harness).
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
