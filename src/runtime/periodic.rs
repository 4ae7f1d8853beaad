//! Snapshots outside upgrades: periodic savepoints
//! (`kubernetes.operator.periodic.savepoint.interval`) and the savepoint or checkpoint a new
//! `savepointTriggerNonce` / `checkpointTriggerNonce` asks for. The run loop starts them in the background for jobs that are due and records the results between
//! cycles, so the savepoint history is only ever written by the loop itself (a background
//! write could be overwritten by a cycle working from a watch cache that has not seen it).

use super::savepoint::{checkpoint, savepoint};
use super::upgrade::Reach;
use crate::edge::kube::ops;
use crate::engine::upgrade::{
    checkpoint_nonce_owed, next_periodic_savepoint, periodic_savepoint_due, savepoint_nonce_owed,
    SavepointRecord,
};
use crate::model::ledger::{HistoryEntry, Ledger};
use crate::model::spec::JobId;
use crate::model::time::Timestamp;
use crate::runtime::notify::{notify, Notification};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// Savepoints taken at once.
const CONCURRENCY: usize = 4;
/// How long one may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(600);
/// After a failure, the job is tried again no sooner than this.
const RETRY_AFTER_SECS: u64 = 300;
/// A job that is due but not eligible (unhealthy, upgrading) is looked at again after
/// this, even if nothing about it changes.
const RECHECK_SECS: u64 = 30;

/// A snapshot taken.
#[derive(Debug, Clone)]
enum Taken {
    /// A savepoint, and the `savepointTriggerNonce` it answers (if it was owed one).
    Savepoint {
        record: SavepointRecord,
        nonce: Option<i64>,
    },
    /// The checkpoint a `checkpointTriggerNonce` asked for (`checkpoint N`).
    Checkpoint {
        what: String,
        nonce: i64,
        commit: String,
        at: Timestamp,
    },
}

impl Taken {
    /// Whether `ledger` records it already (the watch cache has seen the write).
    fn recorded_in(&self, ledger: &Ledger) -> bool {
        match self {
            Taken::Savepoint { record, .. } => {
                ledger.savepoints.iter().any(|s| s.path == record.path)
            }
            Taken::Checkpoint { nonce, .. } => ledger.checkpoint_nonce == Some(*nonce),
        }
    }

    fn record_in(&self, ledger: &mut Ledger) {
        match self {
            Taken::Savepoint { record, nonce } => {
                ledger.record_savepoint(record.clone());
                if nonce.is_some() {
                    ledger.savepoint_nonce = *nonce;
                }
            }
            Taken::Checkpoint {
                what,
                nonce,
                commit,
                at,
            } => {
                ledger.checkpoint_nonce = Some(*nonce);
                ledger.record(HistoryEntry {
                    commit: commit.clone(),
                    spec_hash: ledger.spec_hash.clone(),
                    action: "checkpoint".into(),
                    at: *at,
                    result: format!("{what} taken (checkpointTriggerNonce {nonce})"),
                    state_in: None,
                    state_out: None,
                    seconds: None,
                });
            }
        }
    }
}

pub struct Periodic {
    in_flight: BTreeSet<JobId>,
    /// Jobs whose last attempt failed, and when.
    failed_at: BTreeMap<JobId, u64>,
    /// Taken but not yet seen in the watch cache's ledger.
    unsettled: Vec<(JobId, Taken)>,
    done_tx: mpsc::UnboundedSender<(JobId, anyhow::Result<Taken>)>,
    done_rx: mpsc::UnboundedReceiver<(JobId, anyhow::Result<Taken>)>,
    limit: Arc<Semaphore>,
}

impl Default for Periodic {
    fn default() -> Self {
        Self::new()
    }
}

