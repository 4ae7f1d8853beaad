//! `flinkops savepoint NAMESPACE/NAME`: a savepoint of a running job, taken by hand and
//! recorded in the job's savepoint history.

use super::sync::now_rfc3339;
use super::upgrade::{rest_for, savepoint_dir, trigger_id, Reach};
use crate::cluster::ops;
use crate::spec::JobId;
use crate::upgrade::{target_runs, SavepointRecord};
use anyhow::{bail, Context as _, Result};
use std::time::Duration;

pub async fn take(client: &kube::Client, id: &JobId, timeout: Duration) -> Result<SavepointRecord> {
    let ledger = ops::read_ledger(client, id)
        .await?
        .with_context(|| format!("{id} has no ledger: flinkops does not manage it here"))?;
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
    let Some(dir) = savepoint_dir(&spec, None) else {
        bail!("{id}: no savepoint directory (execution.checkpointing.savepoint-dir)");
    };
    let rest = rest_for(client, Reach::detect(), id)
        .await
        .map_err(anyhow::Error::msg)?;
    let jobs = rest.jobs().await?;
    let running: Vec<_> = jobs.iter().filter(|j| j.state == "RUNNING").collect();
    let [job] = running.as_slice() else {
        bail!("{id}: expected one RUNNING Flink job, found {:?}", jobs);
    };
    let trigger = rest
        .trigger_savepoint(
            &job.id,
            &dir,
            Some(&trigger_id(&job.id, super::sync::unix_now())),
        )
        .await?;
    let path = rest.await_savepoint(&job.id, &trigger, timeout).await?;
    // Read the ledger again: the daemon may have written it meanwhile.
    let mut ledger = ops::read_ledger(client, id).await?.unwrap_or(ledger);
    let record = SavepointRecord {
        path,
        commit: ledger.applied_commit.clone(),
        reason: "manual".into(),
        at: now_rfc3339(),
    };
    ledger.record_savepoint(record.clone());
    ops::write_ledger(client, id, &ledger).await?;
    Ok(record)
}
