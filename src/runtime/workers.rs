//! Per-job workers. The loop decides for all jobs at once (prune safety, session-cluster
//! cascades and blocked files need the whole picture); each job's work then runs in its
//! own task, so a slow or hung job never delays another. Never two in flight for one job;
//! each step has a deadline; a job that failed waits out its own backoff, and an upgrade
//! in flight is looked at again after a short requeue. Aborting a worker (leadership
//! lost, SIGTERM) is safe: every step is crash-safe, as if the process had died there.

use super::execute::{run_job, Outcome};
use super::jar::JarFetcher;
use crate::engine::plan::Action;
use crate::model::spec::JobId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// The most one step of one job may take. Every call inside is bounded on its own (kube
/// 30 s, Flink REST, jar transfers by `--jar-download-timeout`); this is the net under
/// them, long enough for a large jar's download and upload.
pub const STEP_DEADLINE: Duration = Duration::from_secs(600);
/// An upgrade in flight is carried on this soon after its last step.
pub const REQUEUE_AFTER: Duration = Duration::from_secs(1);
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// What a job's next work waits for.
#[derive(Debug, Clone, PartialEq, Default)]
struct Hold {
    /// Not before this: a failure's backoff, or the requeue of an upgrade in flight.
    until: Option<Instant>,
    /// The next backoff after a failure (doubles per failure, reset on success).
    next_retry: Option<Duration>,
    /// The commit the last work was decided at: `until` holds work of that commit only
    /// (a new commit may fix what failed, and is tried at once).
    commit: Option<String>,
    /// The ledger version its last work left: until the watch cache shows it (or a short
    /// while passed), a decision would be made on the old ledger.
    expect: Option<(String, Instant)>,
    /// The commit and reasons of a blocked definition already reported: the same block
    /// waits for Git to change, not for time.
    blocked: Option<(String, Vec<String>)>,
}

/// How long a job's next work waits at most for the watch cache to show its last write.
const EXPECT_FOR: Duration = Duration::from_secs(5);

pub struct Workers {
    running: BTreeMap<JobId, AbortHandle>,
    holds: BTreeMap<JobId, Hold>,
    done_tx: mpsc::UnboundedSender<Outcome>,
    done_rx: mpsc::UnboundedReceiver<Outcome>,
    limit: Arc<Semaphore>,
    deadline: Duration,
}

impl Workers {
    pub fn new(concurrency: usize) -> Self {
        Self::with_deadline(concurrency, STEP_DEADLINE)
    }

