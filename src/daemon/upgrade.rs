//! The upgrade executor: advances a job's upgrade (see `crate::upgrade`) by one step per
//! call, talking to Flink's REST API and the cluster. Each step that has a side effect is
//! preceded by writing the record that lets a restarted flinkops carry on from there, so
//! killing flinkops at any point never loses the savepoint, restores an older one, or
//! starts a second job.

use crate::cluster::kinds::DEPLOYMENT;
use crate::cluster::ledger::{Health, Ledger};
use crate::cluster::ops::{self, OpError};
use crate::daemon::jar::{JarError, JarFetcher};
use crate::flink::{FlinkError, FlinkRest, Operation};
use crate::plan::Action;
use crate::render::{self, ANN_CONFIG_HASH, LABEL_COMPONENT, LABEL_JOB};
use crate::session_job;
use crate::spec::{JobId, JobKind, JobSpec};
use crate::upgrade::{self, Carry, Phase, SavepointRecord, Upgrade};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::Client;

/// How long one call follows the short phases (stopping, old pods going) closely.
const SHORT_PHASES: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a stop (with savepoint, or cancel) may take before it counts as failed.
pub const STOP_DEADLINE_SECS: u64 = 900;

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

pub struct Executor<'a> {
    pub client: &'a Client,
    /// Reads and downloads session jobs' jars within the operator's limits.
    pub jars: &'a JarFetcher,
    pub reach: Reach,
    pub now: &'a str,
    pub unix_now: u64,
    /// The ledger's resourceVersion as this executor last read or wrote it: every step
    /// reads the ledger once and may write it several times, each write conditional on
    /// the one before, so a write by anyone else in between fails it (see `put`).
    pub version: std::sync::Mutex<Option<String>>,
    /// Objects applied by this executor (for Events and metrics).
    pub applied: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    /// Flink or the cluster could not be asked; nothing changed, try again.
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

