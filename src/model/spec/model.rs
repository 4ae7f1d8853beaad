//! The normalized job model every definition format is read into.
//!
//! Everything here is resolved (defaults applied), so two definitions that mean the same
//! compare equal and hash the same, whichever format or file they came from.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// flinkConfiguration keys with this prefix are settings for flinkops (the Apache
/// operator's names): they are not passed to Flink, and changing one restarts nothing.
pub const OPERATOR_PREFIX: &str = "kubernetes.operator.";

/// Whether a flinkConfiguration key is a setting for flinkops rather than for Flink.
pub fn is_operator_key(key: &str) -> bool {
    key.starts_with(OPERATOR_PREFIX)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where a definition was read from: not part of the spec hash (moving a file changes
/// provenance, not the job).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
    /// Where a session job names its session cluster (line, column), for errors.
    pub cluster_ref: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// A FlinkDeployment with `job`: its own JobManager runs it.
    Application,
    /// A FlinkDeployment without `job`, or a FlinkCluster.
    SessionCluster,
    /// A FlinkSessionJob or FlinkApplication: a job submitted to a session cluster.
    SessionJob,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Application => "application",
            JobKind::SessionCluster => "session-cluster",
            JobKind::SessionJob => "session-job",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub id: JobId,
    pub kind: JobKind,
    #[serde(skip)]
    pub source: Source,
    /// apiVersion/kind as written, for messages.
    #[serde(skip)]
    pub written_as: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Pods and configuration (application jobs and session clusters).
    pub cluster: Option<Cluster>,
    /// What runs (application jobs and session jobs).
    pub job: Option<Job>,
    /// The session cluster a session job is submitted to (same namespace).
    pub session_cluster: Option<String>,
    /// Flink configuration after defaults (for session jobs: submitted with the job).
    pub flink_configuration: BTreeMap<String, String>,
    pub restart_nonce: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub image: String,
    pub image_pull_policy: Option<String>,
    pub flink_version: Option<FlinkVersion>,
    pub service_account: Option<String>,
    pub job_manager: Component,
    pub task_manager: Component,
    pub pod_template: Option<serde_json::Value>,
    pub log_configuration: BTreeMap<String, String>,
    pub ingress: Option<Ingress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// Resolved: TaskManagers default to parallelism / task slots, rounded up.
    pub replicas: i32,
    pub resource: Resource,
    pub pod_template: Option<serde_json::Value>,
}

/// The main container's requests (and Flink's process memory: `memory_bytes`), with its
/// limits where `resources` sets them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: Option<u64>,
    /// Limits that differ from the requests above; None: limits = requests (always so
    /// for `resource`, and left out of the JSON so such specs hash as they always did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Resource {
    /// The container's limits.
    pub fn limits(&self) -> Limits {
        self.limits.unwrap_or(Limits {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            ephemeral_storage_bytes: self.ephemeral_storage_bytes,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    /// None: no ephemeral-storage limit.
    pub ephemeral_storage_bytes: Option<u64>,
}

/// Flink's process memory keys, which flinkops sets from each component's memory.
pub const JM_PROCESS_MEMORY: &str = "jobmanager.memory.process.size";
pub const TM_PROCESS_MEMORY: &str = "taskmanager.memory.process.size";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub jar_uri: String,
    pub entry_class: Option<String>,
    pub args: Vec<String>,
    pub parallelism: i32,
    pub upgrade_mode: UpgradeMode,
    pub state: JobState,
    pub initial_savepoint_path: Option<String>,
    pub allow_non_restored_state: Option<bool>,
    pub savepoint_redeploy_nonce: Option<i64>,
    /// A new value takes one savepoint of the running job; nothing restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// A new value takes one checkpoint of the running job (Flink 1.17+); nothing
    /// restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    Stateless,
    Savepoint,
    LastState,
}

impl UpgradeMode {
    pub const NAMES: [&'static str; 3] = ["stateless", "savepoint", "last-state"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stateless" => Some(UpgradeMode::Stateless),
            "savepoint" => Some(UpgradeMode::Savepoint),
            "last-state" => Some(UpgradeMode::LastState),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The mode a restart uses when the running job has `old` and Git says `new`: how the
    /// state can leave the running job decides as much as where it goes. Only a job that
    /// already runs as last-state retains its checkpoints on cancellation, so a change to
    /// last-state stops with a savepoint; a change to stateless is Git saying the state
    /// may go.
    pub fn across(old: UpgradeMode, new: UpgradeMode) -> UpgradeMode {
        match (old, new) {
            (_, UpgradeMode::Stateless) => UpgradeMode::Stateless,
            (UpgradeMode::LastState, UpgradeMode::LastState) => UpgradeMode::LastState,
            _ => UpgradeMode::Savepoint,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Running,
    Suspended,
}

impl JobState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(JobState::Running),
            "suspended" => Some(JobState::Suspended),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    /// Host and/or path template with `{{name}}` and `{{namespace}}`, as in the Apache
    /// operator: `{{name}}.{{namespace}}.flink.example.com` or `example.com/{{namespace}}/{{name}}`
    /// (read by `spec::ingress::url`).
    pub template: String,
    pub class_name: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Kubernetes IngressTLS entries, as written. Left out of the JSON when there are
    /// none, so specs without TLS hash as they always did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<IngressTls>,
}

/// One TLS entry of an Ingress: the hosts a certificate covers and the Secret holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// `v1_20` style Flink version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlinkVersion {
    pub major: u32,
    pub minor: u32,
}

impl FlinkVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix('v')?;
        let (major, minor) = rest.split_once('_')?;
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !ok(major) || !ok(minor) {
            return None;
        }
        Some(FlinkVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    /// The official image tag for this version, e.g. `flink:1.20`.
    pub fn default_image(self) -> String {
        format!("flink:{}.{}", self.major, self.minor)
    }

    /// Flink reads `config.yaml` from 1.19 on; older versions need `flink-conf.yaml`.
    pub fn needs_legacy_conf(self) -> bool {
        self < FlinkVersion {
            major: 1,
            minor: 19,
        }
    }

    /// Flink 2 renamed the checkpoint and savepoint directory keys.
    pub fn is_2x(self) -> bool {
        self.major >= 2
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}_{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_version_parses_and_maps_to_image() {
        let v = FlinkVersion::parse("v1_20").unwrap();
        assert_eq!(v.default_image(), "flink:1.20");
        assert_eq!(v.to_string(), "v1_20");
        assert!(!v.needs_legacy_conf());
        assert!(FlinkVersion::parse("v1_18").unwrap().needs_legacy_conf());
        assert!(FlinkVersion::parse("v2_0").unwrap().is_2x());
        for bad in ["1_20", "v1.20", "v1_", "v_1", "v1_2x", ""] {
            assert_eq!(FlinkVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn upgrade_mode_names_round_trip() {
        for name in UpgradeMode::NAMES {
            assert_eq!(UpgradeMode::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(UpgradeMode::parse("Savepoint"), None);
    }
}

#[cfg(test)]
mod serde_tests {
    use crate::model::snapshot::{Entry, Snapshot};

    #[test]
    fn resolved_specs_round_trip_through_json() {
        // The ledger stores the applied spec as JSON; reading it back must give the same
        // spec (file location aside) so plans against the cluster are exact.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples-repo/jobs/orders-enrichment.yaml"
        ))
        .unwrap();
        let snap = Snapshot {
            commit: "x".into(),
            files: [("a.yaml".to_string(), Entry::File(text.into_bytes()))].into(),
        };
        let catalog = crate::model::spec::load(&snap);
        let spec = catalog.jobs.values().next().unwrap();
        let json = serde_json::to_string(spec).unwrap();
        let mut back: super::JobSpec = serde_json::from_str(&json).unwrap();
        back.source = spec.source.clone();
        back.written_as = spec.written_as.clone();
        assert_eq!(&back, spec);
    }
}
