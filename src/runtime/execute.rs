//! Carries out the work of one cycle: per job, apply in order, prune, then record the
//! ledger, with a bound on how many jobs are worked on at once. A failing job is
//! recorded in its ledger and does not stop the others.

use crate::edge::kube::ops;
use crate::engine::plan::Action;
use crate::engine::reconcile::{JobWork, UpgradeWork};
use crate::model::ledger::Health;
use crate::model::spec::JobId;
use crate::runtime::jar::JarFetcher;
use crate::runtime::notify::{notify, Notification};
use crate::runtime::upgrade::{Executor, Live, Reach, Step};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;
use tracing::Instrument;

/// How long a removed job's high-availability cleanup waits for its pods to go.
const HA_CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: JobId,
    pub action: Action,
    pub applied: usize,
    pub deleted: usize,
    pub drift: Vec<String>,
    pub error: Option<String>,
    /// An upgrade is in flight: run another cycle soon to carry it on.
    pub in_progress: bool,
    /// What the upgrade step did.
    pub note: Option<String>,
    /// The work was an upgrade step.
    pub upgrade: bool,
    /// In flight, waiting on something outside flinkops (see `Step::Waiting`).
    pub waiting: Option<String>,
    /// The cluster refused the work itself (see `OpError::is_terminal`): retried later,
    /// not at once.
    pub stalled: bool,
    /// The ledger's resourceVersion after the work (when it read or wrote the ledger): the
    /// job's next work waits until the watch cache has caught up with it.
    pub ledger_version: Option<String>,
    /// How long applying the job's objects took, failed applies included (None: no apply
    /// was tried).
    pub apply_seconds: Option<f64>,
    /// The upgrade phases this step moved out of, with the whole seconds each lasted.
    pub phases_ended: Vec<(crate::engine::upgrade::Phase, u64)>,
}

/// Kubernetes Events for each job that was synced or failed, on its JobManager Deployment
/// (or its ledger when it has none, like a session job).
pub fn recorder(client: &Client) -> Recorder {
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok();
    Recorder::new(
        client.clone(),
        Reporter {
            controller: crate::engine::render::MANAGER.into(),
            instance,
        },
    )
}

pub async fn execute(
    client: &Client,
    recorder: &Recorder,
    jars: &JarFetcher,
    work: Vec<JobWork>,
    concurrency: usize,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = futures::stream::iter(work)
        .map(|w| run_job(client, recorder, jars, w))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.id.cmp(&b.id));
    outcomes
}

/// One job's work, with its Event.
pub async fn run_job(
    client: &Client,
    recorder: &Recorder,
    jars: &JarFetcher,
    w: JobWork,
) -> Outcome {
    let regarding = regarding(&w);
    let commit = w.commit.clone();
    if let Some(UpgradeWork::Start(up)) = &w.upgrade {
        notify(Notification::of_job(
            "UpgradeStarted",
            false,
            &w.id,
            &up.target_commit,
            up.action.as_str(),
            &w.reasons.join("; "),
        ));
    }
    let out = execute_job(client, jars, w).await;
    publish(recorder, &out, regarding, &commit).await;
    out
}

fn regarding(w: &JobWork) -> ObjectReference {
    let renders_jm = w
        .apply
        .iter()
        .any(|o| o.kind == "Deployment" && o.name == format!("{}-jobmanager", w.id.name))
        || w.previous_ledger
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .is_some_and(|s| s.cluster.is_some());
    let (api_version, kind, name) = if renders_jm {
        ("apps/v1", "Deployment", format!("{}-jobmanager", w.id.name))
    } else {
        (
            "v1",
            "ConfigMap",
            crate::model::ledger::ledger_name(&w.id.name),
        )
    };
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(name),
        namespace: Some(w.id.namespace.clone()),
        ..Default::default()
    }
}