impl Executor<'_> {
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
            let (step, phase, session) = self.advance_once(id, start.take()).await?;
            // A session job waits in Stopped for its cluster (which may take minutes):
            // that is polled once per cycle too.
            let short = matches!(phase, Some(Phase::Pending | Phase::Stopping))
                || (phase == Some(Phase::Stopped) && !session);
            if !matches!(step, Step::InFlight(_)) || !short || std::time::Instant::now() > until {
                return Ok(step);
            }
            if last == phase {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            last = phase;
        }
    }

    async fn advance_once(
        &self,
        id: &JobId,
        start: Option<Upgrade>,
    ) -> Result<(Step, Option<Phase>, bool), OpError> {
        let mut ledger = ops::read_ledger(self.client, id).await?.unwrap_or_default();
        if let Ok(mut v) = self.version.lock() {
            v.clone_from(&ledger.resource_version);
        }
        if let Some(up) = start {
            // A newer target replaces an upgrade that has not touched the job yet.
            if ledger
                .upgrade
                .as_ref()
                .is_some_and(|u| u.phase != Phase::Pending)
            {
                return Ok((
                    Step::InFlight("an upgrade is already in progress".into()),
                    None,
                    false,
                ));
            }
            ledger.upgrade = Some(up);
            ledger.health = Health::Progressing;
            ledger.health_reason = None;
            self.put(id, &ledger).await?;
        }
        let Some(up) = ledger.upgrade.clone() else {
            return Ok((Step::Done("no upgrade in progress".into()), None, false));
        };
        let phase = Some(up.phase);
        let session = up.target_spec.kind == JobKind::SessionJob;
        let step = self.finish_step(id, &ledger, &up).await?;
        Ok((step, phase, session))
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
        match result {
            Ok(step) => Ok(step),
            Err(StepError::Write(e)) => Err(e),
            Err(StepError::Transient(why)) => {
                // Nothing changed: say why and wait (a JobManager that is restarting, frozen
                // or partitioned away comes back), unless the phase has been stuck past its
                // deadline; then it is a failed attempt (bounded retries). A blip must not
                // use up the attempts and leave the commit undeployed until the next one.
                if matches!(up.phase, Phase::Pending | Phase::Stopping)
                    && self.unix_now.saturating_sub(up.phase_since) > STOP_DEADLINE_SECS
                {
                    return self.attempt_failed(id, ledger, up, &why).await;
                }
                if up.phase == Phase::Deploying {
                    return self.new_version_failed(id, ledger, up, &why).await;
                }
                let mut l = ledger.clone();
                l.health_reason = Some(format!("{} ({:?}): {why}", up.action, up.phase));
                if &l != ledger {
                    self.put(id, &l).await?;
                }
                Ok(Step::Waiting(why))
            }
            Err(StepError::Attempt(why)) => self.attempt_failed(id, ledger, up, &why).await,
            Err(StepError::NewVersion(why)) => self.new_version_failed(id, ledger, up, &why).await,
        }
    }

    async fn attempt_failed(
        &self,
        id: &JobId,
        ledger: &Ledger,
        up: &Upgrade,
        why: &str,
    ) -> Result<Step, OpError> {
        let l = upgrade::fail(ledger, up, why, self.now, self.unix_now);
        self.put(id, &l).await?;
        Ok(Step::Failed(
            l.last_error.unwrap_or_else(|| why.to_string()),
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
        let waited = self.unix_now.saturating_sub(up.phase_since);
        let fatal = why.starts_with("job ");
        if !fatal && waited <= upgrade::readiness_timeout(&up.target()) {
            let mut l = ledger.clone();
            l.health_reason = Some(format!("{} (Deploying): {why}", up.action));
            if &l != ledger {
                self.put(id, &l).await?;
            }
            return Ok(Step::InFlight(why.to_string()));
        }
        let why = if fatal {
            why.to_string()
        } else {
            format!("not RUNNING after {waited}s: {why}")
        };
        let l = match upgrade::roll_back(ledger, up, &why, self.now, self.unix_now) {
            Some(l) => l,
            None => {
                // Nothing stable to go back to (or the rollback itself failed): stop
                // trying and say so; the objects stay as they are for a person to see.
                let mut l = upgrade::fail(
                    ledger,
                    &Upgrade {
                        failures: upgrade::MAX_FAILURES,
                        ..up.clone()
                    },
                    &why,
                    self.now,
                    self.unix_now,
                );
                l.upgrade = None;
                l
            }
        };
        self.put(id, &l).await?;
        Ok(Step::Failed(l.last_error.unwrap_or(why)))
    }

    async fn pending(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        let (target, old, carry) = specs_and_carry(ledger, &up);
        let restore_now = match carry {
            Carry::LastRecorded => Some(upgrade::resume_point(ledger, &target)),
            Carry::Savepoint | Carry::LatestCheckpoint | Carry::Nothing | Carry::Initial => None,
        };
        if let Some(restore) = restore_now {
            // Nothing runs: go straight to redeploying from the recorded savepoint.
            up.restore_from = restore;
            up.enter(Phase::Stopped, self.unix_now);
            return self
                .record(
                    id,
                    ledger,
                    up,
                    "nothing running; resuming from the recorded savepoint",
                )
                .await;
        }
        let first = old.is_none();
        let rest = match self.rest(&target).await {
            Ok(r) => r,
            // No JobManager at all (scaled to zero by hand, never started): nothing to
            // stop, but a stateful job's state would be lost: refuse.
            Err(StepError::Transient(why)) if matches!(carry, Carry::Nothing | Carry::Initial) => {
                tracing::info!(%why, "no JobManager to stop; deploying");
                up.restore_from = initial(&target, carry, first);
                up.enter(Phase::Stopped, self.unix_now);
                return self
                    .record(id, ledger, up, "no running job; deploying")
                    .await;
            }
            Err(e) => return Err(e),
        };
        // A session cluster runs other jobs too: only this job's own count.
        let home = session_job::rest_home(&target);
        let running = rest
            .jobs()
            .await?
            .into_iter()
            .filter(|j| !j.state.is_terminal())
            .filter(|j| session_job::belongs(id, &home, &j.id))
            .collect::<Vec<_>>();
        let job = match running.as_slice() {
            [] if matches!(carry, Carry::Nothing | Carry::Initial) => {
                up.restore_from = initial(&target, carry, first);
                up.enter(Phase::Stopped, self.unix_now);
                return self
                    .record(id, ledger, up, "no running job; deploying")
                    .await;
            }
            [] => {
                return Err(StepError::Attempt(
                    "no running Flink job to take the state from (the JobManager runs none)".into(),
                ))
            }
            [j] => j.clone(),
            many => {
                return Err(StepError::Attempt(format!(
                    "{} jobs run in the JobManager; expected one",
                    many.len()
                )))
            }
        };
        match carry {
            Carry::Savepoint => {
                if job.state != JobState::Running {
                    return Err(StepError::Attempt(format!(
                        "the job is {}, not RUNNING: a savepoint cannot be taken",
                        job.state
                    )));
                }
                let dir = required_savepoint_dir(&target, old.as_ref())
                    .map_err(|e| StepError::Attempt(e.into()))?;
                // Record the job before asking Flink to stop it: a crash after the request
                // finds the job FINISHED and its savepoint in its checkpoint statistics.
                // Record the job and our trigger id before asking Flink to stop it: a crash
                // after the request finds the operation under that id.
                let trigger = trigger_id(&job.id, self.unix_now);
                up.job_id = Some(job.id.clone());
                up.trigger = Some(trigger.clone());
                up.enter(Phase::Stopping, self.unix_now);
                self.write(id, ledger, &up).await?;
                crate::fault::point("before-stop");
                rest.stop_with_savepoint(&job.id, dir.as_deref(), Some(&trigger))
                    .await?;
                crate::fault::point("after-stop-request");
                self.record(id, ledger, up, "stop-with-savepoint requested")
                    .await
            }
            Carry::LatestCheckpoint => {
                let cps = rest.checkpoints(&job.id).await?;
                if cps.latest_completed.is_none() {
                    return Err(StepError::Attempt(
                        "last-state upgrade refused: the job has no completed checkpoint yet (enable checkpointing, wait for one, or use upgradeMode: savepoint)".into(),
                    ));
                }
                up.job_id = Some(job.id.clone());
                up.enter(Phase::Stopping, self.unix_now);
                self.write(id, ledger, &up).await?;
                rest.cancel(&job.id).await?;
                crate::fault::point("after-cancel-request");
                self.record(
                    id,
                    ledger,
                    up,
                    "cancel requested (restoring its latest checkpoint)",
                )
                .await
            }
            Carry::Nothing | Carry::Initial => {
                up.job_id = Some(job.id.clone());
                up.enter(Phase::Stopping, self.unix_now);
                self.write(id, ledger, &up).await?;
                rest.cancel(&job.id).await?;
                self.record(id, ledger, up, "cancel requested").await
            }
            Carry::LastRecorded => unreachable!("handled above"),
        }
    }

    async fn stopping(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        let (target, old, carry) = specs_and_carry(ledger, &up);
        let Some(job_id) = up.job_id.clone() else {
            return Err(StepError::Attempt("stopping without a recorded job".into()));
        };
        let rest = self.rest(&target).await?;
        if carry == Carry::Savepoint {
            // The trigger id is ours and recorded before the request, so a request that
            // flinkops died around is found, or safely repeated (Flink deduplicates it).
            let trigger = up
                .trigger
                .clone()
                .unwrap_or_else(|| trigger_id(&job_id, self.unix_now));
            match rest.savepoint_status(&job_id, &trigger).await {
                Ok(Operation::InProgress) => {
                    return Ok(Step::InFlight("savepoint in progress".into()))
                }
                Ok(Operation::Completed { location }) => {
                    return self.savepointed(id, ledger, up, location).await;
                }
                Ok(Operation::Failed { cause }) => {
                    // Flink keeps the job running when its stop-with-savepoint fails.
                    return Err(StepError::Attempt(format!(
                        "stop-with-savepoint failed: {cause}"
                    )));
                }
                // Flink does not know the request: it never arrived (or the JobManager
                // restarted). The job's own state says what to do.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            let details = rest.job(&job_id).await?;
            return match details.state {
                JobState::Running => {
                    let dir = savepoint_dir(&target, old.as_ref());
                    up.trigger = Some(trigger.clone());
                    self.write(id, ledger, &up).await?;
                    rest.stop_with_savepoint(&job_id, dir.as_deref(), Some(&trigger))
                        .await?;
                    self.record(id, ledger, up, "stop-with-savepoint requested again")
                        .await
                }
                JobState::Finished => {
                    // Final statistics only: a cached answer could name an older savepoint.
                    tokio::time::sleep(stats_staleness(old.as_ref(), &target)).await;
                    let cps = rest.checkpoints(&job_id).await?;
                    match cps.latest_savepoint {
                        Some(location) => self.savepointed(id, ledger, up, location).await,
                        None => Err(StepError::Transient(
                            "the job finished but Flink reports no savepoint yet".into(),
                        )),
                    }
                }
                other => Err(StepError::Transient(format!(
                    "the job is {other} while stopping with a savepoint"
                ))),
            };
        }
        let details = rest.job(&job_id).await?;
        match details.state {
            JobState::Canceled | JobState::Finished | JobState::Failed => {}
            JobState::Running => {
                // Crash between recording and cancelling: cancel now (idempotent).
                rest.cancel(&job_id).await?;
                return Ok(Step::InFlight("cancel requested".into()));
            }
            other => {
                return Ok(Step::InFlight(format!(
                    "waiting for the job to stop ({other})"
                )))
            }
        }
        up.restore_from = match carry {
            Carry::LatestCheckpoint => {
                // Final statistics only: a cached answer could name a checkpoint that a
                // newer one replaced (and deleted) just before the job stopped.
                tokio::time::sleep(stats_staleness(old.as_ref(), &target)).await;
                let cps = rest.checkpoints(&job_id).await?;
                match cps.latest_completed {
                    Some(p) => Some(p),
                    None => {
                        return Err(StepError::Attempt(
                            "the cancelled job reports no completed checkpoint".into(),
                        ))
                    }
                }
            }
            _ => initial(&target, carry, old.is_none()),
        };
        up.enter(Phase::Stopped, self.unix_now);
        self.record(id, ledger, up, "old job stopped").await
    }

    async fn savepointed(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
        location: String,
    ) -> Result<Step, StepError> {
        let mut l = ledger.clone();
        l.record_savepoint(SavepointRecord {
            path: location.clone(),
            commit: ledger.applied_commit.clone(),
            reason: if up.action == Action::Delete {
                "removal"
            } else if upgrade::target_runs(&up.target()) {
                "upgrade"
            } else {
                "suspend"
            }
            .into(),
            at: self.now.to_string(),
            unix: self.unix_now,
        });
        up.restore_from = Some(location.clone());
        up.enter(Phase::Stopped, self.unix_now);
        self.record(id, &l, up, &format!("savepoint complete: {location}"))
            .await
    }

    /// The old job is stopped and its state known: remove its pods (so its JobManager can
    /// never run it again from stale state), then apply the target restoring from it.
    async fn stopped(
        &self,
        id: &JobId,
        ledger: &Ledger,
        mut up: Upgrade,
    ) -> Result<Step, StepError> {
        crate::fault::point("after-savepoint");
        if up.target_spec.kind == JobKind::SessionJob {
            return self.submit(id, ledger, up).await;
        }
        let mut scaled = false;
        for component in ["jobmanager", "taskmanager"] {
            scaled |= ops::scale_to_zero(
                self.client,
                &id.namespace,
                &format!("{}-{component}", id.name),
            )
            .await?;
        }
        let pods = self.pods(id, None).await?;
        if scaled {
            tracing::info!(phase = ?up.phase, "old JobManager and TaskManagers scaled to zero");
        }
        if scaled || !pods.is_empty() {
            return Ok(Step::InFlight(format!(
                "waiting for {} old pods to go",
                pods.len()
            )));
        }
        up.enter(Phase::Deploying, self.unix_now);
        self.write(id, ledger, &up).await?;
        crate::fault::point("before-apply");
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
                    again.enter(Phase::Stopped, self.unix_now);
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
        let rendered = render_target(&up);
        let jm_name = format!("{}-jobmanager", id.name);
        let want_hash = rendered
            .objects
            .iter()
            .find(|o| o.kind == DEPLOYMENT.kind && o.name == jm_name)
            .and_then(|o| {
                o.body
                    .pointer("/spec/template/metadata/annotations")
                    .and_then(|a| a.get(ANN_CONFIG_HASH))
                    .cloned()
            });
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &id.namespace);
        let live = deployments
            .get_opt(&jm_name)
            .await
            .map_err(|e| StepError::Transient(format!("reading Deployment {jm_name}: {e}")))?;
        let live_hash = live.as_ref().and_then(|d| {
            d.spec
                .as_ref()?
                .template
                .metadata
                .as_ref()?
                .annotations
                .as_ref()?
                .get(ANN_CONFIG_HASH)
                .cloned()
        });
        let live_replicas = live.as_ref().and_then(|d| d.spec.as_ref()?.replicas);
        let want_replicas = rendered
            .objects
            .iter()
            .find(|o| o.kind == DEPLOYMENT.kind && o.name == jm_name)
            .and_then(|o| {
                o.body
                    .pointer("/spec/replicas")
                    .and_then(serde_json::Value::as_i64)
            });
        if want_hash.as_ref().and_then(|v| v.as_str()) != live_hash.as_deref()
            || want_replicas.map(|r| r as i32) != live_replicas
        {
            self.apply_target(&up).await?;
            return Ok(Step::InFlight("applied the target's objects".into()));
        }
        if !upgrade::target_runs(&target) {
            let pods = self.pods(id, None).await?;
            if !pods.is_empty() {
                return Ok(Step::InFlight(format!(
                    "waiting for {} pods to go",
                    pods.len()
                )));
            }
            return self.done(id, ledger, &up).await;
        }
        let rest = self
            .rest(&target)
            .await
            .map_err(|e| StepError::Transient(format!("waiting for the new JobManager: {e}")))?;
        let jobs = rest.jobs().await?;
        let Some(job) = jobs
            .iter()
            .find(|j| !j.state.is_terminal())
            .or_else(|| jobs.first())
        else {
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
        rest: &FlinkRest,
        job_id: &str,
        state: &JobState,
    ) -> Result<Step, StepError> {
        let target = up.target();
        match state {
            JobState::Failed => {
                return Err(StepError::NewVersion(format!(
                    "job {job_id} FAILED at start{}",
                    root_cause(rest, job_id)
                        .await
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                )))
            }
            JobState::Running => {}
            other => return Err(StepError::Transient(format!("the new job is {other}"))),
        }
        let details = rest.job(job_id).await?;
        if !details.fully_running() {
            return Err(StepError::Transient(
                "the new job's tasks are not all RUNNING yet".into(),
            ));
        }
        // RUNNING is not yet working: a job that fails on its first record is RUNNING for
        // a moment. With checkpointing on, the first completed checkpoint proves it; only
        // an interval the definition sets counts (the default a last-state job gets, five
        // minutes, could outlast the readiness timeout).
        if target
            .flink_configuration
            .contains_key(render::config::CHECKPOINT_INTERVAL)
            && rest.checkpoints(job_id).await?.completed == 0
        {
            return Err(StepError::Transient(
                "waiting for the new job's first checkpoint".into(),
            ));
        }
        self.done(id, ledger, up).await
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
            let ready = ops::read_ledger(self.client, &cluster)
                .await?
                .is_some_and(|l| {
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
                let j = session_job::new_job_id(id, &trigger_id(&up.target_commit, self.unix_now));
                up.new_job_id = Some(j.clone());
                self.write(id, ledger, &up).await?;
                j
            }
        };
        match rest.job(&job_id).await {
            Ok(_) => tracing::info!(job_id, "already submitted"),
            Err(e) if e.is_not_found() => {
                crate::fault::point("before-submit");
                self.run_jar(&rest, &target, up.restore_from.as_deref(), &job_id)
                    .await?;
                crate::fault::point("after-submit");
            }
            Err(e) => return Err(e.into()),
        }
        up.enter(Phase::Deploying, self.unix_now);
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
        rest: &FlinkRest,
        target: &JobSpec,
        restore_from: Option<&str>,
        job_id: &str,
    ) -> Result<(), StepError> {
        let uri = target
            .job
            .as_ref()
            .map(|j| j.jar_uri.as_str())
            .unwrap_or("");
        let jar = self.jars.fetch(uri).await.map_err(|e| {
            let why = format!("session job {}: {e}", target.id);
            match e {
                JarError::Refused(_) => StepError::NewVersion(why),
                JarError::Unavailable(_) => StepError::Transient(why),
            }
        })?;
        let jar = rest.upload_jar_bytes(&jar.name, jar.bytes).await?;
        let run = session_job::run_request(target, restore_from, job_id);
        let result = rest.run_jar(&jar, &run).await;
        if let Err(e) = rest.delete_jar(&jar).await {
            tracing::warn!(error = %e, "could not remove the uploaded jar");
        }
        match result {
            Ok(_) => Ok(()),
            // Flink answered: it refuses this jar or these arguments.
            Err(e @ FlinkError::Http { .. }) => Err(StepError::NewVersion(format!(
                "job {job_id} could not be submitted: {e}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn done(&self, id: &JobId, ledger: &Ledger, up: &Upgrade) -> Result<Step, StepError> {
        crate::fault::point("before-done");
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
        objects.sort_by_key(|o| {
            crate::cluster::kinds::ManagedKind::find(o.kind).map_or(u8::MAX, |k| k.apply_order)
        });
        for o in &objects {
            ops::apply(self.client, o, false).await?;
            self.applied
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes the ledger conditionally on the version this executor last read or wrote.
    async fn put(&self, id: &JobId, ledger: &Ledger) -> Result<(), OpError> {
        let mut l = ledger.clone();
        if let Ok(v) = self.version.lock() {
            l.resource_version = v.clone();
        }
        let written = ops::write_ledger(self.client, id, &l).await?;
        if let Ok(mut v) = self.version.lock() {
            *v = Some(written);
        }
        Ok(())
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

    /// The job's pods (both components, or one).
    async fn pods(&self, id: &JobId, component: Option<&str>) -> Result<Vec<Pod>, StepError> {
        job_pods(self.client, id, component)
            .await
            .map_err(StepError::Transient)
    }

    /// The REST API the job runs behind: its own JobManager, or its session cluster's.
    async fn rest(&self, spec: &JobSpec) -> Result<FlinkRest, StepError> {
        rest_for(self.client, self.reach, &session_job::rest_home(spec))
            .await
            .map_err(StepError::Transient)
    }
}

/// How long after a job stopped its JobManager's checkpoint statistics are final (the
/// running cluster's configuration, i.e. the applied spec's).
fn stats_staleness(applied: Option<&JobSpec>, target: &JobSpec) -> std::time::Duration {
    upgrade::checkpoint_stats_staleness(applied.unwrap_or(target))
}

/// The job's pods (both components, or one).
async fn job_pods(
    client: &Client,
    id: &JobId,
    component: Option<&str>,
) -> Result<Vec<Pod>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &id.namespace);
    let mut selector = format!("{LABEL_JOB}={}", id.name);
    if let Some(c) = component {
        selector.push_str(&format!(",{LABEL_COMPONENT}={c}"));
    }
    pods.list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .map_err(|e| format!("listing the job's pods: {e}"))
}

/// The job's JobManager REST API.
pub async fn rest_for(client: &Client, reach: Reach, id: &JobId) -> Result<FlinkRest, String> {
    let port = crate::render::config::REST_PORT;
    match reach {
        Reach::ServiceDns => Ok(FlinkRest::new(&format!(
            "http://{}-rest.{}.svc:{port}",
            id.name, id.namespace
        ))),
        Reach::PodIp => {
            let pods = job_pods(client, id, Some("jobmanager")).await?;
            let ip = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .find_map(|p| p.status.as_ref()?.pod_ip.clone())
                .ok_or("no running JobManager pod")?;
            Ok(FlinkRest::new(&format!("http://{ip}:{port}")))
        }
    }
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

fn with_upgrade(ledger: &Ledger, up: &Upgrade) -> Ledger {
    let mut l = ledger.clone();
    l.upgrade = Some(up.clone());
    l
}

/// The upgrade's target, the spec that runs, and what carries the state between them.
fn specs_and_carry(ledger: &Ledger, up: &Upgrade) -> (JobSpec, Option<JobSpec>, Carry) {
    let target = up.target();
    let old = ledger.applied_spec();
    let carry = old
        .as_ref()
        .map_or(Carry::Nothing, |o| upgrade::carry(up.action, o, &target));
    (target, old, carry)
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
pub fn trigger_id(job_id: &str, unix_now: u64) -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let digest = Sha256::digest(format!("{job_id}/{unix_now}/{nanos}").as_bytes());
    render::hex(&digest[..16])
}

/// Where a job that carries nothing starts: `initialSavepointPath` on a redeploy or a
/// first deployment, else empty.
fn initial(target: &JobSpec, carry: Carry, first: bool) -> Option<String> {
    match carry {
        Carry::Initial => target.job.as_ref()?.initial_savepoint_path.clone(),
        Carry::Nothing if first => target.job.as_ref()?.initial_savepoint_path.clone(),
        _ => None,
    }
}

use crate::escape::short_commit as short;
use crate::flink::JobState;

/// The first line of the root exception of a failed job, for the rollback reason.
async fn root_cause(rest: &FlinkRest, job: &str) -> Option<String> {
    rest.root_exception(job).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::catalog;

    #[test]
    fn only_a_session_job_may_leave_the_savepoint_directory_to_its_cluster() {
        let c = catalog(&[(
            "a.yaml",
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: app, namespace: ns}
spec:
  image: flink:2.3
  job: {jarURI: 'local:///a.jar', upgradeMode: savepoint}
---
apiVersion: flink.apache.org/v1beta1
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
",
        )]);
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
}
