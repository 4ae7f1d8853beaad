//! Kubernetes objects as flinkops sees them in the cluster (from its watch caches) and
//! names them.

use crate::model::labels::{LABEL_COMPONENT, LABEL_JOB};
use crate::model::ledger::LEDGER_COMPONENT;
use crate::model::spec::JobId;
use std::collections::BTreeMap;

/// An object as the watch cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Changes with every write of the object (empty in objects not from the apiserver).
    pub resource_version: String,
    /// The whole object as compact JSON, parsed where it is read: a cache of thousands of
    /// objects held as `Value` trees takes about six times the memory of their text (every
    /// small map is a full B-tree node).
    json: Box<str>,
}

impl LiveObject {
    /// The object `body` of `kind`; names, labels and annotations come from its metadata.
    pub fn new(kind: &str, body: &serde_json::Value) -> LiveObject {
        let meta = &body["metadata"];
        let text = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
        let map = |k: &str| -> BTreeMap<String, String> {
            meta[k]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        LiveObject {
            kind: kind.to_string(),
            namespace: text("namespace"),
            name: text("name"),
            labels: map("labels"),
            annotations: map("annotations"),
            resource_version: text("resourceVersion"),
            json: body.to_string().into_boxed_str(),
        }
    }

    /// The object as the apiserver returned it.
    pub fn body(&self) -> serde_json::Value {
        // The text was written from a Value, so it always parses.
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    pub fn job(&self) -> Option<JobId> {
        Some(JobId {
            namespace: self.namespace.clone(),
            name: self.labels.get(LABEL_JOB)?.clone(),
        })
    }

    pub fn is_ledger(&self) -> bool {
        self.labels.get(LABEL_COMPONENT).map(String::as_str) == Some(LEDGER_COMPONENT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}
