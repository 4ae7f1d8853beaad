//! An upgrade's transitions without I/O. Each function takes the ledger's record and what
//! the executor observed (Flink's answers, the cluster's objects) and says what happens
//! next; the executor (`crate::runtime::upgrade`) asks, records and acts. Where a decision
//! needs an answer it has not been given, it says which question to ask (`AskFlink`,
//! `AskJob`, ...), so the executor asks Flink only what the decision needs.

use super::{
    carry, fail, readiness_timeout, resume_point, roll_back, Carry, Phase, SavepointRecord,
    Upgrade, MAX_FAILURES,
};
use crate::engine::plan::Action;
use crate::engine::session_job;
use crate::model::flink::{Checkpoints, JobState, JobSummary, Operation};
use crate::model::ledger::{Health, Ledger};
use crate::model::spec::{JobId, JobKind, JobSpec};
use crate::model::time::Timestamp;

/// How long Pending and Stopping may wait on an unreachable or unsettled Flink before the
/// attempt counts as failed.
pub const STOP_DEADLINE_SECS: u64 = 900;

/// The upgrade's target, the spec that runs, and what carries the state between them.
pub fn specs_and_carry(ledger: &Ledger, up: &Upgrade) -> (JobSpec, Option<JobSpec>, Carry) {
    let target = up.target();
    let old = ledger.applied_spec();
    let carry = old
        .as_ref()
        .map_or(Carry::Nothing, |o| carry(up.action, o, &target));
    (target, old, carry)
}

/// Where a job that carries nothing starts: `initialSavepointPath` on a redeploy or a
/// first deployment, else empty.
pub fn initial(target: &JobSpec, carry: Carry, first: bool) -> Option<String> {
    match carry {
        Carry::Initial => target.job.as_ref()?.initial_savepoint_path.clone(),
        Carry::Nothing if first => target.job.as_ref()?.initial_savepoint_path.clone(),
        _ => None,
    }
}

/// The ledger with `start` recorded as its upgrade, or None when an upgrade that has
/// already touched the job is in progress (a newer target replaces only a Pending one).
pub fn begin(ledger: &Ledger, start: Upgrade) -> Option<Ledger> {
    if ledger
        .upgrade
        .as_ref()
        .is_some_and(|u| u.phase != Phase::Pending)
    {
        return None;
    }
    let mut l = ledger.clone();
    l.upgrade = Some(start);
    l.health = Health::Progressing;
    l.health_reason = None;
    Some(l)
}

/// Whether the executor follows this phase closely (a savepoint, old pods going: about a
/// second) rather than once per cycle (a new version starting, a session cluster
/// restarting).
pub fn followed_closely(up: &Upgrade) -> bool {
    match up.phase {
        Phase::Pending | Phase::Stopping => true,
        Phase::Stopped => up.target_spec.kind != JobKind::SessionJob,
        Phase::Deploying => false,
    }
}

/// What Flink reported about the JobManager the job runs in.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// Not asked yet.
    NotAsked,
    /// No JobManager to ask (scaled to zero by hand, never started); the text says why.
    NoJobManager(&'a str),
    /// Every job the JobManager lists (a session cluster's include other jobs).
    Jobs(&'a [JobSummary]),
}

/// How a Pending upgrade leaves Pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Ask the JobManager which jobs it runs.
    AskFlink,
    /// Nothing to stop: on to Stopped, restoring from `restore_from`.
    Skip {
        restore_from: Option<String>,
        why: &'static str,
    },
    /// Stop the job with a savepoint.
    StopWithSavepoint { job: String },
    /// Cancel the job to restore from its latest checkpoint: only once it has one.
    CancelForCheckpoint { job: String },
    /// Cancel the job; its state is not carried (stateless, or a redeploy).
    Cancel { job: String },
    /// Something outside flinkops is in the way; nothing changed: wait.
    Wait(String),
    /// The attempt fails, the old job untouched.
    Refuse(String),
}

