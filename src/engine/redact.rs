//! Keeping credentials out of plans, diffs and PR comments. Flink configuration holds
//! secrets under recognizable keys (`s3.secret-key`, `fs.s3a.secret.key`,
//! `fs.azure.account.key.<account>`, `metrics.reporter.dghttp.apikey`, `*.password`).
//! Redaction works on keys and values, before anything is rendered as text: a value is
//! replaced in the object (the nested config.yaml included), and only then diffed, so
//! neither a nested key nor a multi-line value can slip past.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

pub const REDACTED: &str = "<redacted>";

/// Words that make a key sensitive wherever they appear in it (case-insensitive).
const SENSITIVE_WORDS: [&str; 12] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api-key",
    "api_key",
    "keyfile",
    "keytab",
    "jaas",
    "private-key",
];

/// Whether a configuration key (flattened, `a.b.c`), an environment variable name or a
/// command-line option names a credential: it contains one of `SENSITIVE_WORDS`, or one of
/// its parts (split at `.`, `-`, `_`) is `key` or ends in `key` (`s3.access-key`,
/// `fs.s3a.secret.key`, `fs.azure.account.key.acct`, `accesskey`). Errs towards hiding.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE_WORDS.iter().any(|s| k.contains(s))
        || k.split(['.', '-', '_', '/', ' '])
            .any(|part| part.ends_with("key"))
}

/// The object with every sensitive value replaced by `REDACTED`: ConfigMap files (the
/// nested config.yaml by its flattened keys, other files line by line), environment
/// variables by name, and container arguments (`--password x`, `-Ds3.secret-key=x`).
/// What is shown (and diffed) is then the redacted text, never the original.
pub fn object(body: &Json) -> Json {
    let mut body = body.clone();
    if body.get("kind").and_then(Json::as_str) == Some("ConfigMap") {
        if let Some(Json::Object(data)) = body.get_mut("data") {
            for (file, text) in data.iter_mut() {
                if let Json::String(t) = text {
                    *t = config_file(file, t);
                }
            }
        }
    }
    walk(&mut body);
    body
}

