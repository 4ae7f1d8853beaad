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

pub mod transition;

use crate::engine::plan::Action;
use crate::model::ledger::{Health, HistoryEntry, Ledger};
use crate::model::spec::{JobSpec, JobState};
use crate::model::time::Timestamp;

pub use crate::model::upgrade::{FailedTarget, Phase, SavepointRecord, Upgrade};

pub use crate::model::upgrade::{
    checkpoint_stats_staleness, readiness_timeout, rollback_enabled, savepoint_history_max,
    PERIODIC_SAVEPOINT_INTERVAL, READINESS_TIMEOUT, ROLLBACK_ENABLED, SAVEPOINT_HISTORY,
    SAVEPOINT_HISTORY_MAX,
};

/// The `savepointTriggerNonce` a running job owes a savepoint for: the applied spec's,
/// when the ledger has not recorded it as taken (or as already set at deployment).
pub fn savepoint_nonce_owed(ledger: &Ledger) -> Option<i64> {
    owed(
        ledger,
        |j| j.savepoint_trigger_nonce,
        ledger.savepoint_nonce,
    )
}

/// The same for `checkpointTriggerNonce` and a checkpoint.
pub fn checkpoint_nonce_owed(ledger: &Ledger) -> Option<i64> {
    owed(
        ledger,
        |j| j.checkpoint_trigger_nonce,
        ledger.checkpoint_nonce,
    )
}

fn owed(
    ledger: &Ledger,
    nonce: impl Fn(&crate::model::spec::Job) -> Option<i64>,
    done: Option<i64>,
) -> Option<i64> {
    let spec = ledger.spec.as_ref()?;
    let nonce = nonce(spec.job.as_ref()?)?;
    (done != Some(nonce) && target_runs(spec) && ledger.removed.is_none()).then_some(nonce)
}

/// When a job's next savepoint outside upgrades is due (Unix seconds): at once for a
/// `savepointTriggerNonce` it owes, else its periodic interval after its last savepoint
/// of any kind (at once when it has none). None when neither applies or nothing runs.
pub fn next_periodic_savepoint(ledger: &Ledger) -> Option<u64> {
    if savepoint_nonce_owed(ledger).is_some() || checkpoint_nonce_owed(ledger).is_some() {
        return Some(0);
    }
    let spec = ledger.spec.as_ref()?;
    let every = PERIODIC_SAVEPOINT_INTERVAL.get(&spec.flink_configuration)?;
    if !target_runs(spec) {
        return None;
    }
    let last = ledger.savepoints.last().map_or(0, |s| s.at.unix());
    Some(last.saturating_add(every.as_secs().max(1)))
}

/// Whether a job is due for a periodic savepoint at `unix_now`: it is, it runs healthy,
/// and no upgrade is in flight.
pub fn periodic_savepoint_due(ledger: &Ledger, now: Timestamp) -> bool {
    next_periodic_savepoint(ledger).is_some_and(|due| now.unix() >= due)
        && ledger.upgrade.is_none()
        && ledger.health == Health::Healthy
}

/// Attempts at an upgrade before it gives up until the next commit.
pub const MAX_FAILURES: u32 = 3;

pub use crate::engine::plan::{carry, Carry};

/// Where a job that is not running resumes: its last recorded savepoint (or what it last
/// restored from). A job added back after its removal from Git resumes from its
/// tombstone's lineage the same way, unless Git names a different `initialSavepointPath`
/// than the one it was removed with (the same one is no instruction: it was there all
/// along).
pub fn resume_point(ledger: &Ledger, target: &JobSpec) -> Option<String> {
    let initial = |s: Option<&JobSpec>| {
        s.and_then(|s| s.job.as_ref())
            .and_then(|j| j.initial_savepoint_path.clone())
    };
    let wanted = initial(Some(target));
    if ledger.removed.is_some() && wanted.is_some() && wanted != initial(ledger.spec.as_ref()) {
        return wanted;
    }
    ledger
        .last_savepoint()
        .map(str::to_string)
        .or_else(|| ledger.restore_from.clone())
}