/// Pending: what to do with the running job, given the JobManager's jobs.
pub fn start(id: &JobId, ledger: &Ledger, up: &Upgrade, found: Found) -> Start {
    let (target, old, carry) = specs_and_carry(ledger, up);
    if carry == Carry::LastRecorded {
        return Start::Skip {
            restore_from: resume_point(ledger, &target),
            why: "nothing running; resuming from the recorded savepoint",
        };
    }
    let carries_nothing = matches!(carry, Carry::Nothing | Carry::Initial);
    let skip = || Start::Skip {
        restore_from: initial(&target, carry, old.is_none()),
        why: "no running job; deploying",
    };
    let all = match found {
        Found::NotAsked => return Start::AskFlink,
        // Nothing to stop; a stateful job's state would be lost without its JobManager.
        Found::NoJobManager(_) if carries_nothing => return skip(),
        Found::NoJobManager(why) => return Start::Wait(why.to_string()),
        Found::Jobs(all) => all,
    };
    // A session cluster runs other jobs too: only this job's own count.
    let home = session_job::rest_home(&target);
    let running: Vec<&JobSummary> = all
        .iter()
        .filter(|j| !j.state.is_terminal())
        .filter(|j| session_job::belongs(id, &home, &j.id))
        .collect();
    let job = match running.as_slice() {
        [] if carries_nothing => return skip(),
        // An application's JobManager that lists no job at all has not submitted it yet
        // (it is starting): wait, as for one that does not answer. One whose job ended
        // lists it (FAILED, CANCELED, FINISHED): refused below.
        [] if target.kind == crate::model::spec::JobKind::Application && all.is_empty() => {
            return Start::Wait("the JobManager runs no job yet (starting)".into())
        }
        [] => {
            return Start::Refuse(
                "no running Flink job to take the state from (the JobManager runs none)".into(),
            )
        }
        [j] => *j,
        many => {
            return Start::Refuse(format!(
                "{} jobs run in the JobManager; expected one",
                many.len()
            ))
        }
    };
    let id = job.id.clone();
    match carry {
        // Starting: it will run (or fail) by itself; a savepoint is for a running job.
        Carry::Savepoint if matches!(job.state, JobState::Created | JobState::Initializing) => {
            Start::Wait(format!(
                "the job is {}: waiting for it to run before taking a savepoint",
                job.state
            ))
        }
        Carry::Savepoint if job.state != JobState::Running => Start::Refuse(format!(
            "the job is {}, not RUNNING: a savepoint cannot be taken",
            job.state
        )),
        Carry::Savepoint => Start::StopWithSavepoint { job: id },
        Carry::LatestCheckpoint => Start::CancelForCheckpoint { job: id },
        Carry::Nothing | Carry::Initial | Carry::LastRecorded => Start::Cancel { job: id },
    }
}

/// A last-state upgrade cancels only a job that has a completed checkpoint to restore.
pub fn checkpoint_to_carry(cps: &Checkpoints) -> Result<(), String> {
    match cps.latest_completed {
        Some(_) => Ok(()),
        None => Err("last-state upgrade refused: the job has no completed checkpoint yet (enable checkpointing, wait for one, or use upgradeMode: savepoint)".into()),
    }
}

/// Where a stop-with-savepoint stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopping {
    /// Ask Flink for the job's own state (it does not know our request).
    AskJob,
    /// Ask for the job's final checkpoint statistics (it finished).
    AskFinalStatistics,
    /// Our request is still running.
    InProgress,
    /// The savepoint is complete at this path.
    Savepointed(String),
    /// The request never arrived (or the JobManager restarted): send it again, same id.
    RequestAgain,
    /// Flink failed the savepoint and keeps the job running: the attempt failed.
    Refuse(String),
    /// The job is in a state that settles by itself: wait.
    Wait(String),
}

