//! The ledger: one ConfigMap per job (`<job>-flinkops`) holding what flinkops applied and
//! what happened. It is the daemon's memory across restarts: the applied spec (so plans
//! against the cluster are exact), health, the last error and a bounded history.
//! Encoding and decoding are pure; reading and writing it is the cluster edge's job.

use crate::model::labels::{LABEL_COMPONENT, LABEL_JOB, LABEL_MANAGED_BY, LABEL_NAME, MANAGER};
use crate::model::spec::{JobId, JobSpec};
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const LEDGER_KEY: &str = "ledger.json";
/// The ledger format this flinkops writes and the newest it reads. 1: the ledgers written
/// before formats were numbered (no `format` key), read as they are, their later fields
/// taking their defaults. 2: `format` written. 3: times typed (`Timestamp`): RFC 3339 text
/// only, the Unix-seconds copies beside them (`unix`, `startedUnix`) dropped and
/// `phaseSince` written as text; formats 1 and 2 read unchanged (their numbers are
/// accepted where a time is read). A ledger of a newer format is not read (nor overwritten): its job
/// is left alone until flinkops is upgraded.
pub const LEDGER_FORMAT: u32 = 3;
pub const LEDGER_COMPONENT: &str = "ledger";
/// History entries kept per job.
pub const HISTORY_LIMIT: usize = 20;

pub fn ledger_name(job: &str) -> String {
    format!("{job}-flinkops")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Health {
    /// Applied; waiting for Deployments to become Available (and the Flink job RUNNING).
    #[default]
    Progressing,
    Healthy,
    Degraded,
    /// The definition at the current commit is invalid; what runs was left alone.
    Blocked,
    Suspended,
    /// The cluster refuses what flinkops applies (forbidden, invalid, denied by admission):
    /// retried every 5 minutes and on every commit, not at once.
    Stalled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub commit: String,
    pub spec_hash: String,
    pub action: String,
    pub at: Timestamp,
    pub result: String,
    /// The savepoint or checkpoint this version started from (its state came in with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_in: Option<String>,
    /// The savepoint the previous version was stopped with (its state went out with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_out: Option<String>,
    /// For a version that started running: seconds from the step's start (before its
    /// savepoint) to RUNNING, the downtime a restart of this job costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// `LEDGER_FORMAT` when written; absent (1) in ledgers from before formats.
    #[serde(default = "format_one")]
    pub format: u32,
    pub applied_commit: String,
    pub spec_hash: String,
    /// Repository-relative file the spec came from.
    pub source: String,
    /// The spec as applied.
    pub spec: Option<JobSpec>,
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The Flink job's state as its REST API last said (where reachable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_state: Option<crate::model::flink::JobState>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// An upgrade in flight (the crash-safe record of its progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<crate::model::upgrade::Upgrade>,
    /// The savepoint or checkpoint the applied objects restore from (rendered into
    /// `execution.savepoint.path`, so re-rendering the applied spec reproduces them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
    /// A Git head that failed to deploy; not retried until Git changes the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<crate::model::upgrade::FailedTarget>,
    /// Savepoints taken, oldest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savepoints: Vec<crate::model::upgrade::SavepointRecord>,
    /// The `savepointTriggerNonce` whose savepoint is taken (or that was already set
    /// when the job was deployed or restarted): a spec with another value is owed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_nonce: Option<i64>,
    /// The same for `checkpointTriggerNonce`: the one whose checkpoint is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_nonce: Option<i64>,
    /// Set when the job was removed from Git: the ledger stays as its tombstone (the
    /// savepoint lineage), so adding the job again resumes from its last savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removal>,
    /// The ConfigMap's resourceVersion this ledger was read at (not stored in it): a write
    /// succeeds only if nobody wrote since (optimistic concurrency). None: there was no
    /// ledger, and the write creates it only if still none exists.
    #[serde(skip)]
    pub resource_version: Option<String>,
}

/// When and at which commit a job left Git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub commit: String,
    pub at: Timestamp,
}

impl Ledger {
    /// Records an event, keeping the newest `HISTORY_LIMIT` entries.
    pub fn record(&mut self, entry: HistoryEntry) {
        self.history.push(entry);
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }

    /// Adds a savepoint to the history, keeping the newest ones (see
    /// `model::upgrade::savepoint_history_max`).
    /// Adds a savepoint to the lineage in the order they were taken: one reported late
    /// (a periodic savepoint recorded after an upgrade's) never becomes the latest.
    pub fn record_savepoint(&mut self, record: crate::model::upgrade::SavepointRecord) {
        let at = self.savepoints.partition_point(|s| s.at <= record.at);
        self.savepoints.insert(at, record);
        let max = crate::model::upgrade::savepoint_history_max(self.spec.as_ref());
        let excess = self.savepoints.len().saturating_sub(max);
        self.savepoints.drain(..excess);
    }

