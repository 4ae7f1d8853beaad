//! Kubernetes name rules as they apply to job definitions.

/// Rendered objects are named `<name>-taskmanager` etc. and Services need DNS-1035 labels,
/// so a job name is a DNS-1035 label short enough to carry the longest suffix.
pub const MAX_JOB_NAME: usize = 45;

pub fn check_job_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > MAX_JOB_NAME {
        return Err(format!(
            "`{name}` is {} characters; at most {MAX_JOB_NAME} (object names append suffixes such as -taskmanager)",
            name.len()
        ));
    }
    if !is_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "`{name}` is not a valid name: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (RFC 1035)"
        ));
    }
    Ok(())
}

pub fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.len() > 63 || !is_label(ns) {
        return Err(format!(
            "`{ns}` is not a valid namespace: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (RFC 1123)"
        ));
    }
    Ok(())
}

/// What a DNS-1123 subdomain may hold, for messages.
const SUBDOMAIN_RULE: &str =
    "lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit";

/// A DNS-1123 subdomain, as Kubernetes checks one: at most 253 characters, dot-separated
/// parts of lowercase letters, digits and '-' (Kubernetes bounds only the whole length).
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// A host name as an Ingress takes it in a rule or a TLS entry: a DNS-1123 subdomain, or
/// one with a leading `*.` (a wildcard).
pub fn check_host(host: &str) -> Result<(), String> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if host.len() <= 253 && is_subdomain(name) {
        return Ok(());
    }
    Err(format!(
        "`{host}` is not a host name: {SUBDOMAIN_RULE}, a wildcard only as a leading `*.`, at most 253 characters"
    ))
}

/// The name of a Kubernetes object named by a DNS-1123 subdomain (a Secret).
pub fn check_secret_name(name: &str) -> Result<(), String> {
    if is_subdomain(name) {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not a Secret name: {SUBDOMAIN_RULE}, at most 253 characters"
    ))
}

/// A ServiceAccount name (a DNS-1123 subdomain).
pub fn check_service_account_name(name: &str) -> Result<(), String> {
    if is_subdomain(name) {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not a ServiceAccount name: {SUBDOMAIN_RULE}, at most 253 characters"
    ))
}

/// The name part of a qualified name, and a label value when not empty: at most 63
/// letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
fn is_qualified_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label or annotation key as Kubernetes checks it: a name of at most 63 letters,
/// digits, '-', '_' and '.' (starting and ending with a letter or digit), optionally
/// after a DNS-1123 subdomain prefix and `/`.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if prefix.is_none_or(is_subdomain) && is_qualified_part(name) {
        return Ok(());
    }
    Err(format!(
        "`{key}` is not a Kubernetes label or annotation key: a name of at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, optionally after a DNS subdomain and `/` (example.com/name)"
    ))
}

/// A label value (also a node selector's): empty, or as the name part of a key.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_qualified_part(value) {
        return Ok(());
    }
    Err(format!(
        "`{value}` is not a Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    ))
}

/// An environment variable name as Kubernetes has always taken it (a C identifier, with
/// '-' and '.' allowed): letters, digits, '_', '-' and '.', not starting with a digit.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name.starts_with(|c: char| !c.is_ascii_digit());
    if ok {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit"
    ))
}

/// A key of a Secret's data: letters, digits, '-', '_' and '.', at most 253.
pub fn check_secret_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        return Ok(());
    }
    Err(format!(
        "`{key}` is not a key of a Secret: letters, digits, '-', '_' and '.', at most 253 characters"
    ))
}

/// A DNS-1123 label of at most 63 characters (a volume name).
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_label(s)
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Labels and annotations flinkops writes on every object it renders: how it finds,
/// prunes and tells apart its objects. A definition may not set them.
pub fn is_flinkops_key(key: &str) -> bool {
    use crate::model::labels::{LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME};
    (key.starts_with("flinkops.io/") && key != crate::model::labels::ANN_ACCEPT_STATE_LOSS)
        || [LABEL_MANAGED_BY, LABEL_NAME, LABEL_COMPONENT].contains(&key)
}

/// A Java class name as `--job-classname` takes it (so it can never read as an option).
pub fn check_class_name(name: &str) -> Result<(), String> {
    let ok = name.split('.').all(|part| {
        part.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$')
            && part
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Java class name (e.g. com.example.OrdersJob)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_follow_dns_1035_with_length_limit() {
        assert!(check_job_name("orders-enrichment").is_ok());
        assert!(check_job_name("a").is_ok());
        for bad in [
            "", "Orders", "1orders", "orders_x", "orders-", "-orders", "a.b",
        ] {
            assert!(check_job_name(bad).is_err(), "{bad}");
        }
        assert!(check_job_name(&"a".repeat(45)).is_ok());
        let err = check_job_name(&"a".repeat(46)).unwrap_err();
        assert!(err.contains("at most 45"), "{err}");
    }

    #[test]
    fn ingress_hosts_and_secret_names_are_dns_1123_subdomains() {
        for ok in [
            "example.com",
            "a",
            "flink-ui.team-1.example.com",
            "*.example.com",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Example.com",
            "a..b",
            ".a",
            "a.",
            "-a.b",
            "a_b.c",
            "*",
            "a.*.b",
            "**.a",
            "{{name}}.a",
            "a b",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        assert!(check_host(&format!("{}.com", "a".repeat(250))).is_err());
        assert_eq!(check_secret_name("flink-tls.v1"), Ok(()));
        for bad in ["", "Flink", "*.a", "a_b"] {
            assert!(check_secret_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_follow_dns_1123() {
        assert!(check_namespace("streaming").is_ok());
        assert!(check_namespace("1team").is_ok());
        assert!(check_namespace("Team").is_err());
        assert!(check_namespace(&"a".repeat(64)).is_err());
    }
}
