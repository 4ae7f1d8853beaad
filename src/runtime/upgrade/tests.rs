//! The executor against a scripted Flink and cluster (see `scripted`): the failure paths
//! real Flink cannot produce on demand, and the order of records and requests.

use super::scripted::{Scripted, World};
use super::*;
use crate::edge::flink::{Checkpoints, JobState, Operation};
use crate::engine::plan::Action;
use crate::engine::upgrade::transition::tests::{job, ledger, spec, upgrade, SAVEPOINTS, SESSION};
use crate::model::spec::testing::catalog;

const NOW: u64 = 1_000;

fn id() -> JobId {
    JobId {
        namespace: "ns".into(),
        name: "j".into(),
    }
}

/// A savepoint upgrade of j from c1 to c2 (parallelism 1 -> 2), recorded in its ledger
/// in `phase`.
fn world(phase: Phase) -> World {
    let old = spec("savepoint", "running", "");
    let new = spec("savepoint", "running", ", parallelism.default: '2'");
    let mut l = ledger(&old);
    let mut up = upgrade(Action::SavepointUpgrade, &new);
    up.enter(phase, crate::model::time::Timestamp::from_unix(NOW));
    l.upgrade = Some(up);
    World {
        ledger: Some(l),
        ..World::default()
    }
}

/// One step of the executor at `unix_now`.
async fn step_at(edges: &Scripted, unix_now: u64) -> Result<Step, OpError> {
    let exec = Executor::new(edges, crate::model::time::Timestamp::from_unix(unix_now));
    exec.advance_once(&id(), None).await.map(|(step, _)| step)
}

async fn step(edges: &Scripted) -> Result<Step, OpError> {
    step_at(edges, NOW + 1).await
}

fn upgrade_of(edges: &Scripted) -> Upgrade {
    edges
        .world()
        .ledger()
        .upgrade
        .expect("an upgrade in progress")
}

#[tokio::test]
async fn the_stop_and_its_trigger_are_recorded_before_flink_is_asked_to_stop() {
    let mut w = world(Phase::Pending);
    w.jobs = vec![job("a", JobState::Running)];
    let edges = Scripted::new(w);
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::InFlight("stop-with-savepoint requested".into())
    );
    let up = upgrade_of(&edges);
    assert_eq!(up.phase, Phase::Stopping);
    assert_eq!(up.job_id.as_deref(), Some("a"));
    let trigger = up.trigger.expect("the trigger is recorded");
    assert_eq!(
        edges.world().actions(),
        [
            "write Some(Stopping)",
            &format!("stop a into {SAVEPOINTS} as {trigger}"),
            "write Some(Stopping)",
        ]
    );
}

#[tokio::test]
async fn two_running_jobs_fail_the_attempt_and_stop_neither() {
    let mut w = world(Phase::Pending);
    w.jobs = vec![job("a", JobState::Running), job("b", JobState::Running)];
    let edges = Scripted::new(w);
    let Step::Failed(why) = step(&edges).await.unwrap() else {
        panic!("two jobs are not an upgrade");
    };
    assert!(why.contains("2 jobs run in the JobManager"), "{why}");
    let up = upgrade_of(&edges);
    assert_eq!((up.phase, up.failures), (Phase::Pending, 1));
    assert_eq!(edges.world().actions(), ["write Some(Pending)"]);
}

#[tokio::test]
async fn a_jobmanager_that_is_gone_is_waited_for_until_the_stop_deadline() {
    let mut w = world(Phase::Pending);
    w.no_jobmanager = Some("no running JobManager pod".into());
    let edges = Scripted::new(w);
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::Waiting("no running JobManager pod".into())
    );
    let l = edges.world().ledger();
    assert_eq!(l.upgrade.as_ref().unwrap().failures, 0);
    assert!(l
        .health_reason
        .unwrap()
        .contains("no running JobManager pod"));
    // Past the deadline it is a failed attempt (retried from Pending, bounded).
    let late = NOW + STOP_DEADLINE_SECS + 1;
    assert!(matches!(
        step_at(&edges, late).await.unwrap(),
        Step::Failed(_)
    ));
    assert_eq!(upgrade_of(&edges).failures, 1);
    assert!(!edges
        .world()
        .log
        .iter()
        .any(|l| l.starts_with("cancel") || l.starts_with("stop")));
}

