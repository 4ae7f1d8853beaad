//! Every transition, phase by phase, with what Flink can answer.

use super::*;
use crate::model::flink::JobState::{
    Canceled, Created, Failed, Finished, Initializing, Restarting, Running,
};
use crate::model::spec::testing::catalog;

pub(crate) const SAVEPOINTS: &str = "file:///savepoints";

/// A job definition: `mode` its upgradeMode, `state` running or suspended, `extra` more
/// of its spec's flinkConfiguration.
pub(crate) fn spec(mode: &str, state: &str, extra: &str) -> JobSpec {
    let text = format!(
        "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: j, namespace: ns}}
spec:
  image: flink:2.0
  flinkConfiguration: {{execution.checkpointing.savepoint-dir: '{SAVEPOINTS}'{extra}}}
  job: {{jarURI: 'local:///opt/flink/usrlib/job.jar', upgradeMode: {mode}, state: {state}}}
"
    );
    let c = catalog(&[("j.yaml", &text)]);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    c.jobs.values().next().unwrap().clone()
}

/// The ledger of `applied` running at commit c1, with one savepoint in its lineage.
pub(crate) fn ledger(applied: &JobSpec) -> Ledger {
    let mut l = Ledger {
        applied_commit: "c1".into(),
        spec_hash: crate::engine::render::spec_hash(applied),
        source: applied.source.file.clone(),
        spec: Some(applied.clone()),
        health: Health::Healthy,
        ..Ledger::default()
    };
    l.record_savepoint(SavepointRecord {
        path: format!("{SAVEPOINTS}/sp-1"),
        commit: "c1".into(),
        reason: "upgrade".into(),
        at: crate::model::time::Timestamp::from_unix(100),
    });
    l
}

pub(crate) fn upgrade(action: Action, target: &JobSpec) -> Upgrade {
    Upgrade::new(
        action,
        "c2",
        target,
        crate::model::time::Timestamp::from_unix(1_000),
    )
}

pub(crate) fn job(id: &str, state: JobState) -> JobSummary {
    JobSummary {
        id: id.into(),
        name: "j".into(),
        state,
    }
}

fn id() -> JobId {
    JobId {
        namespace: "ns".into(),
        name: "j".into(),
    }
}

fn savepoint_upgrade() -> (Ledger, Upgrade) {
    let old = spec("savepoint", "running", "");
    let new = spec("savepoint", "running", ", parallelism.default: '2'");
    (ledger(&old), upgrade(Action::SavepointUpgrade, &new))
}

#[test]
fn pending_asks_flink_unless_nothing_runs() {
    let (l, up) = savepoint_upgrade();
    assert_eq!(start(&id(), &l, &up, Found::NotAsked), Start::AskFlink);
    // A suspended job resumes from its lineage without asking anyone.
    let suspended = spec("savepoint", "suspended", "");
    let running = spec("savepoint", "running", "");
    let resume = upgrade(Action::Resume, &running);
    assert_eq!(
        start(&id(), &ledger(&suspended), &resume, Found::NotAsked),
        Start::Skip {
            restore_from: Some(format!("{SAVEPOINTS}/sp-1")),
            why: "nothing running; resuming from the recorded savepoint",
        }
    );
}

#[test]
fn pending_stops_the_one_running_job_with_a_savepoint() {
    let (l, up) = savepoint_upgrade();
    let jobs = [job("a", Running), job("old", Finished)];
    assert_eq!(
        start(&id(), &l, &up, Found::Jobs(&jobs)),
        Start::StopWithSavepoint { job: "a".into() }
    );
}

#[test]
fn pending_refuses_two_running_jobs_and_none() {
    let (l, up) = savepoint_upgrade();
    let two = [job("a", Running), job("b", Running)];
    assert_eq!(
        start(&id(), &l, &up, Found::Jobs(&two)),
        Start::Refuse("2 jobs run in the JobManager; expected one".into())
    );
    let none = [job("a", Canceled)];
    assert!(matches!(
        start(&id(), &l, &up, Found::Jobs(&none)),
        Start::Refuse(why) if why.contains("no running Flink job to take the state from")
    ));
}

#[test]
fn pending_takes_no_savepoint_of_a_job_that_is_not_running() {
    let (l, up) = savepoint_upgrade();
    let restarting = [job("a", Restarting)];
    assert_eq!(
        start(&id(), &l, &up, Found::Jobs(&restarting)),
        Start::Refuse("the job is RESTARTING, not RUNNING: a savepoint cannot be taken".into())
    );
}