/// Whether the deployed target is expected to run (not suspended).
pub fn target_runs(target: &JobSpec) -> bool {
    target
        .job
        .as_ref()
        .is_some_and(|j| j.state == JobState::Running)
}

/// The ledger after the upgrade reached its target at `now` (`unix`): the target is what
/// is applied, the record is cleared, and the history says what was restored and, for a
/// version that runs, how long the step took.
pub fn complete(ledger: &Ledger, up: &Upgrade, now: Timestamp) -> Ledger {
    let target = up.target();
    let mut l = ledger.clone();
    l.applied_commit = up.target_commit.clone();
    l.spec_hash = crate::engine::render::spec_hash(&target);
    l.source = target.source.file.clone();
    l.spec = Some(up.target_spec.clone());
    l.restore_from = up.restore_from.clone();
    l.health = if target_runs(&target) {
        Health::Healthy
    } else {
        Health::Suspended
    };
    l.health_reason = None;
    l.upgrade = None;
    l.removed = None;
    // The job restarted with this spec: its nonce asks for nothing more.
    l.savepoint_nonce = target.job.as_ref().and_then(|j| j.savepoint_trigger_nonce);
    l.checkpoint_nonce = target.job.as_ref().and_then(|j| j.checkpoint_trigger_nonce);
    let result = match (&up.rollback_of, &up.restore_from) {
        (Some(bad), Some(p)) => format!(
            "rolled back from {} to this commit, restored from {p}",
            short(bad)
        ),
        (Some(bad), None) => format!("rolled back from {} to this commit", short(bad)),
        (None, Some(p)) => format!("{}: restored from {p}", up.action),
        (None, None) => format!("{}: started without state", up.action),
    };
    if up.rollback_of.is_none() {
        l.failed = None;
        l.last_error = None;
    }
    // The lineage: what the new version started from, and the savepoint this upgrade took
    // of the old one (recorded with the old version's commit since it began).
    let state_out = up
        .restore_from
        .as_ref()
        .filter(|p| {
            ledger.savepoints.iter().any(|s| {
                &s.path == *p && s.commit == ledger.applied_commit && s.at >= up.started_at
            })
        })
        .cloned();
    l.record(HistoryEntry {
        commit: up.target_commit.clone(),
        spec_hash: l.spec_hash.clone(),
        action: up.action.to_string(),
        at: now,
        result,
        state_in: up.restore_from.clone().filter(|_| target_runs(&target)),
        state_out,
        seconds: (target_runs(&target) && up.started_at.is_known())
            .then(|| now.seconds_since(up.started_at)),
    });
    l
}

/// The ledger after a failed attempt that left the old job as it was (its savepoint
/// failed, Flink was unreachable, there was no checkpoint): retried from Pending up to
/// `MAX_FAILURES` times, then given up until Git changes.
pub fn fail(ledger: &Ledger, up: &Upgrade, reason: &str, now: Timestamp) -> Ledger {
    let mut l = ledger.clone();
    let failures = up.failures + 1;
    l.health = Health::Degraded;
    if failures >= MAX_FAILURES {
        l.upgrade = None;
        l.last_error = Some(format!(
            "{} to {} gave up after {failures} attempts: {reason}",
            up.action,
            short(&up.target_commit)
        ));
        l.failed = Some(FailedTarget {
            commit: up.target_commit.clone(),
            spec_hash: crate::engine::render::spec_hash(&up.target()),
            reason: reason.to_string(),
            at: now,
            rolled_back: false,
        });
        l.record(HistoryEntry {
            commit: up.target_commit.clone(),
            spec_hash: crate::engine::render::spec_hash(&up.target()),
            action: up.action.to_string(),
            at: now,
            result: format!("failed: {reason}"),
            state_in: None,
            state_out: None,
            seconds: None,
        });
    } else {
        let mut next = up.clone();
        next.failures = failures;
        next.job_id = None;
        next.trigger = None;
        next.enter(Phase::Pending, now);
        l.upgrade = Some(next);
        l.last_error = Some(format!(
            "{} attempt {failures} of {MAX_FAILURES} failed: {reason}",
            up.action
        ));
    }
    l.health_reason = l.last_error.clone();
    l
}