#[tokio::test]
async fn a_stop_request_that_timed_out_is_found_by_its_recorded_trigger() {
    let mut w = world(Phase::Pending);
    w.jobs = vec![job("a", JobState::Running)];
    w.stop_times_out = true;
    let edges = Scripted::new(w);
    assert!(matches!(step(&edges).await.unwrap(), Step::Waiting(_)));
    let trigger = upgrade_of(&edges).trigger.unwrap();
    assert_eq!(upgrade_of(&edges).phase, Phase::Stopping);
    // The request had reached Flink: the next step asks for it by the same trigger.
    {
        let mut w = edges.world();
        w.stop_times_out = false;
        w.savepoint = Some(Operation::Completed {
            location: "file:///savepoints/sp-2".into(),
        });
        w.log.clear();
    }
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::InFlight("savepoint complete: file:///savepoints/sp-2".into())
    );
    assert!(edges
        .world()
        .log
        .contains(&format!("ask savepoint a {trigger}")));
    let l = edges.world().ledger();
    let up = l.upgrade.as_ref().unwrap();
    assert_eq!(up.phase, Phase::Stopped);
    assert_eq!(up.restore_from.as_deref(), Some("file:///savepoints/sp-2"));
    assert_eq!(l.savepoints.last().unwrap().path, "file:///savepoints/sp-2");
}

#[tokio::test]
async fn each_phase_a_step_moves_out_of_is_timed_once_from_its_record() {
    let ended = |exec: &Executor<'_, Scripted>| exec.phases_ended.lock().unwrap().clone();
    // Pending since NOW; the stop is requested 7 s later (two writes in Stopping).
    let mut w = world(Phase::Pending);
    w.jobs = vec![job("a", JobState::Running)];
    let edges = Scripted::new(w);
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 7));
    exec.advance_once(&id(), None).await.unwrap();
    assert_eq!(ended(&exec), [(Phase::Pending, 7)]);
    assert_eq!(*exec.apply_time.lock().unwrap(), None, "nothing applied");
    // The savepoint fails 93 s into Stopping: the attempt is retried from Pending.
    edges.world().savepoint = Some(Operation::Failed {
        cause: "disk full".into(),
    });
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 100));
    let (step, _) = exec.advance_once(&id(), None).await.unwrap();
    assert!(matches!(step, Step::Failed(_)), "{step:?}");
    assert_eq!(ended(&exec), [(Phase::Stopping, 93)]);
    // A step that stays in its phase (waiting, a note written) ends none.
    edges.world().no_jobmanager = Some("no running JobManager pod".into());
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 110));
    let (step, _) = exec.advance_once(&id(), None).await.unwrap();
    assert!(matches!(step, Step::Waiting(_)), "{step:?}");
    assert_eq!(ended(&exec), []);
}

#[tokio::test]
async fn a_phase_recorded_without_its_start_is_not_timed() {
    let mut w = world(Phase::Pending);
    w.ledger
        .as_mut()
        .unwrap()
        .upgrade
        .as_mut()
        .unwrap()
        .phase_since = crate::model::time::Timestamp::EPOCH;
    w.jobs = vec![job("a", JobState::Running)];
    let edges = Scripted::new(w);
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 7));
    exec.advance_once(&id(), None).await.unwrap();
    assert_eq!(upgrade_of(&edges).phase, Phase::Stopping);
    assert!(exec.phases_ended.lock().unwrap().is_empty());
}

/// j in Stopping, its stop requested as trigger "t1"; Flink knows nothing of "t1".
fn stopping_unknown_trigger(state: JobState) -> Scripted {
    let mut w = world(Phase::Stopping);
    let up = w.ledger.as_mut().unwrap().upgrade.as_mut().unwrap();
    up.job_id = Some("a".into());
    up.trigger = Some("t1".into());
    w.jobs = vec![job("a", state)];
    Scripted::new(w)
}

