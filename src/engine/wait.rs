//! `flinkops status --wait COMMIT`: which jobs COMMIT changes (its plan against its first
//! parent), what "live" means for each, and judging a job from its ledger. Pure: catalogs,
//! ledgers and commit ancestry in, verdicts out.

use crate::engine::plan::{self, Action};
use crate::model::ledger::{Health, Ledger};
use crate::model::spec::{Catalog, JobId, JobState, SpecError};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Applied at COMMIT (or later) and healthy; `suspended` jobs count as live once
    /// their ledger says Suspended.
    Applied { suspended: bool },
    /// Pruned: its ledger is gone.
    Deleted,
    /// COMMIT's definition of the job is invalid: it cannot go live.
    Invalid(String),
}

/// The jobs COMMIT changes and what each must reach; plus errors that name no job
/// (settings, unreadable files), which fail the wait at once. An error COMMIT inherits
/// unchanged from its parent (a file broken before and not touched) is not COMMIT's: it
/// failed the commit that made it.
pub fn expectations(parent: &Catalog, commit: &Catalog) -> (BTreeMap<JobId, Expect>, Vec<String>) {
    let p = plan::plan(&parent.jobs, commit);
    let inherited = |j: &plan::JobPlan| {
        j.action == Action::Error && parent.blocked.get(&j.id()).is_some_and(|e| *e == j.errors)
    };
    let parent_errors: std::collections::BTreeSet<&SpecError> =
        parent.errors_naming_no_job().collect();
    let jobs = p
        .jobs
        .iter()
        .filter(|j| j.action != Action::None && !inherited(j))
        .map(|j| {
            let expect = match j.action {
                Action::Delete => Expect::Deleted,
                Action::Error => Expect::Invalid(
                    j.errors
                        .iter()
                        .map(ToString::to_string)
                        .chain(j.reasons.iter().cloned())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                _ => Expect::Applied {
                    suspended: commit
                        .jobs
                        .get(&j.id())
                        .and_then(|s| s.job.as_ref())
                        .is_some_and(|job| job.state == JobState::Suspended),
                },
            };
            (j.id(), expect)
        })
        .collect();
    let errors = p
        .errors
        .iter()
        .filter(|e| !parent_errors.contains(e))
        .map(ToString::to_string)
        .collect();
    (jobs, errors)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pending(String),
    Live(String),
    Failed(String),
}

impl Verdict {
    pub fn is_pending(&self) -> bool {
        matches!(self, Verdict::Pending(_))
    }
}

/// Judges one job. `contains_commit(c)`: does commit `c` include COMMIT (is it COMMIT or
/// a descendant)? `None` when `c` is unknown to this repository. `daemon_past_commit`:
/// the daemon's status says it has moved to COMMIT or beyond (`None`: no status to go by),
/// which is when an error recorded against an older commit becomes COMMIT's failure.
pub fn judge(
    expect: &Expect,
    ledger: Option<&Ledger>,
    contains_commit: impl Fn(&str) -> Option<bool>,
    daemon_past_commit: Option<bool>,
) -> Verdict {
    let short = crate::model::escape::short_commit;
    match expect {
        Expect::Invalid(why) => Verdict::Failed(format!("invalid at this commit: {why}")),
        Expect::Deleted => match ledger {
            None => Verdict::Live("deleted".into()),
            // Stopped with a savepoint and pruned; its lineage stays as a tombstone.
            Some(l) if l.removed.is_some() => {
                Verdict::Live("removed; its savepoint lineage is kept".into())
            }
            Some(_) => Verdict::Pending("waiting to be pruned".into()),
        },
        Expect::Applied { suspended } => {
            let Some(l) = ledger else {
                return Verdict::Pending("not applied yet".into());
            };
            // The commit (or a later one) failed to deploy for good, or was rolled back.
            if let Some(f) = &l.failed {
                if contains_commit(&f.commit) == Some(true) {
                    return Verdict::Failed(format!(
                        "{} failed{}: {}",
                        short(&f.commit),
                        if f.rolled_back {
                            rolled_back_to(l)
                        } else {
                            String::new()
                        },
                        f.reason
                    ));
                }
            }
            // An upgrade in flight is retried after a failed attempt: not over yet.
            if let Some(up) = &l.upgrade {
                if contains_commit(&up.target_commit) == Some(true) {
                    return Verdict::Pending(format!(
                        "{} to {} ({:?}){}",
                        up.action,
                        short(&up.target_commit),
                        up.phase,
                        l.last_error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ));
                }
            }
            match contains_commit(&l.applied_commit) {
                Some(true) => match l.health {
                    Health::Healthy => {
                        Verdict::Live(format!("Healthy at {}", short(&l.applied_commit)))
                    }
                    Health::Suspended if *suspended => {
                        Verdict::Live(format!("Suspended at {}", short(&l.applied_commit)))
                    }
                    Health::Degraded | Health::Blocked | Health::Stalled => {
                        Verdict::Failed(format!(
                            "{:?}: {}",
                            l.health,
                            l.last_error
                                .as_deref()
                                .or(l.health_reason.as_deref())
                                .unwrap_or("no reason recorded")
                        ))
                    }
                    h => Verdict::Pending(format!(
                        "applied, {h:?}{}",
                        l.health_reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )),
                },
                Some(false) => match (&l.last_error, daemon_past_commit) {
                    (Some(e), Some(true)) => Verdict::Failed(e.clone()),
                    _ => Verdict::Pending(format!("still at {}", short(&l.applied_commit))),
                },
                None => Verdict::Pending(format!(
                    "applied at {}, a commit this repository does not have (fetch it?)",
                    short(&l.applied_commit)
                )),
            }
        }
    }
}

/// " and was rolled back to COMMIT, restoring SAVEPOINT": the stable commit and the state
/// the rollback starts from (its upgrade's while in flight, then the ledger's).
fn rolled_back_to(l: &Ledger) -> String {
    let restoring = l
        .upgrade
        .as_ref()
        .filter(|u| u.rollback_of.is_some())
        .and_then(|u| u.restore_from.as_deref())
        .or(l.restore_from.as_deref())
        .map(|s| format!(", restoring {s}"))
        .unwrap_or_default();
    format!(
        " and was rolled back to {}{restoring}",
        crate::model::escape::short_commit(&l.applied_commit)
    )
}

/// A verdict as `status --wait` prints it: its text comes from ledgers in the cluster,
/// so through `escape::terminal`.
pub fn describe(v: &Verdict) -> String {
    let t = crate::model::escape::terminal;
    match v {
        Verdict::Live(s) => format!("live ({})", t(s)),
        Verdict::Pending(s) => format!("pending ({})", t(s)),
        Verdict::Failed(s) => format!("FAILED: {}", t(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const LATER: &str = "cccccccccccccccccccccccccccccccccccccccc";

    fn job(name: &str, parallelism: u32, state: &str) -> String {
        format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: {name}, namespace: ns}}
spec:
  image: flink:2.0
  job: {{jarURI: 'local:///opt/flink/usrlib/job.jar', parallelism: {parallelism}, upgradeMode: stateless, state: {state}}}
"
        )
    }

    fn ledger(commit: &str, health: Health, error: Option<&str>) -> Ledger {
        Ledger {
            applied_commit: commit.into(),
            health,
            last_error: error.map(str::to_string),
            ..Default::default()
        }
    }

    /// COMMIT is B; LATER descends from it; A is its parent.
    fn contains(c: &str) -> Option<bool> {
        match c {
            B | LATER => Some(true),
            A => Some(false),
            _ => None,
        }
    }

    fn id(name: &str) -> JobId {
        JobId {
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn hostile_ledger_fields_neither_panic_nor_reach_the_terminal_raw() {
        // Read from the cluster: anything at all.
        let l = ledger(
            "0123456789aé€",
            Health::Degraded,
            Some("boom\x1b]0;t\x07\n::error::x"),
        );
        let v = judge(
            &Expect::Applied { suspended: false },
            Some(&l),
            contains,
            None,
        );
        assert_eq!(
            v,
            Verdict::Pending(
                "applied at 0123456789aé, a commit this repository does not have (fetch it?)"
                    .into()
            )
        );
        let l = ledger(B, Health::Degraded, Some("boom\x1b]0;t\x07\n::error::x"));
        let v = judge(
            &Expect::Applied { suspended: false },
            Some(&l),
            contains,
            None,
        );
        let shown = describe(&v);
        assert_eq!(shown, "FAILED: Degraded: boom\\x1b]0;t\\x07\\n::error::x");
    }

    #[test]
    fn the_commit_s_plan_names_the_jobs_to_wait_for() {
        let parent = catalog(&[
            ("a.yaml", &job("same", 1, "running")),
            ("b.yaml", &job("scaled", 1, "running")),
            ("c.yaml", &job("removed", 1, "running")),
            ("d.yaml", &job("paused", 1, "running")),
        ]);
        let head = catalog(&[
            ("a.yaml", &job("same", 1, "running")),
            ("b.yaml", &job("scaled", 2, "running")),
            ("d.yaml", &job("paused", 1, "suspended")),
            ("e.yaml", &job("new", 1, "running")),
            ("f.yaml", &job("broken", 1, "runing")),
        ]);
        let (jobs, errors) = expectations(&parent, &head);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(jobs.get(&id("same")), None);
        assert_eq!(jobs[&id("scaled")], Expect::Applied { suspended: false });
        assert_eq!(jobs[&id("new")], Expect::Applied { suspended: false });
        assert_eq!(jobs[&id("paused")], Expect::Applied { suspended: true });
        assert_eq!(jobs[&id("removed")], Expect::Deleted);
        assert!(
            matches!(&jobs[&id("broken")], Expect::Invalid(why) if why.contains("f.yaml") && why.contains("state")),
            "{:?}",
            jobs[&id("broken")]
        );
        // The next commit touches only another file: the broken job, unchanged, is not
        // its to wait for (nor its failure); editing the broken file (still broken)
        // makes it the commit's again.
        let next = catalog(&[
            ("a.yaml", &job("same", 1, "running")),
            ("b.yaml", &job("scaled", 3, "running")),
            ("d.yaml", &job("paused", 1, "suspended")),
            ("e.yaml", &job("new", 1, "running")),
            ("f.yaml", &job("broken", 1, "runing")),
        ]);
        let (jobs, errors) = expectations(&head, &next);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(jobs.keys().collect::<Vec<_>>(), [&id("scaled")]);
        let edited = catalog(&[
            ("a.yaml", &job("same", 1, "running")),
            ("b.yaml", &job("scaled", 3, "running")),
            ("d.yaml", &job("paused", 1, "suspended")),
            ("e.yaml", &job("new", 1, "running")),
            ("f.yaml", &job("broken", 2, "runnin")),
        ]);
        let (jobs, _) = expectations(&next, &edited);
        assert!(
            matches!(&jobs[&id("broken")], Expect::Invalid(_)),
            "{jobs:?}"
        );
        // The same for an error that names no job: the commit that made it fails, not
        // the ones after it.
        let bad_settings = |n: u32| {
            catalog(&[
                ("flinkops.yaml", "prune: maybe\n"),
                ("b.yaml", &job("scaled", n, "running")),
            ])
        };
        let (_, errors) = expectations(&next, &bad_settings(3));
        assert!(!errors.is_empty());
        let (_, errors) = expectations(&bad_settings(3), &bad_settings(4));
        assert!(errors.is_empty(), "{errors:?}");
    }

    fn failed_apply_ledger(commit: &str, error: &str) -> Ledger {
        ledger(commit, Health::Degraded, Some(error))
    }

    #[test]
    fn verdicts_from_ledgers() {
        let run = Expect::Applied { suspended: false };
        let j = |e: &Expect, l: Option<Ledger>, past: Option<bool>| {
            judge(e, l.as_ref(), contains, past)
        };
        assert!(j(&run, None, None).is_pending());
        assert!(j(&run, Some(ledger(A, Health::Healthy, None)), Some(false)).is_pending());
        assert!(j(&run, Some(ledger(B, Health::Progressing, None)), Some(true)).is_pending());
        assert!(matches!(
            j(&run, Some(ledger(B, Health::Healthy, None)), None),
            Verdict::Live(_)
        ));
        assert!(matches!(
            j(&run, Some(ledger(LATER, Health::Healthy, None)), None),
            Verdict::Live(_)
        ));
        assert!(matches!(
            j(&run, Some(ledger(B, Health::Degraded, Some("ProgressDeadlineExceeded"))), None),
            Verdict::Failed(why) if why.contains("ProgressDeadlineExceeded")
        ));
        // An error on the old commit fails the wait only once the daemon is past COMMIT.
        let failed_apply = ledger(A, Health::Degraded, Some("applying Deployment: forbidden"));
        assert!(j(&run, Some(failed_apply.clone()), None).is_pending());
        assert!(j(&run, Some(failed_apply.clone()), Some(false)).is_pending());
        assert_eq!(
            j(&run, Some(failed_apply), Some(true)),
            Verdict::Failed("applying Deployment: forbidden".into())
        );
        // An upgrade to the commit that is being retried is not a failure yet; one that
        // gave up or was rolled back is.
        let mut retrying = failed_apply_ledger(A, "attempt 1 of 3 failed: disk full");
        let target = crate::model::spec::testing::catalog(&[(
            "a.yaml",
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: a, namespace: n}\nspec:\n  image: flink:2.0\n",
        )]);
        let spec = target.jobs.values().next().unwrap();
        retrying.upgrade = Some(crate::engine::upgrade::Upgrade::new(
            crate::engine::plan::Action::SavepointUpgrade,
            B,
            spec,
            crate::model::time::Timestamp::from_unix(0),
        ));
        assert!(matches!(
            j(&run, Some(retrying.clone()), Some(true)),
            Verdict::Pending(why) if why.contains("disk full")
        ));
        retrying.upgrade = None;
        retrying.failed = Some(crate::engine::upgrade::FailedTarget {
            commit: B.into(),
            spec_hash: "h".into(),
            reason: "not RUNNING after 300s".into(),
            at: crate::model::time::Timestamp::EPOCH,
            rolled_back: true,
        });
        retrying.restore_from = Some("file:///sp/savepoint-1".into());
        assert_eq!(
            j(&run, Some(retrying), None),
            Verdict::Failed(format!(
                "{} failed and was rolled back to {}, restoring file:///sp/savepoint-1: not RUNNING after 300s",
                &B[..12],
                &A[..12]
            ))
        );
        // Unknown commits wait (and say why).
        assert!(matches!(
            j(&run, Some(ledger("dddd", Health::Healthy, None)), None),
            Verdict::Pending(why) if why.contains("does not have")
        ));
        // Suspension is live for a suspended job only.
        let sus = ledger(B, Health::Suspended, None);
        assert!(matches!(
            j(
                &Expect::Applied { suspended: true },
                Some(sus.clone()),
                None
            ),
            Verdict::Live(_)
        ));
        assert!(j(&run, Some(sus), None).is_pending());
        // Deletions and invalid definitions.
        assert!(matches!(j(&Expect::Deleted, None, None), Verdict::Live(_)));
        let mut tomb = ledger(A, Health::Suspended, None);
        tomb.removed = Some(crate::model::ledger::Removal {
            commit: A.into(),
            at: crate::model::time::Timestamp::from_unix(1),
        });
        assert!(matches!(
            j(&Expect::Deleted, Some(tomb), None),
            Verdict::Live(_)
        ));
        assert!(j(
            &Expect::Deleted,
            Some(ledger(A, Health::Healthy, None)),
            None
        )
        .is_pending());
        assert!(matches!(
            j(&Expect::Invalid("x".into()), None, None),
            Verdict::Failed(_)
        ));
    }
}