async fn publish(recorder: &Recorder, out: &Outcome, regarding: ObjectReference, commit: &str) {
    if out.action == Action::Delete && out.error.is_none() && !out.in_progress && out.deleted > 0 {
        // Its objects are gone (no Event: nothing left to hang it on).
        notify(Notification::of_job(
            "Removed",
            false,
            &out.id,
            commit,
            out.action.as_str(),
            out.note
                .as_deref()
                .unwrap_or("removed from Git: its objects are pruned"),
        ));
    }
    let event = match &out.error {
        // Upgrades: one Event for the outcome, none per step.
        Some(e) if out.upgrade => Event {
            type_: EventType::Warning,
            reason: "UpgradeFailed".into(),
            note: Some(truncate(e, 1000)),
            action: out.action.as_str().into(),
            secondary: None,
        },
        None if out.upgrade && out.in_progress => return,
        None if out.upgrade => Event {
            type_: EventType::Normal,
            reason: "Upgraded".into(),
            note: out.note.as_deref().map(|n| truncate(n, 1000)),
            action: out.action.as_str().into(),
            secondary: None,
        },
        Some(e) => Event {
            type_: EventType::Warning,
            reason: if out.action == Action::Error {
                "Blocked"
            } else if out.stalled {
                "Stalled"
            } else {
                "SyncFailed"
            }
            .into(),
            note: Some(truncate(e, 1000)),
            action: out.action.as_str().into(),
            secondary: None,
        },
        None if out.applied + out.deleted > 0 && out.action != Action::Delete => Event {
            type_: EventType::Normal,
            reason: if out.drift.is_empty() {
                "Synced"
            } else {
                "DriftReverted"
            }
            .into(),
            note: Some(truncate(
                &format!(
                    "{}: applied {} objects{}",
                    out.action.as_str(),
                    out.applied,
                    out.drift
                        .first()
                        .map(|d| format!("; reverted {d}"))
                        .unwrap_or_default()
                ),
                1000,
            )),
            action: out.action.as_str().into(),
            secondary: None,
        },
        // Nothing happened worth telling, or the object is gone (pruned).
        None => return,
    };
    let name = match event.reason.as_str() {
        "Upgraded" if out.action == Action::Rollback => "RolledBack",
        other => other,
    };
    notify(Notification::of_job(
        name,
        event.type_ == EventType::Warning,
        &out.id,
        commit,
        &event.action,
        event.note.as_deref().unwrap_or(""),
    ));
    if let Err(e) = recorder.publish(&event, &regarding).await {
        tracing::debug!(error = %e, "could not publish an Event");
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let cut = (0..=max)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &s[..cut])
}

/// Another writer changed the job's ledger after this cycle read it: nothing failed,
/// the work was decided on an old view. The job is looked at again soon, from the
/// newer ledger (as an upgrade step in progress is), without a failure backoff.
fn decide_again(out: &mut Outcome, e: &ops::OpError) {
    out.in_progress = true;
    out.note = Some(e.to_string());
}

async fn execute_job(client: &Client, jars: &JarFetcher, w: JobWork) -> Outcome {
    let span = tracing::info_span!("job", namespace = %w.id.namespace, job = %w.id.name, commit = %w.commit, action = w.action.as_str());
    async move {
        let out = execute_job_in_span(client, jars, w).await;
        match (&out.error, &out.note) {
            (Some(e), _) => tracing::warn!(error = %e, "not synced"),
            // An upgrade step: transitions are logged by the executor; waiting is quiet.
            (None, Some(n)) if out.in_progress => tracing::debug!(step = %n, "upgrading"),
            (None, Some(n)) => tracing::info!(result = %n, "upgraded"),
            (None, None) => tracing::info!(
                applied = out.applied,
                deleted = out.deleted,
                drift = out.drift.len(),
                "synced"
            ),
        }
        out
    }
    .instrument(span)
    .await
}

