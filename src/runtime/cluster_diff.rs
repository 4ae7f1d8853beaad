//! `flinkops diff --cluster`: what a sync would do now. The decision is the sync's own
//! (reconcile against the watch caches and ledgers, drift included); each object to apply
//! is sent as a server-side dry-run apply, so the diff compares what the apiserver would
//! store with what it stores, and defaulted fields make no noise.

use super::sync::{options_now, scope};
use crate::edge::git::Repo;
use crate::edge::kube::cache::{self, Cache};
use crate::edge::kube::ops;
use crate::engine::diff::{object_diffs, Report};
use crate::engine::plan::{Action, JobPlan, Plan};
use crate::engine::reconcile::{self, LiveObject};
use crate::engine::render::Object;
use crate::model::spec;
use std::collections::BTreeSet;
use std::time::Duration;

/// Server-populated fields that say nothing about what was asked for.
fn normalized(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = body["metadata"].as_object_mut() {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
        ] {
            m.remove(k);
        }
    }
    body
}

fn as_object(l: &LiveObject) -> Object {
    let kind = crate::model::kinds::ManagedKind::find(&l.kind).map_or("Unknown", |k| k.kind);
    Object {
        api_version: "",
        kind,
        namespace: l.namespace.clone(),
        name: l.name.clone(),
        body: normalized(l.body()),
    }
}

pub async fn cluster_diff(
    client: &kube::Client,
    repo: &Repo,
    rev: &str,
    path: &str,
    namespaces: &[String],
) -> anyhow::Result<Report> {
    let snapshot = repo.snapshot(rev, path)?;
    let catalog = spec::load(&snapshot);
    let scope = scope(namespaces, &catalog);
    let cache = Cache::start(client, scope.as_deref());
    cache
        .ready(Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;
    let live = cache.objects();
    let (ledgers, _) = cache::ledgers(&live);
    let opts = options_now(scope.map(|v| v.into_iter().collect::<BTreeSet<_>>()));
    let work = reconcile::reconcile(&catalog, &snapshot.commit, &live, &ledgers, &opts);
    let find = |kind: &str, ns: &str, name: &str| {
        live.iter()
            .find(|l| l.kind == kind && l.namespace == ns && l.name == name)
    };
    let mut jobs = Vec::new();
    let mut objects = Vec::new();
    let mut with_work = BTreeSet::new();
    for w in &work {
        with_work.insert(w.id.clone());
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for o in &w.apply {
            let dry = ops::apply(client, o, true).await?;
            let mut body = serde_json::to_value(&dry)?;
            body["apiVersion"] = o.body["apiVersion"].clone();
            body["kind"] = o.body["kind"].clone();
            new.push(Object {
                body: normalized(body),
                ..o.clone()
            });
            if let Some(l) = find(o.kind, &o.namespace, &o.name) {
                old.push(as_object(l));
            }
        }
        for r in &w.delete {
            if let Some(l) = find(&r.kind, &r.namespace, &r.name) {
                old.push(as_object(l));
            }
        }
        objects.extend(object_diffs(&old, &new));
        let mut reasons = w.reasons.clone();
        reasons.extend(w.drift.iter().map(|d| format!("drift: {d}")));
        let action = if w.action == Action::None && !w.apply.is_empty() {
            Action::Update
        } else {
            w.action
        };
        // Old: what the ledger says runs.
        let applied = ledgers.get(&w.id).and_then(|l| l.applied_spec());
        let (restarts, mut state) =
            crate::engine::plan::impact(action, applied.as_ref(), catalog.jobs.get(&w.id));
        // Added again after its removal: it resumes from its tombstone's last savepoint.
        let tombstone = ledgers.get(&w.id).filter(|l| l.removed.is_some());
        if action == Action::Create && tombstone.and_then(|l| l.last_savepoint()).is_some() {
            state = Some(crate::engine::plan::Carry::LastRecorded);
        }
        jobs.push(JobPlan {
            namespace: w.id.namespace.clone(),
            name: w.id.name.clone(),
            kind: catalog.jobs.get(&w.id).map(|s| s.kind),
            action,
            reasons,
            source: catalog.jobs.get(&w.id).map(|s| s.source.file.clone()),
            errors: catalog.blocked.get(&w.id).cloned().unwrap_or_default(),
            state_loss: w.state_loss.clone(),
            restarts,
            state,
            live: None,
        });
    }
    // Jobs with nothing to do, to list them as unchanged.
    for (id, s) in &catalog.jobs {
        if !with_work.contains(id) {
            jobs.push(JobPlan {
                namespace: id.namespace.clone(),
                name: id.name.clone(),
                kind: Some(s.kind),
                action: Action::None,
                reasons: Vec::new(),
                source: Some(s.source.file.clone()),
                errors: Vec::new(),
                state_loss: None,
                restarts: false,
                state: None,
                live: None,
            });
        }
    }
    jobs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let errors = catalog.errors_naming_no_job().cloned().collect();
    let mut plan = Plan { jobs, errors };
    let reach = super::upgrade::Reach::detect();
    super::live_impact::add(client, &mut plan, &ledgers, reach).await;
    Ok(Report {
        base: "cluster".into(),
        head: snapshot.commit,
        plan,
        objects,
    })
}
