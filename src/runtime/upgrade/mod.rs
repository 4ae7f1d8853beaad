//! The upgrade executor: advances a job's upgrade (see `crate::engine::upgrade`) by one step per
//! call, talking to Flink's REST API and the cluster. Each step that has a side effect is
//! preceded by writing the record that lets a restarted flinkops carry on from there, so
//! killing flinkops at any point never loses the savepoint, restores an older one, or
//! starts a second job.

//!
//! The decisions are `crate::engine::upgrade::transition`'s; this module asks what they need,
//! records each step in the ledger before acting on it, and acts, through `Edges`.

mod edges;
#[cfg(test)]
mod scripted;

pub use edges::{rest_for, Edges, FlinkApi, Live};

use crate::edge::flink::{FlinkError, JobState};
use crate::edge::kube::ops::OpError;
use crate::engine::render::{self, ANN_CONFIG_HASH};
use crate::engine::session_job::{self, JarSource};
use crate::engine::upgrade::transition::{
    self as t, AfterNewVersion, Cancelling, Found, NewJob, Obstacle, Start, Stopping, Template,
};
use crate::engine::upgrade::{self, Phase, Upgrade};
use crate::model::kinds::DEPLOYMENT;
use crate::model::ledger::{Health, Ledger};
use crate::model::spec::{JobId, JobKind, JobSpec};
use crate::model::time::Timestamp;
use crate::runtime::image_jar;
use crate::runtime::jar::{Jar, JarError};

/// How long one call follows the short phases (stopping, old pods going) closely.
const SHORT_PHASES: std::time::Duration = std::time::Duration::from_secs(3);

pub use crate::engine::upgrade::transition::STOP_DEADLINE_SECS;

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Moved on, or waits for its own request to finish (a savepoint, old pods going);
    /// call again soon.
    InFlight(String),
    /// Waits on something outside flinkops' control: a JobManager that does not answer,
    /// a session cluster not running its new version. Called again like `InFlight`; a
    /// one-shot sync reports it instead of waiting it out.
    Waiting(String),
    /// The upgrade finished; the ledger records the target as applied.
    Done(String),
    /// The attempt failed; the ledger says whether it is retried, rolled back or given up.
    Failed(String),
}

/// Where the executor reaches a job's JobManager REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The Service's cluster DNS name (flinkops runs in the cluster).
    ServiceDns,
    /// The JobManager Pod's IP (flinkops runs where Pod IPs route, e.g. the test
    /// environment's loopback Pods).
    PodIp,
}

impl Reach {
    /// In a Pod (KUBERNETES_SERVICE_HOST set): Service DNS; elsewhere the Pod's IP.
    pub fn detect() -> Reach {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            Reach::ServiceDns
        } else {
            Reach::PodIp
        }
    }
}

pub struct Executor<'a, E: Edges> {
    pub edges: &'a E,
    pub now: Timestamp,
    /// The ledger's resourceVersion as this executor last read or wrote it: every step
    /// reads the ledger once and may write it several times, each write conditional on
    /// the one before, so a write by anyone else in between fails it (see `put`).
    pub version: std::sync::Mutex<Option<String>>,
    /// Objects applied by this executor (for Events and metrics).
    pub applied: std::sync::atomic::AtomicUsize,
    /// Time spent applying the target's objects, failed applies included (for metrics;
    /// None: no apply was tried).
    pub apply_time: std::sync::Mutex<Option<std::time::Duration>>,
    /// The phases this executor's writes moved the upgrade out of, with the whole seconds
    /// each lasted by the record's `phase_since` (for metrics).
    pub phases_ended: std::sync::Mutex<Vec<(Phase, u64)>>,
    /// The upgrade's phase and `phase_since` as this executor last read or wrote them.
    phase: std::sync::Mutex<Option<(Phase, Timestamp)>>,
    /// The ledger as this executor last wrote it: a step that fails after recording
    /// its progress (a stop requested, then timed out) settles from that record, not
    /// from the one it read, which would drop the trigger or job it just recorded.
    written: std::sync::Mutex<Option<Ledger>>,
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    /// Flink or the cluster could not be asked, or the job is settling; nothing changed,
    /// try again.
    #[error("{0}")]
    Transient(String),
    /// The attempt failed with the old job untouched (it keeps running).
    #[error("{0}")]
    Attempt(String),
    /// The new version does not run.
    #[error("{0}")]
    NewVersion(String),
    #[error("{0}")]
    Write(#[from] OpError),
}