#[tokio::test]
async fn a_404_for_the_trigger_of_a_running_job_repeats_the_request_under_the_same_id() {
    let edges = stopping_unknown_trigger(JobState::Running);
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::InFlight("stop-with-savepoint requested again".into())
    );
    assert_eq!(
        edges.world().actions(),
        [
            "write Some(Stopping)",
            &format!("stop a into {SAVEPOINTS} as t1"),
            "write Some(Stopping)",
        ]
    );
}

#[tokio::test]
async fn a_404_for_the_trigger_of_a_finished_job_takes_the_savepoint_from_its_statistics() {
    let edges = stopping_unknown_trigger(JobState::Finished);
    edges.world().checkpoints = Checkpoints {
        latest_savepoint: Some("file:///savepoints/sp-9".into()),
        ..Checkpoints::default()
    };
    step(&edges).await.unwrap();
    let up = upgrade_of(&edges);
    assert_eq!(up.phase, Phase::Stopped);
    assert_eq!(up.restore_from.as_deref(), Some("file:///savepoints/sp-9"));
    // Nothing was requested of Flink: the job had stopped.
    assert_eq!(edges.world().actions(), ["write Some(Stopped)"]);
}

#[tokio::test]
async fn a_job_restarting_while_it_stops_is_waited_for_without_a_new_request() {
    let edges = stopping_unknown_trigger(JobState::Restarting);
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::Waiting("the job is RESTARTING while stopping with a savepoint".into())
    );
    assert_eq!(upgrade_of(&edges).phase, Phase::Stopping);
    assert!(!edges
        .world()
        .log
        .iter()
        .any(|l| l.starts_with("stop ") || l.starts_with("cancel")));
}

#[tokio::test]
async fn a_failed_savepoint_fails_the_attempt_and_leaves_the_job_running() {
    let edges = stopping_unknown_trigger(JobState::Running);
    edges.world().savepoint = Some(Operation::Failed {
        cause: "java.io.IOException: disk full".into(),
    });
    let Step::Failed(why) = step(&edges).await.unwrap() else {
        panic!("a failed savepoint fails the attempt");
    };
    assert!(
        why.contains("stop-with-savepoint failed: java.io.IOException: disk full"),
        "{why}"
    );
    let up = upgrade_of(&edges);
    assert_eq!(
        (up.phase, up.failures, up.trigger),
        (Phase::Pending, 1, None)
    );
    assert_eq!(edges.world().actions(), ["write Some(Pending)"]);
}

#[tokio::test]
async fn a_flink_that_times_out_while_stopping_changes_nothing() {
    let edges = stopping_unknown_trigger(JobState::Running);
    edges.world().flink_times_out = true;
    assert!(matches!(step(&edges).await.unwrap(), Step::Waiting(why) if why.contains("timed out")));
    let up = upgrade_of(&edges);
    assert_eq!(
        (up.phase, up.trigger.as_deref()),
        (Phase::Stopping, Some("t1"))
    );
}

#[tokio::test]
async fn a_write_by_someone_else_stops_the_step_before_flink_is_asked() {
    let mut w = world(Phase::Pending);
    w.jobs = vec![job("a", JobState::Running)];
    let edges = Scripted::new(w);
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 1));
    let ledger = edges.read_ledger(&id()).await.unwrap().unwrap();
    exec.version
        .lock()
        .unwrap()
        .clone_from(&ledger.resource_version);
    // Another writer (a periodic savepoint settling) moves the ledger on.
    edges.world().version += 1;
    let up = ledger.upgrade.clone().unwrap();
    let err = exec.finish_step(&id(), &ledger, &up).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(edges.world().actions().is_empty());
}