#[test]
fn pending_waits_for_a_job_that_is_still_starting() {
    // A commit right after the previous one was applied: the new JobManager has not
    // submitted the job yet, or the job is initializing. Nothing is wrong: wait (an
    // attempt refused here would count towards the upgrade's failure).
    let (l, up) = savepoint_upgrade();
    assert_eq!(
        start(&id(), &l, &up, Found::Jobs(&[])),
        Start::Wait("the JobManager runs no job yet (starting)".into())
    );
    for state in [Initializing, Created] {
        let starting = [job("a", state.clone())];
        assert!(
            matches!(
                start(&id(), &l, &up, Found::Jobs(&starting)),
                Start::Wait(why) if why.contains("waiting for it to run")
            ),
            "{state}"
        );
    }
}

#[test]
fn pending_waits_for_a_stateful_jobs_missing_jobmanager_and_deploys_a_stateless_one() {
    let (l, up) = savepoint_upgrade();
    assert_eq!(
        start(
            &id(),
            &l,
            &up,
            Found::NoJobManager("no running JobManager pod")
        ),
        Start::Wait("no running JobManager pod".into())
    );
    let stateless = spec("stateless", "running", "");
    let to = spec("stateless", "running", ", parallelism.default: '2'");
    let up = upgrade(Action::StatelessUpgrade, &to);
    assert_eq!(
        start(&id(), &ledger(&stateless), &up, Found::NoJobManager("gone")),
        Start::Skip {
            restore_from: None,
            why: "no running job; deploying"
        }
    );
    assert_eq!(
        start(
            &id(),
            &ledger(&stateless),
            &up,
            Found::Jobs(&[job("a", Running)])
        ),
        Start::Cancel { job: "a".into() }
    );
}

#[test]
fn pending_cancels_a_last_state_job_only_with_a_checkpoint_to_carry() {
    let old = spec("last-state", "running", "");
    let new = spec("last-state", "running", ", parallelism.default: '2'");
    let up = upgrade(Action::LastStateUpgrade, &new);
    assert_eq!(
        start(&id(), &ledger(&old), &up, Found::Jobs(&[job("a", Running)])),
        Start::CancelForCheckpoint { job: "a".into() }
    );
    assert!(checkpoint_to_carry(&Checkpoints::default())
        .unwrap_err()
        .contains("no completed checkpoint yet"));
    let with = Checkpoints {
        completed: 1,
        latest_completed: Some("file:///cp/chk-1".into()),
        ..Checkpoints::default()
    };
    assert_eq!(checkpoint_to_carry(&with), Ok(()));
}

/// A session cluster `shared` and its savepoint-mode session job `s`.
pub(crate) const SESSION: &str = "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: shared, namespace: ns}
spec: {image: flink:2.3}
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: s, namespace: ns}
spec:
  deploymentName: shared
  job: {jarURI: 'file:///s.jar', upgradeMode: savepoint}
";

#[test]
fn a_session_job_counts_only_its_own_jobs_in_the_cluster() {
    let c = catalog(&[("s.yaml", SESSION)]);
    let s = c.jobs.values().find(|j| j.id.name == "s").unwrap().clone();
    let mut moved = s.clone();
    moved.job.as_mut().unwrap().parallelism = 2;
    let up = upgrade(Action::SavepointUpgrade, &moved);
    let ours = session_job::new_job_id(&s.id, "seed");
    let jobs = [
        job("0123456789abcdef0123456789abcdef", Running),
        job(&ours, Running),
    ];
    assert_eq!(
        start(&s.id, &ledger(&s), &up, Found::Jobs(&jobs)),
        Start::StopWithSavepoint { job: ours }
    );
}

#[test]
fn stopping_follows_the_savepoint_request_and_the_jobs_own_state() {
    let done = Operation::Completed {
        location: "file:///sp/2".into(),
    };
    assert_eq!(
        savepoint_progress(Some(&done), None, None),
        Stopping::Savepointed("file:///sp/2".into())
    );
    assert_eq!(
        savepoint_progress(Some(&Operation::InProgress), None, None),
        Stopping::InProgress
    );
    let failed = Operation::Failed {
        cause: "disk full".into(),
    };
    assert_eq!(
        savepoint_progress(Some(&failed), None, None),
        Stopping::Refuse("stop-with-savepoint failed: disk full".into())
    );
    // 404 for our trigger: the job's own state decides.
    assert_eq!(savepoint_progress(None, None, None), Stopping::AskJob);
    assert_eq!(
        savepoint_progress(None, Some(&Running), None),
        Stopping::RequestAgain
    );
    assert_eq!(
        savepoint_progress(None, Some(&Finished), None),
        Stopping::AskFinalStatistics
    );
    let stats = Checkpoints {
        latest_savepoint: Some("file:///sp/3".into()),
        ..Checkpoints::default()
    };
    assert_eq!(
        savepoint_progress(None, Some(&Finished), Some(&stats)),
        Stopping::Savepointed("file:///sp/3".into())
    );
    assert!(matches!(
        savepoint_progress(None, Some(&Finished), Some(&Checkpoints::default())),
        Stopping::Wait(why) if why.contains("no savepoint yet")
    ));
    assert_eq!(
        savepoint_progress(None, Some(&Restarting), None),
        Stopping::Wait("the job is RESTARTING while stopping with a savepoint".into())
    );
}

