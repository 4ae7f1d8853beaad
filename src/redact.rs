//! Keeping credentials out of plans, diffs and logs. Flink configuration holds secrets
//! under recognizable keys (`s3.secret-key`, `fs.azure.account.key.*`, `*.password`).

const SENSITIVE: [&str; 8] = [
    "password",
    "secret",
    "token",
    "credential",
    "access-key",
    "access.key",
    "account.key",
    "private-key",
];

pub const REDACTED: &str = "<redacted>";

pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| k.contains(s))
}

/// Redacts `key: value` lines (YAML or properties style) whose key looks sensitive.
pub fn redact_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let sep = body.find(": ").or_else(|| body.find('='));
        match sep {
            Some(i) if is_sensitive_key(body[..i].trim()) => {
                let sep_len = if body[i..].starts_with(": ") { 2 } else { 1 };
                out.push_str(&body[..i + sep_len]);
                out.push_str(REDACTED);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_common_secret_keys() {
        for k in [
            "s3.secret-key",
            "s3.access-key",
            "fs.azure.account.key.acct.blob.core.windows.net",
            "ssl.keystore.password",
            "GITHUB_TOKEN",
        ] {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in [
            "parallelism.default",
            "state.backend.type",
            "pipeline.max-parallelism",
        ] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn redacts_values_but_keeps_keys_and_layout() {
        let text = "s3:\n  secret-key: abc\n  endpoint: http://x\npassword=hunter2\n";
        assert_eq!(
            redact_lines(text),
            "s3:\n  secret-key: <redacted>\n  endpoint: http://x\npassword=<redacted>\n"
        );
    }
}