/// Environment variables and container arguments, wherever they sit in an object.
fn walk(v: &mut Json) {
    match v {
        Json::Object(map) => {
            let sensitive_env = map.contains_key("value")
                && map
                    .get("name")
                    .and_then(Json::as_str)
                    .is_some_and(is_sensitive_key);
            if sensitive_env {
                map.insert("value".into(), Json::String(REDACTED.into()));
            }
            for (k, child) in map.iter_mut() {
                match (k.as_str(), &mut *child) {
                    ("args" | "command", Json::Array(items)) => {
                        let args: Vec<String> = items
                            .iter()
                            .map(|i| i.as_str().unwrap_or_default().to_string())
                            .collect();
                        if items.iter().all(Json::is_string) {
                            *items = args_list(&args).into_iter().map(Json::String).collect();
                        }
                    }
                    _ => walk(child),
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(walk),
        _ => {}
    }
}

/// One file of a ConfigMap. `config.yaml` (Flink's nested YAML) is redacted by the
/// flattened key of each value; a file that does not read as YAML, and every other file
/// (flink-conf.yaml's flat `key: value`, log4j properties), line by line.
pub fn config_file(name: &str, text: &str) -> String {
    if name == crate::engine::render::config::CONFIG_YAML {
        if let Ok(mut doc) = serde_yaml::from_str::<Yaml>(text) {
            let mut changed = false;
            nested(&mut doc, "", false, &mut changed);
            if !changed {
                return text.to_string();
            }
            if let Ok(out) = serde_yaml::to_string(&doc) {
                return out;
            }
        }
    }
    lines(text)
}

/// Replaces each scalar whose dotted path is sensitive, or that sits below such a path.
fn nested(v: &mut Yaml, path: &str, below_sensitive: bool, changed: &mut bool) {
    match v {
        Yaml::Mapping(map) => {
            for (k, child) in map.iter_mut() {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim_end()
                        .to_string(),
                };
                let path = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                let sensitive = below_sensitive || is_sensitive_key(&path);
                nested(child, &path, sensitive, changed);
            }
        }
        Yaml::Sequence(items) => {
            for item in items {
                nested(item, path, below_sensitive, changed);
            }
        }
        Yaml::Tagged(t) => nested(&mut t.value, path, below_sensitive, changed),
        Yaml::Null => {}
        scalar if below_sensitive => {
            *scalar = Yaml::String(REDACTED.into());
            *changed = true;
        }
        _ => {}
    }
}

/// Redacts `key: value` and `key = value` lines (flat YAML, properties) whose key looks
/// sensitive, with a properties value's continuation lines (a trailing `\`).
pub fn lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut continuing = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if continuing {
            continuing = body.ends_with('\\');
            if line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        let sep = body.find(": ").or_else(|| body.find('='));
        match sep {
            Some(i) if is_sensitive_key(body[..i].trim()) => {
                // The separator and the blanks after it stay: `k: `, `k=`, `k = `.
                let rest = &body[i + 1..];
                let sep_len = 1 + rest.len() - rest.trim_start().len();
                out.push_str(&body[..i + sep_len]);
                out.push_str(REDACTED);
                continuing = body.ends_with('\\');
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Command-line arguments with the values of sensitive options replaced: `--password x`,
/// `--password=x`, `-Ds3.secret-key=x`.
pub fn args_list(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if std::mem::take(&mut hide_next) && !a.starts_with('-') {
            out.push(REDACTED.to_string());
            continue;
        }
        let option = a.trim_start_matches('-');
        let is_option = option.len() < a.len();
        match a.split_once('=') {
            Some((k, _)) if is_sensitive_key(k) => out.push(format!("{k}={REDACTED}")),
            None if is_option && is_sensitive_key(option) => {
                hide_next = true;
                out.push(a.clone());
            }
            _ => out.push(a.clone()),
        }
    }
    out
}

pub use crate::model::escape::redact_url;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The documented key patterns (docs/security.md, "Outputs").
    const SENSITIVE: [&str; 19] = [
        "s3.secret-key",
        "s3.access-key",
        "fs.s3a.secret.key",
        "fs.s3a.access.key",
        "fs.azure.account.key.acct.blob.core.windows.net",
        "fs.azure.account.key",
        "metrics.reporter.dghttp.apikey",
        "metrics.reporter.x.api-key",
        "fs.gs.auth.service.account.json.keyfile",
        "security.kerberos.login.keytab",
        "ssl.keystore.password",
        "security.ssl.internal.key-password",
        "properties.sasl.jaas.config",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "fs.oss.accessKeySecret",
        "s3.private-key",
        "gcs.credentials",
        "db.passwd",
    ];

    #[test]
    fn recognizes_the_documented_patterns() {
        for k in SENSITIVE {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in [
            "parallelism.default",
            "state.backend.type",
            "pipeline.max-parallelism",
            "fs.s3a.endpoint",
            "security.ssl.internal.keystore-type",
            "execution.checkpointing.dir",
        ] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    fn config_yaml(pairs: &[(&str, &str)]) -> String {
        let conf: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::engine::render::config::config_yaml(&conf)
    }

    #[test]
    fn every_pattern_is_redacted_in_nested_config_yaml() {
        for key in SENSITIVE {
            let text = config_yaml(&[(key, "hunter2"), ("rest.port", "8081")]);
            let out = config_file("config.yaml", &text);
            assert!(!out.contains("hunter2"), "{key}: {out}");
            assert!(out.contains(REDACTED), "{key}: {out}");
            assert!(out.contains("port: 8081"), "{key}: {out}");
        }
    }

    #[test]
    fn multi_line_values_are_redacted_whole() {
        let text = config_yaml(&[
            (
                "properties.sasl.jaas.config",
                "org.apache.kafka.PlainLoginModule required\nusername=\"u\"\npassword=\"hunter2\";",
            ),
            ("fs.s3a.secret.key", "line-one\nline-two-hunter2\n"),
            ("pipeline.name", "a\nb"),
        ]);
        assert!(
            text.contains("line-two-hunter2"),
            "the test's input: {text}"
        );
        let out = config_file("config.yaml", &text);
        assert!(
            !out.contains("hunter2") && !out.contains("line-one"),
            "{out}"
        );
        assert!(out.contains("name: |-\n    a\n    b\n"), "{out}");
        // The redacted text is still Flink's YAML, with the keys in place.
        let back: Yaml = serde_yaml::from_str(&out).unwrap();
        assert_eq!(back["fs"]["s3a"]["secret"]["key"], Yaml::from(REDACTED));
    }

    #[test]
    fn config_yaml_without_secrets_is_kept_byte_for_byte() {
        let text = config_yaml(&[("pipeline.name", "007"), ("rest.port", "8081")]);
        assert_eq!(config_file("config.yaml", &text), text);
    }

    #[test]
    fn a_sensitive_mapping_is_redacted_below() {
        // A hand-written nested file: `secret:` holds a mapping.
        let out = config_file(
            "config.yaml",
            "fs:\n  s3a:\n    secret:\n      key: abc\n    endpoint: http://x\n",
        );
        assert_eq!(
            out,
            "fs:\n  s3a:\n    secret:\n      key: <redacted>\n    endpoint: http://x\n"
        );
    }

    #[test]
    fn flat_files_are_redacted_by_line() {
        let text = "s3:\n  secret-key: abc\n  endpoint: http://x\npassword=hunter2\n";
        assert_eq!(
            lines(text),
            "s3:\n  secret-key: <redacted>\n  endpoint: http://x\npassword=<redacted>\n"
        );
        assert_eq!(
            config_file("flink-conf.yaml", "fs.s3a.secret.key: abc\nrest.port: 1\n"),
            "fs.s3a.secret.key: <redacted>\nrest.port: 1\n"
        );
        // A properties value continued over lines.
        assert_eq!(
            config_file(
                "log4j-console.properties",
                "appender.db.password = a\\\n  b\\\n  c\nrootLogger.level = INFO\n"
            ),
            "appender.db.password = <redacted>\n\n\nrootLogger.level = INFO\n"
        );
    }

    #[test]
    fn objects_lose_env_values_and_option_values() {
        let body = serde_json::json!({
            "kind": "Deployment",
            "spec": {"template": {"spec": {"containers": [{
                "args": ["jobmanager", "--password", "hunter2", "-Ds3.secret-key=hunter2", "--parallelism", "2"],
                "env": [
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "hunter2"},
                    {"name": "TZ", "value": "UTC"},
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
                ]
            }]}}}
        });
        let out = object(&body);
        let text = out.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["args"],
            serde_json::json!([
                "jobmanager",
                "--password",
                REDACTED,
                "-Ds3.secret-key=<redacted>",
                "--parallelism",
                "2"
            ])
        );
        assert_eq!(c["env"][1]["value"], "UTC");
        // A reference to a Secret is not a secret: it stays readable.
        assert_eq!(c["env"][2]["valueFrom"]["secretKeyRef"]["name"], "db");
    }

    #[test]
    fn config_maps_are_redacted_by_file() {
        let body = serde_json::json!({
            "kind": "ConfigMap",
            "data": {
                "config.yaml": config_yaml(&[("fs.s3a.access.key", "AKIA"), ("fs.s3a.secret.key", "hunter2")]),
                "flink-conf.yaml": "fs.s3a.access.key: AKIA\nfs.s3a.secret.key: hunter2\n",
            }
        });
        let text = serde_yaml::to_string(&object(&body)).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("AKIA"),
            "{text}"
        );
    }
}