#[tokio::test]
async fn old_pods_go_before_the_target_is_recorded_and_applied() {
    let mut w = world(Phase::Stopped);
    w.ledger
        .as_mut()
        .unwrap()
        .upgrade
        .as_mut()
        .unwrap()
        .restore_from = Some("file:///savepoints/sp-2".into());
    w.pods = 2;
    w.jobmanager = Some(Template {
        config_hash: Some("old".into()),
        replicas: Some(1),
    });
    let edges = Scripted::new(w);
    assert_eq!(
        step(&edges).await.unwrap(),
        Step::InFlight("waiting for 2 old pods to go".into())
    );
    assert_eq!(
        edges.world().actions(),
        ["scale j-jobmanager to 0", "scale j-taskmanager to 0"]
    );
    edges.world().pods = 0;
    edges.world().log.clear();
    step(&edges).await.unwrap();
    let actions = edges.world().log.clone();
    let first_apply = actions
        .iter()
        .position(|a| a.starts_with("apply "))
        .unwrap();
    let deploying = actions
        .iter()
        .position(|a| a == "write Some(Deploying)")
        .unwrap();
    assert!(deploying < first_apply, "{actions:?}");
    assert!(actions.contains(&"apply Deployment/j-jobmanager".to_string()));
}

#[tokio::test]
async fn a_new_version_that_fails_at_start_is_rolled_back_from_its_savepoint() {
    let mut w = world(Phase::Deploying);
    let up = w.ledger.as_mut().unwrap().upgrade.as_mut().unwrap();
    up.restore_from = Some("file:///savepoints/sp-2".into());
    w.jobmanager = Some(jobmanager_template(&id(), &render_target(up)));
    w.jobs = vec![job("new", JobState::Failed)];
    w.root_exception = Some("java.lang.IllegalStateException: boom".into());
    let edges = Scripted::new(w);
    let Step::Failed(why) = step(&edges).await.unwrap() else {
        panic!("a failed job is the new version's failure");
    };
    assert!(
        why.contains("boom") && why.contains("rolling back to c1"),
        "{why}"
    );
    let back = upgrade_of(&edges);
    assert_eq!(
        (back.action, back.phase),
        (Action::Rollback, Phase::Stopped)
    );
    assert_eq!(back.target_commit, "c1");
    assert_eq!(
        back.restore_from.as_deref(),
        Some("file:///savepoints/sp-2")
    );
}

#[tokio::test]
async fn a_new_version_whose_objects_were_not_all_applied_is_applied_again() {
    let mut w = world(Phase::Deploying);
    w.jobmanager = Some(Template {
        config_hash: Some("old".into()),
        replicas: Some(0),
    });
    let edges = Scripted::new(w);
    let exec = Executor::new(&edges, crate::model::time::Timestamp::from_unix(NOW + 1));
    assert_eq!(
        exec.advance_once(&id(), None).await.unwrap().0,
        Step::InFlight("applied the target's objects".into())
    );
    assert!(
        exec.apply_time.lock().unwrap().is_some(),
        "the apply is timed"
    );
    assert!(edges
        .world()
        .log
        .contains(&"apply Deployment/j-jobmanager".to_string()));
    // Nothing was asked of Flink before the target's objects were there.
    assert!(!edges.world().log.iter().any(|l| l.starts_with("ask jobs")));
}

#[test]
fn only_a_session_job_may_leave_the_savepoint_directory_to_its_cluster() {
    let app = "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: app, namespace: ns}
spec:
  image: flink:2.3
  job: {jarURI: 'local:///a.jar', upgradeMode: savepoint}
---
";
    let c = catalog(&[("a.yaml", &format!("{app}{SESSION}"))]);
    let job = |name: &str| c.jobs.values().find(|s| s.id.name == name).unwrap();
    assert!(required_savepoint_dir(job("app"), None)
        .unwrap_err()
        .contains("no savepoint directory"));
    assert_eq!(required_savepoint_dir(job("s"), None), Ok(None));
    let mut with_dir = job("app").clone();
    with_dir.flink_configuration.insert(
        "execution.checkpointing.savepoint-dir".into(),
        "file:///sp".into(),
    );
    assert_eq!(
        required_savepoint_dir(&with_dir, None),
        Ok(Some("file:///sp".into()))
    );
}
