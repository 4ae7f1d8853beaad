//! Validation of `podTemplate` fields against the Kubernetes Pod schema.
//!
//! The template is kept as JSON (it is merged into the rendered pods later), but it must
//! be a valid Pod: wrong types are found by deserializing into k8s-openapi's Pod, and
//! misspelt fields, which that deserializer would silently drop, by comparing the input
//! with the Pod serialized back.

use super::decode::Cx;
use super::yaml::Node;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

pub fn check(
    cx: &mut Cx,
    node: &Node,
    field: &str,
    policy: &super::pod_policy::PodPolicy,
) -> Option<Value> {
    let json = node.to_json();
    if !json.is_object() {
        cx.error(
            node.pos,
            field,
            format!("expected a mapping (a Pod), got {}", node.type_name()),
        );
        return None;
    }
    let pod: Pod = match serde_path_to_error::deserialize(&json) {
        Ok(p) => p,
        Err(e) => {
            let path: Vec<String> = e
                .path()
                .iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            let at = node.locate(&path);
            let mut full = field.to_string();
            for seg in &path {
                full.push('.');
                full.push_str(seg);
            }
            cx.error(at.pos, &full, e.into_inner().to_string());
            return None;
        }
    };
    let back = serde_json::to_value(&pod).unwrap_or(Value::Null);
    let before = cx.errors.len();
    report_dropped(cx, node, &json, &back, field, &mut Vec::new());
    super::pod_policy::check(cx, node, &json, field, policy);
    (cx.errors.len() == before).then_some(json)
}

fn report_dropped(
    cx: &mut Cx,
    root: &Node,
    input: &Value,
    kept: &Value,
    field: &str,
    path: &mut Vec<String>,
) {
    match (input, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                path.push(k.clone());
                match b.get(k) {
                    Some(kv) => report_dropped(cx, root, v, kv, field, path),
                    None if !v.is_null() => {
                        let parent = root.locate(&path[..path.len() - 1]);
                        let pos = parent.key_pos(k).unwrap_or(parent.pos);
                        cx.error(
                            pos,
                            &format!("{field}.{}", path.join(".")),
                            format!("unknown field `{k}` in a Kubernetes Pod template"),
                        );
                    }
                    None => {}
                }
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(i.to_string());
                report_dropped(cx, root, x, y, field, path);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::yaml::parse_documents;

    fn run(text: &str) -> (Option<Value>, Vec<String>) {
        let node = parse_documents(text).unwrap().remove(0).root;
        let mut cx = Cx::new("p.yaml");
        let out = check(
            &mut cx,
            node.get("podTemplate").unwrap(),
            "spec.podTemplate",
            &Default::default(),
        );
        (out, cx.errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn valid_template_passes_unchanged() {
        let (out, errs) = run(
            "podTemplate:\n  apiVersion: v1\n  kind: Pod\n  spec:\n    containers:\n      - name: flink-main-container\n        env:\n          - {name: A, value: b}\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            out.unwrap()["spec"]["containers"][0]["env"][0]["value"],
            "b"
        );
    }

    #[test]
    fn misspelt_field_is_reported_where_it_is() {
        let (out, errs) = run(
            "podTemplate:\n  spec:\n    containers:\n      - name: c\n        imagePullPolicyy: Always\n",
        );
        assert!(out.is_none());
        assert_eq!(
            errs,
            vec!["p.yaml:5:9: spec.podTemplate.spec.containers.0.imagePullPolicyy: unknown field `imagePullPolicyy` in a Kubernetes Pod template"]
        );
    }

    #[test]
    fn wrong_type_is_reported_with_path() {
        let (out, errs) = run("podTemplate:\n  spec:\n    containers: yes\n");
        assert!(out.is_none());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("p.yaml:3:17: spec.podTemplate.spec.containers: invalid type"),
            "{errs:?}"
        );
    }
}
