//! Drift: does a live object still hold every field flinkops rendered, with the value it
//! rendered? The live object also holds what the apiserver defaulted and what other
//! controllers own, so "holds" means: desired is a subset of live. Pure.

use crate::engine::redact::{is_sensitive_key, REDACTED};
use serde_json::Value;

/// The first field where `live` does not hold `desired`, as `path: want X, found Y`.
/// Values that may be credentials (ConfigMap files, fields and variables with sensitive
/// names, the arguments of a sensitive option) are shown as `<redacted>`: the message
/// goes to Events, logs and `sync` output.
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    diff_at(desired, live, &mut String::new(), false)
}

fn diff_at(desired: &Value, live: &Value, path: &mut String, hide: bool) -> Option<String> {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                if is_empty(dv) {
                    continue;
                }
                let segment = if path.is_empty() {
                    k.clone()
                } else {
                    format!(".{k}")
                };
                let found = diff_child(dv, l.get(k), path, &segment, hide);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Value::Array(d), Value::Array(l)) => {
            // `--password x`: the whole list is hidden when it holds a sensitive value.
            let strings: Vec<String> = d
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let hide = hide || crate::engine::redact::args_list(&strings) != strings;
            for (i, dv) in d.iter().enumerate() {
                // Named items (containers, ports, env) are matched by name, others by place.
                let name = dv.get("name").and_then(Value::as_str);
                let lv = match name {
                    Some(n) => l
                        .iter()
                        .find(|x| x.get("name").and_then(Value::as_str) == Some(n)),
                    None => l.get(i),
                };
                let segment = match name {
                    Some(n) => format!("[{n}]"),
                    None => format!("[{i}]"),
                };
                let found = diff_child(dv, lv, path, &segment, hide);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (d, l) if same_scalar(d, l) => None,
        (_, _) if hide || hidden(path) => {
            Some(format!("{path}: want {REDACTED}, found {REDACTED}"))
        }
        (d, l) => Some(format!("{path}: want {}, found {}", show(d), show(l))),
    }
}

/// Compares one child at `path` + `segment`, leaving `path` as it was.
fn diff_child(
    desired: &Value,
    live: Option<&Value>,
    path: &mut String,
    segment: &str,
    hide: bool,
) -> Option<String> {
    let len = path.len();
    path.push_str(segment);
    let found = match live {
        Some(l) => diff_at(desired, l, path, hide),
        None if hide || hidden(path) => Some(format!("{path}: want {REDACTED}, found nothing")),
        None => Some(format!("{path}: want {}, found nothing", show(desired))),
    };
    path.truncate(len);
    found
}

/// ConfigMap files (`data.config.yaml`) may hold anything; other fields are hidden by
/// their path (`env[AWS_SECRET_ACCESS_KEY].value`, an annotation `…/api-token`).
fn hidden(path: &str) -> bool {
    path.starts_with("data") || path.starts_with("binaryData") || is_sensitive_key(path)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Scalars compare as text too: the apiserver may return `"1"` for a CPU quantity
/// rendered as the number 1.
fn same_scalar(d: &Value, l: &Value) -> bool {
    d == l || scalar_text(d).is_some_and(|t| Some(t) == scalar_text(l))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaulted_and_foreign_fields_are_not_drift() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:2.0", "resources": {"limits": {"cpu": "1"}}}
        ]}}}});
        let live = json!({"spec": {"replicas": 2, "progressDeadlineSeconds": 600, "template": {"spec": {
            "containers": [
                {"name": "istio-proxy", "image": "proxy"},
                {"name": "flink-main-container", "image": "flink:2.0", "terminationMessagePath": "/dev/termination-log",
                 "resources": {"limits": {"cpu": "1"}}}
            ],
            "restartPolicy": "Always"}}}, "status": {"replicas": 2}});
        assert_eq!(first_difference(&desired, &live), None);
    }

    #[test]
    fn changed_and_missing_fields_are_drift_with_a_path() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:2.0", "args": ["taskmanager"]}
        ]}}}});
        let scaled = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:2.0", "args": ["taskmanager"]}
        ]}}}});
        assert_eq!(
            first_difference(&desired, &scaled).unwrap(),
            "spec.replicas: want 2, found 5"
        );
        let edited = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:9", "args": ["taskmanager"]}
        ]}}}});
        assert_eq!(
            first_difference(&desired, &edited).unwrap(),
            "spec.template.spec.containers[flink-main-container].image: want \"flink:2.0\", found \"flink:9\""
        );
        let gone = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": []}}}});
        assert!(first_difference(&desired, &gone)
            .unwrap()
            .starts_with("spec.template.spec.containers[flink-main-container]: want {"));
    }

    #[test]
    fn drift_of_credentials_does_not_show_them() {
        let cm = |v: &str| json!({"data": {"config.yaml": format!("fs:\n  s3a:\n    secret:\n      key: {v}\n")}});
        let d = first_difference(&cm("HUNTER2"), &cm("EDITED")).unwrap();
        assert_eq!(d, "data.config.yaml: want <redacted>, found <redacted>");
        let env = |v: &str| json!({"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": v}]});
        let d = first_difference(&env("HUNTER2"), &env("EDITED")).unwrap();
        assert!(!d.contains("HUNTER2") && !d.contains("EDITED"), "{d}");
        let args = |v: &str| json!({"args": ["--password", v]});
        let d = first_difference(&args("HUNTER2"), &args("EDITED")).unwrap();
        assert_eq!(d, "args[1]: want <redacted>, found <redacted>");
        let d = first_difference(&args("HUNTER2"), &json!({"args": ["--password"]})).unwrap();
        assert_eq!(d, "args[1]: want <redacted>, found nothing");
    }

    #[test]
    fn scalars_compare_by_text_and_empty_desired_values_are_ignored() {
        assert_eq!(
            first_difference(&json!({"cpu": 1}), &json!({"cpu": "1"})),
            None
        );
        assert_eq!(
            first_difference(&json!({"a": {}, "b": null, "c": []}), &json!({})),
            None
        );
        assert_eq!(
            first_difference(&json!({"args": ["a", "b"]}), &json!({"args": ["a", "c"]})).unwrap(),
            "args[1]: want \"b\", found \"c\""
        );
    }
}