/// The ledger after the new version failed to run: an upgrade back to the last stable
/// spec from the state this upgrade restored (the new version's own progress is not
/// trusted), with the Git head marked failed until a new commit arrives. None when there
/// is nothing stable to go back to.
pub fn roll_back(ledger: &Ledger, up: &Upgrade, reason: &str, now: Timestamp) -> Option<Ledger> {
    let stable = ledger.applied_spec()?;
    if up.rollback_of.is_some() || !rollback_enabled(&up.target()) {
        return None; // a failing rollback is not rolled back again
    }
    let mut l = ledger.clone();
    let mut back = Upgrade::new(Action::Rollback, &ledger.applied_commit, &stable, now);
    back.restore_from = up
        .restore_from
        .clone()
        .or_else(|| ledger.restore_from.clone());
    back.rollback_of = Some(up.target_commit.clone());
    back.enter(Phase::Stopped, now);
    l.upgrade = Some(back);
    l.failed = Some(FailedTarget {
        commit: up.target_commit.clone(),
        spec_hash: crate::engine::render::spec_hash(&up.target()),
        reason: reason.to_string(),
        at: now,
        rolled_back: true,
    });
    l.health = Health::Degraded;
    l.last_error = Some(format!(
        "{} did not reach RUNNING: {reason}; rolling back to {}",
        short(&up.target_commit),
        short(&ledger.applied_commit)
    ));
    l.health_reason = l.last_error.clone();
    l.record(HistoryEntry {
        commit: up.target_commit.clone(),
        spec_hash: crate::engine::render::spec_hash(&up.target()),
        action: up.action.to_string(),
        at: now,
        result: format!("failed, rolling back: {reason}"),
        // The failed version started from it; the rollback starts from it again.
        state_in: up.restore_from.clone(),
        state_out: None,
        seconds: None,
    });
    Some(l)
}