    pub fn last_savepoint(&self) -> Option<&str> {
        self.savepoints.last().map(|s| s.path.as_str())
    }

    /// The ConfigMap data holding this ledger, in the current format.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        let current = Ledger {
            format: LEDGER_FORMAT,
            ..self.clone()
        };
        let text = serde_json::to_string_pretty(&current).expect("ledgers serialize");
        BTreeMap::from([(LEDGER_KEY.to_string(), text)])
    }

    /// Reads a ledger of this format or an older one; a newer one is an error (the job is
    /// then left alone, so nothing this version does not understand is overwritten).
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Ledger, String> {
        let text = data
            .get(LEDGER_KEY)
            .ok_or_else(|| format!("no {LEDGER_KEY} key"))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{LEDGER_KEY}: {e}"))?;
        if let Some(f) = value.get("format") {
            match f.as_u64() {
                Some(n) if n > u64::from(LEDGER_FORMAT) => {
                    return Err(format!(
                        "{LEDGER_KEY}: written by a newer flinkops (ledger format {n}; this one reads up to {LEDGER_FORMAT}): the job is left alone until flinkops is upgraded"
                    ))
                }
                Some(_) => {}
                None => return Err(format!("{LEDGER_KEY}: `format` is not a number")),
            }
        }
        serde_json::from_value(value).map_err(|e| format!("{LEDGER_KEY}: {e}"))
    }

    /// The applied spec with its source restored (it is not part of the spec's JSON).
    pub fn applied_spec(&self) -> Option<JobSpec> {
        let mut spec = self.spec.clone()?;
        spec.source.file = self.source.clone();
        Some(spec)
    }
}

fn format_one() -> u32 {
    1
}

