//! The daemon's metrics: handles into a `prometheus_client` registry, updated as cycles
//! and job workers finish, and encoded in the OpenMetrics text format for `/metrics`.
//! Every handle is atomic; the one lock is held by the updates that change several series
//! at once (the commit, the jobs' health, the Git condition, the upgrades in flight) and
//! by a scrape, so a scrape sees each such update whole.

use crate::engine::upgrade::Phase;
use crate::model::ledger::Health;
use crate::model::spec::JobId;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

/// The content type of what `render` returns.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

/// Upgrade phases as the ledger and `flinkops status` name them.
const PHASES: [(Phase, &str); 4] = [
    (Phase::Pending, "Pending"),
    (Phase::Stopping, "Stopping"),
    (Phase::Stopped, "Stopped"),
    (Phase::Deploying, "Deploying"),
];

/// A no-op cycle takes a few ms (65 ms for 1,000 jobs, BENCHMARKS.md); one that fetches,
/// writes a status or starts watches for new namespaces takes up to tens of seconds (a
/// slow remote, the 60 s wait for the watches to list).
const CYCLE_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A job's apply is one server-side apply request per object (a few to a dozen objects,
/// ms each); a busy or throttling API server makes it seconds, a request timing out tens.
const APPLY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Phases are timed in whole seconds (the ledger's `phaseSince`): Pending and Stopped
/// last 0–2 s, Stopping as long as the savepoint (seconds to minutes, given up at 15 min),
/// Deploying until the job runs (the readiness timeout is 5 min by default). 300 and 900
/// are bounds so a phase that ran into its deadline stands out.
const PHASE_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

type Label = [(&'static str, &'static str); 1];
type CommitLabel = [(&'static str, String); 1];
type JobLabels = [(&'static str, String); 3];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Set once the watches have listed and a first cycle has run.
    ready: AtomicBool,
    cycles: Counter,
    last_cycle_seconds: Gauge<f64, AtomicU64>,
    cycle_duration: Histogram,
    objects_applied: Counter,
    objects_deleted: Counter,
    /// Jobs that failed to sync, summed over cycles.
    job_errors: Counter,
    apply_duration: Histogram,
    git_resolve_seconds: Gauge<f64, AtomicU64>,
    git_errors: Counter,
    /// Duration of the last fetch from a remote (0 for a local repository).
    git_fetch_seconds: Gauge<f64, AtomicU64>,
    /// Unix time of the last successful fetch or read of the followed branch.
    git_last_success: Gauge,
    git_condition: Family<Label, Gauge>,
    webhook: Family<Label, Counter>,
    /// This replica holds the leader lease (or leader election is off).
    leader: Gauge,
    commit: Family<CommitLabel, Gauge>,
    definition_errors: Gauge,
    health: Family<JobLabels, Gauge>,
    /// Upgrades carried out to their target, and attempts that failed (retried, given
    /// up on, or rolled back), over all cycles.
    upgrades: Family<Label, Counter>,
    upgrades_in_progress: Gauge,
    upgrade_phase_duration: Family<Label, Histogram>,
    /// Job workers running now.
    workers_in_flight: Gauge,
    series: Mutex<Series>,
}

/// The label values shown now of the metrics whose series come and go.
#[derive(Debug, Default)]
struct Series {
    commit: Option<String>,
    /// Each job's health as its gauges show it.
    health: BTreeMap<JobId, Health>,
    /// Jobs whose last step left an upgrade in flight.
    upgrading: BTreeSet<JobId>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            ready: AtomicBool::new(false),
            cycles: Counter::default(),
            last_cycle_seconds: Gauge::default(),
            cycle_duration: Histogram::new(CYCLE_BUCKETS),
            objects_applied: Counter::default(),
            objects_deleted: Counter::default(),
            job_errors: Counter::default(),
            apply_duration: Histogram::new(APPLY_BUCKETS),
            git_resolve_seconds: Gauge::default(),
            git_errors: Counter::default(),
            git_fetch_seconds: Gauge::default(),
            git_last_success: Gauge::default(),
            git_condition: Family::default(),
            webhook: Family::default(),
            leader: Gauge::default(),
            commit: Family::default(),
            definition_errors: Gauge::default(),
            health: Family::default(),
            upgrades: Family::default(),
            upgrades_in_progress: Gauge::default(),
            upgrade_phase_duration: Family::new_with_constructor(|| Histogram::new(PHASE_BUCKETS)),
            workers_in_flight: Gauge::default(),
            series: Mutex::default(),
        };
        // Every label value known up front is shown from the start (at 0), so a rate or an
        // alert has a series before the first event.
        for c in GIT_CONDITIONS {
            m.git_condition.get_or_create(&[("reason", c)]).set(0);
        }
        m.git_condition.get_or_create(&[("reason", "Ok")]).set(1);
        for r in ["accepted", "rejected"] {
            m.webhook.get_or_create_owned(&[("result", r)]);
        }
        for r in ["done", "failed"] {
            m.upgrades.get_or_create_owned(&[("result", r)]);
        }
        for (_, p) in PHASES {
            m.upgrade_phase_duration
                .get_or_create_owned(&[("phase", p)]);
        }
        m.with_registry()
    }

    /// Registers every handle. Counters are registered without `_total`, help without its
    /// final period: the encoder appends them.
    fn with_registry(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "flinkops_sync_cycles",
            "Reconcile cycles run",
            self.cycles.clone(),
        );
        r.register(
            "flinkops_sync_duration_seconds",
            "Duration of the last reconcile cycle",
            self.last_cycle_seconds.clone(),
        );
        r.register(
            "flinkops_sync_cycle_duration_seconds",
            "Duration of each reconcile cycle (as a leader)",
            self.cycle_duration.clone(),
        );
        r.register(
            "flinkops_objects_applied",
            "Objects applied with server-side apply",
            self.objects_applied.clone(),
        );
        r.register(
            "flinkops_objects_deleted",
            "Objects pruned",
            self.objects_deleted.clone(),
        );
        r.register(
            "flinkops_apply_duration_seconds",
            "Time a job worker spent applying the job's objects (failed applies included)",
            self.apply_duration.clone(),
        );
        r.register(
            "flinkops_sync_errors",
            "Jobs that failed to sync, over all cycles",
            self.job_errors.clone(),
        );
        r.register(
            "flinkops_git_resolve_duration_seconds",
            "Time to resolve the followed revision in the last cycle",
            self.git_resolve_seconds.clone(),
        );
        r.register(
            "flinkops_git_errors",
            "Failures to read the repository",
            self.git_errors.clone(),
        );
        r.register(
            "flinkops_git_fetch_duration_seconds",
            "Duration of the last fetch from the remote",
            self.git_fetch_seconds.clone(),
        );
        r.register(
            "flinkops_git_last_success_timestamp_seconds",
            "Unix time the followed branch was last fetched and read successfully",
            self.git_last_success.clone(),
        );
        r.register(
            "flinkops_git_condition",
            "1 for the reason the followed branch is not being applied (Ok when it is)",
            self.git_condition.clone(),
        );
        r.register(
            "flinkops_upgrades",
            "Upgrades (savepoint, last-state, suspend, resume, rollback) by result",
            self.upgrades.clone(),
        );
        r.register(
            "flinkops_upgrades_in_progress",
            "Jobs with an upgrade in flight",
            self.upgrades_in_progress.clone(),
        );
        r.register(
            "flinkops_upgrade_phase_duration_seconds",
            "How long each upgrade phase lasted, observed when a step moves the upgrade out of it (whole seconds)",
            self.upgrade_phase_duration.clone(),
        );
        r.register(
            "flinkops_workers_in_flight",
            "Job workers running now (at most --concurrency do I/O at once)",
            self.workers_in_flight.clone(),
        );
        r.register(
            "flinkops_webhook_requests",
            "Webhook requests by result",
            self.webhook.clone(),
        );
        r.register(
            "flinkops_leader",
            "1 when this replica is the leader (the only one that writes)",
            self.leader.clone(),
        );
        r.register(
            "flinkops_git_commit_info",
            "The commit being applied",
            self.commit.clone(),
        );
        r.register(
            "flinkops_definition_errors",
            "Errors in the job definitions at the current commit",
            self.definition_errors.clone(),
        );
        r.register(
            "flinkops_job_health",
            "Health of each job (1 for its current state)",
            self.health.clone(),
        );
        r.register_collector(Box::new(Lost));
        self
    }

    fn series(&self) -> MutexGuard<'_, Series> {
        // The label sets stay consistent whatever panicked while holding the lock.
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(leader.into());
    }

    pub fn webhook(&self, accepted: bool) {
        let result = if accepted { "accepted" } else { "rejected" };
        self.webhook.get_or_create(&[("result", result)]).inc();
    }

    /// A fetch or read of the followed branch: how long the fetch took and why the branch
    /// cannot be applied (`None`: it can, at `unix_now`).
    pub fn git_polled(&self, fetch_seconds: f64, condition: Option<&'static str>, unix_now: u64) {
        self.git_fetch_seconds.set(fetch_seconds);
        let reason = condition.unwrap_or("Ok");
        let _series = self.series();
        for c in GIT_CONDITIONS {
            let on = c == reason;
            self.git_condition
                .get_or_create(&[("reason", c)])
                .set(on.into());
        }
        if condition.is_none() {
            self.git_last_success
                .set(i64::try_from(unix_now).unwrap_or(i64::MAX));
        } else {
            self.git_errors.inc();
        }
    }

    /// The commit being applied, and the errors in its definitions.
    pub fn commit(&self, commit: &str, definition_errors: usize) {
        self.definition_errors
            .set(i64::try_from(definition_errors).unwrap_or(i64::MAX));
        let mut series = self.series();
        if series.commit.as_deref() == Some(commit) {
            return;
        }
        if let Some(old) = series.commit.replace(commit.to_string()) {
            self.commit.remove(&[("commit", old)]);
        }
        self.commit
            .get_or_create(&[("commit", commit.to_string())])
            .set(1);
    }

    pub fn git_resolved(&self, seconds: f64) {
        self.git_resolve_seconds.set(seconds);
    }

    /// A leader's cycle ended after `seconds`, leaving `workers_in_flight` workers
    /// running, with the jobs' health as the cycle read it.
    pub fn cycle_done<'a>(
        &self,
        seconds: f64,
        workers_in_flight: usize,
        health: impl IntoIterator<Item = (&'a JobId, Health)>,
    ) {
        self.cycles.inc();
        self.last_cycle_seconds.set(seconds);
        self.cycle_duration.observe(seconds);
        self.workers_in_flight
            .set(i64::try_from(workers_in_flight).unwrap_or(i64::MAX));
        let mut series = self.series();
        let now: BTreeMap<JobId, Health> =
            health.into_iter().map(|(id, h)| (id.clone(), h)).collect();
        // Only a job whose health changed has its gauges written (a quiet cycle of 1,000
        // jobs would otherwise build 6,000 label sets).
        for (id, &h) in &now {
            if series.health.get(id) != Some(&h) {
                for (state, name) in HEALTHS {
                    self.health
                        .get_or_create(&job_labels(id, name))
                        .set((h == state).into());
                }
            }
        }
        for gone in series.health.keys().filter(|id| !now.contains_key(*id)) {
            for (_, name) in HEALTHS {
                self.health.remove(&job_labels(gone, name));
            }
        }
        series.health = now;
    }

    /// Counts what finished job workers did. An upgrade is done when its last step
    /// finishes it (a prune or a plain apply is not an upgrade).
    pub fn record_outcomes(&self, outcomes: &[crate::runtime::execute::Outcome]) {
        let mut series = self.series();
        for o in outcomes {
            self.objects_applied.inc_by(o.applied as u64);
            self.objects_deleted.inc_by(o.deleted as u64);
            if o.error.is_some() {
                self.job_errors.inc();
            }
            if let Some(s) = o.apply_seconds {
                self.apply_duration.observe(s);
            }
            for (phase, seconds) in &o.phases_ended {
                self.upgrade_phase_duration
                    .get_or_create(&[("phase", phase_name(*phase))])
                    .observe(*seconds as f64);
            }
            if o.upgrade {
                let result = match (&o.error, o.in_progress) {
                    (Some(_), _) => Some("failed"),
                    (None, false) => Some("done"),
                    (None, true) => None,
                };
                if let Some(r) = result {
                    self.upgrades.get_or_create(&[("result", r)]).inc();
                }
            }
            if o.upgrade && o.in_progress && o.error.is_none() {
                series.upgrading.insert(o.id.clone());
            } else {
                series.upgrading.remove(&o.id);
            }
        }
        self.upgrades_in_progress
            .set(i64::try_from(series.upgrading.len()).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text (`CONTENT_TYPE`), ending in `# EOF`.
    pub fn render(&self) -> String {
        let _series = self.series();
        let mut s = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

fn job_labels(id: &JobId, health: &str) -> JobLabels {
    [
        ("namespace", id.namespace.clone()),
        ("name", id.name.clone()),
        ("health", health.to_string()),
    ]
}

fn phase_name(phase: Phase) -> &'static str {
    PHASES
        .iter()
        .find(|(p, _)| *p == phase)
        .map_or("Unknown", |(_, name)| name)
}

/// What the outbound senders lost (notifications, commit statuses), read from their own
/// counters at each scrape: dropped (the queue was full) or failed.
#[derive(Debug)]
struct Lost;

impl Collector for Lost {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use crate::daemon::commit_status;
        use crate::runtime::notify;
        let senders: [(&str, &str, &AtomicU64, &AtomicU64); 2] = [
            (
                "flinkops_notifications_lost",
                "Notifications not delivered: dropped (the queue was full) or failed (refused, or every try failed).",
                &notify::DROPPED,
                &notify::FAILED,
            ),
            (
                "flinkops_commit_statuses_lost",
                "Commit statuses not posted to the Git host: dropped (the queue was full) or failed (refused, or every try failed).",
                &commit_status::DROPPED,
                &commit_status::FAILED,
            ),
        ];
        for (name, help, dropped, failed) in senders {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (why, n) in [("dropped", dropped), ("failed", failed)] {
                let labels: Label = [("why", why)];
                ConstCounter::new(n.load(Relaxed)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::Action;
    use crate::runtime::execute::Outcome;

    fn job(name: &str) -> JobId {
        JobId {
            namespace: "streaming".into(),
            name: name.into(),
        }
    }

    /// The value of the sample line that starts with `sample` (name and labels), as
    /// the tests under tests/ and scripts/bench read it.
    fn value(text: &str, sample: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
    }

    fn outcome(name: &str, action: Action, upgrade: bool, in_progress: bool) -> Outcome {
        Outcome {
            id: JobId {
                namespace: "ns".into(),
                name: name.into(),
            },
            action,
            applied: 0,
            deleted: usize::from(action == Action::Delete) * 5,
            drift: Vec::new(),
            error: None,
            in_progress,
            note: Some("what it did".into()),
            upgrade,
            waiting: None,
            stalled: false,
            ledger_version: None,
            apply_seconds: None,
            phases_ended: Vec::new(),
        }
    }

    #[test]
    fn renders_every_documented_name_in_openmetrics_text() {
        let m = Metrics::new();
        m.commit("abc1", 2);
        m.set_leader(true);
        m.git_polled(0.5, None, 1_700_000_000);
        m.git_resolved(0.125);
        m.webhook(false);
        m.cycle_done(0.25, 3, [(&job("orders"), Health::Healthy)]);
        m.cycle_done(0.25, 3, [(&job("orders"), Health::Healthy)]);
        let text = m.render();
        for sample in [
            "flinkops_sync_cycles_total 2",
            "flinkops_sync_duration_seconds 0.25",
            "flinkops_objects_applied_total 0",
            "flinkops_objects_deleted_total 0",
            "flinkops_sync_errors_total 0",
            "flinkops_git_resolve_duration_seconds 0.125",
            "flinkops_git_fetch_duration_seconds 0.5",
            "flinkops_git_last_success_timestamp_seconds 1700000000",
            "flinkops_git_errors_total 0",
            "flinkops_git_condition{reason=\"Ok\"} 1",
            "flinkops_git_condition{reason=\"Unreachable\"} 0",
            "flinkops_git_commit_info{commit=\"abc1\"} 1",
            "flinkops_definition_errors 2",
            "flinkops_webhook_requests_total{result=\"accepted\"} 0",
            "flinkops_webhook_requests_total{result=\"rejected\"} 1",
            "flinkops_leader 1",
            "flinkops_job_health{namespace=\"streaming\",name=\"orders\",health=\"Healthy\"} 1",
            "flinkops_job_health{namespace=\"streaming\",name=\"orders\",health=\"Degraded\"} 0",
            "flinkops_upgrades_total{result=\"done\"} 0",
            "flinkops_upgrades_total{result=\"failed\"} 0",
            "flinkops_upgrades_in_progress 0",
            "flinkops_workers_in_flight 3",
            "flinkops_notifications_lost_total{why=\"dropped\"} ",
            "flinkops_commit_statuses_lost_total{why=\"failed\"} ",
            "flinkops_sync_cycle_duration_seconds_count 2",
            "flinkops_apply_duration_seconds_count 0",
            "flinkops_upgrade_phase_duration_seconds_count{phase=\"Stopping\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(sample)),
                "{sample}\n{text}"
            );
        }
        assert!(text.contains("# TYPE flinkops_sync_cycles counter\n"));
        assert!(text.contains("# TYPE flinkops_sync_cycle_duration_seconds histogram\n"));
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("..\n"), "help ends in one period: {text}");
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn series_of_a_job_or_commit_that_is_gone_go_with_it() {
        let m = Metrics::new();
        m.commit("c1", 0);
        m.cycle_done(
            0.0,
            0,
            [(&job("a"), Health::Healthy), (&job("b"), Health::Blocked)],
        );
        m.commit("c2", 0);
        m.git_polled(0.0, Some("Unreachable"), 0);
        m.cycle_done(0.0, 0, [(&job("b"), Health::Degraded)]);
        let text = m.render();
        assert!(!text.contains("name=\"a\""), "{text}");
        assert!(!text.contains("c1"), "{text}");
        assert_eq!(
            value(&text, "flinkops_git_commit_info{commit=\"c2\"}"),
            Some(1.0)
        );
        let b = "flinkops_job_health{namespace=\"streaming\",name=\"b\",health=";
        assert_eq!(value(&text, &format!("{b}\"Degraded\"}}")), Some(1.0));
        assert_eq!(value(&text, &format!("{b}\"Blocked\"}}")), Some(0.0));
        assert_eq!(
            value(&text, "flinkops_git_condition{reason=\"Ok\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&text, "flinkops_git_condition{reason=\"Unreachable\"}"),
            Some(1.0)
        );
        assert_eq!(value(&text, "flinkops_git_errors_total"), Some(1.0));
        assert_eq!(
            value(&text, "flinkops_git_last_success_timestamp_seconds"),
            Some(0.0)
        );
    }

    #[test]
    fn histograms_count_sum_and_bucket_their_observations() {
        let m = Metrics::new();
        for seconds in [0.003, 0.2, 42.0] {
            m.cycle_done(seconds, 0, []);
        }
        let mut applied = outcome("a", Action::Update, false, false);
        applied.apply_seconds = Some(0.07);
        let mut stopped = outcome("u", Action::SavepointUpgrade, true, true);
        stopped.phases_ended = vec![(Phase::Pending, 0), (Phase::Stopping, 95)];
        m.record_outcomes(&[
            applied,
            stopped,
            outcome("quiet", Action::Update, false, false),
        ]);
        let text = m.render();
        let cycle = "flinkops_sync_cycle_duration_seconds";
        assert_eq!(value(&text, &format!("{cycle}_count")), Some(3.0));
        assert_eq!(value(&text, &format!("{cycle}_sum")), Some(42.203));
        // Buckets are cumulative.
        for (le, n) in [("0.001", 0.0), ("0.005", 1.0), ("0.25", 2.0), ("30.0", 2.0)] {
            let sample = format!("{cycle}_bucket{{le=\"{le}\"}}");
            assert_eq!(value(&text, &sample), Some(n), "{sample}\n{text}");
        }
        assert_eq!(
            value(&text, &format!("{cycle}_bucket{{le=\"60.0\"}}")),
            Some(3.0)
        );
        assert_eq!(
            value(&text, &format!("{cycle}_bucket{{le=\"+Inf\"}}")),
            Some(3.0)
        );
        // Only a worker that applied something is timed.
        let apply = "flinkops_apply_duration_seconds";
        assert_eq!(value(&text, &format!("{apply}_count")), Some(1.0));
        assert_eq!(
            value(&text, &format!("{apply}_bucket{{le=\"0.05\"}}")),
            Some(0.0)
        );
        assert_eq!(
            value(&text, &format!("{apply}_bucket{{le=\"0.1\"}}")),
            Some(1.0)
        );
        let phase = "flinkops_upgrade_phase_duration_seconds";
        let stopping = "{phase=\"Stopping\"}";
        assert_eq!(value(&text, &format!("{phase}_count{stopping}")), Some(1.0));
        assert_eq!(value(&text, &format!("{phase}_sum{stopping}")), Some(95.0));
        for (le, n) in [("60.0", 0.0), ("120.0", 1.0)] {
            let sample = format!("{phase}_bucket{{le=\"{le}\",phase=\"Stopping\"}}");
            assert_eq!(value(&text, &sample), Some(n), "{sample}\n{text}");
        }
        let pending = format!("{phase}_bucket{{le=\"1.0\",phase=\"Pending\"}}");
        assert_eq!(value(&text, &pending), Some(1.0));
        assert_eq!(
            value(&text, &format!("{phase}_count{{phase=\"Deploying\"}}")),
            Some(0.0)
        );
    }

    #[test]
    fn hostile_label_values_cannot_break_the_exposition() {
        let m = Metrics::new();
        let hostile = "a\"} 1\nflinkops_leader{x=\"\\";
        m.commit(hostile, 0);
        let id = JobId {
            namespace: "ns\\".into(),
            name: "n\"\n".into(),
        };
        m.cycle_done(0.0, 0, [(&id, Health::Healthy)]);
        let text = m.render();
        assert!(
            text.contains(
                "flinkops_git_commit_info{commit=\"a\\\"} 1\\nflinkops_leader{x=\\\"\\\\\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "flinkops_job_health{namespace=\"ns\\\\\",name=\"n\\\"\\n\",health=\"Healthy\"} 1\n"
        ));
        // Nothing was injected: one leader sample, and every line is a comment or a sample
        // whose value parses.
        assert_eq!(text.matches("\nflinkops_leader").count(), 1, "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn a_prune_is_not_an_upgrade_and_upgrades_count_their_objects() {
        let o = |name: &str, action, upgrade, in_progress, applied, error: Option<&str>| Outcome {
            applied,
            error: error.map(str::to_string),
            ..outcome(name, action, upgrade, in_progress)
        };
        let m = Metrics::new();
        let counts = |m: &Metrics| {
            let text = m.render();
            [
                "flinkops_upgrades_total{result=\"done\"}",
                "flinkops_upgrades_total{result=\"failed\"}",
                "flinkops_upgrades_in_progress",
                "flinkops_objects_applied_total",
                "flinkops_objects_deleted_total",
                "flinkops_sync_errors_total",
            ]
            .map(|s| value(&text, s).unwrap())
        };
        m.record_outcomes(&[
            o("pruned", Action::Delete, false, false, 0, None),
            o("up", Action::SavepointUpgrade, true, true, 0, None),
        ]);
        assert_eq!(counts(&m), [0.0, 0.0, 1.0, 0.0, 5.0, 0.0]);
        m.record_outcomes(&[o("up", Action::SavepointUpgrade, true, false, 5, None)]);
        assert_eq!(counts(&m), [1.0, 0.0, 0.0, 5.0, 5.0, 0.0]);
        m.record_outcomes(&[o("x", Action::Update, false, false, 0, Some("403"))]);
        assert_eq!(counts(&m), [1.0, 0.0, 0.0, 5.0, 5.0, 1.0]);
        // A failed step of an upgrade ends its time in flight.
        m.record_outcomes(&[o("v", Action::SavepointUpgrade, true, true, 0, None)]);
        m.record_outcomes(&[o(
            "v",
            Action::SavepointUpgrade,
            true,
            true,
            0,
            Some("boom"),
        )]);
        assert_eq!(counts(&m), [1.0, 1.0, 0.0, 5.0, 5.0, 2.0]);
    }
}