use crate::model::escape::short_commit as short;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

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
        let up = Action::SavepointUpgrade;
        assert_eq!(
            carry(up, &running("savepoint"), &running("savepoint")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(
                Action::LastStateUpgrade,
                &running("last-state"),
                &running("last-state")
            ),
            Carry::LatestCheckpoint
        );
        // A session job's last-state change takes a savepoint.
        let mut session = running("last-state");
        session.kind = crate::model::spec::JobKind::SessionJob;
        assert_eq!(
            carry(Action::LastStateUpgrade, &session, &session),
            Carry::Savepoint
        );
        // Suspending always takes a savepoint: there is nothing else to resume from.
        assert_eq!(
            carry(
                Action::Suspend,
                &running("last-state"),
                &suspended("last-state")
            ),
            Carry::Savepoint
        );
        assert_eq!(
            carry(
                Action::Suspend,
                &running("savepoint"),
                &suspended("savepoint")
            ),
            Carry::Savepoint
        );
        assert_eq!(
            carry(
                Action::Resume,
                &suspended("savepoint"),
                &running("savepoint")
            ),
            Carry::LastRecorded
        );
        assert_eq!(
            carry(
                Action::StatelessUpgrade,
                &running("stateless"),
                &running("stateless")
            ),
            Carry::Nothing
        );
        // The new mode decides: switching to stateless drops the state on purpose.
        assert_eq!(
            carry(up, &running("savepoint"), &running("stateless")),
            Carry::Nothing
        );
        // Switching to last-state: the running job did not retain its checkpoints on
        // cancellation, so it stops with a savepoint (cancelling would delete them).
        assert_eq!(
            carry(up, &running("savepoint"), &running("last-state")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(up, &running("stateless"), &running("last-state")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(up, &running("last-state"), &running("savepoint")),
            Carry::Savepoint
        );
        assert_eq!(
            carry(
                Action::Redeploy,
                &running("savepoint"),
                &running("savepoint")
            ),
            Carry::Initial
        );
        assert!(target_runs(&running("savepoint")));
        assert!(!target_runs(&suspended("savepoint")));
    }

    #[test]
    fn a_job_added_back_resumes_from_its_lineage_unless_git_names_another_savepoint() {
        let with_initial = |path: &str| {
            let mut s = spec("savepoint", "running");
            s.job.as_mut().unwrap().initial_savepoint_path = Some(path.into());
            s
        };
        let mut tomb = Ledger {
            spec: Some(with_initial("file:///sp/first")),
            removed: Some(crate::model::ledger::Removal {
                commit: "c".into(),
                at: crate::model::time::Timestamp::from_unix(1),
            }),
            ..Default::default()
        };
        tomb.record_savepoint(SavepointRecord {
            path: "file:///sp/removal".into(),
            commit: "c".into(),
            reason: "removal".into(),
            at: crate::model::time::Timestamp::from_unix(1),
        });
        // The same file comes back: its old initialSavepointPath is no instruction.
        assert_eq!(
            resume_point(&tomb, &with_initial("file:///sp/first")).as_deref(),
            Some("file:///sp/removal")
        );
        // Git names another one: it wins.
        assert_eq!(
            resume_point(&tomb, &with_initial("file:///sp/other")).as_deref(),
            Some("file:///sp/other")
        );
        // Not a tombstone (a suspended job resuming): the recorded savepoint.
        tomb.removed = None;
        assert_eq!(
            resume_point(&tomb, &with_initial("file:///sp/other")).as_deref(),
            Some("file:///sp/removal")
        );
    }

    fn upgrade_to(target: &JobSpec) -> Upgrade {
        let mut up = Upgrade::new(
            Action::SavepointUpgrade,
            "c2c2c2c2c2c2c2c2",
            target,
            crate::model::time::Timestamp::from_unix(100),
        );
        up.restore_from = Some("file:///sp/savepoint-1".into());
        up.enter(
            Phase::Deploying,
            crate::model::time::Timestamp::from_unix(110),
        );
        up
    }

    fn stable_ledger() -> Ledger {
        let old = spec("savepoint", "running");
        Ledger {
            applied_commit: "c1c1c1c1c1c1c1c1".into(),
            spec_hash: crate::engine::render::spec_hash(&old),
            source: old.source.file.clone(),
            spec: Some(old),
            ..Default::default()
        }
    }

    #[test]
    fn the_record_round_trips() {
        let mut up = upgrade_to(&spec("savepoint", "running"));
        up.job_id = Some("j1".into());
        let text = serde_json::to_string(&up).unwrap();
        assert!(!text.contains("trigger"), "{text}");
        let back: Upgrade = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        assert_eq!(back.target().source.file, "j.yaml");
        // The action is written as text, as before it was typed: ledgers written by an
        // older flinkops read the same.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["action"], "savepoint-upgrade");
        for a in crate::engine::plan::Action::ALL {
            let mut old = v.clone();
            old["action"] = a.as_str().into();
            let read: Upgrade = serde_json::from_value(old).unwrap();
            assert_eq!(read.action, a);
        }
    }

    #[test]
    fn completing_records_the_target_and_what_it_restored() {
        let mut target = spec("savepoint", "running");
        target.job.as_mut().unwrap().parallelism = 4;
        let up = upgrade_to(&target);
        let l = complete(
            &stable_ledger(),
            &up,
            crate::model::time::Timestamp::from_unix(142),
        );
        assert_eq!(l.applied_commit, "c2c2c2c2c2c2c2c2");
        // Begun at 100, RUNNING at 142: what a restart of this job costs.
        assert_eq!(l.history.last().unwrap().seconds, Some(42));
        assert_eq!(l.spec_hash, crate::engine::render::spec_hash(&target));
        assert_eq!(l.restore_from.as_deref(), Some("file:///sp/savepoint-1"));
        assert_eq!(l.health, Health::Healthy);
        assert!(l.upgrade.is_none() && l.failed.is_none());
        let h = l.history.last().unwrap();
        assert_eq!(
            h.result,
            "savepoint-upgrade: restored from file:///sp/savepoint-1"
        );
        // The lineage: the new version started from the savepoint. Not recorded as taken
        // of the old version, it is not said to have carried the state out.
        assert_eq!(h.state_in.as_deref(), Some("file:///sp/savepoint-1"));
        assert_eq!(h.state_out, None);
        let mut taken = stable_ledger();
        taken.record_savepoint(SavepointRecord {
            path: "file:///sp/savepoint-1".into(),
            commit: "c1c1c1c1c1c1c1c1".into(),
            reason: "upgrade".into(),
            at: crate::model::time::Timestamp::from_unix(105),
        });
        let h = complete(&taken, &up, crate::model::time::Timestamp::from_unix(100))
            .history
            .pop()
            .unwrap();
        assert_eq!(h.state_out.as_deref(), Some("file:///sp/savepoint-1"));
        // A savepoint of the old version from before this upgrade (a periodic one that
        // happens to be restored) did not carry it out now.
        taken.savepoints[0].at = crate::model::time::Timestamp::from_unix(99);
        let h = complete(&taken, &up, crate::model::time::Timestamp::from_unix(100))
            .history
            .pop()
            .unwrap();
        assert_eq!(h.state_out, None);
        // A suspend ends Suspended: its savepoint carried the state out, nothing in.
        let mut suspend = upgrade_to(&spec("savepoint", "suspended"));
        suspend.started_at = crate::model::time::Timestamp::from_unix(120);
        taken.savepoints[0].at = crate::model::time::Timestamp::from_unix(120);
        let l = complete(
            &taken,
            &suspend,
            crate::model::time::Timestamp::from_unix(142),
        );
        assert_eq!(l.health, Health::Suspended);
        let h = l.history.last().unwrap();
        assert_eq!(h.state_in, None);
        assert_eq!(h.seconds, None, "nothing runs after a suspend");
        assert_eq!(h.state_out.as_deref(), Some("file:///sp/savepoint-1"));
    }

    #[test]
    fn failed_attempts_retry_from_pending_then_give_up_until_git_changes() {
        let target = spec("savepoint", "running");
        let mut up = upgrade_to(&target);
        up.phase = Phase::Stopping;
        up.job_id = Some("j1".into());
        up.trigger = Some("t".into());
        let mut l = stable_ledger();
        for attempt in 1..MAX_FAILURES {
            l = fail(
                &l,
                l.upgrade.as_ref().unwrap_or(&up),
                "disk full",
                crate::model::time::Timestamp::from_unix(200),
            );
            let next = l.upgrade.as_ref().expect("retried");
            assert_eq!((next.phase, next.failures), (Phase::Pending, attempt));
            assert!(next.job_id.is_none() && next.trigger.is_none());
            assert_eq!(
                l.last_error.as_deref(),
                Some(
                    format!(
                        "savepoint-upgrade attempt {attempt} of {MAX_FAILURES} failed: disk full"
                    )
                    .as_str()
                )
            );
        }
        let up = l.upgrade.clone().unwrap();
        l = fail(
            &l,
            &up,
            "disk full",
            crate::model::time::Timestamp::from_unix(300),
        );
        assert!(l.upgrade.is_none());
        let f = l.failed.as_ref().unwrap();
        assert_eq!(f.spec_hash, crate::engine::render::spec_hash(&target));
        assert!(!f.rolled_back);
        assert_eq!(l.health, Health::Degraded);
        // The old spec is still what is applied.
        assert_eq!(l.applied_commit, "c1c1c1c1c1c1c1c1");
    }

    #[test]
    fn a_new_version_that_does_not_run_is_rolled_back_from_the_same_savepoint() {
        let mut target = spec("savepoint", "running");
        target.job.as_mut().unwrap().parallelism = 4;
        let up = upgrade_to(&target);
        let l = roll_back(
            &stable_ledger(),
            &up,
            "job FAILED at start",
            crate::model::time::Timestamp::from_unix(400),
        )
        .unwrap();
        let back = l.upgrade.as_ref().unwrap();
        assert_eq!(back.action, crate::engine::plan::Action::Rollback);
        assert_eq!(back.phase, Phase::Stopped);
        assert_eq!(back.target_commit, "c1c1c1c1c1c1c1c1");
        assert_eq!(back.target_spec, stable_ledger().spec.unwrap());
        assert_eq!(back.restore_from.as_deref(), Some("file:///sp/savepoint-1"));
        assert_eq!(back.rollback_of.as_deref(), Some("c2c2c2c2c2c2c2c2"));
        assert!(l.failed.as_ref().unwrap().rolled_back);
        // Finishing the rollback keeps the head marked failed.
        let done = complete(&l, back, crate::model::time::Timestamp::from_unix(100));
        assert!(done.failed.is_some());
        assert_eq!(done.applied_commit, "c1c1c1c1c1c1c1c1");
        assert!(done
            .history
            .last()
            .unwrap()
            .result
            .starts_with("rolled back from c2c2c2c2c2c2"));
        // A rollback that fails is not rolled back again; a first deployment has nothing
        // to go back to.
        assert!(roll_back(
            &l,
            back,
            "again",
            crate::model::time::Timestamp::from_unix(500)
        )
        .is_none());
        assert!(roll_back(
            &Ledger::default(),
            &up,
            "x",
            crate::model::time::Timestamp::from_unix(500)
        )
        .is_none());
    }

    #[test]
    fn periodic_savepoints_fall_due_an_interval_after_the_last_one() {
        let mut l = stable_ledger();
        l.health = Health::Healthy;
        assert!(
            !periodic_savepoint_due(&l, crate::model::time::Timestamp::from_unix(1_000)),
            "no interval configured"
        );
        let mut spec = l.spec.clone().unwrap();
        spec.flink_configuration
            .insert(PERIODIC_SAVEPOINT_INTERVAL.key.into(), "10 min".into());
        l.spec = Some(spec);
        assert!(
            periodic_savepoint_due(&l, crate::model::time::Timestamp::from_unix(1_000)),
            "none taken yet"
        );
        l.record_savepoint(SavepointRecord {
            path: "p".into(),
            commit: "c".into(),
            reason: "upgrade".into(),
            at: crate::model::time::Timestamp::from_unix(1_000),
        });
        assert!(!periodic_savepoint_due(
            &l,
            crate::model::time::Timestamp::from_unix(1_599)
        ));
        assert!(periodic_savepoint_due(
            &l,
            crate::model::time::Timestamp::from_unix(1_600)
        ));
        l.health = Health::Degraded;
        assert!(
            !periodic_savepoint_due(&l, crate::model::time::Timestamp::from_unix(1_600)),
            "not while unhealthy"
        );
    }

    #[test]
    fn a_new_savepoint_trigger_nonce_is_owed_one_savepoint_at_once() {
        let mut l = stable_ledger();
        l.health = Health::Healthy;
        let with = |l: &Ledger, n: Option<i64>| {
            let mut l = l.clone();
            l.spec
                .as_mut()
                .unwrap()
                .job
                .as_mut()
                .unwrap()
                .savepoint_trigger_nonce = n;
            l
        };
        assert_eq!(savepoint_nonce_owed(&with(&l, None)), None);
        let owed = with(&l, Some(2));
        assert_eq!(savepoint_nonce_owed(&owed), Some(2));
        assert_eq!(next_periodic_savepoint(&owed), Some(0));
        assert!(periodic_savepoint_due(
            &owed,
            crate::model::time::Timestamp::from_unix(1)
        ));
        // Taken (or set when the job was deployed): nothing more until it changes.
        let mut taken = owed.clone();
        taken.savepoint_nonce = Some(2);
        assert_eq!(savepoint_nonce_owed(&taken), None);
        assert!(
            !periodic_savepoint_due(&taken, crate::model::time::Timestamp::from_unix(1_000_000)),
            "no interval either"
        );
        assert_eq!(savepoint_nonce_owed(&with(&taken, Some(3))), Some(3));
        // Nothing runs to take it of: a suspended or removed job owes nothing.
        let mut suspended = owed.clone();
        suspended.spec.as_mut().unwrap().job.as_mut().unwrap().state = JobState::Suspended;
        assert_eq!(savepoint_nonce_owed(&suspended), None);
        // An upgrade restarts the job with its spec: the nonce it carries is settled.
        let target = owed.applied_spec().unwrap();
        let up = Upgrade::new(
            Action::SavepointUpgrade,
            "c9",
            &target,
            crate::model::time::Timestamp::from_unix(10),
        );
        assert_eq!(
            complete(&l, &up, crate::model::time::Timestamp::from_unix(100)).savepoint_nonce,
            Some(2)
        );
        // A checkpoint nonce is owed the same way, and due at once too.
        let mut cp = l.clone();
        cp.spec
            .as_mut()
            .unwrap()
            .job
            .as_mut()
            .unwrap()
            .checkpoint_trigger_nonce = Some(5);
        assert_eq!(checkpoint_nonce_owed(&cp), Some(5));
        assert_eq!(savepoint_nonce_owed(&cp), None);
        assert_eq!(next_periodic_savepoint(&cp), Some(0));
        cp.checkpoint_nonce = Some(5);
        assert_eq!(checkpoint_nonce_owed(&cp), None);
    }

    #[test]
    fn rollback_and_readiness_read_through_their_parsers() {
        let mut s = spec("savepoint", "running");
        assert!(rollback_enabled(&s));
        assert_eq!(readiness_timeout(&s), 300);
        let mut set = |k: &str, v: &str| {
            s.flink_configuration.insert(k.into(), v.into());
            (rollback_enabled(&s), readiness_timeout(&s))
        };
        set(ROLLBACK_ENABLED.key, "False");
        assert_eq!(set(READINESS_TIMEOUT.key, "90s"), (false, 90));
        assert_eq!(set(READINESS_TIMEOUT.key, "250ms"), (false, 1));
        // What the load refuses can only come from a spec stored before it checked these
        // keys: it counts as unset, as it always did.
        set(ROLLBACK_ENABLED.key, "no");
        assert_eq!(set(READINESS_TIMEOUT.key, "soon"), (true, 300));
    }

    #[test]
    fn the_history_keeps_the_configured_number() {
        let mut spec = spec("savepoint", "running");
        assert_eq!(savepoint_history_max(Some(&spec)), SAVEPOINT_HISTORY);
        spec.flink_configuration
            .insert(SAVEPOINT_HISTORY_MAX.key.into(), "3".into());
        assert_eq!(savepoint_history_max(Some(&spec)), 3);
        let mut l = Ledger {
            spec: Some(spec),
            ..Default::default()
        };
        for i in 0..5 {
            l.record_savepoint(SavepointRecord {
                path: format!("p{i}"),
                commit: "c".into(),
                reason: "periodic".into(),
                at: crate::model::time::Timestamp::from_unix(i),
            });
        }
        let kept: Vec<&str> = l.savepoints.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(kept, ["p2", "p3", "p4"]);
    }

    #[test]
    fn checkpoint_statistics_are_final_after_the_rest_cache_expires() {
        use std::time::Duration;
        let mut spec = spec("last-state", "running");
        assert_eq!(
            checkpoint_stats_staleness(&spec),
            Duration::from_millis(3500)
        );
        spec.flink_configuration
            .insert("web.refresh-interval".into(), "1000".into());
        assert_eq!(
            checkpoint_stats_staleness(&spec),
            Duration::from_millis(1500)
        );
        spec.flink_configuration.insert(
            "rest.cache.checkpoint-statistics.timeout".into(),
            "2 s".into(),
        );
        assert_eq!(
            checkpoint_stats_staleness(&spec),
            Duration::from_millis(2500)
        );
        spec.flink_configuration.insert(
            "rest.cache.checkpoint-statistics.timeout".into(),
            "1h".into(),
        );
        assert_eq!(
            checkpoint_stats_staleness(&spec),
            Duration::from_millis(60_500)
        );
    }
}