/// Stopping with a savepoint: `status` is Flink's answer for our trigger id (None: Flink
/// does not know it), `job` the job's state once asked, `statistics` its final checkpoint
/// statistics once asked.
pub fn savepoint_progress(
    status: Option<&Operation>,
    job: Option<&JobState>,
    statistics: Option<&Checkpoints>,
) -> Stopping {
    match status {
        Some(Operation::InProgress) => return Stopping::InProgress,
        Some(Operation::Completed { location }) => return Stopping::Savepointed(location.clone()),
        Some(Operation::Failed { cause }) => {
            return Stopping::Refuse(format!("stop-with-savepoint failed: {cause}"))
        }
        None => {}
    }
    match job {
        None => Stopping::AskJob,
        Some(JobState::Running) => Stopping::RequestAgain,
        Some(JobState::Finished) => match statistics.map(|c| c.latest_savepoint.clone()) {
            None => Stopping::AskFinalStatistics,
            Some(Some(location)) => Stopping::Savepointed(location),
            Some(None) => {
                Stopping::Wait("the job finished but Flink reports no savepoint yet".into())
            }
        },
        Some(other) => Stopping::Wait(format!(
            "the job is {other} while stopping with a savepoint"
        )),
    }
}

/// Where a cancellation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelling {
    /// Still running: flinkops died between recording and cancelling; cancel (idempotent).
    CancelAgain,
    /// On its way down.
    Wait(String),
    /// Stopped; restore from `restore_from`.
    Stopped { restore_from: Option<String> },
    /// Ask for its final checkpoint statistics (last-state restores its latest checkpoint).
    AskFinalStatistics,
    /// The attempt failed.
    Refuse(String),
}

/// Stopping by cancellation: `job` is the job's state, `statistics` its final checkpoint
/// statistics once asked.
pub fn cancel_progress(
    ledger: &Ledger,
    up: &Upgrade,
    job: &JobState,
    statistics: Option<&Checkpoints>,
) -> Cancelling {
    match job {
        JobState::Canceled | JobState::Finished | JobState::Failed => {}
        JobState::Running => return Cancelling::CancelAgain,
        other => return Cancelling::Wait(format!("waiting for the job to stop ({other})")),
    }
    let (target, old, carry) = specs_and_carry(ledger, up);
    if carry != Carry::LatestCheckpoint {
        return Cancelling::Stopped {
            restore_from: initial(&target, carry, old.is_none()),
        };
    }
    match statistics.map(|c| c.latest_completed.clone()) {
        None => Cancelling::AskFinalStatistics,
        Some(Some(p)) => Cancelling::Stopped {
            restore_from: Some(p),
        },
        Some(None) => {
            Cancelling::Refuse("the cancelled job reports no completed checkpoint".into())
        }
    }
}

/// The ledger and upgrade once the stop's savepoint is complete at `location`: the
/// savepoint joins the job's lineage, and the upgrade moves to Stopped restoring from it.
pub fn savepointed(
    ledger: &Ledger,
    up: &Upgrade,
    location: &str,
    now: Timestamp,
) -> (Ledger, Upgrade) {
    let mut l = ledger.clone();
    l.record_savepoint(SavepointRecord {
        path: location.to_string(),
        commit: ledger.applied_commit.clone(),
        reason: if up.action == Action::Delete {
            "removal"
        } else if super::target_runs(&up.target()) {
            "upgrade"
        } else {
            "suspend"
        }
        .into(),
        at: now,
    });
    let mut next = up.clone();
    next.restore_from = Some(location.to_string());
    next.enter(Phase::Stopped, now);
    (l, next)
}

/// How the new version's Flink job is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewJob {
    /// Ask for the job's details (are all its tasks running?).
    AskDetails,
    /// Ask for its checkpoint count (the first completed checkpoint proves it works).
    AskCheckpoints,
    /// Not there yet; the text says what it waits for.
    Wait(String),
    /// It failed at start: the new version does not run.
    FailedAtStart,
    /// It runs and works.
    Done,
}

