//! `diff --live` and `diff --cluster`: each job a plan changes gets what only the cluster
//! knows (`live_facts`): from its ledger, and from the JobManager of a job that would
//! restart, the time of its latest checkpoint. Each JobManager is asked once, bounded in
//! time; one that does not answer adds nothing, and never fails the plan.

use super::upgrade::Reach;
use crate::engine::plan::Plan;
use crate::model::ledger::Ledger;
use crate::model::spec::JobId;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// One JobManager's answer, at most.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// JobManagers asked at once.
const CONCURRENCY: usize = 8;

pub async fn add(
    client: &kube::Client,
    plan: &mut Plan,
    ledgers: &BTreeMap<JobId, Ledger>,
    reach: Reach,
) {
    let asked: Vec<(JobId, &Ledger)> = plan
        .jobs
        .iter()
        .filter(|j| j.restarts)
        .filter_map(|j| {
            let id = j.id();
            let l = ledgers.get(&id)?;
            (l.upgrade.is_none() && l.removed.is_none()).then_some((id, l))
        })
        .collect();
    let checkpoints: BTreeMap<JobId, u64> = futures::stream::iter(asked)
        .map(|(id, l)| async move {
            let ms = tokio::time::timeout(
                ASK_TIMEOUT,
                super::savepoint::latest_checkpoint_ms(client, reach, &id, l),
            )
            .await;
            match ms {
                Ok(Ok(Some(ms))) => Some((id, ms)),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    tracing::debug!(job = %id, error = %e, "no checkpoint time for the plan");
                    None
                }
                Err(_) => {
                    tracing::debug!(job = %id, "its JobManager did not answer in time");
                    None
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    crate::engine::plan::add_live(plan, ledgers, &checkpoints, now_ms);
}
