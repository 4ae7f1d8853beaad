//! Talking to a Flink cluster's REST API: typed requests and answers, errors that carry
//! Flink's own text. The edge the upgrade state machine drives.

pub mod rest;

pub use rest::{FlinkError, FlinkRest};

/// `GET /overview`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterOverview {
    pub taskmanagers: u32,
    pub slots_total: u32,
    pub slots_available: u32,
    pub jobs_running: u32,
    pub flink_version: String,
}

/// A job's state as Flink names it (RUNNING, FINISHED, CANCELED, FAILED, RESTARTING ...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct JobSummary {
    #[serde(rename = "jid")]
    pub id: String,
    pub name: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Vertex {
    pub name: String,
    pub status: String,
    pub parallelism: u32,
}

/// `GET /jobs/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct JobDetails {
    #[serde(rename = "jid")]
    pub id: String,
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub vertices: Vec<Vertex>,
}

impl JobDetails {
    /// RUNNING with every vertex RUNNING: the job is processing, not just scheduled.
    pub fn fully_running(&self) -> bool {
        self.state == "RUNNING"
            && !self.vertices.is_empty()
            && self.vertices.iter().all(|v| v.status == "RUNNING")
    }
}

/// What `GET /jobs/<id>/checkpoints` says about state to restore from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoints {
    pub completed: u64,
    /// Path of the latest completed checkpoint or savepoint.
    pub latest_completed: Option<String>,
    /// Path of the latest savepoint (a stop-with-savepoint's, too).
    pub latest_savepoint: Option<String>,
    /// What the job was restored from, if anything.
    pub restored: Option<Restored>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub path: String,
    pub is_savepoint: bool,
}

/// A savepoint or stop-with-savepoint operation's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    InProgress,
    Completed { location: String },
    Failed { cause: String },
}

/// The body of `POST /jars/<id>/run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunJar {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub program_args_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_non_restored_state: bool,
    /// The id the new job gets (32 hex digits); Flink makes one up without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Configuration for this job only (Flink 1.17+).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub flink_configuration: std::collections::BTreeMap<String, String>,
}