impl From<FlinkError> for StepError {
    fn from(e: FlinkError) -> Self {
        StepError::Transient(e.to_string())
    }
}

impl<'a, E: Edges> Executor<'a, E> {
    /// An executor for one worker's step, at the current time.
    pub fn new(edges: &'a E, now: Timestamp) -> Self {
        Executor {
            edges,
            now,
            version: Default::default(),
            applied: Default::default(),
            apply_time: Default::default(),
            phases_ended: Default::default(),
            phase: Default::default(),
            written: Default::default(),
        }
    }

    /// Advances the upgrade of `id`. `start` is a new upgrade to record first; without
    /// it the ledger's own record is carried on (read fresh: the watch cache may lag a
    /// write this executor just made).
    pub async fn advance(&self, id: &JobId, start: Option<Upgrade>) -> Result<Step, OpError> {
        // Stopping and Stopped last about a second (a savepoint, pods going): follow them
        // closely for a few seconds rather than waiting for the next cycle; the long
        // Deploying phase is polled once per cycle.
        let until = std::time::Instant::now() + SHORT_PHASES;
        let mut start = start;
        let mut last = None;
        loop {
            let (step, up) = self.advance_once(id, start.take()).await?;
            let phase = up.as_ref().map(|u| u.phase);
            let close = up.as_ref().is_some_and(t::followed_closely);
            if !matches!(step, Step::InFlight(_)) || !close || std::time::Instant::now() > until {
                return Ok(step);
            }
            if last == phase {
                self.edges
                    .pause(std::time::Duration::from_millis(250))
                    .await;
            }
            last = phase;
        }
    }

    async fn advance_once(
        &self,
        id: &JobId,
        start: Option<Upgrade>,
    ) -> Result<(Step, Option<Upgrade>), OpError> {
        let mut ledger = self.edges.read_ledger(id).await?.unwrap_or_default();
        if let Ok(mut v) = self.version.lock() {
            v.clone_from(&ledger.resource_version);
        }
        if let Ok(mut p) = self.phase.lock() {
            *p = phase_of(&ledger);
        }
        if let Some(up) = start {
            let Some(l) = t::begin(&ledger, up) else {
                let step = Step::InFlight("an upgrade is already in progress".into());
                return Ok((step, None));
            };
            self.put(id, &l).await?;
            ledger = l;
        }
        let Some(up) = ledger.upgrade.clone() else {
            return Ok((Step::Done("no upgrade in progress".into()), None));
        };
        let step = self.finish_step(id, &ledger, &up).await?;
        Ok((step, Some(up)))
    }

    async fn finish_step(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
    ) -> Result<Step, OpError> {
        let result = match up.phase {
            Phase::Pending => self.pending(id, ledger, up.clone()).await,
            Phase::Stopping => self.stopping(id, ledger, up.clone()).await,
            Phase::Stopped => self.stopped(id, ledger, up.clone()).await,
            Phase::Deploying => self.deploying(id, ledger, up.clone()).await,
        };
        let written = self.written.lock().ok().and_then(|mut w| w.take());
        let ledger = written.as_ref().unwrap_or(ledger);
        let up = ledger.upgrade.as_ref().unwrap_or(up);
        match result {
            Ok(step) => Ok(step),
            Err(StepError::Write(e)) => Err(e),
            Err(StepError::Transient(why)) => match t::obstacle(up, self.now) {
                Obstacle::AttemptFailed => self.attempt_failed(id, ledger, up, &why).await,
                Obstacle::NewVersion => self.new_version_failed(id, ledger, up, &why).await,
                Obstacle::Wait => {
                    // A JobManager that is restarting, frozen or partitioned away comes
                    // back: say why and wait.
                    self.note(id, ledger, up, &why).await?;
                    Ok(Step::Waiting(why))
                }
            },
            Err(StepError::Attempt(why)) => self.attempt_failed(id, ledger, up, &why).await,
            Err(StepError::NewVersion(why)) => self.new_version_failed(id, ledger, up, &why).await,
        }
    }

    /// Records why the upgrade waits, unless the ledger says so already.
    async fn note(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
        why: &str,
    ) -> Result<(), OpError> {
        let mut l = ledger.clone();
        l.health_reason = Some(format!("{} ({:?}): {why}", up.action, up.phase));
        if &l != ledger {
            self.put(id, &l).await?;
        }
        Ok(())
    }

