//! Carrying a job's state across a change: the upgrade record kept in the job's ledger and
//! the pure decisions about it. The record is written before every step with a side
//! effect, so a flinkops that dies at any point resumes from the right place:
//!
//! ```text
//! Pending ──(savepoint: stop-with-savepoint)──▶ Stopping ──(savepoint complete)──▶ Stopped
//!    │  (resume: the recorded savepoint; stateless: nothing)                      │
//!    └──────────────────────────────────────────────────────────────────────────▶│
//!                       old pods scaled to 0, new objects applied restoring from it
//!                                                                                 ▼
//!                                     Deploying ──(job RUNNING, or suspended)──▶ done
//! ```
//!
//! Nothing of the old job is removed before its savepoint is known complete (Stopped), and
//! the path restored from is the one recorded at Stopped, never an older one.

use crate::spec::{JobSpec, JobState, UpgradeMode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Decided; nothing done to the running job yet.
    Pending,
    /// Stop-with-savepoint requested (the trigger id is recorded once Flink returns it).
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
    /// The action being carried out (savepoint-upgrade, suspend, resume ...).
    pub action: String,
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
    /// RFC 3339 time the upgrade began.
    pub started_at: String,
    /// Failed attempts at the current phase.
    #[serde(default)]
    pub failures: u32,
}

impl Upgrade {
    /// The target spec with its source file restored.
    pub fn target(&self) -> JobSpec {
        let mut spec = self.target_spec.clone();
        spec.source.file = self.target_source.clone();
        spec
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
    pub at: String,
}

/// Savepoints kept per job in the ledger.
pub const SAVEPOINT_HISTORY: usize = 10;

/// Attempts at stopping a job with a savepoint before the upgrade gives up until the
/// next commit.
pub const MAX_FAILURES: u32 = 3;

/// How the state crosses this change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Stop with a savepoint and restore from it.
    Savepoint,
    /// Cancel and restore from the latest completed checkpoint (last-state: no savepoint
    /// is taken; checkpoints are retained on cancellation for this).
    LatestCheckpoint,
    /// The job is not running (suspended): restore from the last recorded savepoint.
    LastRecorded,
    /// Start without state.
    Nothing,
}

/// What the upgrade from `old` to `new` carries: the new spec's upgradeMode decides, for
/// a running old job; a suspended one resumes from its recorded savepoint. Suspending
/// always takes a savepoint (there is nothing else to resume from).
pub fn carry(old: &JobSpec, new: &JobSpec) -> Carry {
    let old_job = old.job.as_ref();
    let mode = new
        .job
        .as_ref()
        .map_or(UpgradeMode::Stateless, |j| j.upgrade_mode);
    if mode == UpgradeMode::Stateless {
        return Carry::Nothing;
    }
    match old_job.map(|j| j.state) {
        Some(JobState::Running) if mode == UpgradeMode::LastState && target_runs(new) => {
            Carry::LatestCheckpoint
        }
        Some(JobState::Running) => Carry::Savepoint,
        _ => Carry::LastRecorded,
    }
}

/// Whether the deployed target is expected to run (not suspended).
pub fn target_runs(target: &JobSpec) -> bool {
    target
        .job
        .as_ref()
        .is_some_and(|j| j.state == JobState::Running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::catalog;

    fn spec(mode: &str, state: &str) -> JobSpec {
        let text = format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: j, namespace: ns}}
spec:
  image: flink:2.0
  job: {{jarURI: 'local:///opt/flink/usrlib/job.jar', upgradeMode: {mode}, state: {state}}}
"
        );
        let c = catalog(&[("j.yaml", &text)]);
        c.jobs.values().next().unwrap().clone()
    }

    #[test]
    fn what_each_change_carries() {
        let running = |m| spec(m, "running");
        let suspended = |m| spec(m, "suspended");
        assert_eq!(
            carry(&running("savepoint"), &running("savepoint")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(&running("last-state"), &running("last-state")),
            Carry::LatestCheckpoint
        );
        assert_eq!(
            carry(&running("last-state"), &suspended("last-state")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(&running("savepoint"), &suspended("savepoint")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(&suspended("savepoint"), &running("savepoint")),
            Carry::LastRecorded
        );
        assert_eq!(
            carry(&running("stateless"), &running("stateless")),
            Carry::Nothing
        );
        // The new mode decides: switching to stateless drops the state on purpose.
        assert_eq!(
            carry(&running("savepoint"), &running("stateless")),
            Carry::Nothing
        );
        assert!(target_runs(&running("savepoint")));
        assert!(!target_runs(&suspended("savepoint")));
    }

    #[test]
    fn the_record_round_trips() {
        let up = Upgrade {
            phase: Phase::Stopping,
            action: "savepoint-upgrade".into(),
            target_commit: "abc".into(),
            target_spec: spec("savepoint", "running"),
            target_source: "j.yaml".into(),
            job_id: Some("j1".into()),
            trigger: None,
            restore_from: None,
            started_at: "2026-11-23T00:00:00Z".into(),
            failures: 0,
        };
        let text = serde_json::to_string(&up).unwrap();
        assert!(!text.contains("trigger"), "{text}");
        let back: Upgrade = serde_json::from_str(&text).unwrap();
        assert_eq!(back.phase, up.phase);
        assert_eq!(back.job_id, up.job_id);
        assert_eq!(back.target().source.file, "j.yaml");
        assert_eq!(back.target().job, up.target_spec.job);
    }
}