    fn with_deadline(concurrency: usize, deadline: Duration) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Workers {
            running: BTreeMap::new(),
            holds: BTreeMap::new(),
            done_tx,
            done_rx,
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            deadline,
        }
    }

    /// Whether `work` may start now: no worker of its job in flight, no hold, and the
    /// watch cache (whose ledger version is `cached`) has seen the job's last write.
    pub fn may_start(
        &self,
        work: &crate::engine::reconcile::JobWork,
        cached: Option<&str>,
        now: Instant,
    ) -> bool {
        if self.running.contains_key(&work.id) {
            return false;
        }
        let Some(h) = self.holds.get(&work.id) else {
            return true;
        };
        let waiting =
            h.until.is_some_and(|u| u > now) && h.commit.as_deref() == Some(work.commit.as_str());
        let stale = self.is_busy(&work.id, cached, now);
        let reported = work.action == Action::Error
            && h.blocked
                .as_ref()
                .is_some_and(|(c, r)| *c == work.commit && *r == work.reasons);
        !(waiting || stale || reported)
    }

    pub fn is_running(&self, id: &JobId) -> bool {
        self.running.contains_key(id)
    }

    /// Whether the job is being worked on, or the watch cache (whose ledger version is
    /// `cached`) has not yet seen what its last work wrote: what the cache says about it
    /// (no upgrade in flight, say) may be out of date.
    pub fn is_busy(&self, id: &JobId, cached: Option<&str>, now: Instant) -> bool {
        self.is_running(id)
            || self.holds.get(id).is_some_and(|h| {
                h.expect
                    .as_ref()
                    .is_some_and(|(v, until)| cached != Some(v.as_str()) && *until > now)
            })
    }

    /// Runs `work` in its own task; `done` is called with its outcome when it finishes
    /// (metrics, waking the loop), before the loop collects it with `finished`.
    pub fn start(
        &mut self,
        client: &kube::Client,
        recorder: &kube::runtime::events::Recorder,
        jars: &JarFetcher,
        work: crate::engine::reconcile::JobWork,
        done: impl Fn(&Outcome) + Send + 'static,
    ) {
        let id = work.id.clone();
        self.started(&work);
        let (client, recorder, jars) = (client.clone(), recorder.clone(), jars.clone());
        let (done_tx, done_cb) = (self.done_tx.clone(), done);
        let (limit, deadline) = (self.limit.clone(), self.deadline);
        let task = tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let (id, action) = (work.id.clone(), work.action);
            let out = match tokio::time::timeout(deadline, run_job(&client, &recorder, &jars, work))
                .await
            {
                Ok(out) => out,
                Err(_) => timed_out(id, action, deadline),
            };
            done_cb(&out);
            let _ = done_tx.send(out);
        });
        self.running.insert(id, task.abort_handle());
    }

    /// Remembers what the job's work was decided at.
    fn started(&mut self, work: &crate::engine::reconcile::JobWork) {
        let hold = self.holds.entry(work.id.clone()).or_default();
        hold.commit = Some(work.commit.clone());
        if work.action == Action::Error {
            hold.blocked = Some((work.commit.clone(), work.reasons.clone()));
        }
    }

    /// The outcomes of workers that finished since the last call, with each job's next
    /// hold: a requeue for an upgrade in flight, a backoff after a failure.
    pub fn finished(&mut self, now: Instant) -> Vec<Outcome> {
        let mut out = Vec::new();
        while let Ok(o) = self.done_rx.try_recv() {
            self.running.remove(&o.id);
            self.hold_after(&o, now);
            out.push(o);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn hold_after(&mut self, o: &Outcome, now: Instant) {
        let h = self.holds.entry(o.id.clone()).or_default();
        h.expect = o.ledger_version.clone().map(|v| (v, now + EXPECT_FOR));
        // A blocked definition waits for Git (see `blocked`), not for time.
        if o.error.is_some() && o.action != Action::Error {
            // Refused by the cluster itself: the same request fails the same way until
            // someone changes something, so the longest wait at once.
            let next = if o.stalled {
                RETRY_MAX
            } else {
                h.next_retry.unwrap_or(RETRY_MIN)
            };
            h.until = Some(now + next);
            h.next_retry = Some((next * 2).min(RETRY_MAX));
        } else {
            h.until = o.in_progress.then_some(now + REQUEUE_AFTER);
            h.next_retry = None;
        }
    }

    /// When the loop must look again for held jobs (the earliest hold still ahead).
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.holds
            .values()
            .flat_map(|h| [h.until, h.expect.as_ref().map(|e| e.1)])
            .flatten()
            .filter(|u| *u > now)
            .min()
    }

    /// How long a job waits before its next retry, if it is backing off.
    pub fn retry_in(&self, id: &JobId, now: Instant) -> Option<Duration> {
        self.holds
            .get(id)
            .and_then(|h| h.until)
            .filter(|u| *u > now)
            .map(|u| u - now)
    }

    /// Forgets jobs that no longer have work (fixed by a commit, or gone).
    pub fn forget_except(&mut self, with_work: &std::collections::BTreeSet<&JobId>) {
        self.holds.retain(|id, _| with_work.contains(id));
    }

    /// Stops every worker (leadership lost, shutting down). Each stops at its next await,
    /// as if the process had died there; the next leader carries on from the ledgers.
    pub fn abort_all(&mut self) {
        for (_, task) in std::mem::take(&mut self.running) {
            task.abort();
        }
        self.holds.clear();
    }

    pub fn in_flight(&self) -> usize {
        self.running.len()
    }
}

