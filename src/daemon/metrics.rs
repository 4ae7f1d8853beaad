//! The daemon's metrics, kept per cycle and rendered in the Prometheus text format. Pure:
//! values in, text out.

use crate::model::ledger::Health;
use crate::model::spec::JobId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub cycles: u64,
    pub last_cycle_seconds: f64,
    pub objects_applied: u64,
    pub objects_deleted: u64,
    /// Jobs that failed to sync, summed over cycles.
    pub job_errors: u64,
    pub git_resolve_seconds: f64,
    pub git_errors: u64,
    /// Duration of the last fetch from a remote (0 for a local repository).
    pub git_fetch_seconds: f64,
    /// Unix time of the last successful fetch or read of the followed branch.
    pub git_last_success: u64,
    /// Why the followed branch cannot be applied now (`None`: it can).
    pub git_condition: Option<&'static str>,
    pub webhook_accepted: u64,
    pub webhook_rejected: u64,
    /// This replica holds the leader lease (or leader election is off).
    pub leader: bool,
    pub commit: String,
    pub definition_errors: usize,
    pub health: BTreeMap<JobId, Health>,
    /// Upgrades carried out to their target, and attempts that failed (retried, given
    /// up on, or rolled back), over all cycles.
    pub upgrades_done: u64,
    pub upgrade_failures: u64,
    /// Jobs whose last step left an upgrade in flight.
    pub upgrades_in_progress: BTreeSet<JobId>,
    /// Job workers running now.
    pub workers_in_flight: usize,
    /// Set once the watches have listed and a first cycle has run.
    pub ready: bool,
}

const HEALTHS: [(Health, &str); 6] = [
    (Health::Progressing, "Progressing"),
    (Health::Healthy, "Healthy"),
    (Health::Degraded, "Degraded"),
    (Health::Blocked, "Blocked"),
    (Health::Suspended, "Suspended"),
    (Health::Stalled, "Stalled"),
];

