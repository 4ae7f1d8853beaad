//! Rendering: a job spec and the commit it comes from → the Kubernetes objects that run
//! it. Pure and deterministic: the same input gives byte-identical output.

pub mod config;
pub mod merge;
mod objects;
pub mod pods;

use crate::model::spec::JobSpec;
use serde::Serialize;

pub use crate::model::labels::*;
use sha2::{Digest, Sha256};

/// What the render needs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The commit the spec was read from, recorded on every object.
    pub commit: &'a str,
    /// A savepoint to start the job from instead of `initialSavepointPath` (upgrades).
    pub restore_from: Option<&'a str>,
}

/// The savepoint a job that was never deployed starts from: its `initialSavepointPath`.
/// Sync renders a first deployment with it, and `flinkops render` shows that render.
pub fn first_restore(spec: &JobSpec) -> Option<&str> {
    spec.job.as_ref()?.initial_savepoint_path.as_deref()
}

/// One Kubernetes object, as JSON with sorted keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Object {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub body: serde_json::Value,
}

impl Object {
    /// `Kind/namespace/name`, unique within a render.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.body).expect("JSON values serialize to YAML")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub spec_hash: String,
    pub objects: Vec<Object>,
}

/// sha256 of the normalized spec (defaults applied; file location and commit excluded),
/// so it changes exactly when what runs would change.
pub fn spec_hash(spec: &JobSpec) -> String {
    let bytes = serde_json::to_vec(spec).expect("specs serialize");
    hex(&Sha256::digest(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn render(spec: &JobSpec, cx: &Context) -> Rendered {
    let spec_hash = spec_hash(spec);
    let objects = objects::objects(spec, cx, &spec_hash);
    Rendered { spec_hash, objects }
}