async fn execute_job_in_span(client: &Client, jars: &JarFetcher, w: JobWork) -> Outcome {
    let mut out = Outcome {
        id: w.id.clone(),
        action: w.action,
        applied: 0,
        deleted: 0,
        drift: w.drift.clone(),
        // A job that is blocked (invalid definition, held-back upgrade) has failed to sync.
        error: (w.action == Action::Error).then(|| w.reasons.join("; ")),
        in_progress: false,
        // A pruned job's reasons say what is gone and where its state was left.
        note: (w.action == Action::Delete && w.upgrade.is_none()).then(|| w.reasons.join("; ")),
        upgrade: w.upgrade.is_some(),
        waiting: None,
        stalled: false,
        ledger_version: None,
        apply_seconds: None,
        phases_ended: Vec::new(),
    };
    if let Some(u) = w.upgrade {
        let edges = Live {
            client,
            jars,
            reach: Reach::detect(),
        };
        let exec = Executor::new(&edges, crate::runtime::clock::now());
        let start = match u {
            UpgradeWork::Start(up) => Some(*up),
            UpgradeWork::Continue => None,
        };
        match exec.advance(&w.id, start).await {
            Ok(Step::InFlight(what)) => {
                out.in_progress = true;
                out.note = Some(what);
            }
            Ok(Step::Waiting(why)) => {
                out.in_progress = true;
                out.note = Some(why.clone());
                out.waiting = Some(why);
            }
            Ok(Step::Done(what)) => {
                out.note = Some(what);
                // A removed session job, now stopped: its ledger is pruned next.
                out.in_progress = w.action == Action::Delete;
            }
            // Retried (or rolled back) by the next cycles, after the failure backoff.
            Ok(Step::Failed(why)) => out.error = Some(why),
            Err(e) if e.is_conflict() => decide_again(&mut out, &e),
            Err(e) => {
                out.stalled = e.is_terminal();
                out.error = Some(e.to_string());
            }
        }
        out.applied = exec.applied.into_inner();
        out.ledger_version = exec.version.into_inner().ok().flatten();
        out.apply_seconds = exec
            .apply_time
            .into_inner()
            .ok()
            .flatten()
            .map(|t| t.as_secs_f64());
        out.phases_ended = exec.phases_ended.into_inner().unwrap_or_default();
        return out;
    }
    let result: Result<(), ops::OpError> = async {
        if !w.apply.is_empty() {
            crate::runtime::fault::point("before-sync-apply");
            let started = std::time::Instant::now();
            let applied: Result<(), ops::OpError> = async {
                for o in &w.apply {
                    ops::apply(client, o, false).await?;
                    out.applied += 1;
                }
                Ok(())
            }
            .await;
            out.apply_seconds = Some(started.elapsed().as_secs_f64());
            applied?;
        }
        for r in &w.delete {
            crate::runtime::fault::point("before-prune");
            ops::delete(client, r).await?;
            out.deleted += 1;
        }
        if w.delete_ha_metadata {
            let n = ops::delete_ha_metadata(client, &w.id, HA_CLEANUP_WAIT).await?;
            tracing::info!(
                configmaps = n,
                "removed Flink's high-availability ConfigMaps"
            );
        }
        if let Some(l) = &w.ledger {
            out.ledger_version = Some(ops::write_ledger(client, &w.id, l).await?);
        }
        if w.delete_ledger {
            ops::delete_ledger(client, &w.id).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if e.is_conflict() {
            decide_again(&mut out, &e);
            return out;
        }
        let message = e.to_string();
        tracing::debug!(error = %message, "job failed");
        // Record the failure without claiming the new spec was applied: the ledger keeps
        // the last applied spec, so the next cycle sees the change again and retries.
        out.stalled = e.is_terminal();
        if let Some(mut l) = w.previous_ledger.clone() {
            l.health = if out.stalled {
                Health::Stalled
            } else {
                Health::Degraded
            };
            l.last_error = Some(message.clone());
            if let Err(e2) = ops::write_ledger(client, &w.id, &l).await {
                tracing::warn!(error = %e2, "could not record the failure in the ledger");
            }
        }
        out.error = Some(message);
    }
    out
}
