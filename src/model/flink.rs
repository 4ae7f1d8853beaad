//! What Flink's REST API answers, as values: job states, summaries, checkpoints,
//! operations. The client that asks is `edge::flink`.

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

/// A Flink job's state (Flink's `JobStatus`). A name this client does not know (a newer
/// Flink) is kept as written, never an error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
    /// Not Flink's: a session job none of whose Flink jobs its session cluster knows
    /// (never submitted, or lost with the cluster's state).
    Missing,
    Other(String),
}

impl JobState {
    const KNOWN: [(JobState, &'static str); 12] = [
        (JobState::Initializing, "INITIALIZING"),
        (JobState::Created, "CREATED"),
        (JobState::Running, "RUNNING"),
        (JobState::Failing, "FAILING"),
        (JobState::Failed, "FAILED"),
        (JobState::Cancelling, "CANCELLING"),
        (JobState::Canceled, "CANCELED"),
        (JobState::Finished, "FINISHED"),
        (JobState::Restarting, "RESTARTING"),
        (JobState::Suspended, "SUSPENDED"),
        (JobState::Reconciling, "RECONCILING"),
        (JobState::Missing, "MISSING"),
    ];

    pub fn parse(s: &str) -> JobState {
        Self::KNOWN.iter().find(|(_, name)| *name == s).map_or_else(
            || JobState::Other(s.to_string()),
            |(state, _)| state.clone(),
        )
    }

    pub fn as_str(&self) -> &str {
        match self {
            JobState::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(state, _)| state == known)
                .map_or("", |(_, name)| name),
        }
    }

    /// Finished for good (Flink's globally terminal states): the job will not run again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Canceled | JobState::Failed
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for JobState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for JobState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| JobState::parse(&s))
    }
}

/// `GET /jobs` (one job).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct JobSummary {
    #[serde(rename = "jid")]
    pub id: String,
    pub name: String,
    pub state: JobState,
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
    pub state: JobState,
    #[serde(default)]
    pub vertices: Vec<Vertex>,
}

impl JobDetails {
    /// RUNNING with every vertex RUNNING: the job is processing, not just scheduled.
    pub fn fully_running(&self) -> bool {
        self.state == JobState::Running
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
    /// When the latest completed checkpoint was acknowledged (Unix milliseconds).
    pub latest_completed_ms: Option<u64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_read_as_flink_writes_them_and_unknown_ones_are_kept() {
        for (state, name) in JobState::KNOWN {
            assert_eq!(JobState::parse(name), state);
            assert_eq!(state.as_str(), name);
        }
        let newer: JobState = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(newer, JobState::Other("SOMETHING_NEW".into()));
        assert_eq!(newer.to_string(), "SOMETHING_NEW");
        assert!(!newer.is_terminal());
        let terminal: Vec<&str> = JobState::KNOWN
            .iter()
            .filter(|(s, _)| s.is_terminal())
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(terminal, ["FAILED", "CANCELED", "FINISHED"]);
    }

    #[test]
    fn job_states_are_written_as_read_so_ledgers_keep_their_text() {
        for (state, name) in JobState::KNOWN {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{name}\"")
            );
        }
        // flinkops' own state for a session job its cluster does not know.
        assert_eq!(JobState::parse("MISSING"), JobState::Missing);
        let other = JobState::Other("NEW\n\"STATE".into());
        let back: JobState = serde_json::from_str(&serde_json::to_string(&other).unwrap()).unwrap();
        assert_eq!(back, other);
    }
}