/// Values of `git_condition`, and Ok.
pub const GIT_CONDITIONS: [&str; 4] = ["Ok", "Unreachable", "BadRevision", "HistoryRewritten"];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts what finished job workers did. An upgrade is done when its last step
    /// finishes it (a prune or a plain apply is not an upgrade).
    pub fn record_outcomes(&mut self, outcomes: &[crate::runtime::execute::Outcome]) {
        for o in outcomes {
            self.objects_applied += o.applied as u64;
            self.objects_deleted += o.deleted as u64;
            if o.error.is_some() {
                self.job_errors += 1;
            }
            if o.upgrade {
                match (&o.error, o.in_progress) {
                    (Some(_), _) => self.upgrade_failures += 1,
                    (None, false) => self.upgrades_done += 1,
                    (None, true) => {}
                }
            }
            if o.upgrade && o.in_progress && o.error.is_none() {
                self.upgrades_in_progress.insert(o.id.clone());
            } else {
                self.upgrades_in_progress.remove(&o.id);
            }
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(s, "{name}{labels} {value}");
            }
        };
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "flinkops_sync_cycles_total",
            "counter",
            "Reconcile cycles run.",
            one(self.cycles.to_string()),
        );
        metric(
            "flinkops_sync_duration_seconds",
            "gauge",
            "Duration of the last reconcile cycle.",
            one(format!("{:.6}", self.last_cycle_seconds)),
        );
        metric(
            "flinkops_objects_applied_total",
            "counter",
            "Objects applied with server-side apply.",
            one(self.objects_applied.to_string()),
        );
        metric(
            "flinkops_objects_deleted_total",
            "counter",
            "Objects pruned.",
            one(self.objects_deleted.to_string()),
        );
        metric(
            "flinkops_sync_errors_total",
            "counter",
            "Jobs that failed to sync, over all cycles.",
            one(self.job_errors.to_string()),
        );
        metric(
            "flinkops_git_resolve_duration_seconds",
            "gauge",
            "Time to resolve the followed revision in the last cycle.",
            one(format!("{:.6}", self.git_resolve_seconds)),
        );
        metric(
            "flinkops_git_errors_total",
            "counter",
            "Failures to read the repository.",
            one(self.git_errors.to_string()),
        );
        metric(
            "flinkops_git_fetch_duration_seconds",
            "gauge",
            "Duration of the last fetch from the remote.",
            one(format!("{:.6}", self.git_fetch_seconds)),
        );
        metric(
            "flinkops_git_last_success_timestamp_seconds",
            "gauge",
            "Unix time the followed branch was last fetched and read successfully.",
            one(self.git_last_success.to_string()),
        );
        metric(
            "flinkops_git_condition",
            "gauge",
            "1 for the reason the followed branch is not being applied (Ok when it is).",
            GIT_CONDITIONS
                .iter()
                .map(|c| {
                    let on = self.git_condition.unwrap_or("Ok") == *c;
                    (format!("{{reason=\"{c}\"}}"), u8::from(on).to_string())
                })
                .collect(),
        );
        metric(
            "flinkops_upgrades_total",
            "counter",
            "Upgrades (savepoint, last-state, suspend, resume, rollback) by result.",
            vec![
                ("{result=\"done\"}".into(), self.upgrades_done.to_string()),
                (
                    "{result=\"failed\"}".into(),
                    self.upgrade_failures.to_string(),
                ),
            ],
        );
        metric(
            "flinkops_upgrades_in_progress",
            "gauge",
            "Jobs with an upgrade in flight.",
            one(self.upgrades_in_progress.len().to_string()),
        );
        metric(
            "flinkops_workers_in_flight",
            "gauge",
            "Job workers running now (at most --concurrency do I/O at once).",
            one(self.workers_in_flight.to_string()),
        );
        metric(
            "flinkops_webhook_requests_total",
            "counter",
            "Webhook requests by result.",
            vec![
                (
                    "{result=\"accepted\"}".into(),
                    self.webhook_accepted.to_string(),
                ),
                (
                    "{result=\"rejected\"}".into(),
                    self.webhook_rejected.to_string(),
                ),
            ],
        );
        // What an outbound sender lost: dropped (its queue was full) or failed.
        let lost = |dropped: &AtomicU64, failed: &AtomicU64| {
            vec![
                (
                    "{why=\"dropped\"}".into(),
                    dropped.load(Relaxed).to_string(),
                ),
                ("{why=\"failed\"}".into(), failed.load(Relaxed).to_string()),
            ]
        };
        metric(
            "flinkops_notifications_lost_total",
            "counter",
            "Notifications not delivered: dropped (the queue was full) or failed (refused, or every try failed).",
            lost(&crate::runtime::notify::DROPPED, &crate::runtime::notify::FAILED),
        );
        metric(
            "flinkops_commit_statuses_lost_total",
            "counter",
            "Commit statuses not posted to the Git host: dropped (the queue was full) or failed (refused, or every try failed).",
            lost(
                &crate::daemon::commit_status::DROPPED,
                &crate::daemon::commit_status::FAILED,
            ),
        );
        metric(
            "flinkops_leader",
            "gauge",
            "1 when this replica is the leader (the only one that writes).",
            one(u8::from(self.leader).to_string()),
        );
        metric(
            "flinkops_git_commit_info",
            "gauge",
            "The commit being applied.",
            vec![(
                format!("{{commit=\"{}\"}}", escape(&self.commit)),
                "1".into(),
            )],
        );
        metric(
            "flinkops_definition_errors",
            "gauge",
            "Errors in the job definitions at the current commit.",
            one(self.definition_errors.to_string()),
        );
        let mut lines = Vec::new();
        for (id, h) in &self.health {
            for (state, name) in HEALTHS {
                lines.push((
                    format!(
                        "{{namespace=\"{}\",name=\"{}\",health=\"{name}\"}}",
                        escape(&id.namespace),
                        escape(&id.name)
                    ),
                    u8::from(*h == state).to_string(),
                ));
            }
        }
        metric(
            "flinkops_job_health",
            "gauge",
            "Health of each job (1 for its current state).",
            lines,
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_one_hot_health() {
        let mut m = Metrics {
            cycles: 3,
            last_cycle_seconds: 0.25,
            objects_applied: 5,
            commit: "abc\"1".into(),
            ..Default::default()
        };
        m.health.insert(
            JobId {
                namespace: "streaming".into(),
                name: "orders".into(),
            },
            Health::Healthy,
        );
        let text = m.render();
        assert!(text.contains("flinkops_workers_in_flight 0\n"));
        assert!(text
            .contains("# TYPE flinkops_sync_cycles_total counter\nflinkops_sync_cycles_total 3\n"));
        assert!(text.contains("flinkops_sync_duration_seconds 0.250000\n"));
        assert!(text.contains("flinkops_git_commit_info{commit=\"abc\\\"1\"} 1\n"));
        assert!(text.contains(
            "flinkops_job_health{namespace=\"streaming\",name=\"orders\",health=\"Healthy\"} 1\n"
        ));
        assert!(text.contains(
            "flinkops_job_health{namespace=\"streaming\",name=\"orders\",health=\"Degraded\"} 0\n"
        ));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn a_prune_is_not_an_upgrade_and_upgrades_count_their_objects() {
        use crate::engine::plan::Action;
        use crate::runtime::execute::Outcome;
        let o = |name: &str, action, upgrade, in_progress, applied, error: Option<&str>| Outcome {
            id: JobId {
                namespace: "ns".into(),
                name: name.into(),
            },
            action,
            applied,
            deleted: usize::from(action == Action::Delete) * 5,
            drift: Vec::new(),
            error: error.map(str::to_string),
            in_progress,
            note: Some("what it did".into()),
            upgrade,
            waiting: None,
            stalled: false,
            ledger_version: None,
        };
        let mut m = Metrics::default();
        m.record_outcomes(&[
            o("pruned", Action::Delete, false, false, 0, None),
            o("up", Action::SavepointUpgrade, true, true, 0, None),
        ]);
        assert_eq!((m.upgrades_done, m.objects_deleted), (0, 5));
        assert_eq!(m.upgrades_in_progress.len(), 1);
        m.record_outcomes(&[o("up", Action::SavepointUpgrade, true, false, 5, None)]);
        assert_eq!((m.upgrades_done, m.objects_applied), (1, 5));
        assert!(m.upgrades_in_progress.is_empty());
        m.record_outcomes(&[o("x", Action::Update, false, false, 0, Some("403"))]);
        assert_eq!((m.upgrade_failures, m.job_errors), (0, 1));
    }
}
