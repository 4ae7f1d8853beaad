//! Commit statuses in the daemon: the leader tracks each commit it starts applying (what
//! it changes, measured against its first parent as `status --wait` does), judges those
//! jobs from the ledgers every cycle, and posts the commit's status to the Git host when
//! it changes: pending, then success when every job is live, or failure with the reason
//! (a blocked file at file:line, an upgrade that failed and was rolled back naming the
//! savepoint restored, or not live within the deadline).
//!
//! Posting never slows reconciliation: a bounded queue and a task of its own
//! (`outbound::post`). The token is held as a `Secret` and never logged.

use crate::daemon::webhook::Secret;
use crate::edge::git::{Repo, SourceError};
use crate::engine::commit_status::{self, State, Status, Target};
use crate::engine::wait::{self, Expect, Verdict};
use crate::model::ledger::Ledger;
use crate::model::spec::{self, Catalog, JobId};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Statuses waiting to be posted; more are dropped (and counted).
const QUEUE: usize = 256;
/// Commits judged at once: when more are pending, the oldest is given up on (`error`:
/// superseded).
const TRACKED: usize = 16;

/// Statuses not posted: dropped (queue full) or refused (every try).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
pub static FAILED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
pub struct Config {
    pub target: Target,
    pub token: Secret,
    /// How long a commit may stay pending before its status is a failure.
    pub deadline: Duration,
}

struct Tracked {
    commit: String,
    oid: git2::Oid,
    expect: BTreeMap<JobId, Expect>,
    errors: Vec<String>,
    since: Instant,
    sent: Option<Status>,
}

pub struct Reporter {
    tx: mpsc::Sender<(String, Status)>,
    deadline: Duration,
    /// The last commit seen being applied.
    seen: Option<String>,
    tracked: Vec<Tracked>,
}

impl Reporter {
    /// Starts the task that posts statuses.
    pub fn start(cfg: Config) -> Result<Reporter, String> {
        let http =
            crate::runtime::outbound::client().map_err(|e| format!("commit statuses: {e}"))?;
        let (tx, mut rx) = mpsc::channel::<(String, Status)>(QUEUE);
        let (target, token) = (cfg.target, cfg.token);
        tokio::spawn(async move {
            while let Some((commit, status)) = rx.recv().await {
                let req = commit_status::request(&target, &commit, &status);
                let mut headers = req.headers.clone();
                headers.push(target.host.auth_header(token.expose()));
                let body = serde_json::to_vec(&req.body).expect("a JSON value serializes");
                match crate::runtime::outbound::post(&http, &req.url, &headers, &body).await {
                    Ok(()) => {
                        tracing::info!(commit = %crate::model::escape::short_commit(&commit), state = ?status.state, description = %status.description, "commit status posted")
                    }
                    // GitLab refuses a status the commit already has (a restarted
                    // daemon posts the current one again): nothing is lost.
                    Err(e)
                        if e.starts_with("HTTP 400") && e.contains("Cannot transition status") =>
                    {
                        tracing::debug!(commit = %crate::model::escape::short_commit(&commit), state = ?status.state, "commit status already set")
                    }
                    Err(e) => {
                        FAILED.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(commit = %crate::model::escape::short_commit(&commit), state = ?status.state, error = %e, "commit status not posted")
                    }
                }
            }
        });
        Ok(Reporter {
            tx,
            deadline: cfg.deadline,
            seen: None,
            tracked: Vec::new(),
        })
    }

    /// The leader's look at the commit it applies (`commit`, definitions under `path`, its
    /// repository opened by `open` only when there is something to judge) and at the
    /// ledgers now: tracks a new commit, posts what changed.
    pub fn observe(
        &mut self,
        open: impl FnOnce() -> Result<Repo, SourceError>,
        path: &str,
        commit: &str,
        catalog: &Catalog,
        ledgers: &BTreeMap<JobId, Ledger>,
    ) {
        let new = self.seen.as_deref() != Some(commit);
        if !new && self.tracked.is_empty() {
            return;
        }
        let repo = match open() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "commit statuses: opening the repository failed");
                return;
            }
        };
        if new {
            self.seen = Some(commit.to_string());
            self.track(&repo, path, commit, catalog);
        }
        let now = Instant::now();
        let (tx, deadline) = (&self.tx, self.deadline);
        self.tracked.retain_mut(|t| {
            // Each ledger's commit checked against this one once per look.
            let includes: RefCell<HashMap<String, Option<bool>>> = RefCell::default();
            let verdicts: BTreeMap<JobId, Verdict> = t
                .expect
                .iter()
                .map(|(id, e)| {
                    let v = wait::judge(
                        e,
                        ledgers.get(id),
                        |c| {
                            *includes
                                .borrow_mut()
                                .entry(c.to_string())
                                .or_insert_with(|| repo.includes(c, t.oid))
                        },
                        // The daemon applies this commit or a later one.
                        Some(true),
                    );
                    (id.clone(), v)
                })
                .collect();
            let overdue = (now.duration_since(t.since) >= deadline).then_some(deadline);
            let status = commit_status::summarize(&t.expect, &t.errors, &verdicts, overdue);
            if t.sent.as_ref() != Some(&status) {
                send(tx, &t.commit, status.clone());
            }
            let keep = !status.state.is_final();
            t.sent = Some(status);
            keep
        });
    }

    /// Leadership lost: the next leader reports; this replica, if it leads again, starts
    /// from the commit it finds then (a commit judged here and finished under another
    /// leader must not turn into a failure at its deadline).
    pub fn forget(&mut self) {
        self.seen = None;
        self.tracked.clear();
    }

    fn track(&mut self, repo: &Repo, path: &str, commit: &str, catalog: &Catalog) {
        let Ok(oid) = commit.parse::<git2::Oid>() else {
            return;
        };
        // What the commit changes, as `status --wait` measures it.
        let parent = match repo.parent_snapshot(oid, path) {
            Ok(s) => spec::load(&s),
            Err(e) => {
                tracing::warn!(commit = %crate::model::escape::short_commit(commit), error = %e, "reading the commit's parent failed: no status for this commit");
                return;
            }
        };
        let (expect, errors) = wait::expectations(&parent, catalog);
        if self.tracked.len() >= TRACKED {
            let old = self.tracked.remove(0);
            send(
                &self.tx,
                &old.commit,
                Status::new(
                    State::Error,
                    &format!(
                        "superseded by {} before it went live",
                        crate::model::escape::short_commit(commit)
                    ),
                ),
            );
        }
        self.tracked.push(Tracked {
            commit: commit.to_string(),
            oid,
            expect,
            errors,
            since: Instant::now(),
            sent: None,
        });
    }
}