impl Periodic {
    pub fn new() -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Periodic {
            in_flight: BTreeSet::new(),
            failed_at: BTreeMap::new(),
            unsettled: Vec::new(),
            done_tx,
            done_rx,
            limit: Arc::new(Semaphore::new(CONCURRENCY)),
        }
    }

    /// Records finished savepoints in `ledgers` (the cycle's view) and writes those the
    /// cache has not seen yet. Call at the start of a leader cycle, before reconciling.
    pub async fn settle(
        &mut self,
        client: &kube::Client,
        ledgers: &mut BTreeMap<JobId, Ledger>,
        now: Timestamp,
    ) {
        let unix_now = now.unix();
        while let Ok((id, result)) = self.done_rx.try_recv() {
            self.in_flight.remove(&id);
            match result {
                Ok(taken) => {
                    tracing::info!(job = %id, ?taken, "snapshot taken");
                    self.failed_at.remove(&id);
                    self.unsettled.push((id, taken));
                }
                Err(e) => {
                    tracing::warn!(job = %id, "savepoint or checkpoint failed: {e:#}");
                    self.failed_at.insert(id, unix_now);
                }
            }
        }
        let mut still = Vec::new();
        for (id, taken) in std::mem::take(&mut self.unsettled) {
            let Some(ledger) = ledgers.get_mut(&id) else {
                continue; // the job is gone
            };
            if taken.recorded_in(ledger) {
                continue; // the cache has it: settled
            }
            taken.record_in(ledger);
            // Conditional on the cache's version: if the ledger moved on meanwhile (an
            // upgrade began), this write fails and the next cycle records the savepoint
            // on the newer ledger.
            match ops::write_ledger(client, &id, ledger).await {
                // The cycle goes on from what was just written.
                Ok(version) => ledger.resource_version = Some(version),
                Err(e) => tracing::warn!(job = %id, "recording a savepoint or checkpoint: {e}"),
            }
            still.push((id, taken));
        }
        self.unsettled = still;
    }

    /// Jobs with a savepoint in flight: the cycle holds their work until it is recorded,
    /// so an upgrade never stops a job while another savepoint of it is being taken.
    pub fn in_flight(&self) -> &BTreeSet<JobId> {
        &self.in_flight
    }

    /// Starts a savepoint for each job that is due, not in `skip` and has none in flight;
    /// `wake` is called when one finishes. Returns how long until the loop must look
    /// again: the next one falls due, or one already due could not start now.
    pub fn start_due(
        &mut self,
        client: &kube::Client,
        ledgers: &BTreeMap<JobId, Ledger>,
        skip: &BTreeSet<&JobId>,
        now: Timestamp,
        wake: impl Fn() + Clone + Send + 'static,
    ) -> Option<Duration> {
        let unix_now = now.unix();
        let mut next: Option<u64> = None;
        let mut wake_at = |at: u64| next = Some(next.map_or(at, |n| n.min(at)));
        for (id, ledger) in ledgers {
            let retry_at = self.failed_at.get(id).map(|t| t + RETRY_AFTER_SECS);
            let due = next_periodic_savepoint(ledger).map(|d| d.max(retry_at.unwrap_or(0)));
            match due {
                Some(due) if due > unix_now => wake_at(due),
                // Due but busy this cycle: looked at again in a moment, whatever else
                // happens (a quiet daemon has no other reason to run a cycle).
                Some(_) if skip.contains(id) => wake_at(unix_now + 1),
                // Due but unhealthy or upgrading: its ledger changes bring it back; this
                // is the net under that.
                Some(_) if !self.in_flight.contains(id) => wake_at(unix_now + RECHECK_SECS),
                _ => {}
            }
            let retry_ok = retry_at.is_none_or(|t| unix_now >= t);
            if skip.contains(id)
                || self.in_flight.contains(id)
                || !retry_ok
                || !periodic_savepoint_due(ledger, now)
            {
                continue;
            }
            self.in_flight.insert(id.clone());
            let checkpoint_nonce = checkpoint_nonce_owed(ledger);
            let nonce = savepoint_nonce_owed(ledger);
            let reason = match nonce {
                Some(n) => format!("savepointTriggerNonce {n}"),
                None => "periodic".to_string(),
            };
            let (client, id, ledger) = (client.clone(), id.clone(), ledger.clone());
            let (done, limit, wake) = (self.done_tx.clone(), self.limit.clone(), wake.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                let reach = Reach::detect();
                // One snapshot at a time per job: an owed checkpoint first, then a
                // savepoint (the next round takes it).
                let result = match checkpoint_nonce {
                    Some(nonce) => {
                        tracing::info!(job = %id, nonce, "taking a checkpoint");
                        checkpoint(&client, reach, &id, &ledger, TIMEOUT)
                            .await
                            .map(|what| Taken::Checkpoint {
                                what,
                                nonce,
                                commit: ledger.applied_commit.clone(),
                                at: super::clock::now(),
                            })
                    }
                    None => {
                        tracing::info!(job = %id, %reason, "taking a savepoint");
                        savepoint(&client, reach, &id, &ledger, TIMEOUT, &reason)
                            .await
                            .inspect(|record| {
                                notify(Notification::of_job(
                                    "SavepointTaken",
                                    false,
                                    &id,
                                    &record.commit,
                                    &record.reason,
                                    &record.path,
                                ))
                            })
                            .map(|record| Taken::Savepoint { record, nonce })
                    }
                };
                crate::runtime::fault::delay("periodic-savepoint-taken").await;
                let _ = done.send((id, result));
                wake();
            });
        }
        next.map(|n| Duration::from_secs(n - unix_now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::Health;
    use crate::model::spec::testing::catalog;

    fn ledger(health: Health) -> (JobId, Ledger) {
        let c = catalog(&[(
            "a.yaml",
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: j, namespace: ns}\nspec:\n  image: flink:2.0\n  flinkConfiguration:\n    kubernetes.operator.periodic.savepoint.interval: 60s\n  job: {jarURI: 'local:///j.jar', upgradeMode: savepoint}\n",
        )]);
        let spec = c.jobs.values().next().unwrap().clone();
        let l = Ledger {
            spec: Some(spec.clone()),
            health,
            savepoints: vec![SavepointRecord {
                path: "file:///sp/1".into(),
                commit: "c".into(),
                reason: "upgrade".into(),
                at: crate::model::time::Timestamp::from_unix(1_000),
            }],
            ..Default::default()
        };
        (spec.id, l)
    }

    /// A client that reaches nothing (the savepoints started here fail; not awaited).
    fn client() -> kube::Client {
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap()
    }

    #[tokio::test]
    async fn a_due_job_that_cannot_start_now_is_looked_at_again() {
        let (id, l) = ledger(Health::Healthy);
        let ledgers = BTreeMap::from([(id.clone(), l)]);
        let mut p = Periodic::new();
        // Not yet due: wake when it is.
        let wait = p.start_due(
            &client(),
            &ledgers,
            &BTreeSet::new(),
            crate::model::time::Timestamp::from_unix(1_030),
            || {},
        );
        assert_eq!(wait, Some(Duration::from_secs(30)));
        // Due, but the cycle worked on the job: again in a second, not "when it changes"
        // (a quiet daemon may see no change for hours).
        let busy = BTreeSet::from([&id]);
        let wait = p.start_due(
            &client(),
            &ledgers,
            &busy,
            crate::model::time::Timestamp::from_unix(1_060),
            || {},
        );
        assert_eq!(wait, Some(Duration::from_secs(1)));
        assert!(p.in_flight.is_empty());
        // Due and unhealthy: the net under the watches.
        let (id, l) = ledger(Health::Progressing);
        let ledgers = BTreeMap::from([(id, l)]);
        let wait = p.start_due(
            &client(),
            &ledgers,
            &BTreeSet::new(),
            crate::model::time::Timestamp::from_unix(1_060),
            || {},
        );
        assert_eq!(wait, Some(Duration::from_secs(RECHECK_SECS)));
        assert!(p.in_flight.is_empty());
    }
}
