//! One reconcile decision: the catalog at a commit against what the cluster holds (live
//! objects from watch caches, and the ledgers) → per job, what to apply, what to prune and
//! the ledger to write. Pure: the daemon's edges read the cluster and carry the work out.

use crate::engine::drift::first_difference;
use crate::engine::ownership::yield_foreign_fields;
use crate::engine::plan::{self, Action};
use crate::engine::render::{self, Object, ANN_SPEC_HASH};
use crate::engine::upgrade::Upgrade;
use crate::model::flink::JobState as FlinkState;
use crate::model::ledger::{Health, HistoryEntry, Ledger};
use crate::model::spec::JobKind;
use crate::model::spec::{Catalog, JobId, JobState, UpgradeMode};
use crate::model::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Annotation that keeps an object from being pruned: `flinkops.io/prune: "false"`.
pub const ANN_PRUNE: &str = "flinkops.io/prune";

pub use crate::model::objects::{LiveObject, ObjectRef};

#[derive(Debug, Clone)]
pub struct Options {
    /// Namespaces flinkops may write to; None: any namespace the settings allow.
    pub namespaces: Option<BTreeSet<String>>,
    /// The time the cycle decides at (history entries, upgrade phase deadlines).
    pub now: Timestamp,
    /// Flink job states seen through the REST API (only jobs whose JobManager answered).
    pub flink_states: BTreeMap<JobId, FlinkState>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobWork {
    pub id: JobId,
    /// The commit this cycle works from (for logs and events).
    pub commit: String,
    pub action: Action,
    pub reasons: Vec<String>,
    /// What the action loses of the job's state, when Git says to lose it (the plan's).
    pub state_loss: Option<String>,
    /// Objects to apply, in apply order.
    pub apply: Vec<Object>,
    /// Hand edits found (and reverted by applying), one line each.
    pub drift: Vec<String>,
    /// Objects to delete (prune).
    pub delete: Vec<ObjectRef>,
    /// The ledger to write after the work succeeds; None leaves it as it is.
    pub ledger: Option<Ledger>,
    /// Whether the job's ledger is deleted too (the job is gone from Git).
    pub delete_ledger: bool,
    /// Whether Flink's high-availability ConfigMaps of the job are deleted, once its pods
    /// are gone (the job is gone from Git; Flink leaves them behind).
    pub delete_ha_metadata: bool,
    /// The ledger as it was, to record a failure in without claiming the new spec.
    pub previous_ledger: Option<Ledger>,
    /// A change that carries the job's state (savepoint, checkpoint) across a restart:
    /// carried out by the upgrade executor instead of `apply`.
    pub upgrade: Option<UpgradeWork>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpgradeWork {
    /// Record this upgrade in the ledger and carry it out.
    Start(Box<Upgrade>),
    /// Carry on with the upgrade recorded in the ledger.
    Continue,
}

impl JobWork {
    pub fn is_noop(&self) -> bool {
        self.upgrade.is_none()
            && self.apply.is_empty()
            && self.delete.is_empty()
            && self.ledger.is_none()
            && !self.delete_ledger
            && !self.delete_ha_metadata
    }
}

/// Jobs the last reconcile at this commit found needing nothing, with a fingerprint of
/// everything else that decision read (its plan, its ledger's and objects' resource
/// versions, its Flink state); the commit fixes its spec. A job with the same fingerprint
/// needs nothing again, so a daemon cycle renders and compares only the jobs whose inputs
/// changed.
#[derive(Debug, Default)]
pub struct Quiet {
    commit: String,
    jobs: BTreeMap<JobId, u64>,
}

/// Decides the work for every job on either side. Jobs outside the allowed namespaces are
/// never touched; nothing is pruned when the repository did not load as a whole, for a
/// job whose definition is broken, when `prune: false`, or from an object annotated
/// `flinkops.io/prune: "false"`.
pub fn reconcile<L: std::borrow::Borrow<LiveObject>>(
    catalog: &Catalog,
    commit: &str,
    live: &[L],
    ledgers: &BTreeMap<JobId, Ledger>,
    opts: &Options,
) -> Vec<JobWork> {
    reconcile_quietly(catalog, commit, live, ledgers, opts, &mut Quiet::default())
}

/// `reconcile`, skipping the jobs `quiet` knows need nothing with the same inputs, and
/// updating it. Every input of a job's decision is in its fingerprint; a new commit (new
/// settings, new plan) starts afresh.
pub fn reconcile_quietly<L: std::borrow::Borrow<LiveObject>>(
    catalog: &Catalog,
    commit: &str,
    live: &[L],
    ledgers: &BTreeMap<JobId, Ledger>,
    opts: &Options,
    quiet: &mut Quiet,
) -> Vec<JobWork> {
    if quiet.commit != commit {
        *quiet = Quiet {
            commit: commit.to_string(),
            jobs: BTreeMap::new(),
        };
    }
    let allowed = |ns: &str| {
        opts.namespaces.as_ref().is_none_or(|s| s.contains(ns))
            && catalog
                .settings
                .namespaces
                .as_ref()
                .is_none_or(|s| s.iter().any(|a| a == ns))
    };
    let mut by_job: BTreeMap<JobId, Vec<&LiveObject>> = BTreeMap::new();
    let mut ledger_versions: BTreeMap<JobId, &str> = BTreeMap::new();
    for o in live.iter().map(|o| o.borrow()) {
        match o.job() {
            Some(id) if o.is_ledger() => {
                ledger_versions.insert(id, &o.resource_version);
            }
            Some(id) => by_job.entry(id).or_default().push(o),
            None => {}
        }
    }
    // A tombstone is what runs only for a job Git defines again (it resumes from it);
    // otherwise it is history, not a job to delete every cycle.
    let observed: BTreeMap<JobId, crate::model::spec::JobSpec> = ledgers
        .iter()
        .filter(|(id, l)| l.removed.is_none() || catalog.jobs.contains_key(*id))
        .filter_map(|(id, l)| Some((id.clone(), l.applied_spec()?)))
        .collect();
    let plan = plan::plan(&observed, catalog);
    let tombstones = ledgers
        .iter()
        .filter(|(id, l)| l.removed.is_some() && !catalog.jobs.contains_key(*id))
        .map(|(id, _)| id.clone());
    let ids: BTreeSet<JobId> = plan
        .jobs
        .iter()
        .map(plan::JobPlan::id)
        .chain(by_job.keys().cloned())
        .chain(tombstones)
        .collect();
    let plans: BTreeMap<JobId, &plan::JobPlan> = plan.jobs.iter().map(|p| (p.id(), p)).collect();

    let mut out = Vec::new();
    for id in ids {
        if !allowed(&id.namespace) {
            continue;
        }
        // Its ledger exists but cannot be read (damaged, or written by a newer flinkops):
        // without it nothing is known of the job's state, so nothing is done to it (the
        // caller reports the ledger). Acting would re-create the job from nothing.
        if ledger_versions.contains_key(&id) && !ledgers.contains_key(&id) {
            continue;
        }
        let objects = by_job.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let ledger = ledgers.get(&id);
        let p = plans.get(&id).copied();
        let print = fingerprint(
            p,
            ledger_versions.get(&id).copied(),
            objects,
            opts.flink_states.get(&id),
        );
        if quiet.jobs.get(&id) == Some(&print) {
            continue;
        }
        let mut work = JobWork {
            id: id.clone(),
            commit: commit.to_string(),
            action: p.map_or(Action::None, |p| p.action),
            reasons: p.map(|p| p.reasons.clone()).unwrap_or_default(),
            state_loss: p.and_then(|p| p.state_loss.clone()),
            apply: Vec::new(),
            drift: Vec::new(),
            delete: Vec::new(),
            ledger: None,
            delete_ledger: false,
            delete_ha_metadata: false,
            previous_ledger: ledger.cloned(),
            upgrade: None,
        };
        if let Some(removed) = ledger.and_then(|l| l.removed.as_ref()) {
            if !catalog.jobs.contains_key(&id) && objects.is_empty() {
                // A tombstone: kept for its retention, then forgotten.
                let age = opts.now.seconds_since(removed.at);
                if age >= catalog.settings.tombstone_retention_secs && catalog.settings.prune {
                    work.action = Action::Delete;
                    work.reasons = vec![format!(
                        "the tombstone of a job removed at {} expired",
                        removed.at
                    )];
                    work.delete_ledger = true;
                    out.push(work);
                } else {
                    quiet.jobs.insert(id, print);
                }
                continue;
            }
        }
        let superseded = |up: &Upgrade| {
            up.phase == crate::engine::upgrade::Phase::Pending
                && catalog
                    .jobs
                    .get(&id)
                    .is_some_and(|s| render::spec_hash(s) != render::spec_hash(&up.target()))
        };
        if let Some(up) = ledger
            .and_then(|l| l.upgrade.as_ref())
            .filter(|up| !superseded(up))
        {
            // An upgrade in flight is finished first, to the target it recorded; what Git
            // says now is the next change.
            work.upgrade = Some(UpgradeWork::Continue);
            work.action = up.action;
            work.reasons = vec![format!("{} in progress ({:?})", up.action, up.phase)];
            out.push(work);
            continue;
        }
        if let Some(spec) = catalog.jobs.get(&id) {
            let hash = render::spec_hash(spec);
            let failed_head = ledger
                .and_then(|l| l.failed.as_ref())
                .filter(|f| f.spec_hash == hash);
            if work.action == Action::Error {
                // Refused by the plan (guardStateLoss): what runs is left as it is.
                if let Some(l) = ledger {
                    let why = work.reasons.join("; ");
                    if l.last_error.as_deref() != Some(why.as_str()) {
                        let mut next = l.clone();
                        next.last_error = Some(why);
                        work.ledger = Some(next);
                    }
                }
            } else if let Some(f) = failed_head {
                // This spec already failed to deploy: wait for Git to change the job.
                blocked_by_failure(ledger, f, &mut work);
            } else if spec.kind == JobKind::SessionJob && submits(spec, work.action) {
                // Nothing of a session job is applied: it is submitted to its cluster's
                // REST API by the upgrade executor, whatever its upgradeMode.
                let mut up = Upgrade::new(work.action, commit, spec, opts.now);
                up.cluster_hash = restarting_cluster(spec, &plans, catalog);
                work.upgrade = Some(UpgradeWork::Start(Box::new(up)));
            } else if let Some(why) = rerendered(spec, objects, ledger, work.action) {
                // The definition is unchanged, but this flinkops renders its Flink
                // configuration differently from what the pods run (a flinkops upgrade):
                // applying it as drift would replace the pods without the job's state.
                let mode = spec
                    .job
                    .as_ref()
                    .map_or(UpgradeMode::Savepoint, |j| j.upgrade_mode);
                work.action = plan::upgrade_action(mode);
                work.reasons = vec![why];
                work.upgrade = Some(UpgradeWork::Start(Box::new(Upgrade::new(
                    work.action,
                    commit,
                    spec,
                    opts.now,
                ))));
            } else if needs_state_transfer(spec, work.action) {
                // Stateless jobs are simply redeployed: their Deployments are Recreate, so
                // the old JobManager is gone before the new one starts.
                work.upgrade = Some(UpgradeWork::Start(Box::new(Upgrade::new(
                    work.action,
                    commit,
                    spec,
                    opts.now,
                ))));
            } else if let Some(waiting) =
                session_jobs_to_stop_first(spec, work.action, catalog, ledgers)
            {
                // Replacing the pods now would kill these jobs without their savepoints.
                let names: Vec<String> = waiting
                    .iter()
                    .map(|(name, stuck)| match stuck {
                        Some(why) => format!("{name} ({why}: fix or suspend it)"),
                        None => name.clone(),
                    })
                    .collect();
                work.reasons.push(format!(
                    "waiting for session jobs {} to stop with their savepoints before the cluster restarts",
                    names.join(", ")
                ));
                // One that cannot stop by itself needs a person: say so as an error.
                if waiting.iter().any(|(_, stuck)| stuck.is_some()) {
                    work.action = Action::Error;
                }
            } else {
                desired_job(spec, commit, objects, ledger, catalog, opts, &mut work);
            }
        } else if catalog.blocked.contains_key(&id) || work.action == Action::Error {
            // Broken definition: leave what runs alone, say so in the ledger.
            if let Some(l) = ledger {
                let errors = p.map(|p| {
                    p.errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                let mut next = l.clone();
                next.health = Health::Blocked;
                next.last_error = errors
                    .filter(|e| !e.is_empty())
                    .or_else(|| Some(work.reasons.join("; ")));
                if &next != l {
                    work.ledger = Some(next);
                }
            }
        } else if catalog.settings.prune && catalog.settings_errors.is_empty() {
            // Gone from Git: prune, unless protected.
            work.action = Action::Delete;
            if let Some((stop, applied)) = running_job_to_stop(ledger) {
                // Its Flink job is stopped with a savepoint first (a session job has no
                // objects whose removal would stop it; an application's pods would die
                // without one); its objects are pruned once it no longer runs.
                work.reasons = vec![
                    "no longer defined in Git: its Flink job stops with a savepoint before its objects are removed"
                        .into(),
                ];
                work.upgrade = Some(UpgradeWork::Start(Box::new(Upgrade::new(
                    Action::Delete,
                    applied,
                    &stop,
                    opts.now,
                ))));
            } else {
                for o in objects {
                    if o.annotations.get(ANN_PRUNE).map(String::as_str) != Some("false") {
                        work.delete.push(object_ref(o));
                    }
                }
                let all_gone = work.delete.len() == objects.len();
                match ledger {
                    // The savepoint lineage stays as a tombstone: adding the job again
                    // resumes from its last savepoint.
                    Some(l) if all_gone && keeps_lineage(l) && l.removed.is_none() => {
                        let mut next = l.clone();
                        next.removed = Some(crate::model::ledger::Removal {
                            commit: commit.to_string(),
                            at: opts.now,
                        });
                        next.upgrade = None;
                        next.health = Health::Suspended;
                        next.health_reason =
                            Some("removed from Git; its savepoints are kept".into());
                        // The lineage names the commit that removed it (the stop, if any,
                        // is recorded under the commit that ran).
                        next.record(HistoryEntry {
                            commit: commit.to_string(),
                            spec_hash: l.spec_hash.clone(),
                            action: "removed".into(),
                            at: opts.now,
                            result: "removed from Git: its objects are pruned, its savepoints kept"
                                .into(),
                            state_in: None,
                            state_out: None,
                            seconds: None,
                        });
                        work.ledger = Some(next);
                    }
                    Some(l) if l.removed.is_some() => {}
                    Some(_) => work.delete_ledger = all_gone,
                    None => {}
                }
                // Once, as the job leaves (its ledger becomes a tombstone or goes).
                work.delete_ha_metadata = all_gone
                    && (work.delete_ledger || work.ledger.is_some())
                    && ledger
                        .and_then(|l| l.spec.as_ref())
                        .is_some_and(|s| render::config::high_availability(&s.flink_configuration));
                if work.reasons.is_empty() {
                    work.reasons.push("no longer defined in Git".into());
                }
                if let Some(sp) = ledger.and_then(Ledger::last_savepoint) {
                    work.reasons.push(format!(
                        "its last savepoint {sp} is kept: adding the job again resumes from it"
                    ));
                }
                if work.delete_ha_metadata {
                    work.reasons.push(format!(
                        "Flink's high-availability ConfigMaps ({}) are removed once its pods are gone",
                        render::config::ha_selector(&id.name)
                    ));
                }
            }
        }
        if !work.is_noop() || work.action != Action::None {
            quiet.jobs.remove(&id);
            out.push(work);
        } else {
            quiet.jobs.insert(id, print);
        }
    }
    out
}

/// Everything a job's decision reads beyond the commit's catalog (which `Quiet` is kept
/// per commit for), hashed (in-process only).
fn fingerprint(
    plan: Option<&plan::JobPlan>,
    ledger_version: Option<&str>,
    objects: &[&LiveObject],
    flink_state: Option<&FlinkState>,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    plan.map(|p| (p.action.as_str(), &p.reasons)).hash(&mut h);
    ledger_version.hash(&mut h);
    let mut versions: Vec<(&str, &str, &str)> = objects
        .iter()
        .map(|o| {
            (
                o.kind.as_str(),
                o.name.as_str(),
                o.resource_version.as_str(),
            )
        })
        .collect();
    versions.sort_unstable();
    versions.hash(&mut h);
    flink_state.hash(&mut h);
    h.finish()
}

/// Why a running stateful application whose definition did not change must restart:
/// applying what this flinkops renders would replace its pods (a JobManager or
/// TaskManager pod template, its Flink configuration hash included, differs from the
/// live one), which happens when a flinkops upgrade renders the same definition
/// differently, or when someone edited a template by hand. Applied as drift, that would
/// restart the job without its state. None otherwise (a stateless job or a session
/// cluster has its pods replaced as drift, as before).
fn rerendered(
    spec: &crate::model::spec::JobSpec,
    live: &[&LiveObject],
    ledger: Option<&Ledger>,
    action: Action,
) -> Option<String> {
    let job = spec.job.as_ref()?;
    if action != Action::None
        || spec.kind != JobKind::Application
        || job.state != JobState::Running
        || job.upgrade_mode == UpgradeMode::Stateless
    {
        return None;
    }
    let rendered = render::render(
        spec,
        &render::Context {
            commit: "",
            restore_from: ledger?.restore_from.as_deref(),
        },
    );
    rendered
        .objects
        .iter()
        .filter(|o| o.kind == "Deployment")
        .find_map(|o| {
            let running = live
                .iter()
                .find(|l| l.kind == "Deployment" && l.name == o.name)?
                .body();
            // Desired is a subset of live: what the apiserver defaulted is not a change.
            let d = crate::engine::drift::first_difference(
                o.body.pointer("/spec/template")?,
                running.pointer("/spec/template")?,
            )?;
            Some(format!(
                "the definition is unchanged, but applying this flinkops' render would replace the pods of {} ({d}: after a flinkops upgrade, or an edit outside Git): the job restarts with its state to take it",
                o.name
            ))
        })
}

fn needs_state_transfer(spec: &crate::model::spec::JobSpec, action: Action) -> bool {
    let stateful = spec
        .job
        .as_ref()
        .is_some_and(|j| j.upgrade_mode != crate::model::spec::UpgradeMode::Stateless);
    stateful
        && matches!(
            action,
            Action::SavepointUpgrade
                | Action::LastStateUpgrade
                | Action::Redeploy
                | Action::Suspend
                | Action::Resume
                | Action::Restart
        )
}

fn blocked_by_failure(
    ledger: Option<&Ledger>,
    failed: &crate::engine::upgrade::FailedTarget,
    work: &mut JobWork,
) {
    let why = format!(
        "commit {} failed to deploy{}: {}; waiting for a new commit",
        crate::model::escape::short_commit(&failed.commit),
        if failed.rolled_back {
            " and was rolled back"
        } else {
            ""
        },
        failed.reason
    );
    work.reasons = vec![why.clone()];
    work.action = Action::Error;
    if let Some(l) = ledger {
        if l.last_error.as_deref() != Some(why.as_str()) {
            let mut next = l.clone();
            next.last_error = Some(why);
            work.ledger = Some(next);
        }
    }
}

/// The spec that stops a removed job whose ledger says it runs with state to keep (its
/// applied spec, suspended) and the commit it was applied at: a session job (removing
/// objects would not stop it) or a stateful application (removing its pods would lose
/// the state). None for anything else.
fn running_job_to_stop(ledger: Option<&Ledger>) -> Option<(crate::model::spec::JobSpec, &str)> {
    let l = ledger?;
    let mut spec = l.applied_spec()?;
    if !crate::engine::upgrade::target_runs(&spec) {
        return None;
    }
    let job = spec.job.as_mut()?;
    if spec.kind != JobKind::SessionJob
        && job.upgrade_mode == crate::model::spec::UpgradeMode::Stateless
    {
        return None;
    }
    job.state = JobState::Suspended;
    Some((spec, l.applied_commit.as_str()))
}

/// Whether a removed job's ledger is kept as a tombstone: it has state to come back to.
fn keeps_lineage(l: &Ledger) -> bool {
    !l.savepoints.is_empty() || l.restore_from.is_some()
}

/// Whether a change to a session job goes to its session cluster: every change that
/// (re)starts or stops its Flink job, and a first deployment that runs.
fn submits(spec: &crate::model::spec::JobSpec, action: Action) -> bool {
    action.restarts_job()
        || matches!(action, Action::Suspend | Action::Resume)
        || (action == Action::Create && crate::engine::upgrade::target_runs(spec))
}

/// The spec hash a session job's cluster restarts to in this change, if it does: the job
/// is submitted only to the cluster's new pods.
fn restarting_cluster(
    spec: &crate::model::spec::JobSpec,
    plans: &BTreeMap<JobId, &plan::JobPlan>,
    catalog: &Catalog,
) -> Option<String> {
    let cluster = crate::engine::session_job::cluster_of(spec)?;
    let restarts = plans.get(&cluster).is_some_and(|p| p.action.restarts_job());
    if !restarts {
        return None;
    }
    catalog.jobs.get(&cluster).map(render::spec_hash)
}

/// For a session cluster whose pods are about to be replaced: the session jobs its
/// ledgers say still run there and have not yet stopped with a savepoint (their upgrades
/// come from the plan's cascade), each with why it cannot stop by itself, if it cannot. Read from the ledgers, not the catalog, so a job whose
/// definition is broken or whose upgrade gave up holds the restart too: replacing the
/// pods would kill it without a savepoint. None when there are none.
fn session_jobs_to_stop_first(
    cluster: &crate::model::spec::JobSpec,
    action: Action,
    catalog: &Catalog,
    ledgers: &BTreeMap<JobId, Ledger>,
) -> Option<Vec<(String, Option<&'static str>)>> {
    if !action.restarts_job() || cluster.job.is_some() {
        return None;
    }
    let waiting: Vec<(String, Option<&'static str>)> = ledgers
        .iter()
        .filter(|(_, l)| {
            l.applied_spec().is_some_and(|a| {
                crate::engine::session_job::cluster_of(&a).as_ref() == Some(&cluster.id)
                    && crate::engine::upgrade::target_runs(&a)
            })
        })
        .filter(|(_, l)| {
            l.upgrade.as_ref().is_none_or(|u| {
                matches!(
                    u.phase,
                    crate::engine::upgrade::Phase::Pending
                        | crate::engine::upgrade::Phase::Stopping
                )
            })
        })
        .map(|(id, l)| {
            let stuck = if catalog.blocked.contains_key(id) {
                Some("its definition is invalid")
            } else if l.failed.is_some() && l.upgrade.is_none() {
                Some("its upgrade failed")
            } else {
                None
            };
            (id.name.clone(), stuck)
        })
        .collect();
    (!waiting.is_empty()).then_some(waiting)
}

fn object_ref(o: &LiveObject) -> ObjectRef {
    ObjectRef {
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
    }
}

fn desired_job(
    spec: &crate::model::spec::JobSpec,
    commit: &str,
    live: &[&LiveObject],
    ledger: Option<&Ledger>,
    catalog: &Catalog,
    opts: &Options,
    work: &mut JobWork,
) {
    let hash = render::spec_hash(spec);
    let unchanged = ledger.is_some_and(|l| l.spec_hash == hash && l.source == spec.source.file);
    // An unchanged job keeps the commit it was applied at: nothing to rewrite.
    let applied_commit = match ledger {
        Some(l) if unchanged => l.applied_commit.clone(),
        _ => commit.to_string(),
    };
    // The applied objects restore from what the ledger says (re-rendering them must not
    // drop it); a first deployment starts from initialSavepointPath, if any; a stateless
    // restart starts empty.
    let restore_from = match ledger {
        Some(_) if work.action.restarts_job() => None,
        Some(l) => l.restore_from.clone(),
        None => render::first_restore(spec).map(str::to_string),
    };
    let rendered = render::render(
        spec,
        &render::Context {
            commit: &applied_commit,
            restore_from: restore_from.as_deref(),
        },
    );
    let mut desired = rendered.objects;
    desired.sort_by_key(|o| crate::model::kinds::ManagedKind::apply_rank(o.kind));
    let find = |o: &Object| {
        live.iter()
            .find(|l| l.kind == o.kind && l.name == o.name && l.namespace == o.namespace)
    };
    for o in &desired {
        let Some(l) = find(o) else {
            if unchanged {
                work.drift
                    .push(format!("{} {}/{}: missing", o.kind, o.namespace, o.name));
            }
            work.apply.push(o.clone());
            continue;
        };
        // Fields another controller took (an HPA's replicas) are neither applied nor drift.
        let live_body = l.body();
        let (body, yielded) = yield_foreign_fields(&o.body, &live_body);
        if !yielded.is_empty() {
            tracing::debug!(object = %format!("{} {}/{}", o.kind, o.namespace, o.name), fields = ?yielded, "left to other managers");
        }
        let o = Object { body, ..o.clone() };
        if l.annotations.get(ANN_SPEC_HASH) != Some(&rendered.spec_hash) {
            work.apply.push(o);
        } else if catalog.settings.self_heal {
            if let Some(d) = first_difference(&o.body, &live_body) {
                work.drift
                    .push(format!("{} {}/{}: {d}", o.kind, o.namespace, o.name));
                work.apply.push(o);
            }
        }
    }
    // Objects the job no longer renders (e.g. its ingress was removed).
    if catalog.settings.prune {
        for l in live {
            let still = desired
                .iter()
                .any(|o| o.kind == l.kind && o.name == l.name && o.namespace == l.namespace);
            if !still && l.annotations.get(ANN_PRUNE).map(String::as_str) != Some("false") {
                work.delete.push(object_ref(l));
            }
        }
    }
    if !work.drift.is_empty() && work.action == Action::None {
        work.reasons
            .push("self-heal: reverting changes made outside Git".into());
    }
    if !unchanged {
        let mut next = ledger.cloned().unwrap_or_default();
        next.applied_commit = commit.to_string();
        next.spec_hash = rendered.spec_hash.clone();
        next.source = spec.source.file.clone();
        next.spec = Some(spec.clone());
        next.restore_from = restore_from;
        next.removed = None;
        if ledger.is_none_or(|l| l.spec.is_none()) {
            // A first deployment: a savepointTriggerNonce it starts with asks for nothing.
            next.savepoint_nonce = spec.job.as_ref().and_then(|j| j.savepoint_trigger_nonce);
            next.checkpoint_nonce = spec.job.as_ref().and_then(|j| j.checkpoint_trigger_nonce);
        }
        next.health = if spec
            .job
            .as_ref()
            .is_some_and(|j| j.state == JobState::Suspended)
        {
            Health::Suspended
        } else {
            Health::Progressing
        };
        next.health_reason = None;
        next.last_error = None;
        next.record(HistoryEntry {
            commit: commit.to_string(),
            spec_hash: rendered.spec_hash,
            action: work.action.as_str().to_string(),
            at: opts.now,
            result: "applied".into(),
            // A first deployment (or one back after removal) starts from this.
            state_in: next
                .restore_from
                .clone()
                .filter(|_| work.action == Action::Create),
            state_out: None,
            seconds: None,
        });
        work.ledger = Some(next);
    } else if let (Some(l), true) = (ledger, work.apply.is_empty()) {
        // Steady state (nothing to apply or heal): record health as the Deployments report it (a write only when it
        // changes, so a quiet cycle stays write-free). A last error is cleared once the
        // job is healthy again.
        let deployments: Vec<&LiveObject> = live
            .iter()
            .copied()
            .filter(|o| o.kind == crate::model::kinds::DEPLOYMENT.kind)
            .collect();
        let flink = opts.flink_states.get(&spec.id);
        let (health, reason) = health_of(spec, &deployments, flink);
        let flink_state = flink.cloned().or_else(|| l.flink_state.clone());
        if health != l.health || reason != l.health_reason || flink_state != l.flink_state {
            let mut next = l.clone();
            next.health = health;
            next.health_reason = reason;
            next.flink_state = flink_state;
            if health == Health::Healthy {
                next.last_error = None;
            }
            work.ledger = Some(next);
        }
    }
}

/// A job's health from its Deployments as the watch cache holds them: Healthy when every
/// Deployment is Available with all its replicas updated and ready; Suspended when all
/// are scaled to zero; Progressing (with the laggard named) otherwise. Session jobs run in
/// their cluster's pods; until flinkops submits them through Flink's REST API (upgrade
/// work), they are reported as not submitted.
pub fn health_of(
    spec: &crate::model::spec::JobSpec,
    deployments: &[&LiveObject],
    flink_state: Option<&FlinkState>,
) -> (Health, Option<String>) {
    let (health, reason) = health_of_deployments(spec, deployments);
    // Deployments can be Available while the Flink job inside failed or restarts.
    match flink_state {
        Some(FlinkState::Missing) if health == Health::Healthy => (
            Health::Degraded,
            Some(format!(
                "session cluster {} runs no Flink job of this session job",
                spec.session_cluster.as_deref().unwrap_or("?")
            )),
        ),
        Some(s) if health == Health::Healthy && *s != FlinkState::Running => {
            (Health::Degraded, Some(format!("the Flink job is {s}")))
        }
        _ => (health, reason),
    }
}

fn health_of_deployments(
    spec: &crate::model::spec::JobSpec,
    deployments: &[&LiveObject],
) -> (Health, Option<String>) {
    if spec.kind == crate::model::spec::JobKind::SessionJob {
        // No pods of its own: its Flink job's state (from its session cluster) decides.
        return if crate::engine::upgrade::target_runs(spec) {
            (Health::Healthy, None)
        } else {
            (Health::Suspended, None)
        };
    }
    if deployments.is_empty() {
        return (Health::Progressing, Some("no Deployments yet".into()));
    }
    let mut all_zero = true;
    let mut names: Vec<&&LiveObject> = deployments.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for d in names {
        let body = d.body();
        let want = body["spec"]["replicas"].as_i64().unwrap_or(1);
        if want == 0 {
            continue;
        }
        all_zero = false;
        if let Some(verdict) = deployment_rollout(&d.name, &body, want) {
            return verdict;
        }
    }
    if all_zero {
        (Health::Suspended, None)
    } else {
        (Health::Healthy, None)
    }
}

/// Where one Deployment's rollout stands, as gitops-engine reads it: None when it is
/// done. Its status speaks for the current spec only once the controller has observed
/// the current generation (else it may be the previous version's "Available"); a rollout
/// past its progress deadline, or whose pods cannot be created (a ResourceQuota, an
/// admission policy), is Degraded with the controller's reason rather than Progressing
/// forever.
fn deployment_rollout(
    name: &str,
    body: &serde_json::Value,
    want: i64,
) -> Option<(Health, Option<String>)> {
    let status = &body["status"];
    let conditions = status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let condition = |kind: &str| conditions.iter().find(|c| c["type"] == kind);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    if let Some(c) = condition("ReplicaFailure").filter(|c| c["status"] == "True") {
        return Some((
            Health::Degraded,
            Some(format!(
                "Deployment {name}: pods cannot be created ({}): {}",
                text(&c["reason"]),
                text(&c["message"])
            )),
        ));
    }
    if let Some(c) = condition("Progressing").filter(|c| c["reason"] == "ProgressDeadlineExceeded")
    {
        return Some((
            Health::Degraded,
            Some(format!(
                "Deployment {name}: rollout stuck (ProgressDeadlineExceeded): {}",
                text(&c["message"])
            )),
        ));
    }
    let generation = body["metadata"]["generation"].as_i64();
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if generation.is_some_and(|g| observed < g) {
        return Some((
            Health::Progressing,
            Some(format!(
                "Deployment {name}: the new version is not yet observed by its controller"
            )),
        ));
    }
    let available = condition("Available").is_some_and(|c| c["status"] == "True");
    let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
    let ready = status["readyReplicas"].as_i64().unwrap_or(0);
    // Pods of the previous version still running (Recreate is removing them).
    let old = status["replicas"].as_i64().unwrap_or(0) - updated;
    if !(available && updated >= want && ready >= want) || old > 0 {
        return Some((
            Health::Progressing,
            Some(format!("Deployment {name}: {ready}/{want} ready")),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ledger::ledger_labels;
    use crate::model::spec::testing::catalog;

    const APP: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: streaming
spec:
  image: flink:2.0
  job:
    jarURI: local:///opt/flink/usrlib/orders.jar
    parallelism: 2
";
    const C1: &str = "1111111111111111111111111111111111111111";
    const C2: &str = "2222222222222222222222222222222222222222";
    const C3: &str = "3333333333333333333333333333333333333333";

    fn opts() -> Options {
        Options {
            namespaces: None,
            now: crate::model::time::Timestamp::from_unix(1_795_398_245),
            flink_states: BTreeMap::new(),
        }
    }

    /// What the apiserver would hold after applying `o`: the object plus defaults.
    fn live_of(o: &Object) -> LiveObject {
        let mut body = o.body.clone();
        body["metadata"]["resourceVersion"] = "1".into();
        // As KWOK and the Deployment controller leave it: every replica ready.
        let want = body["spec"]["replicas"].as_i64().unwrap_or(0);
        body["status"] = serde_json::json!({
            "observedGeneration": 1,
            "updatedReplicas": want,
            "readyReplicas": want,
            "conditions": [{"type": "Available", "status": "True"}]
        });
        LiveObject::new(o.kind, &body)
    }

    /// Carries out `work` on an in-memory cluster, as the daemon would on a real one.
    fn carry_out(
        work: &[JobWork],
        live: &mut Vec<LiveObject>,
        ledgers: &mut BTreeMap<JobId, Ledger>,
    ) {
        for w in work {
            for o in &w.apply {
                live.retain(|l| {
                    !(l.kind == o.kind && l.name == o.name && l.namespace == o.namespace)
                });
                live.push(live_of(o));
            }
            live.retain(|l| {
                !w.delete
                    .iter()
                    .any(|d| d.kind == l.kind && d.name == l.name && d.namespace == l.namespace)
            });
            if let Some(l) = &w.ledger {
                ledgers.insert(w.id.clone(), l.clone());
            }
            // An upgrade that succeeds (the executor's part, with Flink).
            if let Some(UpgradeWork::Start(up)) = &w.upgrade {
                let before = ledgers.get(&w.id).cloned().unwrap_or_default();
                let done = crate::engine::upgrade::complete(
                    &before,
                    up,
                    crate::model::time::Timestamp::from_unix(0),
                );
                ledgers.insert(w.id.clone(), done);
            }
            if w.delete_ledger {
                ledgers.remove(&w.id);
            }
        }
    }

    /// Synced and settled: applied, then a second cycle records the health it reached.
    fn synced(files: &[(&str, &str)], commit: &str) -> (Vec<LiveObject>, BTreeMap<JobId, Ledger>) {
        let (mut live, mut ledgers) = (Vec::new(), BTreeMap::new());
        for _ in 0..2 {
            let work = reconcile(&catalog(files), commit, &live, &ledgers, &opts());
            carry_out(&work, &mut live, &mut ledgers);
        }
        (live, ledgers)
    }

    #[test]
    fn a_job_whose_ledger_cannot_be_read_is_left_alone() {
        let (mut live, mut ledgers) = synced(&[("a.yaml", APP)], C1);
        let id = JobId {
            namespace: "streaming".into(),
            name: "orders".into(),
        };
        // The ledger's ConfigMap as the cache sees it (what it holds does not matter here:
        // `cache::ledgers` could not read it, so it is not among `ledgers`).
        live.push(LiveObject::new(
            "ConfigMap",
            &serde_json::json!({
                "metadata": {
                    "name": "orders-flinkops", "namespace": "streaming", "resourceVersion": "7",
                    "labels": crate::model::ledger::ledger_labels(&id),
                },
                "data": {"ledger.json": "{\"format\": 9}"},
            }),
        ));
        let scaled = APP.replace("parallelism: 2", "parallelism: 3");
        // Readable: the change is planned.
        let work = reconcile(
            &catalog(&[("a.yaml", &scaled)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert!(work.iter().any(|w| w.id == id), "{work:?}");
        // Unreadable: nothing is done to the job, not even re-creating what runs.
        ledgers.remove(&id);
        let work = reconcile(
            &catalog(&[("a.yaml", &scaled)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert!(work.iter().all(|w| w.id != id), "{work:?}");
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.id != id), "{work:?}");
    }

    #[test]
    fn first_sync_applies_everything_in_order_and_writes_the_ledger() {
        let work = reconcile(
            &catalog(&[("a.yaml", APP)]),
            C1,
            &[] as &[LiveObject],
            &BTreeMap::new(),
            &opts(),
        );
        assert_eq!(work.len(), 1);
        let w = &work[0];
        assert_eq!(w.action, Action::Create);
        let kinds: Vec<&str> = w.apply.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            vec![
                "ConfigMap",
                "Service",
                "Service",
                "Deployment",
                "Deployment"
            ]
        );
        assert!(w
            .apply
            .iter()
            .all(|o| o.body["metadata"]["annotations"][render::ANN_COMMIT] == C1));
        let l = w.ledger.as_ref().unwrap();
        assert_eq!(l.applied_commit, C1);
        assert_eq!(l.health, Health::Progressing);
        assert_eq!(l.history.len(), 1);
        assert_eq!(l.history[0].action, "create");
        assert!(w.delete.is_empty());
    }

    /// `live` as an older flinkops left it: the JobManager's pods run another Flink
    /// configuration than this one renders for the same definition.
    fn rendered_by_an_older_flinkops(live: &mut [LiveObject]) {
        let jm = live
            .iter_mut()
            .find(|o| o.kind == "Deployment" && o.name.ends_with("-jobmanager"))
            .unwrap();
        let mut body = jm.body();
        body["spec"]["template"]["metadata"]["annotations"][render::ANN_CONFIG_HASH] = "0ld".into();
        *jm = LiveObject::new("Deployment", &body);
    }

    #[test]
    fn any_pod_template_rendered_differently_restarts_a_stateful_job_with_its_state() {
        let app = APP.replace(
            "parallelism: 2\n",
            "parallelism: 2\n    upgradeMode: savepoint\n",
        );
        let (live, ledgers) = synced(&[("a.yaml", &app)], C1);
        // Unchanged: nothing to do.
        let work = reconcile(&catalog(&[("a.yaml", &app)]), C2, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.upgrade.is_none()), "{work:?}");
        // A TaskManager container resource rendered differently (a flinkops upgrade that
        // reads ephemeralStorage in other units, say).
        let mut changed = live.clone();
        let tm = changed
            .iter_mut()
            .find(|o| o.kind == "Deployment" && o.name.ends_with("-taskmanager"))
            .unwrap();
        let mut body = tm.body();
        body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] =
            "1Mi".into();
        *tm = LiveObject::new("Deployment", &body);
        let work = reconcile(
            &catalog(&[("a.yaml", &app)]),
            C2,
            &changed,
            &ledgers,
            &opts(),
        );
        let w = &work[0];
        assert_eq!(w.action, Action::SavepointUpgrade, "{w:?}");
        assert!(w.reasons[0].contains("-taskmanager"), "{w:?}");
        assert!(
            w.apply.is_empty(),
            "nothing is applied before the savepoint"
        );
        // What the apiserver adds to a template is not a difference.
        let mut defaulted = live.clone();
        for o in defaulted.iter_mut().filter(|o| o.kind == "Deployment") {
            let mut body = o.body();
            body["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst".into();
            body["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] =
                "/dev/termination-log".into();
            *o = LiveObject::new("Deployment", &body);
        }
        let work = reconcile(
            &catalog(&[("a.yaml", &app)]),
            C2,
            &defaulted,
            &ledgers,
            &opts(),
        );
        assert!(work.iter().all(|w| w.upgrade.is_none()), "{work:?}");
    }

    #[test]
    fn a_configuration_rendered_differently_restarts_a_stateful_job_with_its_state() {
        let app = APP.replace(
            "parallelism: 2\n",
            "parallelism: 2\n    upgradeMode: savepoint\n",
        );
        let (mut live, ledgers) = synced(&[("a.yaml", &app)], C1);
        rendered_by_an_older_flinkops(&mut live);
        let work = reconcile(&catalog(&[("a.yaml", &app)]), C2, &live, &ledgers, &opts());
        assert_eq!(work.len(), 1, "{work:?}");
        let w = &work[0];
        assert_eq!(w.action, Action::SavepointUpgrade);
        assert!(w.reasons[0].contains("after a flinkops upgrade"), "{w:?}");
        assert!(w.reasons[0].contains("-jobmanager"), "{w:?}");
        assert!(
            w.apply.is_empty(),
            "nothing is applied before the savepoint"
        );
        assert!(matches!(w.upgrade, Some(UpgradeWork::Start(_))), "{w:?}");

        let last_state = app.replace("upgradeMode: savepoint", "upgradeMode: last-state");
        let (mut live, ledgers) = synced(&[("a.yaml", &last_state)], C1);
        rendered_by_an_older_flinkops(&mut live);
        let work = reconcile(
            &catalog(&[("a.yaml", &last_state)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work[0].action, Action::LastStateUpgrade, "{work:?}");
    }

    #[test]
    fn a_configuration_rendered_differently_is_drift_for_a_stateless_or_suspended_job() {
        // A stateless job restarts empty either way; a suspended one has no pods.
        for app in [
            APP.to_string(),
            APP.replace(
                "parallelism: 2\n",
                "parallelism: 2\n    upgradeMode: savepoint\n    state: suspended\n",
            ),
        ] {
            let (mut live, ledgers) = synced(&[("a.yaml", &app)], C1);
            rendered_by_an_older_flinkops(&mut live);
            let work = reconcile(&catalog(&[("a.yaml", &app)]), C2, &live, &ledgers, &opts());
            assert_eq!(work.len(), 1, "{work:?}");
            assert_eq!(work[0].action, Action::None, "{app}");
            assert!(work[0].upgrade.is_none());
            assert_eq!(work[0].drift.len(), 1, "{work:?}");
        }
    }

    #[test]
    fn a_new_commit_that_does_not_touch_the_job_is_a_noop() {
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C2, &live, &ledgers, &opts());
        assert!(work.is_empty(), "{work:?}");
    }

    #[test]
    fn a_changed_job_is_reapplied_with_the_new_commit() {
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        // A Kubernetes-only change: applied in place, the job is not restarted.
        let changed = APP.replace(
            "  namespace: streaming\n",
            "  namespace: streaming\n  labels:\n    team: payments\n",
        );
        let work = reconcile(
            &catalog(&[("a.yaml", &changed)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].action, Action::Update);
        assert_eq!(work[0].apply.len(), 5);
        assert!(work[0]
            .apply
            .iter()
            .all(|o| o.body["metadata"]["annotations"][render::ANN_COMMIT] == C2));
        let l = work[0].ledger.as_ref().unwrap();
        assert_eq!((l.applied_commit.as_str(), l.history.len()), (C2, 2));
    }

    #[test]
    fn hand_edits_are_reverted_unless_self_heal_is_off() {
        let (mut live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let tm = live
            .iter_mut()
            .find(|o| o.name == "orders-taskmanager")
            .unwrap();
        let mut body = tm.body();
        body["spec"]["replicas"] = 7.into();
        *tm = LiveObject::new("Deployment", &body);
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts());
        assert_eq!(work.len(), 1);
        assert_eq!(
            work[0].drift,
            vec!["Deployment streaming/orders-taskmanager: spec.replicas: want 2, found 7"]
        );
        assert_eq!(work[0].apply.len(), 1);
        assert_eq!(work[0].apply[0].name, "orders-taskmanager");
        assert!(work[0].ledger.is_none());
        let off = catalog(&[("a.yaml", APP), ("flinkops.yaml", "selfHeal: false\n")]);
        let work = reconcile(&off, C1, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.apply.is_empty()), "{work:?}");
    }

    #[test]
    fn a_deleted_object_is_recreated() {
        let (mut live, ledgers) = synced(&[("a.yaml", APP)], C1);
        live.retain(|o| o.name != "orders-rest");
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts());
        assert_eq!(
            work[0].drift,
            vec!["Service streaming/orders-rest: missing"]
        );
        assert_eq!(work[0].apply.len(), 1);
    }

    #[test]
    fn a_job_removed_from_git_is_pruned_with_its_ledger() {
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let work = reconcile(&catalog(&[]), C2, &live, &ledgers, &opts());
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].action, Action::Delete);
        assert_eq!(work[0].delete.len(), 5);
        assert!(work[0].delete_ledger);
    }

    #[test]
    fn a_job_with_high_availability_leaves_no_ha_configmaps_behind() {
        let ha = APP.replace(
            "  image: flink:2.0\n",
            "  image: flink:2.0\n  flinkConfiguration:\n    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n",
        );
        let (live, ledgers) = synced(&[("a.yaml", &ha)], C1);
        let work = reconcile(&catalog(&[]), C2, &live, &ledgers, &opts());
        assert_eq!(work[0].action, Action::Delete);
        assert!(
            work[0].delete_ledger && work[0].delete_ha_metadata,
            "{work:?}"
        );
        assert!(
            work[0]
                .reasons
                .iter()
                .any(|r| r.contains("app=orders,type=flink-native-kubernetes")),
            "{:?}",
            work[0].reasons
        );
        // Some objects protected from pruning: the pods may stay, so the HA data stays.
        let mut kept = live.clone();
        let jm = kept
            .iter_mut()
            .find(|o| o.name == "orders-jobmanager")
            .unwrap();
        let mut body = jm.body();
        body["metadata"]["annotations"][ANN_PRUNE] = "false".into();
        *jm = LiveObject::new("Deployment", &body);
        let work = reconcile(&catalog(&[]), C2, &kept, &ledgers, &opts());
        assert!(!work[0].delete_ha_metadata, "{work:?}");
        // Without high availability there is nothing of Flink's to remove.
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let work = reconcile(&catalog(&[]), C2, &live, &ledgers, &opts());
        assert!(work[0].delete_ledger && !work[0].delete_ha_metadata);
    }

    #[test]
    fn a_stateful_job_removed_from_git_stops_with_a_savepoint_and_leaves_a_tombstone() {
        let app = APP.replace(
            "    parallelism: 2\n",
            "    parallelism: 2\n    upgradeMode: savepoint\n",
        );
        let files = [("a.yaml", app.as_str())];
        let (mut live, mut ledgers) = synced(&files, C1);
        let none = catalog(&[]);
        let work = reconcile(&none, C2, &live, &ledgers, &opts());
        let up = started(&work, "orders").expect("a stop with a savepoint first");
        assert_eq!(up.action, Action::Delete);
        assert_eq!(
            up.target_spec.job.as_ref().unwrap().state,
            JobState::Suspended
        );
        assert!(
            work[0].delete.is_empty(),
            "nothing goes before the savepoint"
        );
        carry_out(&work, &mut live, &mut ledgers);
        // The executor recorded the savepoint the job stopped with.
        let sp = "file:///sp/orders/savepoint-removal";
        ledgers.values_mut().next().unwrap().record_savepoint(
            crate::engine::upgrade::SavepointRecord {
                path: sp.into(),
                commit: C1.into(),
                reason: "delete".into(),
                at: opts().now,
            },
        );
        let work = reconcile(&none, C2, &live, &ledgers, &opts());
        assert_eq!(work[0].delete.len(), 5, "stopped: the objects go");
        assert!(!work[0].delete_ledger, "the lineage stays");
        let tomb = work[0].ledger.clone().expect("a tombstone");
        assert_eq!(tomb.removed.as_ref().unwrap().commit, C2);
        assert!(
            work[0].reasons.iter().any(|r| r.contains(sp)),
            "{:?}",
            work[0].reasons
        );
        carry_out(&work, &mut live, &mut ledgers);
        assert!(live.is_empty());
        // A tombstone is quiet, then expires.
        assert!(reconcile(&none, C2, &live, &ledgers, &opts()).is_empty());
        let later = Options {
            now: opts()
                .now
                .plus_secs(crate::model::spec::settings::TOMBSTONE_RETENTION_SECS),
            ..opts()
        };
        let work = reconcile(&none, C2, &live, &ledgers, &later);
        assert!(work[0].delete_ledger, "{work:?}");
        // Added again: it resumes from the removal savepoint.
        let work = reconcile(&catalog(&files), C3, &live, &ledgers, &opts());
        let up = started(&work, "orders").expect("a resume");
        assert_eq!(up.action, Action::Resume);
        let l = &ledgers.values().next().unwrap();
        assert_eq!(
            crate::engine::upgrade::carry(Action::Resume, &l.applied_spec().unwrap(), &up.target()),
            crate::engine::upgrade::Carry::LastRecorded
        );
        assert_eq!(l.last_savepoint(), Some(sp));
        carry_out(&work, &mut live, &mut ledgers);
        assert_eq!(ledgers.values().next().unwrap().removed, None);
    }

    #[test]
    fn a_state_loss_refused_by_the_guard_leaves_the_job_running() {
        let guard = ("flinkops.yaml", "guardStateLoss: true\n");
        let app = APP.replace(
            "    parallelism: 2\n",
            "    parallelism: 2\n    upgradeMode: savepoint\n",
        );
        let (live, ledgers) = synced(&[guard, ("a.yaml", &app)], C1);
        let stateless = app
            .replace("upgradeMode: savepoint", "upgradeMode: stateless")
            .replace("parallelism: 2", "parallelism: 1");
        let work = reconcile(
            &catalog(&[guard, ("a.yaml", &stateless)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work[0].action, Action::Error);
        assert!(
            work[0].apply.is_empty() && work[0].upgrade.is_none(),
            "{work:?}"
        );
        let why = work[0].ledger.as_ref().unwrap().last_error.clone().unwrap();
        assert!(why.contains("refused by guardStateLoss"), "{why}");
    }

    #[test]
    fn protected_objects_and_prune_false_keep_objects() {
        let (mut live, ledgers) = synced(&[("a.yaml", APP)], C1);
        live[0].annotations.insert(ANN_PRUNE.into(), "false".into());
        let work = reconcile(&catalog(&[]), C2, &live, &ledgers, &opts());
        assert_eq!(work[0].delete.len(), 4);
        assert!(
            !work[0].delete_ledger,
            "the ledger stays while an object does"
        );
        let off = catalog(&[("flinkops.yaml", "prune: false\n")]);
        let work = reconcile(&off, C2, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.delete.is_empty()), "{work:?}");
    }

    #[test]
    fn broken_definitions_and_settings_never_prune() {
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let broken = APP.replace("parallelism: 2", "parallelism: -2");
        let work = reconcile(
            &catalog(&[("a.yaml", &broken)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].action, Action::Error);
        assert!(work[0].apply.is_empty() && work[0].delete.is_empty());
        let l = work[0].ledger.as_ref().unwrap();
        assert_eq!(l.health, Health::Blocked);
        assert_eq!(
            l.last_error.as_deref(),
            Some("a.yaml:10:18: spec.job.parallelism: must be at least 1, got -2")
        );
        let unparsable = catalog(&[("a.yaml", "spec: [")]);
        let work = reconcile(&unparsable, C2, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.delete.is_empty()));
        let bad_settings = catalog(&[("flinkops.yaml", "prune: 1\n")]);
        let work = reconcile(&bad_settings, C2, &live, &ledgers, &opts());
        assert!(work.iter().all(|w| w.delete.is_empty()));
    }

    #[test]
    fn namespaces_outside_the_managed_set_are_not_touched() {
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let o = Options {
            namespaces: Some(BTreeSet::from(["analytics".to_string()])),
            ..opts()
        };
        assert!(reconcile(&catalog(&[]), C2, &live, &ledgers, &o).is_empty());
        assert!(reconcile(
            &catalog(&[("a.yaml", APP)]),
            C2,
            &[] as &[LiveObject],
            &BTreeMap::new(),
            &o
        )
        .is_empty());
    }

    #[test]
    fn an_object_the_job_no_longer_renders_is_pruned() {
        let with_ingress = APP.replace(
            "  job:\n",
            "  ingress:\n    template: x.example.com\n  job:\n",
        );
        let (live, ledgers) = synced(&[("a.yaml", &with_ingress)], C1);
        assert!(live.iter().any(|o| o.kind == "Ingress"));
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C2, &live, &ledgers, &opts());
        assert_eq!(
            work[0].delete,
            vec![ObjectRef {
                kind: "Ingress".into(),
                namespace: "streaming".into(),
                name: "orders-rest".into()
            }]
        );
    }

    fn savepoint_app() -> String {
        APP.replace(
            "parallelism: 2",
            "parallelism: 2\n    upgradeMode: savepoint",
        )
    }

    #[test]
    fn a_restarting_change_starts_an_upgrade_instead_of_applying() {
        let (live, ledgers) = synced(&[("a.yaml", &savepoint_app())], C1);
        let changed = savepoint_app().replace("parallelism: 2", "parallelism: 3");
        let work = reconcile(
            &catalog(&[("a.yaml", &changed)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].action, Action::SavepointUpgrade);
        assert!(work[0].apply.is_empty() && work[0].ledger.is_none());
        let Some(UpgradeWork::Start(up)) = &work[0].upgrade else {
            panic!("{:?}", work[0].upgrade);
        };
        assert_eq!(up.phase, crate::engine::upgrade::Phase::Pending);
        assert_eq!(up.target_commit, C2);
        assert_eq!(up.target_spec.job.as_ref().unwrap().parallelism, 3);
        assert_eq!(up.target_source, "a.yaml");
        // A stateless job is simply redeployed (Recreate: never two JobManagers).
        let (live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let changed = APP.replace("parallelism: 2", "parallelism: 3");
        let work = reconcile(
            &catalog(&[("a.yaml", &changed)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work[0].action, Action::StatelessUpgrade);
        assert!(work[0].upgrade.is_none());
        assert_eq!(work[0].apply.len(), 5);
        // ... and starts empty, whatever the previous mode restored from.
        let mut ledgers = ledgers;
        ledgers.values_mut().next().unwrap().restore_from = Some("file:///cp/chk-7".into());
        let work = reconcile(
            &catalog(&[("a.yaml", &changed)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert!(!format!("{:?}", work[0].apply).contains("chk-7"));
        assert_eq!(work[0].ledger.as_ref().unwrap().restore_from, None);
    }

    #[test]
    fn an_upgrade_in_flight_is_carried_on_whatever_git_says_now() {
        let (live, mut ledgers) = synced(&[("a.yaml", &savepoint_app())], C1);
        let changed = savepoint_app().replace("parallelism: 2", "parallelism: 3");
        let c = catalog(&[("a.yaml", &changed)]);
        let spec = c.jobs.values().next().unwrap();
        let l = ledgers.values_mut().next().unwrap();
        let mut up = Upgrade::new(
            Action::SavepointUpgrade,
            C2,
            spec,
            crate::model::time::Timestamp::from_unix(0),
        );
        up.phase = crate::engine::upgrade::Phase::Stopping;
        l.upgrade = Some(up);
        // Git has moved on again: the upgrade to C2 finishes first.
        let newer = savepoint_app().replace("parallelism: 2", "parallelism: 5");
        let work = reconcile(
            &catalog(&[("a.yaml", &newer)]),
            "3333",
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(work[0].upgrade, Some(UpgradeWork::Continue));
        assert_eq!(work[0].action, Action::SavepointUpgrade);
        assert!(work[0].apply.is_empty());
    }

    #[test]
    fn a_spec_that_failed_to_deploy_waits_for_a_new_commit() {
        let (live, mut ledgers) = synced(&[("a.yaml", &savepoint_app())], C1);
        let bad = savepoint_app().replace("parallelism: 2", "parallelism: 3");
        let c = catalog(&[("a.yaml", &bad)]);
        let l = ledgers.values_mut().next().unwrap();
        l.failed = Some(crate::engine::upgrade::FailedTarget {
            commit: C2.into(),
            spec_hash: render::spec_hash(c.jobs.values().next().unwrap()),
            reason: "job FAILED at start".into(),
            at: crate::model::time::Timestamp::EPOCH,
            rolled_back: true,
        });
        let work = reconcile(&c, C2, &live, &ledgers, &opts());
        assert_eq!(work[0].action, Action::Error);
        assert!(work[0].upgrade.is_none() && work[0].apply.is_empty());
        assert_eq!(
            work[0].ledger.as_ref().unwrap().last_error.as_deref(),
            Some("commit 222222222222 failed to deploy and was rolled back: job FAILED at start; waiting for a new commit")
        );
        // A new commit that changes the job again is an upgrade like any other.
        let fixed = savepoint_app().replace("parallelism: 2", "parallelism: 4");
        let work = reconcile(
            &catalog(&[("a.yaml", &fixed)]),
            "3333",
            &live,
            &ledgers,
            &opts(),
        );
        assert!(matches!(work[0].upgrade, Some(UpgradeWork::Start(_))));
    }

    const SESSION_CLUSTER: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: shared
  namespace: streaming
spec:
  image: flink:2.0
";
    const SESSION_JOB: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: enrich
  namespace: streaming
spec:
  deploymentName: shared
  job:
    jarURI: https://repo.example.com/enrich.jar
    parallelism: 2
    upgradeMode: savepoint
";

    fn started(work: &[JobWork], name: &str) -> Option<Upgrade> {
        let w = work.iter().find(|w| w.id.name == name)?;
        match &w.upgrade {
            Some(UpgradeWork::Start(up)) => Some((**up).clone()),
            _ => None,
        }
    }

    #[test]
    fn session_jobs_are_submitted_and_upgraded_through_the_executor() {
        let files = [("c.yaml", SESSION_CLUSTER), ("s.yaml", SESSION_JOB)];
        // First deployment: the cluster's objects are applied, the job is submitted.
        let first = reconcile(
            &catalog(&files),
            C1,
            &[] as &[LiveObject],
            &BTreeMap::new(),
            &opts(),
        );
        let up = started(&first, "enrich").expect("a submission");
        assert_eq!(up.action, Action::Create);
        assert_eq!(up.cluster_hash, None, "the cluster does not restart");
        let enrich = first.iter().find(|w| w.id.name == "enrich").unwrap();
        assert!(
            enrich.apply.is_empty(),
            "nothing of a session job is applied"
        );

        let (live, ledgers) = synced(&files, C1);
        let changed = SESSION_JOB.replace("parallelism: 2", "parallelism: 3");
        let work = reconcile(
            &catalog(&[("c.yaml", SESSION_CLUSTER), ("s.yaml", &changed)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        let up = started(&work, "enrich").expect("an upgrade");
        assert_eq!(up.action, Action::SavepointUpgrade);
        assert_eq!(up.target_spec.job.as_ref().unwrap().parallelism, 3);
        assert!(
            work.iter().all(|w| w.id.name == "enrich"),
            "the cluster is left alone: {work:?}"
        );

        // A suspended session job is not submitted; resuming it is.
        let suspended = SESSION_JOB.replace(
            "upgradeMode: savepoint",
            "upgradeMode: savepoint\n    state: suspended",
        );
        let work = reconcile(
            &catalog(&[("c.yaml", SESSION_CLUSTER), ("s.yaml", &suspended)]),
            C2,
            &live,
            &ledgers,
            &opts(),
        );
        assert_eq!(started(&work, "enrich").unwrap().action, Action::Suspend);
    }

    #[test]
    fn a_session_job_that_cannot_stop_first_holds_its_cluster_s_restart() {
        let files = [("c.yaml", SESSION_CLUSTER), ("s.yaml", SESSION_JOB)];
        let (live, ledgers) = synced(&files, C1);
        let newer = SESSION_CLUSTER.replace("flink:2.0", "flink:2.1");
        // The job's file is broken now: it gets no upgrade, and it still runs.
        let broken = SESSION_JOB.replace("parallelism: 2", "parallelism: two");
        let c = catalog(&[("c.yaml", &newer), ("s.yaml", &broken)]);
        let work = reconcile(&c, C2, &live, &ledgers, &opts());
        let shared = work.iter().find(|w| w.id.name == "shared").unwrap();
        assert!(shared.apply.is_empty(), "{shared:?}");
        assert_eq!(shared.action, Action::Error, "a person must act");
        assert!(
            shared
                .reasons
                .iter()
                .any(|r| r.contains("enrich (its definition is invalid")),
            "{:?}",
            shared.reasons
        );
    }

    #[test]
    fn a_session_job_removed_from_git_is_stopped_before_its_ledger_goes() {
        let files = [("c.yaml", SESSION_CLUSTER), ("s.yaml", SESSION_JOB)];
        let (mut live, mut ledgers) = synced(&files, C1);
        let only_cluster = catalog(&[("c.yaml", SESSION_CLUSTER)]);
        let work = reconcile(&only_cluster, C2, &live, &ledgers, &opts());
        let up = started(&work, "enrich").expect("a stop first");
        assert_eq!(up.action, Action::Delete);
        assert_eq!(
            up.target_spec.job.as_ref().unwrap().state,
            JobState::Suspended
        );
        let enrich = work.iter().find(|w| w.id.name == "enrich").unwrap();
        assert!(
            !enrich.delete_ledger,
            "the ledger stays until the job is stopped"
        );
        // Stopped (as the executor would): now the ledger is pruned.
        carry_out(&work, &mut live, &mut ledgers);
        let work = reconcile(&only_cluster, C2, &live, &ledgers, &opts());
        let enrich = work.iter().find(|w| w.id.name == "enrich").unwrap();
        assert!(
            enrich.delete_ledger && enrich.upgrade.is_none(),
            "{enrich:?}"
        );
    }

    #[test]
    fn a_session_cluster_restarts_only_after_its_jobs_took_their_savepoints() {
        let files = [("c.yaml", SESSION_CLUSTER), ("s.yaml", SESSION_JOB)];
        let (live, mut ledgers) = synced(&files, C1);
        let newer = SESSION_CLUSTER.replace("flink:2.0", "flink:2.1");
        let next = catalog(&[("c.yaml", &newer), ("s.yaml", SESSION_JOB)]);
        let work = reconcile(&next, C2, &live, &ledgers, &opts());
        // The job stops with a savepoint, to be submitted to the cluster's new version.
        let up = started(&work, "enrich").expect("the job's upgrade");
        let cluster_id = JobId {
            namespace: "streaming".into(),
            name: "shared".into(),
        };
        assert_eq!(
            up.cluster_hash,
            Some(render::spec_hash(&next.jobs[&cluster_id]))
        );
        // The cluster waits: replacing its pods now would kill the job unsaved.
        let shared = work.iter().find(|w| w.id.name == "shared").unwrap();
        assert!(shared.apply.is_empty(), "{shared:?}");
        assert!(
            shared
                .reasons
                .iter()
                .any(|r| r.contains("waiting for session jobs enrich")),
            "{:?}",
            shared.reasons
        );
        // Once the job's savepoint is taken (its upgrade is past Stopping), the cluster goes.
        let job_id = JobId {
            namespace: "streaming".into(),
            name: "enrich".into(),
        };
        let mut stopped = up.clone();
        stopped.enter(
            crate::engine::upgrade::Phase::Stopped,
            crate::model::time::Timestamp::from_unix(1),
        );
        ledgers.get_mut(&job_id).unwrap().upgrade = Some(stopped);
        let work = reconcile(&next, C2, &live, &ledgers, &opts());
        let shared = work.iter().find(|w| w.id.name == "shared").unwrap();
        assert!(!shared.apply.is_empty(), "{shared:?}");
    }

    #[test]
    fn the_restore_path_survives_re_rendering_and_initial_savepoint_is_first_only() {
        let with_initial = savepoint_app().replace(
            "parallelism: 2",
            "parallelism: 2\n    initialSavepointPath: file:///sp/initial",
        );
        let work = reconcile(
            &catalog(&[("a.yaml", &with_initial)]),
            C1,
            &[] as &[LiveObject],
            &BTreeMap::new(),
            &opts(),
        );
        let cm = work[0]
            .apply
            .iter()
            .find(|o| o.kind == "ConfigMap")
            .unwrap();
        assert!(cm.body.to_string().contains("file:///sp/initial"));
        assert_eq!(
            work[0].ledger.as_ref().unwrap().restore_from.as_deref(),
            Some("file:///sp/initial")
        );
        // After an upgrade restored from a savepoint, the job's objects render with that
        // path (so re-rendering them is no drift and no restart), never again with the
        // initial one.
        let (_, mut ledgers) = synced(&[("a.yaml", &with_initial)], C1);
        ledgers.values_mut().next().unwrap().restore_from = Some("file:///sp/savepoint-1".into());
        let c = catalog(&[("a.yaml", &with_initial)]);
        let work = reconcile(&c, C1, &[] as &[LiveObject], &ledgers, &opts());
        let cm = work[0]
            .apply
            .iter()
            .find(|o| o.kind == "ConfigMap")
            .unwrap();
        assert!(cm.body.to_string().contains("file:///sp/savepoint-1"));
        assert!(!cm.body.to_string().contains("file:///sp/initial"));
        let (mut live, mut ledgers2) = (Vec::new(), ledgers.clone());
        carry_out(&work, &mut live, &mut ledgers2);
        let again = reconcile(&c, C1, &live, &ledgers2, &opts());
        assert!(again.iter().all(|w| w.apply.is_empty()), "{again:?}");
    }

    /// Marks every Deployment in `live` available with `ready` of its replicas ready.
    fn deployments_report(live: &mut [LiveObject], ready_all: bool) {
        for o in live.iter_mut().filter(|o| o.kind == "Deployment") {
            let mut body = o.body();
            let want = body["spec"]["replicas"].as_i64().unwrap();
            let ready = if ready_all { want } else { 0 };
            body["status"] = serde_json::json!({
                "updatedReplicas": want,
                "readyReplicas": ready,
                "conditions": [{"type": "Available", "status": if ready_all { "True" } else { "False" }}]
            });
            *o = LiveObject::new("Deployment", &body);
        }
    }

    #[test]
    fn a_rollout_is_judged_by_the_current_generation_and_its_deadline() {
        let done = serde_json::json!({
            "metadata": {"generation": 2},
            "status": {
                "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}]
            }
        });
        assert_eq!(deployment_rollout("d", &done, 1), None);
        // The previous generation's status says nothing about the new spec.
        let mut stale = done.clone();
        stale["metadata"]["generation"] = 3.into();
        let (health, why) = deployment_rollout("d", &stale, 1).unwrap();
        assert_eq!(health, Health::Progressing);
        assert!(why.unwrap().contains("not yet observed"));
        // Old pods still there.
        let mut old_pods = done.clone();
        old_pods["status"]["replicas"] = 2.into();
        assert_eq!(
            deployment_rollout("d", &old_pods, 1).unwrap().0,
            Health::Progressing
        );
        // Stuck: Degraded with the controller's words, not Progressing forever.
        let mut stuck = done.clone();
        stuck["status"]["readyReplicas"] = 0.into();
        stuck["status"]["conditions"] = serde_json::json!([
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"d-1\" has timed out progressing."}
        ]);
        let (health, why) = deployment_rollout("d", &stuck, 1).unwrap();
        assert_eq!(health, Health::Degraded);
        assert_eq!(
            why.as_deref(),
            Some("Deployment d: rollout stuck (ProgressDeadlineExceeded): ReplicaSet \"d-1\" has timed out progressing.")
        );
        // A quota that refuses the pods is said on the job.
        let mut quota = done.clone();
        quota["status"]["readyReplicas"] = 0.into();
        quota["status"]["conditions"] = serde_json::json!([
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": "pods \"d-x\" is forbidden: exceeded quota: q"}
        ]);
        let (health, why) = deployment_rollout("d", &quota, 1).unwrap();
        assert_eq!(health, Health::Degraded);
        assert!(why.unwrap().contains("exceeded quota"));
    }

    #[test]
    fn health_follows_the_deployments_and_is_written_only_when_it_changes() {
        let (mut live, mut ledgers) = synced(&[("a.yaml", APP)], C1);
        let id = ledgers.keys().next().unwrap().clone();
        assert_eq!(ledgers[&id].health, Health::Healthy);
        deployments_report(&mut live, false);
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts());
        let l = work[0].ledger.as_ref().unwrap();
        assert_eq!(
            (l.health, l.health_reason.as_deref()),
            (
                Health::Progressing,
                Some("Deployment orders-jobmanager: 0/1 ready")
            )
        );
        assert!(work[0].apply.is_empty());
        carry_out(&work, &mut live, &mut ledgers);
        deployments_report(&mut live, true);
        let work = reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts());
        assert_eq!(work[0].ledger.as_ref().unwrap().health, Health::Healthy);
        carry_out(&work, &mut live, &mut ledgers);
        // Healthy and unchanged: nothing to write.
        assert!(reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts()).is_empty());

        // Available Deployments, but the Flink job inside restarts: Degraded, with the state.
        let flink = |state: &str| Options {
            flink_states: BTreeMap::from([(id.clone(), FlinkState::parse(state))]),
            ..opts()
        };
        let work = reconcile(
            &catalog(&[("a.yaml", APP)]),
            C1,
            &live,
            &ledgers,
            &flink("RESTARTING"),
        );
        let l = work[0].ledger.as_ref().unwrap();
        assert_eq!(
            (
                l.health,
                l.health_reason.as_deref(),
                l.flink_state.as_ref().map(|s| s.as_str())
            ),
            (
                Health::Degraded,
                Some("the Flink job is RESTARTING"),
                Some("RESTARTING")
            )
        );
        carry_out(&work, &mut live, &mut ledgers);
        let work = reconcile(
            &catalog(&[("a.yaml", APP)]),
            C1,
            &live,
            &ledgers,
            &flink("RUNNING"),
        );
        let l = work[0].ledger.as_ref().unwrap();
        assert_eq!(
            (l.health, l.flink_state.as_ref().map(|s| s.as_str())),
            (Health::Healthy, Some("RUNNING"))
        );
        carry_out(&work, &mut live, &mut ledgers);
        // Unreachable (no answer this time): the last known state stands, nothing written.
        assert!(reconcile(&catalog(&[("a.yaml", APP)]), C1, &live, &ledgers, &opts()).is_empty());
    }

    #[test]
    fn ledgers_are_not_objects_of_the_job() {
        let (mut live, ledgers) = synced(&[("a.yaml", APP)], C1);
        let id = JobId {
            namespace: "streaming".into(),
            name: "orders".into(),
        };
        live.push(LiveObject::new(
            "ConfigMap",
            &serde_json::json!({"metadata": {
                "namespace": "streaming",
                "name": "orders-flinkops",
                "labels": ledger_labels(&id),
            }}),
        ));
        assert!(reconcile(&catalog(&[("a.yaml", APP)]), C2, &live, &ledgers, &opts()).is_empty());
    }

    #[test]
    fn a_live_object_reads_its_names_from_metadata_and_keeps_the_whole_body() {
        let body = serde_json::json!({
            "kind": "Service",
            "metadata": {"namespace": "streaming", "name": "orders-rest",
                         "labels": {"app": "orders", "n": 1},
                         "annotations": {"flinkops.io/commit": "abc"}},
            "spec": {"ports": [{"port": 8081}]}
        });
        let l = LiveObject::new("Service", &body);
        assert_eq!(
            (l.namespace.as_str(), l.name.as_str()),
            ("streaming", "orders-rest")
        );
        // Only string values are labels; a malformed one is not made up.
        assert_eq!(l.labels, BTreeMap::from([("app".into(), "orders".into())]));
        assert_eq!(l.annotations["flinkops.io/commit"], "abc");
        assert_eq!(l.body(), body);
    }

    #[test]
    fn quiet_jobs_are_skipped_until_one_of_their_inputs_changes() {
        let files = [
            ("a.yaml", APP),
            ("b.yaml", &APP.replace("orders", "payments")),
        ];
        let (mut live, ledgers) = synced(&files, C1);
        let c = catalog(&files);
        let mut quiet = Quiet::default();
        assert!(reconcile_quietly(&c, C1, &live, &ledgers, &opts(), &mut quiet).is_empty());
        assert_eq!(quiet.jobs.len(), 2, "both jobs need nothing");

        // A hand edit is a new resource version: that job is looked at again, and only it.
        let tm = live
            .iter_mut()
            .find(|o| o.name == "orders-taskmanager")
            .unwrap();
        let mut body = tm.body();
        body["spec"]["replicas"] = 7.into();
        body["metadata"]["resourceVersion"] = "2".into();
        *tm = LiveObject::new("Deployment", &body);
        let work = reconcile_quietly(&c, C1, &live, &ledgers, &opts(), &mut quiet);
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].id.name, "orders");
        assert_eq!(work[0].drift.len(), 1, "{work:?}");
        assert_eq!(quiet.jobs.len(), 1, "orders has work, so it is not quiet");

        // The Flink job's state is an input too (health).
        let mut o = opts();
        o.flink_states = BTreeMap::from([(
            JobId {
                namespace: "streaming".into(),
                name: "payments".into(),
            },
            FlinkState::Restarting,
        )]);
        let work = reconcile_quietly(&c, C1, &live, &ledgers, &o, &mut quiet);
        let payments = work.iter().find(|w| w.id.name == "payments").unwrap();
        assert_eq!(
            payments.ledger.as_ref().unwrap().health,
            Health::Degraded,
            "{payments:?}"
        );

        // A new commit starts afresh, and reaches the same decisions as without the memo.
        let fresh = reconcile(&c, C2, &live, &ledgers, &o);
        let quietly = reconcile_quietly(&c, C2, &live, &ledgers, &o, &mut quiet);
        assert_eq!(format!("{fresh:?}"), format!("{quietly:?}"));
    }
}
