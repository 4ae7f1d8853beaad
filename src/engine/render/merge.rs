//! Merging pod templates the way the Apache Flink Kubernetes Operator documents it: the
//! component's template over the shared one, and flinkops' pod over both. Mappings merge
//! key by key; lists of named items (containers, env, volumes, ports, volumeMounts) merge
//! item by item on `name`; other values from the overlay replace the base.

use serde_json::Value;

pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if !v.is_null() => merge(existing, v),
                    Some(_) => {}
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) if all_named(b) && all_named(o) => {
            for item in o {
                let name = &item["name"];
                match b.iter_mut().find(|x| &x["name"] == name) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn all_named(items: &[Value]) -> bool {
    items
        .iter()
        .all(|i| i.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_merge_by_name_and_keep_extra_items() {
        let mut base = json!({"spec": {"containers": [
            {"name": "flink-main-container", "env": [{"name": "A", "value": "1"}], "image": "user"},
            {"name": "sidecar", "image": "busybox"}
        ]}});
        let ours = json!({"spec": {"containers": [
            {"name": "flink-main-container", "image": "flink:2.0", "env": [{"name": "B", "value": "2"}]}
        ]}});
        merge(&mut base, &ours);
        assert_eq!(
            base,
            json!({"spec": {"containers": [
                {"name": "flink-main-container", "image": "flink:2.0",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "busybox"}
            ]}})
        );
    }

    #[test]
    fn unnamed_lists_and_scalars_are_replaced() {
        let mut base = json!({"args": ["a"], "n": 1, "keep": true});
        merge(&mut base, &json!({"args": ["b", "c"], "n": 2}));
        assert_eq!(base, json!({"args": ["b", "c"], "n": 2, "keep": true}));
    }
}
