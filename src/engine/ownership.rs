//! Fields other controllers own. A live object's `managedFields` say which manager set
//! each field; when a controller (an HPA scaling a Deployment, an admission or policy
//! controller) has taken a field flinkops renders, flinkops stops claiming it: the field is
//! left out of the applied object and of the drift check, so the two never fight. Edits by
//! people (kubectl and its subcommands) are drift and are reverted. Pure.

use serde_json::{Map, Value};

/// The field manager flinkops applies with.
const OURS: &str = crate::engine::render::MANAGER;

/// Managers that are people editing by hand: their changes are drift, not ownership.
fn is_hand_edit(manager: &str) -> bool {
    manager.starts_with("kubectl") || manager.starts_with("k9s")
}

/// One step of a fieldsV1 path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `f:name`: a field of an object.
    Field(String),
    /// `k:{"name":"x"}`: the list item whose keys have these values.
    Key(Map<String, Value>),
}

/// Leaf fields (paths ending in a named field) owned by controllers other than flinkops.
fn foreign_leaves(live: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    for e in entries.into_iter().flatten().filter(|e| is_foreign(e)) {
        if let Some(fields) = e.get("fieldsV1") {
            collect(fields, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// Whether a managedFields entry is another controller's claim on fields flinkops renders.
/// Status is never rendered; hand edits are drift; flinkops' own entry claims nothing
/// from it.
fn is_foreign(entry: &Value) -> bool {
    let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
    let subresource = entry
        .get("subresource")
        .and_then(Value::as_str)
        .unwrap_or("");
    manager != OURS && !is_hand_edit(manager) && subresource != "status"
}

/// Drops the managedFields entries ownership never reads (flinkops' own, hand edits,
/// status), so a watch cache holding thousands of objects keeps only what matters: those
/// entries are as large as the objects themselves.
pub fn trim_managed_fields(live: &mut Value) {
    if let Some(entries) = live
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        entries.retain(is_foreign);
    }
}

fn collect(node: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    let Some(map) = node.as_object() else {
        return;
    };
    if map.is_empty() {
        // A leaf. Only named fields are given up; list items themselves (`.` markers,
        // `k:` without fields) stay flinkops' so an object never loses a container.
        if matches!(path.last(), Some(Step::Field(_))) {
            out.push(path.clone());
        }
        return;
    }
    for (k, v) in map {
        let step = if let Some(name) = k.strip_prefix("f:") {
            Step::Field(name.to_string())
        } else if let Some(json) = k.strip_prefix("k:") {
            match serde_json::from_str::<Map<String, Value>>(json) {
                Ok(keys) => Step::Key(keys),
                Err(_) => continue,
            }
        } else {
            // `.` (the item itself), `v:` (set values), `i:` (positions): not given up.
            continue;
        };
        path.push(step);
        collect(v, path, out);
        path.pop();
    }
}

/// Removes the value at `path` from `v`; returns whether something was removed.
fn remove(v: &mut Value, path: &[Step]) -> bool {
    match path {
        [] => false,
        [Step::Field(name)] => v.as_object_mut().is_some_and(|m| m.remove(name).is_some()),
        [Step::Field(name), rest @ ..] => v
            .get_mut(name.as_str())
            .is_some_and(|child| remove(child, rest)),
        [Step::Key(keys), rest @ ..] => v.as_array_mut().is_some_and(|items| {
            items
                .iter_mut()
                .find(|item| keys.iter().all(|(k, kv)| item.get(k) == Some(kv)))
                .is_some_and(|item| remove(item, rest))
        }),
    }
}

/// `desired` without the fields other controllers own in `live`, and the dotted paths of
/// what was left out (for logs and the plan's reasons).
pub fn yield_foreign_fields(desired: &Value, live: &Value) -> (Value, Vec<String>) {
    let mut out = desired.clone();
    let mut yielded = Vec::new();
    for path in foreign_leaves(live) {
        if remove(&mut out, &path) {
            yielded.push(show(&path));
        }
    }
    (out, yielded)
}

fn show(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(f);
            }
            Step::Key(keys) => {
                let k: Vec<String> = keys
                    .values()
                    .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                    .collect();
                s.push_str(&format!("[{}]", k.join(",")));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "alpha-taskmanager", "labels": {"app": "alpha"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [
                    {"name": "flink-main-container", "image": "flink:2.0",
                     "env": [{"name": "A", "value": "1"}]}
                ]}}
            }
        })
    }

    fn live_with(managed: Value) -> Value {
        let mut l = desired();
        l["metadata"]["managedFields"] = managed;
        l
    }

    #[test]
    fn a_controller_s_replicas_are_left_to_it() {
        let live = live_with(json!([
            {"manager": "flinkops", "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]));
        let (out, yielded) = yield_foreign_fields(&desired(), &live);
        assert_eq!(yielded, vec!["spec.replicas"]);
        assert!(out["spec"].get("replicas").is_none());
        assert_eq!(out["spec"]["template"], desired()["spec"]["template"]);
    }

    #[test]
    fn hand_edits_and_status_are_not_ownership() {
        for (manager, sub) in [
            ("kubectl", "scale"),
            ("kubectl-edit", ""),
            ("kubectl-patch", ""),
            ("kubectl-client-side-apply", ""),
            ("kube-controller-manager", "status"),
        ] {
            let live = live_with(json!([
                {"manager": manager, "operation": "Update", "subresource": sub,
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]));
            let (out, yielded) = yield_foreign_fields(&desired(), &live);
            assert!(yielded.is_empty(), "{manager}: {yielded:?}");
            assert_eq!(out, desired());
        }
    }

    #[test]
    fn fields_inside_list_items_are_found_by_key_but_items_stay() {
        let live = live_with(json!([
            {"manager": "policy-controller", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"flink-main-container\"}": {
                     ".": {},
                     "f:image": {},
                     "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:value": {}}}
                 }
             }}}}}}
        ]));
        let (out, yielded) = yield_foreign_fields(&desired(), &live);
        let mut y = yielded.clone();
        y.sort();
        assert_eq!(
            y,
            vec![
                "spec.template.spec.containers[flink-main-container].env[A].value",
                "spec.template.spec.containers[flink-main-container].image",
            ]
        );
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["name"], "flink-main-container");
        assert!(c.get("image").is_none());
        assert_eq!(c["env"], json!([{"name": "A"}]));
    }

    #[test]
    fn fields_flinkops_does_not_render_change_nothing() {
        let live = live_with(json!([
            {"manager": "kube-controller-manager", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}},
                          "f:spec": {"f:template": {"f:spec": {"f:containers": {
                              "k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}}}}}}}}
        ]));
        let (out, yielded) = yield_foreign_fields(&desired(), &live);
        assert!(yielded.is_empty(), "{yielded:?}");
        assert_eq!(out, desired());
        // No managedFields at all (an old object, or a test body): nothing to yield.
        assert_eq!(yield_foreign_fields(&desired(), &desired()).0, desired());
    }

    #[test]
    fn trimming_keeps_exactly_the_entries_ownership_reads() {
        let live = live_with(json!([
            {"manager": "flinkops", "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
            {"manager": "kubectl-edit", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "fieldsV1": {"f:status": {"f:replicas": {}}}},
            {"manager": "hpa", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]));
        let mut trimmed = live.clone();
        trim_managed_fields(&mut trimmed);
        let managers: Vec<&str> = trimmed["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["hpa"]);
        assert_eq!(
            yield_foreign_fields(&desired(), &trimmed),
            yield_foreign_fields(&desired(), &live)
        );
        // Nothing to trim is not an error.
        let mut plain = desired();
        trim_managed_fields(&mut plain);
        assert_eq!(plain, desired());
    }
}