fn send(tx: &mpsc::Sender<(String, Status)>, commit: &str, status: Status) {
    if tx.try_send((commit.to_string(), status)).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(commit = %crate::model::escape::short_commit(commit), "commit status dropped: the queue is full");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::Health;

    /// A repository with the commits `files` make, one after the other; their ids.
    fn history(dir: &std::path::Path, commits: &[&[(&str, &str)]]) -> Vec<String> {
        let repo = git2::Repository::init(dir).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let mut ids = Vec::new();
        for files in commits {
            for (name, text) in *files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            let mut index = repo.index().unwrap();
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .unwrap();
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
            let parents: Vec<&git2::Commit> = parent.iter().collect();
            let id = repo
                .commit(Some("HEAD"), &sig, &sig, "c", &tree, &parents)
                .unwrap();
            ids.push(id.to_string());
        }
        ids
    }

    fn job(parallelism: u32) -> String {
        format!(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {{name: a, namespace: ns}}\nspec:\n  image: flink:2.0\n  job: {{jarURI: 'local:///opt/flink/usrlib/job.jar', parallelism: {parallelism}, upgradeMode: stateless}}\n"
        )
    }

    #[tokio::test]
    async fn a_commit_is_posted_when_its_status_changes_and_forgotten_when_final() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (job(1), job(2));
        let ids = history(
            dir.path(),
            &[
                &[("a.yaml", one.as_str())],
                &[("a.yaml", two.as_str())],
                &[("README", "x")],
            ],
        );
        let repo = Repo::open(dir.path()).unwrap();
        let load = |c: &str| spec::load(&repo.snapshot(c, "").unwrap());
        let (tx, mut rx) = mpsc::channel(16);
        let mut r = Reporter {
            tx,
            deadline: Duration::from_secs(3600),
            seen: None,
            tracked: Vec::new(),
        };
        let id = JobId {
            namespace: "ns".into(),
            name: "a".into(),
        };
        let at = |commit: &str, health| {
            BTreeMap::from([(
                id.clone(),
                Ledger {
                    applied_commit: commit.to_string(),
                    health,
                    ..Default::default()
                },
            )])
        };
        let c2 = ids[1].clone();
        let cat2 = load(&c2);
        // Seen while the job is still at the first commit: pending, once.
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c2,
            &cat2,
            &at(&ids[0], Health::Healthy),
        );
        let (commit, s) = rx.try_recv().unwrap();
        assert_eq!((commit.as_str(), s.state), (c2.as_str(), State::Pending));
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c2,
            &cat2,
            &at(&ids[0], Health::Healthy),
        );
        assert!(rx.try_recv().is_err(), "nothing new to say");
        // Live: success, and the commit is no longer judged.
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c2,
            &cat2,
            &at(&c2, Health::Healthy),
        );
        assert_eq!(rx.try_recv().unwrap().1.state, State::Success);
        assert!(r.tracked.is_empty());
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c2,
            &cat2,
            &at(&c2, Health::Degraded),
        );
        assert!(rx.try_recv().is_err(), "a final status is not revisited");
        // A commit that changes no job: success at once.
        let c3 = ids[2].clone();
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c3,
            &load(&c3),
            &at(&c2, Health::Healthy),
        );
        let (commit, s) = rx.try_recv().unwrap();
        assert_eq!(
            (commit.as_str(), s.description.as_str()),
            (c3.as_str(), "changes no job")
        );
        // Past the deadline: failure naming what it waits for.
        r.forget();
        r.deadline = Duration::ZERO;
        r.observe(
            || Repo::open(dir.path()),
            "",
            &c2,
            &cat2,
            &at(&ids[0], Health::Healthy),
        );
        let s = rx.try_recv().unwrap().1;
        assert_eq!(s.state, State::Failure);
        assert!(
            s.description.starts_with("not live after 0ms: ns/a: "),
            "{}",
            s.description
        );
    }
}
