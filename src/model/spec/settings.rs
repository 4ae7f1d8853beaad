//! The repository settings file (`flinkops.yaml`): where definitions live, which
//! namespaces they may use, and defaults applied to every job.

use super::decode::{Cx, Fields};
use super::model::FlinkVersion;
use super::resource::{decode_resource, ResourceInput};
use super::yaml::Node;
use std::collections::BTreeMap;

pub const SETTINGS_FILE: &str = "flinkops.yaml";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Directories (repo-relative, normalized) whose YAML files are job definitions.
    pub roots: Vec<String>,
    /// Namespaces definitions may use; None allows any.
    pub namespaces: Option<Vec<String>>,
    /// Namespace of definitions that do not name one.
    pub default_namespace: String,
    pub defaults: Defaults,
    /// Delete objects of jobs removed from Git (the daemon's prune).
    pub prune: bool,
    /// Revert changes made by hand to managed fields.
    pub self_heal: bool,
    /// How long a removed job's tombstone (its savepoint lineage) is kept, in seconds.
    pub tombstone_retention_secs: u64,
    /// A change that loses a job's state is refused unless the definition acknowledges
    /// it (`flinkops.io/accept-state-loss`).
    pub guard_state_loss: bool,
    /// What pod templates may ask of the node (nothing by default).
    pub pod_policy: super::pod_policy::PodPolicy,
    /// Who owns which definition files, and where and how large their jobs may be;
    /// None: any file may deploy into any allowed namespace.
    pub teams: Option<Vec<super::tenancy::Team>>,
}

/// Default `tombstoneRetention`: 90 days.
pub const TOMBSTONE_RETENTION_SECS: u64 = 90 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Defaults {
    pub image: Option<String>,
    pub image_pull_policy: Option<String>,
    pub flink_version: Option<FlinkVersion>,
    pub service_account: Option<String>,
    pub flink_configuration: BTreeMap<String, String>,
    /// Base directory for savepoints; each job gets `<dir>/<namespace>/<name>`.
    pub savepoint_directory: Option<String>,
    /// Base directory for checkpoints; each job gets `<dir>/<namespace>/<name>`.
    pub checkpoint_directory: Option<String>,
    pub job_manager: ResourceInput,
    pub task_manager: ResourceInput,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            roots: vec![String::new()],
            namespaces: None,
            default_namespace: "default".into(),
            defaults: Defaults::default(),
            prune: true,
            self_heal: true,
            tombstone_retention_secs: TOMBSTONE_RETENTION_SECS,
            guard_state_loss: false,
            pod_policy: Default::default(),
            teams: None,
        }
    }
}