#[test]
fn cancelling_restores_the_final_checkpoint_of_a_last_state_job() {
    let old = spec("last-state", "running", "");
    let new = spec("last-state", "running", ", parallelism.default: '2'");
    let (l, up) = (ledger(&old), upgrade(Action::LastStateUpgrade, &new));
    assert_eq!(
        cancel_progress(&l, &up, &Running, None),
        Cancelling::CancelAgain
    );
    assert_eq!(
        cancel_progress(&l, &up, &JobState::Cancelling, None),
        Cancelling::Wait("waiting for the job to stop (CANCELLING)".into())
    );
    assert_eq!(
        cancel_progress(&l, &up, &Canceled, None),
        Cancelling::AskFinalStatistics
    );
    let stats = Checkpoints {
        completed: 4,
        latest_completed: Some("file:///cp/chk-4".into()),
        ..Checkpoints::default()
    };
    assert_eq!(
        cancel_progress(&l, &up, &Failed, Some(&stats)),
        Cancelling::Stopped {
            restore_from: Some("file:///cp/chk-4".into())
        }
    );
    assert!(matches!(
        cancel_progress(&l, &up, &Canceled, Some(&Checkpoints::default())),
        Cancelling::Refuse(_)
    ));
    // Stateless: stopped is stopped, nothing to restore.
    let stateless = spec("stateless", "running", "");
    let up = upgrade(Action::StatelessUpgrade, &stateless);
    assert_eq!(
        cancel_progress(&ledger(&stateless), &up, &Canceled, None),
        Cancelling::Stopped { restore_from: None }
    );
}

#[test]
fn a_savepoint_joins_the_lineage_and_becomes_the_restore_point() {
    let (l, up) = savepoint_upgrade();
    let (after, next) = savepointed(
        &l,
        &up,
        "file:///sp/2",
        crate::model::time::Timestamp::from_unix(2_000),
    );
    assert_eq!(next.phase, Phase::Stopped);
    assert_eq!(
        next.phase_since,
        crate::model::time::Timestamp::from_unix(2_000)
    );
    assert_eq!(next.restore_from.as_deref(), Some("file:///sp/2"));
    let last = after.savepoints.last().unwrap();
    assert_eq!(
        (
            last.path.as_str(),
            last.commit.as_str(),
            last.reason.as_str()
        ),
        ("file:///sp/2", "c1", "upgrade")
    );
    let suspend = upgrade(Action::Suspend, &spec("savepoint", "suspended", ""));
    let (after, _) = savepointed(
        &l,
        &suspend,
        "file:///sp/3",
        crate::model::time::Timestamp::from_unix(2_000),
    );
    assert_eq!(after.savepoints.last().unwrap().reason, "suspend");
}

#[test]
fn the_new_job_is_done_once_it_runs_and_checkpoints() {
    let plain = spec("savepoint", "running", "");
    assert_eq!(
        new_job_progress(&plain, &Failed, None, None),
        NewJob::FailedAtStart
    );
    assert_eq!(
        new_job_progress(&plain, &Restarting, None, None),
        NewJob::Wait("the new job is RESTARTING".into())
    );
    assert_eq!(
        new_job_progress(&plain, &Running, None, None),
        NewJob::AskDetails
    );
    assert!(matches!(
        new_job_progress(&plain, &Running, Some(false), None),
        NewJob::Wait(_)
    ));
    assert_eq!(
        new_job_progress(&plain, &Running, Some(true), None),
        NewJob::Done
    );
    let checkpointed = spec(
        "savepoint",
        "running",
        ", execution.checkpointing.interval: '1s'",
    );
    assert_eq!(
        new_job_progress(&checkpointed, &Running, Some(true), None),
        NewJob::AskCheckpoints
    );
    assert!(matches!(
        new_job_progress(&checkpointed, &Running, Some(true), Some(0)),
        NewJob::Wait(why) if why.contains("first checkpoint")
    ));
    assert_eq!(
        new_job_progress(&checkpointed, &Running, Some(true), Some(1)),
        NewJob::Done
    );
    assert_eq!(
        new_job(&[job("a", Canceled), job("b", Running)]).map(|j| j.id.as_str()),
        Some("b")
    );
    assert_eq!(new_job(&[]), None);
}

