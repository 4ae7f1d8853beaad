//! Carries out the work of one cycle: per job, apply in order, prune, then record the
//! ledger, with a bound on how many jobs are worked on at once. A failing job is
//! recorded in its ledger and does not stop the others.

use crate::cluster::ledger::Health;
use crate::cluster::ops;
use crate::plan::Action;
use crate::reconcile::JobWork;
use crate::spec::JobId;
use futures::StreamExt;
use kube::Client;
use tracing::Instrument;

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: JobId,
    pub action: Action,
    pub applied: usize,
    pub deleted: usize,
    pub drift: Vec<String>,
    pub error: Option<String>,
}

pub async fn execute(client: &Client, work: Vec<JobWork>, concurrency: usize) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = futures::stream::iter(work)
        .map(|w| async move { execute_job(client, w).await })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.id.cmp(&b.id));
    outcomes
}

async fn execute_job(client: &Client, w: JobWork) -> Outcome {
    let span = tracing::info_span!("job", namespace = %w.id.namespace, name = %w.id.name, action = w.action.as_str());
    execute_job_in_span(client, w).instrument(span).await
}

async fn execute_job_in_span(client: &Client, w: JobWork) -> Outcome {
    let mut out = Outcome {
        id: w.id.clone(),
        action: w.action,
        applied: 0,
        deleted: 0,
        drift: w.drift.clone(),
        // A job that is blocked (invalid definition, held-back upgrade) has failed to sync.
        error: (w.action == Action::Error).then(|| w.reasons.join("; ")),
    };
    let result: Result<(), ops::OpError> = async {
        for o in &w.apply {
            ops::apply(client, o, false).await?;
            out.applied += 1;
        }
        for r in &w.delete {
            ops::delete(client, r).await?;
            out.deleted += 1;
        }
        if let Some(l) = &w.ledger {
            ops::write_ledger(client, &w.id, l).await?;
        }
        if w.delete_ledger {
            ops::delete_ledger(client, &w.id).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let message = e.to_string();
        tracing::warn!(error = %message, "job failed; will retry next cycle");
        // Record the failure without claiming the new spec was applied: the ledger keeps
        // the last applied spec, so the next cycle sees the change again and retries.
        if let Some(mut l) = w.previous_ledger.clone() {
            l.health = Health::Degraded;
            l.last_error = Some(message.clone());
            if let Err(e2) = ops::write_ledger(client, &w.id, &l).await {
                tracing::warn!(error = %e2, "could not record the failure in the ledger");
            }
        }
        out.error = Some(message);
    }
    out
}