/// Normalizes a repo-relative path, refusing absolute paths and `..` that leave the repo.
pub fn normalize_repo_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        return Err(format!(
            "`{path}` is absolute; paths are relative to the repository"
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("`{path}` escapes the repository"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

pub fn decode_settings(cx: &mut Cx, root: &Node) -> Settings {
    let mut s = Settings::default();
    let Some(mut f) = Fields::of(cx, root, "") else {
        return s;
    };
    if let Some(v) = f.string(cx, "apiVersion") {
        if v != "flinkops.io/v1alpha1" {
            let pos = f.pos;
            cx.error(
                pos,
                "apiVersion",
                format!("expected flinkops.io/v1alpha1, got `{v}`"),
            );
        }
    }
    if let Some(k) = f.string(cx, "kind") {
        if k != "Settings" {
            let pos = f.pos;
            cx.error(pos, "kind", format!("expected Settings, got `{k}`"));
        }
    }
    if let Some(list) = f.string_list_pos(cx, "roots") {
        s.roots.clear();
        for (i, (r, pos)) in list.iter().enumerate() {
            match normalize_repo_path(r) {
                Ok(p) => s.roots.push(p),
                Err(e) => cx.error(*pos, &format!("roots[{i}]"), e),
            }
        }
    }
    if let Some(list) = f.string_list_pos(cx, "namespaces") {
        for (i, (ns, pos)) in list.iter().enumerate() {
            if let Err(e) = super::names::check_namespace(ns) {
                cx.error(*pos, &format!("namespaces[{i}]"), e);
            }
        }
        s.namespaces = Some(list.into_iter().map(|(n, _)| n).collect());
    }
    if let Some(ns) = f.take("defaultNamespace") {
        if let Some(v) = super::decode::string(cx, ns, "defaultNamespace") {
            match super::names::check_namespace(&v) {
                Ok(()) => {
                    if let Some(allowed) = s.namespaces.as_ref().filter(|a| !a.contains(&v)) {
                        cx.error(
                            ns.pos,
                            "defaultNamespace",
                            format!(
                                "`{v}` is not one of `namespaces` (allowed: {})",
                                allowed.join(", ")
                            ),
                        );
                    }
                    s.default_namespace = v;
                }
                Err(e) => cx.error(ns.pos, "defaultNamespace", e),
            }
        }
    }
    s.prune = f.boolean(cx, "prune").unwrap_or(true);
    s.self_heal = f.boolean(cx, "selfHeal").unwrap_or(true);
    s.guard_state_loss = f.boolean(cx, "guardStateLoss").unwrap_or(false);
    if let Some(node) = f.take("podPolicy") {
        s.pod_policy = decode_pod_policy(cx, node);
    }
    if let Some(node) = f.take("tombstoneRetention") {
        if let Some(v) = super::decode::string(cx, node, "tombstoneRetention") {
            match crate::model::duration::parse(&v) {
                Ok(d) => s.tombstone_retention_secs = d.as_secs().max(1),
                Err(e) => cx.error(node.pos, "tombstoneRetention", e),
            }
        }
    }
    if let Some(node) = f.take("teams") {
        s.teams = Some(super::tenancy::decode_teams(
            cx,
            node,
            s.namespaces.as_deref(),
        ));
    }
    if let Some(node) = f.take("defaults") {
        s.defaults = decode_defaults(cx, node);
    }
    f.finish(cx);
    s
}

fn decode_defaults(cx: &mut Cx, node: &Node) -> Defaults {
    let mut d = Defaults::default();
    let Some(mut f) = Fields::of(cx, node, "defaults") else {
        return d;
    };
    d.image = f.string(cx, "image");
    d.image_pull_policy = super::definition::pull_policy(cx, &mut f);
    d.flink_version = super::definition::flink_version(cx, &mut f);
    d.service_account = f.string(cx, "serviceAccount");
    d.flink_configuration = f
        .flink_configuration(
            cx,
            "flinkConfiguration",
            super::kubernetes_keys::Scope::Cluster,
        )
        .unwrap_or_default()
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    d.savepoint_directory = f.string(cx, "savepointDirectory");
    d.checkpoint_directory = f.string(cx, "checkpointDirectory");
    for (key, slot) in [
        ("jobManager", &mut d.job_manager),
        ("taskManager", &mut d.task_manager),
    ] {
        if let Some(n) = f.take(key) {
            let field = f.field(key);
            if let Some(mut c) = Fields::of(cx, n, &field) {
                if let Some(r) = c.take("resource") {
                    *slot = decode_resource(cx, r, &c.field("resource"));
                }
                c.finish(cx);
            }
        }
    }
    f.finish(cx);
    d
}

fn decode_pod_policy(cx: &mut Cx, node: &Node) -> super::pod_policy::PodPolicy {
    let mut p = super::pod_policy::PodPolicy::default();
    let Some(mut f) = Fields::of(cx, node, "podPolicy") else {
        return p;
    };
    p.allow_privileged = f.boolean(cx, "allowPrivileged").unwrap_or(false);
    p.allow_host_namespaces = f.boolean(cx, "allowHostNamespaces").unwrap_or(false);
    if let Some(list) = f.string_list_pos(cx, "allowHostPaths") {
        for (i, (path, pos)) in list.into_iter().enumerate() {
            if !path.starts_with('/') || path.split('/').any(|s| s == "..") {
                cx.error(
                    pos,
                    &format!("podPolicy.allowHostPaths[{i}]"),
                    format!("`{path}` is not an absolute path without `..`"),
                );
            } else {
                p.allow_host_paths.push(path);
            }
        }
    }
    p.allow_capabilities = f.string_list(cx, "allowCapabilities").unwrap_or_default();
    f.finish(cx);
    p
}