    async fn attempt_failed(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
        why: &str,
    ) -> Result<Step, OpError> {
        let l = upgrade::fail(ledger, up, why, self.now);
        self.settle(id, &l, why).await
    }

    /// Writes the ledger that settles a failure; the step reports its last error.
    async fn settle(&self, id: &JobId, l: &Ledger, why: &str) -> Result<Step, OpError> {
        self.put(id, l).await?;
        Ok(Step::Failed(
            l.last_error.clone().unwrap_or_else(|| why.to_string()),
        ))
    }

    /// The new version did not come up (in time): roll back to the last stable spec,
    /// from the state this upgrade restored.
    async fn new_version_failed(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
        why: &str,
    ) -> Result<Step, OpError> {
        match t::new_version_failed(ledger, up, why, self.now) {
            AfterNewVersion::Wait(why) => {
                self.note(id, ledger, up, &why).await?;
                Ok(Step::InFlight(why))
            }
            AfterNewVersion::Settled(l) => self.settle(id, &l, why).await,
        }
    }

    async fn pending(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        let (target, old, _) = t::specs_and_carry(ledger, &up);
        let mut decision = t::start(id, ledger, &up, Found::NotAsked);
        let mut flink = None;
        if decision == Start::AskFlink {
            decision = match self.edges.flink(&session_job::rest_home(&target)).await {
                Ok(rest) => {
                    let jobs = rest.jobs().await?;
                    let d = t::start(id, ledger, &up, Found::Jobs(&jobs));
                    flink = Some(rest);
                    d
                }
                Err(why) => t::start(id, ledger, &up, Found::NoJobManager(&why)),
            };
        }
        let (job, rest) = match (&decision, flink) {
            (Start::Skip { restore_from, why }, _) => {
                up.restore_from = restore_from.clone();
                up.enter(Phase::Stopped, self.now);
                return self.record(id, ledger, up, why).await;
            }
            (Start::Wait(why), _) => return Err(StepError::Transient(why.clone())),
            (Start::Refuse(why), _) => return Err(StepError::Attempt(why.clone())),
            (
                Start::StopWithSavepoint { job }
                | Start::CancelForCheckpoint { job }
                | Start::Cancel { job },
                Some(rest),
            ) => (job.clone(), rest),
            // Only an answer from Flink names a job to stop.
            (Start::AskFlink, _) | (_, None) => {
                return Err(StepError::Transient("the JobManager was not asked".into()))
            }
        };
        match decision {
            Start::StopWithSavepoint { .. } => {
                let dir = required_savepoint_dir(&target, old.as_ref())
                    .map_err(|e| StepError::Attempt(e.into()))?;
                // Record the job and our trigger id before asking Flink to stop it: a crash
                // after the request finds the operation under that id.
                let trigger = trigger_id(&job, self.now);
                up.job_id = Some(job.clone());
                up.trigger = Some(trigger.clone());
                up.enter(Phase::Stopping, self.now);
                self.write(id, ledger, &up).await?;
                crate::runtime::fault::point("before-stop");
                rest.stop_with_savepoint(&job, dir.as_deref(), &trigger)
                    .await?;
                crate::runtime::fault::point("after-stop-request");
                self.record(id, ledger, up, "stop-with-savepoint requested")
                    .await
            }
            Start::CancelForCheckpoint { .. } => {
                t::checkpoint_to_carry(&rest.checkpoints(&job).await?)
                    .map_err(StepError::Attempt)?;
                up.job_id = Some(job.clone());
                up.enter(Phase::Stopping, self.now);
                self.write(id, ledger, &up).await?;
                rest.cancel(&job).await?;
                crate::runtime::fault::point("after-cancel-request");
                self.record(
                    id,
                    ledger,
                    up,
                    "cancel requested (restoring its latest checkpoint)",
                )
                .await
            }
            _ => {
                up.job_id = Some(job.clone());
                up.enter(Phase::Stopping, self.now);
                self.write(id, ledger, &up).await?;
                rest.cancel(&job).await?;
                self.record(id, ledger, up, "cancel requested").await
            }
        }
    }