#[test]
fn an_obstacle_waits_until_the_stop_deadline() {
    let (_, mut up) = savepoint_upgrade();
    for phase in [Phase::Pending, Phase::Stopping] {
        up.enter(phase, crate::model::time::Timestamp::from_unix(1_000));
        assert_eq!(
            obstacle(
                &up,
                crate::model::time::Timestamp::from_unix(1_000 + STOP_DEADLINE_SECS)
            ),
            Obstacle::Wait
        );
        assert_eq!(
            obstacle(
                &up,
                crate::model::time::Timestamp::from_unix(1_001 + STOP_DEADLINE_SECS)
            ),
            Obstacle::AttemptFailed
        );
    }
    up.enter(
        Phase::Stopped,
        crate::model::time::Timestamp::from_unix(1_000),
    );
    assert_eq!(
        obstacle(&up, crate::model::time::Timestamp::from_unix(1_000_000)),
        Obstacle::Wait
    );
    up.enter(
        Phase::Deploying,
        crate::model::time::Timestamp::from_unix(1_000),
    );
    assert_eq!(
        obstacle(&up, crate::model::time::Timestamp::from_unix(1_000)),
        Obstacle::NewVersion
    );
}

#[test]
fn a_new_version_that_fails_is_rolled_back_from_the_state_it_restored() {
    let (l, mut up) = savepoint_upgrade();
    up.restore_from = Some("file:///sp/2".into());
    up.enter(
        Phase::Deploying,
        crate::model::time::Timestamp::from_unix(1_000),
    );
    // Not up yet, within the readiness timeout: wait.
    assert_eq!(
        new_version_failed(
            &l,
            &up,
            "the new job is CREATED",
            crate::model::time::Timestamp::from_unix(1_010)
        ),
        AfterNewVersion::Wait("the new job is CREATED".into())
    );
    // A job that failed is fatal at once: back to c1 from the savepoint it restored.
    let AfterNewVersion::Settled(back) = new_version_failed(
        &l,
        &up,
        "job x FAILED at start",
        crate::model::time::Timestamp::from_unix(1_010),
    ) else {
        panic!("a failed job is not waited for");
    };
    let rollback = back.upgrade.unwrap();
    assert_eq!(rollback.action, Action::Rollback);
    assert_eq!(rollback.target_commit, "c1");
    assert_eq!(rollback.restore_from.as_deref(), Some("file:///sp/2"));
    assert_eq!(back.failed.unwrap().commit, "c2");
    // Past the readiness timeout the wait becomes the failure.
    let late = 1_000 + readiness_timeout(&up.target()) + 1;
    let AfterNewVersion::Settled(back) = new_version_failed(
        &l,
        &up,
        "CREATED",
        crate::model::time::Timestamp::from_unix(late),
    ) else {
        panic!("past the readiness timeout");
    };
    assert!(back.last_error.unwrap().contains("not RUNNING after"));
}

#[test]
fn a_failing_rollback_is_given_up_not_rolled_back_again() {
    let (l, mut up) = savepoint_upgrade();
    up.rollback_of = Some("c3".into());
    up.enter(
        Phase::Deploying,
        crate::model::time::Timestamp::from_unix(1_000),
    );
    let AfterNewVersion::Settled(l) = new_version_failed(
        &l,
        &up,
        "job x FAILED",
        crate::model::time::Timestamp::from_unix(1_001),
    ) else {
        panic!("fatal");
    };
    assert_eq!(l.upgrade, None);
    assert!(l.last_error.unwrap().contains("gave up"));
}

#[test]
fn a_new_target_replaces_only_an_upgrade_that_has_not_started() {
    let (l, up) = savepoint_upgrade();
    let begun = begin(&l, up.clone()).unwrap();
    assert_eq!(begun.health, Health::Progressing);
    let newer = Upgrade::new(
        Action::SavepointUpgrade,
        "c3",
        &up.target(),
        crate::model::time::Timestamp::from_unix(1_100),
    );
    assert_eq!(
        begin(&begun, newer.clone())
            .unwrap()
            .upgrade
            .unwrap()
            .target_commit,
        "c3"
    );
    let mut stopping = begun.clone();
    stopping.upgrade.as_mut().unwrap().enter(
        Phase::Stopping,
        crate::model::time::Timestamp::from_unix(1_050),
    );
    assert_eq!(begin(&stopping, newer), None);
}

#[test]
fn the_target_counts_as_applied_only_when_the_live_template_matches() {
    let want = Template {
        config_hash: Some("h2".into()),
        replicas: Some(1),
    };
    assert!(target_applied(&want, Some(&want.clone())));
    assert!(!target_applied(&want, None));
    let old = Template {
        config_hash: Some("h1".into()),
        ..want.clone()
    };
    assert!(!target_applied(&want, Some(&old)));
    let scaled = Template {
        replicas: Some(0),
        ..want.clone()
    };
    assert!(!target_applied(&want, Some(&scaled)));
}