fn timed_out(id: JobId, action: Action, deadline: Duration) -> Outcome {
    tracing::warn!(job = %id, deadline_s = deadline.as_secs(), "a step did not finish in time; it is retried with backoff");
    Outcome {
        id,
        action,
        applied: 0,
        deleted: 0,
        drift: Vec::new(),
        error: Some(format!(
            "the step did not finish within {} s (something it waits on does not answer)",
            deadline.as_secs()
        )),
        in_progress: false,
        note: None,
        upgrade: false,
        waiting: None,
        stalled: false,
        ledger_version: None,
        apply_seconds: None,
        phases_ended: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::reconcile::JobWork;

    fn id(name: &str) -> JobId {
        JobId {
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn work(name: &str, action: Action, reasons: &[&str]) -> JobWork {
        JobWork {
            id: id(name),
            commit: "c1".into(),
            action,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            state_loss: None,
            apply: Vec::new(),
            drift: Vec::new(),
            delete: Vec::new(),
            ledger: None,
            delete_ledger: false,
            delete_ha_metadata: false,
            previous_ledger: None,
            upgrade: None,
        }
    }

    fn outcome(name: &str, error: Option<&str>, in_progress: bool, action: Action) -> Outcome {
        Outcome {
            id: id(name),
            action,
            applied: 0,
            deleted: 0,
            drift: Vec::new(),
            error: error.map(str::to_string),
            in_progress,
            note: None,
            upgrade: in_progress,
            waiting: None,
            stalled: false,
            ledger_version: None,
            apply_seconds: None,
            phases_ended: Vec::new(),
        }
    }

    #[tokio::test]
    async fn each_job_has_its_own_backoff_and_requeue() {
        let mut w = Workers::new(2);
        let now = Instant::now();
        let (a, b) = (
            work("a", Action::Update, &[]),
            work("b", Action::SavepointUpgrade, &[]),
        );
        w.started(&a);
        w.started(&b);
        w.hold_after(
            &outcome("a", Some("apply failed"), false, Action::Update),
            now,
        );
        w.hold_after(&outcome("b", None, true, Action::SavepointUpgrade), now);
        // a backs off 1 s, then 2 s, 4 s …; b is looked at again after the requeue.
        assert_eq!(w.retry_in(&a.id, now), Some(RETRY_MIN));
        assert_eq!(w.retry_in(&b.id, now), Some(REQUEUE_AFTER));
        assert!(!w.may_start(&a, None, now));
        assert!(w.may_start(&a, None, now + RETRY_MIN));
        let failed = outcome("a", Some("apply failed"), false, Action::Update);
        w.hold_after(&failed, now);
        w.hold_after(&failed, now);
        assert_eq!(w.retry_in(&a.id, now), Some(RETRY_MIN * 4));
        assert_eq!(w.next_wake(now), Some(now + REQUEUE_AFTER));
        // Success clears the backoff.
        w.hold_after(&outcome("a", None, false, Action::Update), now);
        assert!(w.may_start(&a, None, now));
        w.hold_after(&failed, now);
        assert_eq!(w.retry_in(&a.id, now), Some(RETRY_MIN));
        // The backoff is capped.
        for _ in 0..20 {
            w.hold_after(&failed, now);
        }
        assert_eq!(w.retry_in(&a.id, now), Some(RETRY_MAX));
        // Refused by the cluster (403, 422, admission): the longest wait at once, for
        // the same commit; a new commit is tried at once.
        let mut refused = outcome("s", Some("HTTP 403"), false, Action::Update);
        refused.stalled = true;
        let mut again = work("s", Action::Update, &[]);
        w.started(&again);
        w.hold_after(&refused, now);
        assert_eq!(w.retry_in(&refused.id, now), Some(RETRY_MAX));
        assert!(!w.may_start(&again, None, now));
        again.commit = "c2".into();
        assert!(w.may_start(&again, None, now));
        // A job with no work any more is forgotten.
        w.forget_except(&std::collections::BTreeSet::from([&b.id]));
        assert!(w.may_start(&a, None, now));
        assert!(!w.may_start(&b, None, now));
    }

    #[tokio::test]
    async fn the_next_work_waits_for_the_cache_to_show_the_last_write() {
        let mut w = Workers::new(1);
        let now = Instant::now();
        let a = work("a", Action::Update, &[]);
        w.started(&a);
        let mut done = outcome("a", None, false, Action::Update);
        done.ledger_version = Some("42".into());
        w.hold_after(&done, now);
        assert!(
            !w.may_start(&a, Some("41"), now),
            "decided on the old ledger"
        );
        assert!(w.may_start(&a, Some("42"), now));
        assert!(w.may_start(&a, Some("41"), now + EXPECT_FOR), "not forever");
        assert_eq!(w.next_wake(now), Some(now + EXPECT_FOR));
    }

    #[tokio::test]
    async fn a_blocked_definition_is_reported_once_per_commit_and_reason() {
        let mut w = Workers::new(1);
        let now = Instant::now();
        let blocked = work("a", Action::Error, &["a.yaml:3:5: spec.job.upgradeMode: …"]);
        assert!(w.may_start(&blocked, None, now));
        w.started(&blocked);
        w.hold_after(
            &outcome("a", Some("a.yaml:3:5: …"), false, Action::Error),
            now,
        );
        assert_eq!(
            w.retry_in(&blocked.id, now),
            None,
            "no backoff: Git must change"
        );
        assert!(!w.may_start(&blocked, None, now + RETRY_MAX));
        let mut next = blocked.clone();
        next.commit = "c2".into();
        assert!(w.may_start(&next, None, now), "a new commit");
        let mut other = blocked.clone();
        other.reasons = vec!["another reason".into()];
        assert!(w.may_start(&other, None, now), "another reason");
        // Once it is fixed, the same job's other work runs at once.
        assert!(w.may_start(&work("a", Action::Update, &[]), None, now));
    }

    #[tokio::test]
    async fn a_step_past_its_deadline_fails_and_frees_the_job() {
        let mut w = Workers::with_deadline(1, Duration::from_millis(50));
        let (tx, mut rx) = mpsc::unbounded_channel();
        // A client that reaches nothing that answers: a listener that never accepts.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let recorder = super::super::execute::recorder(&client);
        let jars = JarFetcher::new(Default::default()).unwrap();
        // An upgrade step begins by reading the ledger: it never gets an answer.
        let mut hung = work("a", Action::SavepointUpgrade, &[]);
        hung.upgrade = Some(crate::engine::reconcile::UpgradeWork::Continue);
        w.start(&client, &recorder, &jars, hung.clone(), move |_| {
            let _ = tx.send(());
        });
        assert!(w.is_running(&hung.id));
        assert!(!w.may_start(&hung, None, Instant::now()), "one at a time");
        rx.recv().await.unwrap();
        let out = w.finished(Instant::now());
        assert_eq!(out.len(), 1);
        assert!(out[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not finish within"));
        assert!(!w.is_running(&hung.id));
        assert!(w.retry_in(&hung.id, Instant::now()).is_some(), "backs off");
    }
}
