//! Asks each running application's JobManager for its Flink job's state, in the
//! background, so health can say "the Deployments are Available but the job is FAILED".
//! A JobManager that does not answer leaves the last known state ("where reachable").

use super::upgrade::{rest_for, Reach};
use crate::model::flink::JobState;
use crate::model::spec::JobId;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// JobManagers asked at once.
const CONCURRENCY: usize = 8;

#[derive(Clone, Default)]
pub struct FlinkProbe {
    /// Jobs to ask about, with the cluster whose REST API runs each (itself, or a
    /// session job's session cluster); set by the run loop each cycle.
    pub targets: Arc<Mutex<BTreeMap<JobId, JobId>>>,
    /// What their JobManagers last said.
    pub states: Arc<Mutex<BTreeMap<JobId, JobState>>>,
}

impl FlinkProbe {
    /// Sets the jobs to ask about; forgets the others (their state would be stale when
    /// they come back, e.g. after an upgrade).
    pub fn set_targets(&self, ids: BTreeMap<JobId, JobId>) {
        if let Ok(mut s) = self.states.lock() {
            s.retain(|id, _| ids.contains_key(id));
        }
        if let Ok(mut t) = self.targets.lock() {
            *t = ids;
        }
    }

    pub fn states(&self) -> BTreeMap<JobId, JobState> {
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
                let ids: Vec<(JobId, JobId)> = me
                    .targets
                    .lock()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let answers: Vec<(JobId, Option<JobState>)> = futures::stream::iter(ids)
                    .map(|(id, home)| {
                        let client = client.clone();
                        async move {
                            let state = job_state(&client, reach, &id, &home).await;
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
                        if targets.contains_key(&id) && states.get(&id) != Some(&state) {
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

/// The state of the job a JobManager runs: its live job's, else the last one's. In a
/// session cluster (`home` is not the job), only the job's own Flink jobs count.
async fn job_state(
    client: &kube::Client,
    reach: Reach,
    id: &JobId,
    home: &JobId,
) -> Option<JobState> {
    let rest = rest_for(client, reach, home).await.ok()?;
    let jobs: Vec<_> = rest
        .jobs()
        .await
        .ok()?
        .into_iter()
        .filter(|j| crate::engine::session_job::belongs(id, home, &j.id))
        .collect();
    let live = jobs.iter().find(|j| !j.state.is_terminal());
    match live.or(jobs.first()) {
        Some(j) => Some(j.state.clone()),
        None if home != id => Some(JobState::Missing),
        None => None,
    }
}
