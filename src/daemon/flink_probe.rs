//! Asks each running application's JobManager for its Flink job's state, in the
//! background, so health can say "the Deployments are Available but the job is FAILED".
//! A JobManager that does not answer leaves the last known state ("where reachable").

use super::upgrade::{rest_for, Reach};
use crate::spec::JobId;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// JobManagers asked at once.
const CONCURRENCY: usize = 8;

#[derive(Clone, Default)]
pub struct FlinkProbe {
    /// Jobs to ask about (set by the run loop each cycle).
    pub targets: Arc<Mutex<BTreeSet<JobId>>>,
    /// What their JobManagers last said.
    pub states: Arc<Mutex<BTreeMap<JobId, String>>>,
}

impl FlinkProbe {
    /// Sets the jobs to ask about; forgets the others (their state would be stale when
    /// they come back, e.g. after an upgrade).
    pub fn set_targets(&self, ids: BTreeSet<JobId>) {
        if let Ok(mut s) = self.states.lock() {
            s.retain(|id, _| ids.contains(id));
        }
        if let Ok(mut t) = self.targets.lock() {
            *t = ids;
        }
    }

    pub fn states(&self) -> BTreeMap<JobId, String> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks every `every`; calls `changed` when a state changed.
    pub fn spawn(
        &self,
        client: kube::Client,
        every: Duration,
        changed: impl Fn() + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let reach = Reach::detect();
            loop {
                tokio::time::sleep(every).await;
                let ids: Vec<JobId> = me
                    .targets
                    .lock()
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
                let answers: Vec<(JobId, Option<String>)> = futures::stream::iter(ids)
                    .map(|id| {
                        let client = client.clone();
                        async move {
                            let state = job_state(&client, reach, &id).await;
                            (id, state)
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                let mut any = false;
                if let (Ok(mut states), Ok(targets)) = (me.states.lock(), me.targets.lock()) {
                    for (id, state) in answers {
                        let Some(state) = state else { continue };
                        if targets.contains(&id) && states.get(&id) != Some(&state) {
                            states.insert(id, state);
                            any = true;
                        }
                    }
                }
                if any {
                    changed();
                }
            }
        })
    }
}

/// The state of the job a JobManager runs: its live job's, else the last one's.
async fn job_state(client: &kube::Client, reach: Reach, id: &JobId) -> Option<String> {
    let rest = rest_for(client, reach, id).await.ok()?;
    let jobs = rest.jobs().await.ok()?;
    let live = jobs
        .iter()
        .find(|j| !matches!(j.state.as_str(), "FINISHED" | "CANCELED" | "FAILED"));
    Some(live.or(jobs.first())?.state.clone())
}