/// Labels of a job's ledger ConfigMap: ours, so the same watch that sees the job's
/// objects sees its ledger, and a component that keeps it out of pruning by kind.
pub fn ledger_labels(id: &JobId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
        (LABEL_NAME.to_string(), id.name.clone()),
        (LABEL_JOB.to_string(), id.name.clone()),
        (LABEL_COMPONENT.to_string(), LEDGER_COMPONENT.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> HistoryEntry {
        HistoryEntry {
            commit: format!("c{i}"),
            spec_hash: "h".into(),
            action: "update".into(),
            at: crate::model::time::Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            result: "applied".into(),
            state_in: None,
            state_out: None,
            seconds: None,
        }
    }

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let mut l = Ledger::default();
        for i in 0..(HISTORY_LIMIT + 5) {
            l.record(entry(i));
        }
        assert_eq!(l.history.len(), HISTORY_LIMIT);
        assert_eq!(l.history[0].commit, "c5");
        assert_eq!(
            l.history.last().unwrap().commit,
            format!("c{}", HISTORY_LIMIT + 4)
        );
    }

    #[test]
    fn the_lineage_is_in_the_order_savepoints_were_taken() {
        let sp = |path: &str, unix| crate::model::upgrade::SavepointRecord {
            path: path.into(),
            commit: "c".into(),
            reason: "periodic".into(),
            at: crate::model::time::Timestamp::from_unix(unix),
        };
        let mut l = Ledger::default();
        l.record_savepoint(sp("first", 10));
        l.record_savepoint(sp("upgrade", 30));
        // Reported after the upgrade's, taken before it: not the latest.
        l.record_savepoint(sp("late", 20));
        l.record_savepoint(sp("same second, recorded later", 30));
        let order: Vec<&str> = l.savepoints.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            order,
            ["first", "late", "upgrade", "same second, recorded later"]
        );
        assert_eq!(l.last_savepoint(), Some("same second, recorded later"));
    }

    #[test]
    fn round_trips_through_configmap_data() {
        let mut l = Ledger {
            applied_commit: "abc".into(),
            spec_hash: "h1".into(),
            source: "jobs/a.yaml".into(),
            health: Health::Degraded,
            health_reason: Some("TaskManager Deployment not available".into()),
            ..Default::default()
        };
        l.record(entry(1));
        let back = Ledger::from_data(&l.to_data()).unwrap();
        assert_eq!(
            back,
            Ledger {
                format: LEDGER_FORMAT,
                ..l
            }
        );
    }

    #[test]
    fn older_ledgers_are_read_and_newer_ones_refused() {
        // Format 1: a ledger from before formats (and before later fields) reads as is.
        let old = BTreeMap::from([(
            LEDGER_KEY.to_string(),
            r#"{"appliedCommit":"abc","specHash":"h","source":"a.yaml","spec":null,"health":"Healthy","history":[{"commit":"abc","specHash":"h","action":"create","at":"2026-01-01T00:00:00Z","result":"ok"}]}"#.to_string(),
        )]);
        let l = Ledger::from_data(&old).unwrap();
        assert_eq!((l.format, l.applied_commit.as_str()), (1, "abc"));
        assert_eq!(l.history[0].seconds, None);
        // Written back in the current format.
        assert!(l.to_data()[LEDGER_KEY].contains(&format!("\"format\": {LEDGER_FORMAT}")));
        // Format 2: times as RFC 3339 text beside Unix seconds (`unix`, `startedUnix`,
        // `phaseSince` a number): read into typed times, written back as text only.
        let two = BTreeMap::from([(
            LEDGER_KEY.to_string(),
            r#"{"format":2,"appliedCommit":"abc","specHash":"h","source":"a.yaml","spec":null,"health":"Healthy",
               "history":[{"commit":"abc","specHash":"h","action":"create","at":"2026-11-26T10:00:00Z","result":"ok"}],
               "savepoints":[{"path":"s3://b/sp-1","commit":"abc","reason":"upgrade","at":"2026-11-26T10:00:05Z","unix":1795687205}],
               "removed":{"commit":"def","at":"2026-11-26T11:00:00Z","unix":1795690800},
               "failed":{"commit":"bad","specHash":"h2","reason":"x","at":"2026-11-26T10:30:00Z"}}"#
                .to_string(),
        )]);
        let l = Ledger::from_data(&two).unwrap();
        assert_eq!(l.format, 2);
        assert_eq!(l.history[0].at.unix(), 1_795_687_200);
        assert_eq!(l.savepoints[0].at.unix(), 1_795_687_205);
        assert_eq!(l.removed.as_ref().unwrap().at.unix(), 1_795_690_800);
        assert_eq!(l.failed.as_ref().unwrap().at.unix(), 1_795_689_000);
        let written = &l.to_data()[LEDGER_KEY];
        assert!(
            written.contains("\"at\": \"2026-11-26T10:00:05Z\""),
            "{written}"
        );
        assert!(!written.contains("\"unix\""), "{written}");
        // An upgrade in flight from format 2: `startedAt` text, `startedUnix` and
        // `phaseSince` numbers.
        let up: crate::model::upgrade::Upgrade = serde_json::from_value(serde_json::json!({
            "phase": "Stopping", "action": "savepoint-upgrade", "targetCommit": "c2",
            "targetSpec": serde_json::to_value(crate::model::spec::testing::catalog(&[(
                "jobs/a.yaml",
                "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: a, namespace: ns}\nspec: {image: 'flink:2.0', job: {jarURI: 'local:///opt/flink/usrlib/job.jar'}}\n"
            )]).jobs.into_values().next().unwrap()).unwrap(),
            "targetSource": "jobs/a.yaml",
            "startedAt": "2026-11-26T10:00:00Z", "startedUnix": 1_795_687_200_u64,
            "phaseSince": 1_795_687_260_u64,
        }))
        .unwrap();
        assert_eq!(up.started_at.unix(), 1_795_687_200);
        assert_eq!(up.phase_since.seconds_since(up.started_at), 60);
        let again = serde_json::to_value(&up).unwrap();
        assert_eq!(again["phaseSince"], "2026-11-26T10:01:00Z");
        assert!(again.get("startedUnix").is_none());
        let newer = |f: &str| {
            BTreeMap::from([(
                LEDGER_KEY.to_string(),
                format!(
                    r#"{{"format":{f},"appliedCommit":"abc","specHash":"h","source":"a.yaml","health":"Healthy"}}"#
                ),
            )])
        };
        let err = Ledger::from_data(&newer("4")).unwrap_err();
        assert!(
            err.contains("newer flinkops (ledger format 4") && err.contains("left alone"),
            "{err}"
        );
        assert!(Ledger::from_data(&newer("\"2\""))
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(Ledger::from_data(&newer("3")).unwrap().format, 3);
    }

    #[test]
    fn unreadable_ledger_says_why() {
        let err = Ledger::from_data(&BTreeMap::new()).unwrap_err();
        assert_eq!(err, "no ledger.json key");
        let bad = BTreeMap::from([(LEDGER_KEY.to_string(), "{".to_string())]);
        assert!(Ledger::from_data(&bad)
            .unwrap_err()
            .starts_with("ledger.json: "));
    }
}