    async fn stopping(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        let (target, old, carry) = t::specs_and_carry(ledger, &up);
        let Some(job_id) = up.job_id.clone() else {
            return Err(StepError::Attempt("stopping without a recorded job".into()));
        };
        let rest = self.rest(&target).await?;
        // Final statistics only: a cached answer could name an older savepoint, or a
        // checkpoint that a newer one replaced (and deleted) just before the job stopped.
        let final_statistics = || async {
            self.edges
                .pause(upgrade::checkpoint_stats_staleness(
                    old.as_ref().unwrap_or(&target),
                ))
                .await;
            rest.checkpoints(&job_id).await
        };
        if carry != upgrade::Carry::Savepoint {
            let state = rest.job(&job_id).await?.state;
            let mut decision = t::cancel_progress(ledger, &up, &state, None);
            if decision == Cancelling::AskFinalStatistics {
                let cps = final_statistics().await?;
                decision = t::cancel_progress(ledger, &up, &state, Some(&cps));
            }
            return match decision {
                Cancelling::CancelAgain => {
                    // Crash between recording and cancelling: cancel now (idempotent).
                    rest.cancel(&job_id).await?;
                    Ok(Step::InFlight("cancel requested".into()))
                }
                Cancelling::Wait(why) => Ok(Step::InFlight(why)),
                Cancelling::Refuse(why) => Err(StepError::Attempt(why)),
                Cancelling::AskFinalStatistics => unreachable!("asked above"),
                Cancelling::Stopped { restore_from } => {
                    up.restore_from = restore_from;
                    up.enter(Phase::Stopped, self.now);
                    self.record(id, ledger, up, "old job stopped").await
                }
            };
        }
        // The trigger id is ours and recorded before the request, so a request that
        // flinkops died around is found, or safely repeated (Flink deduplicates it).
        let trigger = up
            .trigger
            .clone()
            .unwrap_or_else(|| trigger_id(&job_id, self.now));
        let status = match rest.savepoint_status(&job_id, &trigger).await {
            Ok(op) => Some(op),
            // Flink does not know the request: it never arrived (or the JobManager
            // restarted). The job's own state says what to do.
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let mut job = None;
        let mut statistics = None;
        loop {
            match t::savepoint_progress(status.as_ref(), job.as_ref(), statistics.as_ref()) {
                Stopping::AskJob => job = Some(rest.job(&job_id).await?.state),
                Stopping::AskFinalStatistics => statistics = Some(final_statistics().await?),
                Stopping::InProgress => return Ok(Step::InFlight("savepoint in progress".into())),
                Stopping::Savepointed(location) => {
                    let (l, up) = t::savepointed(ledger, &up, &location, self.now);
                    return self
                        .record(id, &l, up, &format!("savepoint complete: {location}"))
                        .await;
                }
                Stopping::RequestAgain => {
                    let dir = savepoint_dir(&target, old.as_ref());
                    up.trigger = Some(trigger.clone());
                    self.write(id, ledger, &up).await?;
                    rest.stop_with_savepoint(&job_id, dir.as_deref(), &trigger)
                        .await?;
                    return self
                        .record(id, ledger, up, "stop-with-savepoint requested again")
                        .await;
                }
                Stopping::Refuse(why) => return Err(StepError::Attempt(why)),
                Stopping::Wait(why) => return Err(StepError::Transient(why)),
            }
        }
    }

    /// The old job is stopped and its state known: remove its pods (so its JobManager can
    /// never run it again from stale state), then apply the target restoring from it.
    async fn stopped(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        crate::runtime::fault::point("after-savepoint");
        if up.target_spec.kind == JobKind::SessionJob {
            return self.submit(id, ledger, up).await;
        }
        let mut scaled = false;
        for component in ["jobmanager", "taskmanager"] {
            scaled |= self
                .edges
                .scale_to_zero(id, &format!("{}-{component}", id.name))
                .await?;
        }
        let pods = self.pod_count(id).await?;
        if scaled {
            tracing::info!(phase = ?up.phase, "old JobManager and TaskManagers scaled to zero");
        }
        if scaled || pods > 0 {
            return Ok(Step::InFlight(format!("waiting for {pods} old pods to go")));
        }
        up.enter(Phase::Deploying, self.now);
        self.write(id, ledger, &up).await?;
        crate::runtime::fault::point("before-apply");
        self.apply_target(&up).await?;
        let what = match &up.restore_from {
            Some(p) => format!(
                "old pods gone; {} applied, restoring from {p}",
                short(&up.target_commit)
            ),
            None => format!(
                "old pods gone; {} applied, starting without state",
                short(&up.target_commit)
            ),
        };
        tracing::info!(phase = ?up.phase, "{what}");
        Ok(Step::InFlight(what))
    }

    async fn deploying(&self, id: &JobId, ledger: &Ledger, up: Upgrade) -> Result<Step, StepError> {
        let target = up.target();
        if target.kind == JobKind::SessionJob {
            let rest = self.rest(&target).await?;
            let job_id = up.new_job_id.clone().ok_or_else(|| {
                StepError::Attempt("deploying a session job without a recorded Flink job".into())
            })?;
            return match rest.job(&job_id).await {
                Ok(job) => {
                    self.running(id, ledger, &up, &rest, &job.id, &job.state)
                        .await
                }
                // Submitted, then lost (the session cluster restarted without HA): submit
                // again from the same state.
                Err(e) if e.is_not_found() => {
                    let mut again = up.clone();
                    again.new_job_id = None;
                    again.enter(Phase::Stopped, self.now);
                    self.record(
                        id,
                        ledger,
                        again,
                        "the session cluster no longer knows the submitted job; submitting again",
                    )
                    .await
                }
                Err(e) => Err(e.into()),
            };
        }
        // The target's objects may not all be applied (flinkops died while applying).
        let want = jobmanager_template(id, &render_target(&up));
        let live = self
            .edges
            .jobmanager(id)
            .await
            .map_err(StepError::Transient)?;
        if !t::target_applied(&want, live.as_ref()) {
            self.apply_target(&up).await?;
            return Ok(Step::InFlight("applied the target's objects".into()));
        }
        if !upgrade::target_runs(&target) {
            let pods = self.pod_count(id).await?;
            if pods > 0 {
                return Ok(Step::InFlight(format!("waiting for {pods} pods to go")));
            }
            return self.done(id, ledger, &up).await;
        }
        let rest = self
            .rest(&target)
            .await
            .map_err(|e| StepError::Transient(format!("waiting for the new JobManager: {e}")))?;
        let jobs = rest.jobs().await?;
        let Some(job) = t::new_job(&jobs) else {
            return Err(StepError::Transient(
                "the new JobManager runs no job yet".into(),
            ));
        };
        self.running(id, ledger, &up, &rest, &job.id, &job.state)
            .await
    }

    /// Done once the new Flink job runs and works; a job that failed is the new
    /// version's failure.
    async fn running(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
        rest: &E::Flink,
        job_id: &str,
        state: &JobState,
    ) -> Result<Step, StepError> {
        let target = up.target();
        let (mut fully_running, mut completed) = (None, None);
        loop {
            match t::new_job_progress(&target, state, fully_running, completed) {
                NewJob::AskDetails => fully_running = Some(rest.job(job_id).await?.fully_running()),
                NewJob::AskCheckpoints => {
                    completed = Some(rest.checkpoints(job_id).await?.completed)
                }
                NewJob::Wait(why) => return Err(StepError::Transient(why)),
                NewJob::FailedAtStart => {
                    let cause = rest.root_exception(job_id).await;
                    return Err(StepError::NewVersion(format!(
                        "job {job_id} FAILED at start{}",
                        cause.map(|c| format!(": {c}")).unwrap_or_default()
                    )));
                }
                NewJob::Done => return self.done(id, ledger, up).await,
            }
        }
    }

    /// Session jobs, once the old job is stopped and its state known: the target is
    /// submitted to the session cluster restoring from it, under a Flink job id recorded
    /// first (a submission flinkops died around is found by that id, never repeated).
    async fn submit(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        let target = up.target();
        let cluster = session_job::cluster_of(&target)
            .ok_or_else(|| StepError::Attempt("a session job without deploymentName".into()))?;
        if let Some(hash) = &up.cluster_hash {
            // The cluster restarts in this change: submit to its new pods, not the old.
            let ready = self.edges.read_ledger(&cluster).await?.is_some_and(|l| {
                &l.spec_hash == hash && l.upgrade.is_none() && l.health == Health::Healthy
            });
            if !ready {
                return Ok(Step::Waiting(format!(
                    "waiting for session cluster {} to run its new version",
                    cluster.name
                )));
            }
        }
        let rest = self.rest(&target).await?;
        // Anything else of this job still running there (a new version that did not come
        // up, being rolled back) goes first: never two of its jobs at once.
        for j in rest.jobs().await? {
            if session_job::is_job_of(id, &j.id)
                && !j.state.is_terminal()
                && up.new_job_id.as_deref() != Some(j.id.as_str())
            {
                rest.cancel(&j.id).await?;
                return Ok(Step::InFlight(format!("cancelling Flink job {}", j.id)));
            }
        }
        if !upgrade::target_runs(&target) {
            return self.done(id, ledger, &up).await;
        }
        let job_id = match up.new_job_id.clone() {
            Some(j) => j,
            None => {
                let j = session_job::new_job_id(id, &trigger_id(&up.target_commit, self.now));
                up.new_job_id = Some(j.clone());
                self.write(id, ledger, &up).await?;
                j
            }
        };
        match rest.job(&job_id).await {
            Ok(_) => tracing::info!(job_id, "already submitted"),
            Err(e) if e.is_not_found() => {
                crate::runtime::fault::point("before-submit");
                self.run_jar(&rest, &target, up.restore_from.as_deref(), &job_id)
                    .await?;
                crate::runtime::fault::point("after-submit");
            }
            Err(e) => return Err(e.into()),
        }
        up.enter(Phase::Deploying, self.now);
        let what = match &up.restore_from {
            Some(p) => format!("submitted as Flink job {job_id}, restoring from {p}"),
            None => format!("submitted as Flink job {job_id}, starting without state"),
        };
        self.record(id, ledger, up, &what).await
    }

    /// Uploads the session job's jar, runs it, and removes the upload. A jar that cannot
    /// be read or a run Flink refuses is the new version's failure.
    async fn run_jar(
        &self,
        rest: &E::Flink,
        target: &JobSpec,
        restore_from: Option<&str>,
        job_id: &str,
    ) -> Result<(), StepError> {
        let job = target.job.as_ref();
        let uri = job.map(|j| j.jar_uri.as_str()).unwrap_or("");
        let jar = match session_job::jar_source(uri) {
            // In the cluster's image: nothing to fetch.
            Ok(JarSource::Image(path)) => Jar {
                name: image_jar::upload_name(&path),
                bytes: image_jar::launcher(&path, job.and_then(|j| j.entry_class.as_deref())),
            },
            _ => self.edges.fetch_jar(uri).await.map_err(|e| {
                let why = format!("session job {}: {e}", target.id);
                match e {
                    JarError::Refused(_) => StepError::NewVersion(why),
                    JarError::Unavailable(_) => StepError::Transient(why),
                }
            })?,
        };
        let jar = rest.upload_jar(jar).await?;
        let run = session_job::run_request(target, restore_from, job_id);
        let result = rest.run_jar(&jar, &run).await;
        if let Err(e) = rest.delete_jar(&jar).await {
            tracing::warn!(error = %e, "could not remove the uploaded jar");
        }
        match result {
            Ok(()) => Ok(()),
            // Flink answered: it refuses this jar or these arguments.
            Err(e @ FlinkError::Http { .. }) => Err(StepError::NewVersion(format!(
                "job {job_id} could not be submitted: {e}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn done(&self, id: &JobId, ledger: &Ledger, up: &Upgrade) -> Result<Step, StepError> {
        crate::runtime::fault::point("before-done");
        let l = upgrade::complete(ledger, up, self.now);
        self.put(id, &l).await?;
        let what = l
            .history
            .last()
            .map(|h| h.result.clone())
            .unwrap_or_default();
        Ok(Step::Done(what))
    }

    async fn apply_target(&self, up: &Upgrade) -> Result<(), StepError> {
        let mut objects = render_target(up).objects;
        objects.sort_by_key(|o| crate::model::kinds::ManagedKind::apply_rank(o.kind));
        let started = std::time::Instant::now();
        let mut result = Ok(());
        for o in &objects {
            result = self.edges.apply(o).await;
            if result.is_err() {
                break;
            }
            self.applied
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Ok(mut t) = self.apply_time.lock() {
            *t = Some(t.unwrap_or_default() + started.elapsed());
        }
        result.map_err(StepError::from)
    }

    /// Writes the ledger conditionally on the version this executor last read or wrote.
    async fn put(&self, id: &JobId, ledger: &Ledger) -> Result<(), OpError> {
        let mut l = ledger.clone();
        if let Ok(v) = self.version.lock() {
            l.resource_version = v.clone();
        }
        let written = self.edges.write_ledger(id, &l).await?;
        if let Ok(mut v) = self.version.lock() {
            *v = Some(written);
        }
        self.phase_written(&l);
        if let Ok(mut w) = self.written.lock() {
            *w = Some(l);
        }
        Ok(())
    }

    /// Notes the phase a written ledger left, when it moved the upgrade on from the one
    /// last read or written (to another phase, the same phase begun again, or no upgrade).
    fn phase_written(&self, l: &Ledger) {
        let now = phase_of(l);
        let Ok(mut p) = self.phase.lock() else {
            return;
        };
        // A record written before phases were stamped cannot say how long it lasted.
        if let Some((phase, since)) = p.filter(|&before| Some(before) != now && before.1.is_known())
        {
            if let Ok(mut ended) = self.phases_ended.lock() {
                ended.push((phase, self.now.seconds_since(since)));
            }
        }
        *p = now;
    }

    async fn write(&self, id: &JobId, ledger: &Ledger, up: &Upgrade) -> Result<(), StepError> {
        self.put(id, &with_upgrade(ledger, up)).await?;
        Ok(())
    }

    async fn record(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: Upgrade,
        what: &str,
    ) -> Result<Step, StepError> {
        let mut l = with_upgrade(ledger, &up);
        l.health_reason = Some(format!("{}: {what}", up.action));
        self.put(id, &l).await?;
        tracing::info!(phase = ?up.phase, "{what}");
        Ok(Step::InFlight(what.to_string()))
    }

    async fn pod_count(&self, id: &JobId) -> Result<usize, StepError> {
        self.edges.pod_count(id).await.map_err(StepError::Transient)
    }

    /// The REST API the job runs behind: its own JobManager, or its session cluster's.
    async fn rest(&self, spec: &JobSpec) -> Result<E::Flink, StepError> {
        self.edges
            .flink(&session_job::rest_home(spec))
            .await
            .map_err(StepError::Transient)
    }
}

fn phase_of(l: &Ledger) -> Option<(Phase, Timestamp)> {
    l.upgrade.as_ref().map(|u| (u.phase, u.phase_since))
}

fn render_target(up: &Upgrade) -> render::Rendered {
    render::render(
        &up.target(),
        &render::Context {
            commit: &up.target_commit,
            restore_from: up.restore_from.as_deref(),
        },
    )
}

/// The rendered JobManager Deployment's template, as `Edges::jobmanager` reads the live one.
fn jobmanager_template(id: &JobId, rendered: &render::Rendered) -> Template {
    let name = format!("{}-jobmanager", id.name);
    let body = rendered
        .objects
        .iter()
        .find(|o| o.kind == DEPLOYMENT.kind && o.name == name)
        .map(|o| &o.body);
    Template {
        config_hash: body
            .and_then(|b| b.pointer("/spec/template/metadata/annotations"))
            .and_then(|a| a.get(ANN_CONFIG_HASH))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        replicas: body
            .and_then(|b| b.pointer("/spec/replicas"))
            .and_then(serde_json::Value::as_i64)
            .and_then(|r| i32::try_from(r).ok()),
    }
}

fn with_upgrade(ledger: &Ledger, up: &Upgrade) -> Ledger {
    let mut l = ledger.clone();
    l.upgrade = Some(up.clone());
    l
}

/// Where the savepoint goes: the target's directory (so a commit can fix an unwritable
/// one), else the running spec's.
pub fn savepoint_dir(target: &JobSpec, old: Option<&JobSpec>) -> Option<String> {
    [Some(target), old].into_iter().flatten().find_map(|s| {
        render::config::savepoint_dir(&render::config::effective(s, None)).map(str::to_string)
    })
}

/// The savepoint directory a stop or a savepoint must name: `savepoint_dir`, which a
/// session job may leave to its session cluster's default (None); an application
/// without one is an error.
pub fn required_savepoint_dir(
    target: &JobSpec,
    old: Option<&JobSpec>,
) -> Result<Option<String>, &'static str> {
    match savepoint_dir(target, old) {
        None if target.kind != JobKind::SessionJob => {
            Err("no savepoint directory (execution.checkpointing.savepoint-dir)")
        }
        dir => Ok(dir),
    }
}

/// A savepoint trigger id of our own (Flink's format: 32 hex digits), unique per job and
/// attempt.
pub fn trigger_id(job_id: &str, now: Timestamp) -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let digest = Sha256::digest(format!("{job_id}/{}/{nanos}", now.unix()).as_bytes());
    render::hex(&digest[..16])
}

use crate::model::escape::short_commit as short;

#[cfg(test)]
mod tests;
