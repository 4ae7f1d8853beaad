//! The upgrade record kept in a job's ledger: the crash-safe account of a change in
//! flight (which phase, what it stopped, what it restores from). Decisions about it are
//! `engine::upgrade`'s.

use crate::model::action::Action;
use crate::model::spec::JobSpec;
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Decided; nothing done to the running job yet.
    Pending,
    /// The old job is being stopped (with a savepoint, or cancelled); its id is recorded.
    Stopping,
    /// The old job is stopped; its state is at `restore_from` (None: start empty).
    Stopped,
    /// The new objects are applied, restoring from `restore_from`; waiting for RUNNING.
    Deploying,
}

/// An upgrade in flight, in the job's ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    pub phase: Phase,
    /// The action being carried out (savepoint-upgrade, suspend, resume, rollback ...);
    /// written as its kebab-case name, as before it was typed.
    pub action: crate::model::action::Action,
    /// The commit and spec being deployed. Fixed for the upgrade's life: a newer commit
    /// becomes the next upgrade, from the state this one leaves.
    pub target_commit: String,
    pub target_spec: JobSpec,
    /// The target's definition file (not part of the spec's JSON).
    pub target_source: String,
    /// The Flink job being stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The stop-with-savepoint request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The savepoint (or checkpoint) to restore from, once known complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
    /// When the upgrade began: how long the job was down is measured from it.
    pub started_at: Timestamp,
    /// When the current phase began (deadlines).
    #[serde(default)]
    pub phase_since: Timestamp,
    /// Failed attempts so far.
    #[serde(default)]
    pub failures: u32,
    /// For an automatic rollback: the commit that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// Session jobs: the Flink job id the target is submitted as, recorded before the
    /// submission (see `crate::engine::session_job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_job_id: Option<String>,
    /// Session jobs: the session cluster's spec hash the target waits for before it is
    /// submitted (the cluster restarts in the same change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_hash: Option<String>,
}

impl Upgrade {
    /// A new upgrade of the job to `target` at `commit`.
    pub fn new(action: Action, commit: &str, target: &JobSpec, now: Timestamp) -> Upgrade {
        Upgrade {
            phase: Phase::Pending,
            action,
            target_commit: commit.to_string(),
            target_spec: target.clone(),
            target_source: target.source.file.clone(),
            job_id: None,
            trigger: None,
            restore_from: None,
            started_at: now,
            phase_since: now,
            failures: 0,
            rollback_of: None,
            new_job_id: None,
            cluster_hash: None,
        }
    }

    /// The target spec with its source file restored.
    pub fn target(&self) -> JobSpec {
        let mut spec = self.target_spec.clone();
        spec.source.file = self.target_source.clone();
        spec
    }

    /// Moves to `phase`, stamping when it began.
    pub fn enter(&mut self, phase: Phase, now: Timestamp) {
        self.phase = phase;
        self.phase_since = now;
    }
}

/// A savepoint in the job's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavepointRecord {
    pub path: String,
    /// The commit of the job that wrote it.
    pub commit: String,
    /// Why it was taken: upgrade, suspend, periodic, manual.
    pub reason: String,
    /// When it completed (the next periodic savepoint is due from it).
    pub at: Timestamp,
}

/// A Git head that could not be deployed: it is not tried again until Git changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedTarget {
    pub commit: String,
    pub spec_hash: String,
    pub reason: String,
    pub at: Timestamp,
    /// Whether the job was rolled back to the last stable spec.
    #[serde(default)]
    pub rolled_back: bool,
}

/// The Apache Flink Kubernetes Operator's settings flinkops applies (read, and checked at
/// load, by `spec::operator_keys`): whether a new version that does not run is rolled back
/// (default here: true), and how long it may take to run.
pub use crate::model::spec::operator_keys::{READINESS_TIMEOUT, ROLLBACK_ENABLED};

pub fn rollback_enabled(spec: &JobSpec) -> bool {
    ROLLBACK_ENABLED
        .get(&spec.flink_configuration)
        .unwrap_or(crate::model::spec::operator_keys::DEFAULT_ROLLBACK_ENABLED)
}

/// Seconds a new version may take to reach RUNNING before it counts as failed.
pub fn readiness_timeout(spec: &JobSpec) -> u64 {
    READINESS_TIMEOUT
        .get(&spec.flink_configuration)
        .unwrap_or(crate::model::spec::operator_keys::DEFAULT_READINESS_TIMEOUT)
        .as_secs()
        .max(1)
}

/// How old Flink's REST answers about checkpoints may be: its handlers cache checkpoint
/// statistics (`rest.cache.checkpoint-statistics.timeout`, default `web.refresh-interval`,
/// 3 s), so right after a job stops they can still name a checkpoint that a newer one has
/// since replaced (and deleted). Reading that long after the job stopped gives its final
/// statistics. Plain numbers are milliseconds, as Flink reads them.
pub fn checkpoint_stats_staleness(spec: &JobSpec) -> std::time::Duration {
    let conf = &spec.flink_configuration;
    let written = conf
        .get("rest.cache.checkpoint-statistics.timeout")
        .or_else(|| conf.get("web.refresh-interval"));
    let parsed = written.and_then(|v| {
        let v = v.trim();
        if v.chars().all(|c| c.is_ascii_digit()) {
            v.parse().ok().map(std::time::Duration::from_millis)
        } else {
            crate::model::duration::parse(v).ok()
        }
    });
    parsed
        .unwrap_or(std::time::Duration::from_secs(3))
        .min(std::time::Duration::from_secs(60))
        + std::time::Duration::from_millis(500)
}

/// The Apache operator's keys for periodic savepoints and the savepoint history's length.
pub use crate::model::spec::operator_keys::{PERIODIC_SAVEPOINT_INTERVAL, SAVEPOINT_HISTORY_MAX};

/// Savepoints kept in a job's history (`kubernetes.operator.savepoint.history.max.count`,
/// default `SAVEPOINT_HISTORY`).
pub fn savepoint_history_max(spec: Option<&JobSpec>) -> usize {
    spec.and_then(|s| SAVEPOINT_HISTORY_MAX.get(&s.flink_configuration))
        .unwrap_or(SAVEPOINT_HISTORY)
}

/// Savepoints kept per job in the ledger.
pub const SAVEPOINT_HISTORY: usize =
    crate::model::spec::operator_keys::DEFAULT_SAVEPOINT_HISTORY_MAX;