/// Deploying: `state` is the new job's state, `fully_running` whether all its tasks run
/// (once asked), `completed` its completed checkpoints (once asked).
pub fn new_job_progress(
    target: &JobSpec,
    state: &JobState,
    fully_running: Option<bool>,
    completed: Option<u64>,
) -> NewJob {
    match state {
        JobState::Failed => return NewJob::FailedAtStart,
        JobState::Running => {}
        other => return NewJob::Wait(format!("the new job is {other}")),
    }
    match fully_running {
        None => return NewJob::AskDetails,
        Some(false) => return NewJob::Wait("the new job's tasks are not all RUNNING yet".into()),
        Some(true) => {}
    }
    // RUNNING is not yet working: a job that fails on its first record is RUNNING for a
    // moment. With checkpointing on, the first completed checkpoint proves it; only an
    // interval the definition sets counts (the default a last-state job gets, five
    // minutes, could outlast the readiness timeout).
    if !target
        .flink_configuration
        .contains_key(crate::engine::render::config::CHECKPOINT_INTERVAL)
    {
        return NewJob::Done;
    }
    match completed {
        None => NewJob::AskCheckpoints,
        Some(0) => NewJob::Wait("waiting for the new job's first checkpoint".into()),
        Some(_) => NewJob::Done,
    }
}

/// The job the new JobManager runs: the one not terminal, else the first it lists.
pub fn new_job(jobs: &[JobSummary]) -> Option<&JobSummary> {
    jobs.iter()
        .find(|j| !j.state.is_terminal())
        .or_else(|| jobs.first())
}

/// The JobManager Deployment's pod template as far as it says which version runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pub config_hash: Option<String>,
    pub replicas: Option<i32>,
}

/// Whether the live JobManager Deployment is the target's (flinkops may have died while
/// applying the target's objects).
pub fn target_applied(want: &Template, live: Option<&Template>) -> bool {
    live == Some(want)
}

/// What an obstacle (an unreachable Flink, a job settling) means in the upgrade's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obstacle {
    /// Nothing changed: wait for it to pass.
    Wait,
    /// The stop has been stuck past its deadline: a failed attempt (bounded retries).
    AttemptFailed,
    /// In Deploying: the new version is not up (yet); see `new_version_failed`.
    NewVersion,
}

/// A blip must not use up the attempts and leave the commit undeployed until the next
/// one; a stop stuck past `STOP_DEADLINE_SECS` is a failed attempt.
pub fn obstacle(up: &Upgrade, now: Timestamp) -> Obstacle {
    match up.phase {
        Phase::Pending | Phase::Stopping
            if now.seconds_since(up.phase_since) > STOP_DEADLINE_SECS =>
        {
            Obstacle::AttemptFailed
        }
        Phase::Deploying => Obstacle::NewVersion,
        _ => Obstacle::Wait,
    }
}

/// After the new version failed or is not up yet.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterNewVersion {
    /// Within its readiness timeout: keep waiting, saying why.
    Wait(String),
    /// The ledger that settles it: a rollback to the last stable spec, or (nothing stable,
    /// rollback off, or the rollback itself failed) given up, objects left for a person.
    Settled(Box<Ledger>),
}

/// The new version did not come up: `why` starting with "job " is a job that failed
/// (fatal at once); anything else counts against the readiness timeout.
pub fn new_version_failed(
    ledger: &Ledger,
    up: &Upgrade,
    why: &str,
    now: Timestamp,
) -> AfterNewVersion {
    let waited = now.seconds_since(up.phase_since);
    let fatal = why.starts_with("job ");
    if !fatal && waited <= readiness_timeout(&up.target()) {
        return AfterNewVersion::Wait(why.to_string());
    }
    let why = if fatal {
        why.to_string()
    } else {
        format!("not RUNNING after {waited}s: {why}")
    };
    let settled = roll_back(ledger, up, &why, now).unwrap_or_else(|| {
        let mut l = fail(
            ledger,
            &Upgrade {
                failures: MAX_FAILURES,
                ..up.clone()
            },
            &why,
            now,
        );
        l.upgrade = None;
        l
    });
    AfterNewVersion::Settled(Box::new(settled))
}

#[cfg(test)]
pub(crate) mod tests;
