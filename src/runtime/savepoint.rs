//! Savepoints of a running job outside upgrades: `flinkops savepoint NAMESPACE/NAME` (by
//! hand) and the daemon's periodic ones, recorded in the job's savepoint history.

use super::clock::now;
use super::upgrade::{required_savepoint_dir, rest_for, trigger_id, Reach};
use crate::edge::kube::ops;
use crate::engine::upgrade::{target_runs, SavepointRecord};
use crate::model::ledger::Ledger;
use crate::model::spec::JobId;
use anyhow::{bail, Context as _, Result};
use std::time::Duration;

/// `flinkops savepoint`: takes a savepoint of the running job `id` and records it in the
/// ledger as the apiserver has it then.
pub async fn take(client: &kube::Client, id: &JobId, timeout: Duration) -> Result<SavepointRecord> {
    let ledger = ops::read_ledger(client, id)
        .await?
        .with_context(|| format!("{id} has no ledger: flinkops does not manage it here"))?;
    let record = savepoint(client, Reach::detect(), id, &ledger, timeout, "manual").await?;
    // The daemon may write the ledger meanwhile: record on the newest one, conditionally,
    // and read again when it moved under us.
    let mut tries = 0;
    loop {
        let mut ledger = ops::read_ledger(client, id)
            .await?
            .with_context(|| format!("{id}: its ledger was removed meanwhile"))?;
        ledger.record_savepoint(record.clone());
        match ops::write_ledger(client, id, &ledger).await {
            Ok(_) => return Ok(record),
            Err(e) if e.is_conflict() && tries < 5 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Takes a savepoint of the job `ledger` says runs, without writing anything: the caller
/// records it (the daemon does so between cycles, so it never races its own writes).
pub async fn savepoint(
    client: &kube::Client,
    reach: Reach,
    id: &JobId,
    ledger: &Ledger,
    timeout: Duration,
    reason: &str,
) -> Result<SavepointRecord> {
    let (spec, rest, job) = running_job(client, reach, id, ledger).await?;
    let dir = required_savepoint_dir(&spec, None).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
    let trigger = rest
        .trigger_savepoint(&job, dir.as_deref(), Some(&trigger_id(&job, now())))
        .await?;
    let path = rest.await_savepoint(&job, &trigger, timeout).await?;
    Ok(SavepointRecord {
        path,
        commit: ledger.applied_commit.clone(),
        reason: reason.into(),
        at: now(),
    })
}

/// Takes a checkpoint of the job `ledger` says runs (Flink 1.17+), without writing
/// anything; `checkpoint N` when it is complete.
pub async fn checkpoint(
    client: &kube::Client,
    reach: Reach,
    id: &JobId,
    ledger: &Ledger,
    timeout: Duration,
) -> Result<String> {
    let (_, rest, job) = running_job(client, reach, id, ledger).await?;
    let trigger = rest
        .trigger_checkpoint(&job, Some(&trigger_id(&job, now())))
        .await?;
    Ok(rest.await_checkpoint(&job, &trigger, timeout).await?)
}

/// When the running job's latest checkpoint completed (Unix milliseconds), as its
/// JobManager says; None when it has none yet.
pub async fn latest_checkpoint_ms(
    client: &kube::Client,
    reach: Reach,
    id: &JobId,
    ledger: &Ledger,
) -> Result<Option<u64>> {
    let (_, rest, job) = running_job(client, reach, id, ledger).await?;
    Ok(rest.checkpoints(&job).await?.latest_completed_ms)
}

/// The applied spec, the REST API and the id of the one Flink job of `id` that runs.
async fn running_job(
    client: &kube::Client,
    reach: Reach,
    id: &JobId,
    ledger: &Ledger,
) -> Result<(
    crate::model::spec::JobSpec,
    crate::edge::flink::FlinkRest,
    String,
)> {
    if let Some(up) = &ledger.upgrade {
        bail!(
            "{id}: a {} is in progress ({:?}); try again when it is done",
            up.action,
            up.phase
        );
    }
    let spec = ledger
        .applied_spec()
        .with_context(|| format!("{id}: its ledger records no applied spec"))?;
    if !target_runs(&spec) {
        bail!("{id} is suspended: nothing runs to take a savepoint of");
    }
    // A session job runs in its session cluster, among other jobs.
    let home = crate::engine::session_job::rest_home(&spec);
    let rest = rest_for(client, reach, &home)
        .await
        .map_err(anyhow::Error::msg)?;
    let jobs = rest.jobs().await?;
    let running: Vec<_> = jobs
        .iter()
        .filter(|j| j.state == crate::edge::flink::JobState::Running)
        .filter(|j| crate::engine::session_job::belongs(id, &home, &j.id))
        .collect();
    let [job] = running.as_slice() else {
        bail!(
            "{id}: expected one RUNNING Flink job of it, found {:?}",
            running
        );
    };
    let job = job.id.clone();
    Ok((spec, rest, job))
}
