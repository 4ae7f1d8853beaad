//! Planning: what happens to each job when the observed specs become the desired ones.
//! Pure: specs in, actions with human reasons out. Flink-aware: it knows which changes
//! restart a running job (and so need a savepoint) and which only touch Kubernetes.

use crate::engine::redact::{is_sensitive_key, REDACTED};
use crate::engine::render::pods::{pod_changes, pods};
use crate::engine::render::ANN_ACCEPT_STATE_LOSS;
use crate::model::spec::quantity::{flink_bytes, k8s_bytes, k8s_cpu};
use crate::model::spec::{
    Catalog, Cluster, Component, JobId, JobKind, JobSpec, JobState, SpecError, UpgradeMode,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::model::action::Action;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobPlan {
    pub namespace: String,
    pub name: String,
    pub kind: Option<JobKind>,
    pub action: Action,
    pub reasons: Vec<String>,
    /// The definition file (the old one for a deleted job).
    pub source: Option<String>,
    pub errors: Vec<SpecError>,
    /// Set when the action loses the job's state (Git says so: stateless, a redeploy
    /// nonce): what is lost. Also the last reason, prefixed `STATE LOSS:`.
    pub state_loss: Option<String>,
    /// The running Flink job stops and starts again.
    pub restarts: bool,
    /// What carries the job's state across the change, when it stops, starts or restarts
    /// (`savepoint`, `latest-checkpoint`, `last-recorded`, `initial`, `nothing`).
    pub state: Option<Carry>,
    /// What the cluster knows about the job (`diff --live`, `diff --cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::engine::live_facts::Live>,
}

impl JobPlan {
    pub fn id(&self) -> JobId {
        JobId {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub jobs: Vec<JobPlan>,
    /// Errors that name no job (settings, unreadable files).
    pub errors: Vec<SpecError>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.jobs
            .iter()
            .any(|j| !matches!(j.action, Action::None | Action::Error))
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.jobs.iter().any(|j| j.action == Action::Error)
    }

    pub fn count(&self, action: Action) -> usize {
        self.jobs.iter().filter(|j| j.action == action).count()
    }
}

/// One difference between two specs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub reason: String,
    /// The running job must stop and start again for it to take effect.
    pub restart: bool,
}

/// How the state crosses this change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Carry {
    /// Stop with a savepoint and restore from it.
    Savepoint,
    /// Cancel and restore from the latest completed checkpoint (last-state: no savepoint
    /// is taken; checkpoints are retained on cancellation for this).
    LatestCheckpoint,
    /// The job is not running (suspended): restore from the last recorded savepoint.
    LastRecorded,
    /// Cancel (if running) and start without state.
    Nothing,
    /// Cancel (if running) and start from `initialSavepointPath`
    /// (`savepointRedeployNonce` changed: the current state is dropped on purpose).
    Initial,
}

/// What the upgrade from `old` to `new` carries: the two upgradeModes decide
/// (`UpgradeMode::across`), for a running old job; a suspended one resumes from its
/// recorded savepoint. Suspending
/// always takes a savepoint (there is nothing else to resume from).
pub fn carry(action: Action, old: &JobSpec, new: &JobSpec) -> Carry {
    if action == Action::Redeploy {
        return Carry::Initial;
    }
    let new_mode = new
        .job
        .as_ref()
        .map_or(UpgradeMode::Stateless, |j| j.upgrade_mode);
    let mode = UpgradeMode::across(
        old.job.as_ref().map_or(new_mode, |j| j.upgrade_mode),
        new_mode,
    );
    let runs = |s: &JobSpec| s.job.as_ref().is_some_and(|j| j.state == JobState::Running);
    let old_running = runs(old);
    // A session cluster's checkpoints outlive a cancelled job only when the cluster is
    // configured to retain them; as in the Apache operator, session jobs take a savepoint.
    let session = new.kind == crate::model::spec::JobKind::SessionJob;
    match mode {
        UpgradeMode::Stateless => Carry::Nothing,
        _ if !old_running => Carry::LastRecorded,
        UpgradeMode::LastState if runs(new) && !session => Carry::LatestCheckpoint,
        _ => Carry::Savepoint,
    }
}

/// Whether `action` restarts the job, and what carries its state: the executor's own
/// decision (`carry`) for a change of a job, the savepoint a removal or a suspend stops
/// with, `initialSavepointPath` for a new job (where a job re-added after its removal
/// starts is the cluster's to know: its tombstone's last savepoint).
pub fn impact(
    action: Action,
    old: Option<&JobSpec>,
    new: Option<&JobSpec>,
) -> (bool, Option<Carry>) {
    let runs = |s: &JobSpec| s.job.as_ref().is_some_and(|j| j.state == JobState::Running);
    let stateful = |s: &JobSpec| {
        s.kind == JobKind::SessionJob
            || s.job
                .as_ref()
                .is_some_and(|j| j.upgrade_mode != UpgradeMode::Stateless)
    };
    let state = match (action, old, new) {
        (Action::Create, _, Some(n)) => n
            .job
            .as_ref()
            .and_then(|j| j.initial_savepoint_path.as_ref())
            .map(|_| Carry::Initial),
        (Action::Delete, Some(o), _) if runs(o) => Some(if stateful(o) {
            Carry::Savepoint
        } else {
            Carry::Nothing
        }),
        (a, Some(o), Some(n))
            if o.job.is_some()
                && (a.restarts_job() || matches!(a, Action::Suspend | Action::Resume)) =>
        {
            Some(carry(a, o, n))
        }
        _ => None,
    };
    (action.restarts_job() && old.is_some_and(runs), state)
}

/// Adds what the cluster knows to each job the plan changes: its ledger's facts and, from
/// `checkpoints_ms`, the time of its latest checkpoint (`live_facts::facts`).
pub fn add_live(
    plan: &mut Plan,
    ledgers: &BTreeMap<JobId, crate::model::ledger::Ledger>,
    checkpoints_ms: &BTreeMap<JobId, u64>,
    now_ms: u64,
) {
    for j in plan.jobs.iter_mut().filter(|j| j.action != Action::None) {
        let id = j.id();
        if let Some(l) = ledgers.get(&id) {
            let live =
                crate::engine::live_facts::facts(l, checkpoints_ms.get(&id).copied(), now_ms);
            j.live = (!live.is_empty()).then_some(live);
        }
    }
}

/// Plans every job known on either side.
pub fn plan(observed: &BTreeMap<JobId, JobSpec>, desired: &Catalog) -> Plan {
    let ids: BTreeSet<&JobId> = observed
        .keys()
        .chain(desired.jobs.keys())
        .chain(desired.blocked.keys())
        .collect();
    let mut jobs: Vec<JobPlan> = ids
        .into_iter()
        .map(|id| plan_job(id, observed.get(id), desired))
        .collect();
    cascade_session_cluster_restarts(&mut jobs, desired);
    for p in &mut jobs {
        let id = p.id();
        (p.restarts, p.state) = impact(p.action, observed.get(&id), desired.jobs.get(&id));
    }
    let errors = desired.errors_naming_no_job().cloned().collect();
    Plan { jobs, errors }
}

fn plan_job(id: &JobId, old: Option<&JobSpec>, desired: &Catalog) -> JobPlan {
    let mut p = JobPlan {
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        kind: None,
        action: Action::None,
        reasons: Vec::new(),
        source: None,
        errors: Vec::new(),
        state_loss: None,
        restarts: false,
        state: None,
        live: None,
    };
    if let Some(errors) = desired.blocked.get(id) {
        p.kind = old.map(|o| o.kind);
        p.action = Action::Error;
        p.source = errors.first().map(|e| e.file.clone());
        p.errors = errors.clone();
        p.reasons.push(if old.is_some() {
            "definition is invalid: the running job is left as it is".into()
        } else {
            "definition is invalid: nothing is deployed".into()
        });
        return p;
    }
    match (old, desired.jobs.get(id)) {
        (None, None) => unreachable!("ids come from one side or the other"),
        (Some(o), None) => {
            p.kind = Some(o.kind);
            p.source = Some(o.source.file.clone());
            if desired.absence_is_certain(&o.source.file) {
                p.action = Action::Delete;
                p.reasons.push(format!("removed from {}", o.source.file));
                match &o.job {
                    Some(j) if j.state == JobState::Running => {
                        if o.kind == JobKind::SessionJob || j.upgrade_mode != UpgradeMode::Stateless
                        {
                            p.reasons.push("the running job stops with a savepoint first; its savepoints are kept (adding it again resumes from them)".into());
                        } else {
                            p.state_loss = Some(
                                "the running job is cancelled without a savepoint (upgradeMode stateless)".into(),
                            );
                        }
                    }
                    _ => {}
                }
            } else {
                p.action = Action::Error;
                let what = if !desired.settings_errors.is_empty() {
                    crate::model::spec::SETTINGS_FILE.to_string()
                } else if desired.file_errors.contains_key(&o.source.file) {
                    o.source.file.clone()
                } else {
                    "a file whose name flinkops cannot read".to_string()
                };
                p.reasons.push(format!(
                    "{what} failed to load: the job is kept as it is until it loads again"
                ));
                p.errors = desired.absence_errors(&o.source.file);
            }
        }
        (None, Some(n)) => {
            p.kind = Some(n.kind);
            p.source = Some(n.source.file.clone());
            p.action = Action::Create;
            p.reasons.push(describe_new(n));
        }
        (Some(o), Some(n)) => {
            p.kind = Some(n.kind);
            p.source = Some(n.source.file.clone());
            let mut changes = changes(o, n);
            // What really restarts Flink is a new pod template: the render decides, so no
            // change that replaces pods is ever carried out "in place" without a savepoint.
            let runs = |s: &JobSpec| s.job.as_ref().is_none_or(|j| j.state == JobState::Running);
            if runs(o) && runs(n) && !changes.is_empty() && !changes.iter().any(|c| c.restart) {
                let replaced = pod_changes(&pods(o), &pods(n));
                changes.extend(replaced.into_iter().map(|reason| Change {
                    reason,
                    restart: true,
                }));
            }
            p.action = action_for(o, n, &changes);
            p.reasons = changes.into_iter().map(|c| c.reason).collect();
            p.state_loss = state_loss(o, n, p.action);
        }
    }
    if let Some(loss) = &p.state_loss {
        p.reasons.push(format!("STATE LOSS: {loss}"));
        if desired.settings.guard_state_loss && !state_loss_accepted(old, desired.jobs.get(id)) {
            p.action = Action::Error;
            p.reasons.push(format!(
                "refused by guardStateLoss: to accept, give the annotation {ANN_ACCEPT_STATE_LOSS} a new value in the definition{}",
                if desired.jobs.contains_key(id) {
                    " in this change"
                } else {
                    " before removing it"
                }
            ));
        }
    }
    p
}

/// A change that loses state is acknowledged by a new value of the annotation in Git:
/// one written for this change (a value that was already there acknowledges nothing
/// new). A removal is acknowledged by the definition that runs carrying it.
fn state_loss_accepted(old: Option<&JobSpec>, new: Option<&JobSpec>) -> bool {
    fn ack(s: Option<&JobSpec>) -> Option<&String> {
        s.and_then(|s| s.annotations.get(ANN_ACCEPT_STATE_LOSS))
    }
    match new {
        Some(_) => ack(new).is_some() && ack(new) != ack(old),
        None => ack(old).is_some(),
    }
}

/// What a restart loses, when Git says to lose it: named so that no reviewer misses it.
fn state_loss(o: &JobSpec, n: &JobSpec, action: Action) -> Option<String> {
    let mode = |s: &JobSpec| s.job.as_ref().map(|j| j.upgrade_mode);
    match action {
        Action::Redeploy => Some(
            "the current state is dropped: the job restarts from initialSavepointPath (savepointRedeployNonce)"
                .into(),
        ),
        Action::Resume
            if mode(n) == Some(UpgradeMode::Stateless) && mode(o) != Some(UpgradeMode::Stateless) =>
        {
            Some("the job resumes without its savepoint: upgradeMode changed to stateless".into())
        }
        Action::StatelessUpgrade if mode(o) != Some(UpgradeMode::Stateless) => Some(
            "the job restarts without its state: upgradeMode changed to stateless".into(),
        ),
        Action::StatelessUpgrade
            if n.flink_configuration.contains_key("execution.checkpointing.interval") =>
        {
            Some("the job checkpoints, but restarts empty: upgradeMode stateless restores nothing".into())
        }
        _ => None,
    }
}

fn describe_new(n: &JobSpec) -> String {
    let mut s = format!("new {}", n.kind.as_str().replace('-', " "));
    if let Some(j) = &n.job {
        s.push_str(&format!(
            ", parallelism {}, upgradeMode {}",
            j.parallelism,
            j.upgrade_mode.as_str()
        ));
        if let Some(path) = &j.initial_savepoint_path {
            s.push_str(&format!(", starting from savepoint {path}"));
        }
        if j.state == JobState::Suspended {
            s.push_str(", created suspended (nothing runs)");
        }
    }
    if let Some(c) = &n.session_cluster {
        s.push_str(&format!(", on session cluster {c}"));
    }
    s
}

fn action_for(o: &JobSpec, n: &JobSpec, changes: &[Change]) -> Action {
    let state = |s: &JobSpec| s.job.as_ref().map(|j| j.state);
    match (state(o), state(n)) {
        (Some(JobState::Running), Some(JobState::Suspended)) => return Action::Suspend,
        (Some(JobState::Suspended), Some(JobState::Running)) => return Action::Resume,
        (Some(JobState::Suspended), Some(JobState::Suspended)) => {
            return if changes.is_empty() {
                Action::None
            } else {
                Action::Update
            }
        }
        _ => {}
    }
    let nonce = |s: &JobSpec| s.job.as_ref().and_then(|j| j.savepoint_redeploy_nonce);
    if nonce(o) != nonce(n) && nonce(n).is_some() {
        return Action::Redeploy;
    }
    if changes.iter().any(|c| c.restart) {
        return match &n.job {
            Some(j) => upgrade_action(UpgradeMode::across(
                o.job.as_ref().map_or(j.upgrade_mode, |oj| oj.upgrade_mode),
                j.upgrade_mode,
            )),
            None => Action::Restart,
        };
    }
    if changes.is_empty() {
        Action::None
    } else {
        Action::Update
    }
}

/// The restart that carries a job's state in `mode`.
pub fn upgrade_action(mode: UpgradeMode) -> Action {
    match mode {
        UpgradeMode::Savepoint => Action::SavepointUpgrade,
        UpgradeMode::LastState => Action::LastStateUpgrade,
        UpgradeMode::Stateless => Action::StatelessUpgrade,
    }
}

/// Session jobs stop when their session cluster's pods are replaced: they are upgraded
/// by their own upgradeMode along with it.
fn cascade_session_cluster_restarts(jobs: &mut [JobPlan], desired: &Catalog) {
    let restarting: BTreeSet<JobId> = jobs
        .iter()
        .filter(|j| j.action == Action::Restart)
        .map(JobPlan::id)
        .collect();
    for p in jobs.iter_mut() {
        let Some(spec) = desired.jobs.get(&p.id()) else {
            continue;
        };
        let (Some(cluster), Some(job)) = (&spec.session_cluster, &spec.job) else {
            continue;
        };
        let target = JobId {
            namespace: spec.id.namespace.clone(),
            name: cluster.clone(),
        };
        if !restarting.contains(&target) || job.state != JobState::Running {
            continue;
        }
        if matches!(p.action, Action::None | Action::Update) {
            p.action = upgrade_action(job.upgrade_mode);
        }
        if !p.action.restarts_job() {
            continue;
        }
        p.reasons.push(format!(
            "session cluster {target} restarts, so this job restarts with it"
        ));
    }
}

/// Every difference between two specs of one job, in a stable order.
pub fn changes(o: &JobSpec, n: &JobSpec) -> Vec<Change> {
    let mut out = Vec::new();
    let mut add = |restart: bool, reason: String| out.push(Change { reason, restart });
    if o.kind != n.kind {
        add(
            true,
            format!("kind {} → {}", o.kind.as_str(), n.kind.as_str()),
        );
    }
    if let (Some(oj), Some(nj)) = (&o.job, &n.job) {
        let mut f = |name: &str, a: String, b: String, restart: bool| {
            if a != b {
                add(restart, format!("{name} {a} → {b}"));
            }
        };
        // A jar URL may carry credentials (user:password@host): never shown.
        let jar = |uri: &str| crate::engine::redact::redact_url(uri);
        f("jarURI", jar(&oj.jar_uri), jar(&nj.jar_uri), true);
        f(
            "entryClass",
            opt(&oj.entry_class),
            opt(&nj.entry_class),
            true,
        );
        // Shown without the values of sensitive options; compared with them.
        let (a, mut b) = (
            list(&crate::engine::redact::args_list(&oj.args)),
            list(&crate::engine::redact::args_list(&nj.args)),
        );
        if a == b && oj.args != nj.args {
            b.push_str(" (a redacted value changed)");
        }
        f("args", a, b, true);
        f(
            "parallelism",
            oj.parallelism.to_string(),
            nj.parallelism.to_string(),
            true,
        );
        f(
            "upgradeMode",
            oj.upgrade_mode.as_str().into(),
            nj.upgrade_mode.as_str().into(),
            false,
        );
        f(
            "state",
            oj.state.as_str().into(),
            nj.state.as_str().into(),
            false,
        );
        f(
            "initialSavepointPath",
            opt(&oj.initial_savepoint_path),
            opt(&nj.initial_savepoint_path),
            false,
        );
        f(
            "allowNonRestoredState",
            opt(&oj.allow_non_restored_state),
            opt(&nj.allow_non_restored_state),
            false,
        );
        f(
            "savepointRedeployNonce",
            opt(&oj.savepoint_redeploy_nonce),
            opt(&nj.savepoint_redeploy_nonce),
            true,
        );
        // A new value is a one-shot action (the Apache operator's meaning); removing a
        // nonce asks for nothing.
        for (name, what, a, b) in [
            (
                "savepointTriggerNonce",
                "savepoint",
                oj.savepoint_trigger_nonce,
                nj.savepoint_trigger_nonce,
            ),
            (
                "checkpointTriggerNonce",
                "checkpoint",
                oj.checkpoint_trigger_nonce,
                nj.checkpoint_trigger_nonce,
            ),
        ] {
            if a != b {
                let then = match b {
                    Some(_) => format!(": one {what} of the running job, no restart"),
                    None => String::new(),
                };
                add(false, format!("{name} {} → {}{then}", opt(&a), opt(&b)));
            }
        }
    }
    if o.session_cluster != n.session_cluster {
        add(
            true,
            format!(
                "session cluster {} → {}",
                opt(&o.session_cluster),
                opt(&n.session_cluster)
            ),
        );
    }
    if o.restart_nonce != n.restart_nonce {
        add(
            true,
            format!(
                "restartNonce {} → {}",
                opt(&o.restart_nonce),
                opt(&n.restart_nonce)
            ),
        );
    }
    for (key, a, b) in map_changes(&o.flink_configuration, &n.flink_configuration) {
        let (a, b) = if is_sensitive_key(&key) {
            (
                a.map(|_| REDACTED.to_string()),
                b.map(|_| REDACTED.to_string()),
            )
        } else {
            (a, b)
        };
        // A session job's configuration is submitted with it; a cluster's is read at start.
        // flinkops' own settings never reach Flink.
        let restart = !crate::model::spec::is_operator_key(&key);
        let what = match (a, b) {
            (None, Some(b)) => format!("flinkConfiguration {key} set to {b}"),
            (Some(a), None) => format!("flinkConfiguration {key} {a} removed"),
            (Some(a), Some(b)) => format!("flinkConfiguration {key} {a} → {b}"),
            (None, None) => unreachable!(),
        };
        add(
            restart,
            if restart {
                what
            } else {
                format!("{what} (a flinkops setting: no restart)")
            },
        );
    }
    if let (Some(oc), Some(nc)) = (&o.cluster, &n.cluster) {
        cluster_changes(oc, nc, &mut out);
    }
    let mut add = |restart: bool, reason: String| out.push(Change { reason, restart });
    if o.labels != n.labels {
        add(false, "labels changed".into());
    }
    if o.annotations != n.annotations {
        add(false, "annotations changed".into());
    }
    if o.source.file != n.source.file {
        add(
            false,
            format!("moved from {} to {}", o.source.file, n.source.file),
        );
    }
    out
}

fn cluster_changes(o: &Cluster, n: &Cluster, out: &mut Vec<Change>) {
    let mut f = |name: &str, a: String, b: String, restart: bool| {
        if a != b {
            out.push(Change {
                reason: format!("{name} {a} → {b}"),
                restart,
            });
        }
    };
    f("image", o.image.clone(), n.image.clone(), true);
    f(
        "imagePullPolicy",
        opt(&o.image_pull_policy),
        opt(&n.image_pull_policy),
        true,
    );
    f(
        "flinkVersion",
        opt(&o.flink_version),
        opt(&n.flink_version),
        true,
    );
    f(
        "serviceAccount",
        opt(&o.service_account),
        opt(&n.service_account),
        true,
    );
    for (name, a, b) in [
        ("jobManager", &o.job_manager, &n.job_manager),
        ("taskManager", &o.task_manager, &n.task_manager),
    ] {
        component_changes(name, a, b, &mut f);
    }
    if o.pod_template != n.pod_template {
        f("podTemplate", "…".into(), "changed".into(), true);
    }
    if o.log_configuration != n.log_configuration {
        // log4j reloads a changed file (monitorInterval): no restart. A file added or
        // removed changes the pods' volume, which replaces them.
        let files = |c: &Cluster| {
            let mut files: BTreeSet<String> = c.log_configuration.keys().cloned().collect();
            files.insert(crate::engine::render::config::LOG4J_CONSOLE.to_string());
            files.into_iter().collect::<Vec<_>>()
        };
        if files(o) == files(n) {
            f(
                "logConfiguration",
                "…".into(),
                "changed (reloaded without restart)".into(),
                false,
            );
        } else {
            f(
                "logConfiguration files",
                list(&files(o)),
                list(&files(n)),
                true,
            );
        }
    }
    if o.ingress != n.ingress {
        f("ingress", "…".into(), "changed".into(), false);
    }
}

fn component_changes(
    name: &str,
    a: &Component,
    b: &Component,
    f: &mut impl FnMut(&str, String, String, bool),
) {
    f(
        &format!("{name}.replicas"),
        a.replicas.to_string(),
        b.replicas.to_string(),
        true,
    );
    f(
        &format!("{name}.resource.cpu"),
        k8s_cpu(a.resource.cpu_millis),
        k8s_cpu(b.resource.cpu_millis),
        true,
    );
    f(
        &format!("{name}.resource.memory"),
        flink_bytes(a.resource.memory_bytes),
        flink_bytes(b.resource.memory_bytes),
        true,
    );
    f(
        &format!("{name}.resource.ephemeralStorage"),
        a.resource
            .ephemeral_storage_bytes
            .map_or("(none)".into(), k8s_bytes),
        b.resource
            .ephemeral_storage_bytes
            .map_or("(none)".into(), k8s_bytes),
        true,
    );
    if a.resource.limits != b.resource.limits {
        let limits = |r: &crate::model::spec::Resource| match r.limits {
            None => "(= requests)".to_string(),
            Some(l) => format!(
                "cpu {}, memory {}, ephemeral-storage {}",
                k8s_cpu(l.cpu_millis),
                flink_bytes(l.memory_bytes),
                l.ephemeral_storage_bytes.map_or("(none)".into(), k8s_bytes)
            ),
        };
        f(
            &format!("{name}.resources.limits"),
            limits(&a.resource),
            limits(&b.resource),
            true,
        );
    }
    if a.pod_template != b.pod_template {
        f(
            &format!("{name}.podTemplate"),
            "…".into(),
            "changed".into(),
            true,
        );
    }
}

type MapChange = (String, Option<String>, Option<String>);

fn map_changes(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<MapChange> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| ((*k).clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("(none)".into(), |v| v.to_string())
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

    const APP: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: streaming
spec:
  image: flink:2.0
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 4
  job:
    jarURI: local:///opt/flink/usrlib/orders.jar
    args: [--a]
    parallelism: 2
    upgradeMode: savepoint
    state: running
";

    const SESSION: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: shared
  namespace: streaming
spec:
  image: flink:2.0
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  job:
    jarURI: https://example.com/top.jar
    upgradeMode: last-state
";

    /// Plans `old` → `new` and returns (job name, action, reasons) for each job.
    fn run(old: &[(&str, &str)], new: &[(&str, &str)]) -> Vec<(String, Action, Vec<String>)> {
        let observed = catalog(old).jobs;
        plan(&observed, &catalog(new))
            .jobs
            .into_iter()
            .map(|j| (j.name, j.action, j.reasons))
            .collect()
    }

    fn one(from: &str, to: &str) -> (Action, Vec<String>) {
        one_in(APP, from, to)
    }

    #[test]
    fn unchanged_job_plans_nothing() {
        assert_eq!(
            run(&[("a.yaml", APP)], &[("a.yaml", APP)]),
            vec![("orders".into(), Action::None, vec![])]
        );
    }

    #[test]
    fn create_and_delete() {
        let created = run(&[], &[("a.yaml", APP)]);
        assert_eq!(created[0].1, Action::Create);
        assert_eq!(
            created[0].2,
            vec!["new application, parallelism 2, upgradeMode savepoint"]
        );
        let deleted = run(&[("a.yaml", APP)], &[]);
        assert_eq!(deleted[0].1, Action::Delete);
        assert_eq!(
            deleted[0].2,
            vec![
                "removed from a.yaml",
                "the running job stops with a savepoint first; its savepoints are kept (adding it again resumes from them)"
            ]
        );
        let stateless = APP.replace("upgradeMode: savepoint", "upgradeMode: stateless");
        let deleted = run(&[("a.yaml", &stateless)], &[]);
        assert_eq!(
            deleted[0].2[1],
            "STATE LOSS: the running job is cancelled without a savepoint (upgradeMode stateless)"
        );
        let p = plan(&catalog(&[("a.yaml", &stateless)]).jobs, &catalog(&[]));
        assert!(p.jobs[0].state_loss.is_some());
        // Restarts that drop the state are named; those that carry it are not.
        let (_, reasons) = one(
            "    parallelism: 2\n    upgradeMode: savepoint",
            "    parallelism: 3\n    upgradeMode: stateless",
        );
        assert!(
            reasons.last().unwrap().starts_with("STATE LOSS: "),
            "{reasons:?}"
        );
        let (_, reasons) = one("parallelism: 2", "parallelism: 3");
        assert!(
            reasons.iter().all(|r| !r.contains("STATE LOSS")),
            "{reasons:?}"
        );
    }

    #[test]
    fn restart_changes_pick_the_upgrade_mode() {
        assert_eq!(
            one("parallelism: 2", "parallelism: 4"),
            (Action::SavepointUpgrade, vec!["parallelism 2 → 4".into()])
        );
        assert_eq!(
            one("image: flink:2.0", "image: flink:2.1"),
            (
                Action::SavepointUpgrade,
                vec!["image flink:2.0 → flink:2.1".into()]
            )
        );
        // To last-state: the running job keeps no checkpoint on cancellation, so this
        // restart stops it with a savepoint.
        let (a, r) = one(
            "    upgradeMode: savepoint\n",
            "    upgradeMode: last-state\n    entryClass: x.Y\n",
        );
        assert_eq!(a, Action::SavepointUpgrade);
        assert_eq!(
            r,
            vec![
                "entryClass (none) → x.Y",
                "upgradeMode savepoint → last-state"
            ]
        );
        let (a, r) = one(
            "    upgradeMode: savepoint\n",
            "    upgradeMode: stateless\n",
        );
        assert_eq!(a, Action::Update, "a mode change alone restarts nothing");
        assert_eq!(r, vec!["upgradeMode savepoint → stateless"]);
        assert_eq!(
            one("args: [--a]", "args: [--a, --b]").1,
            vec!["args [--a] → [--a, --b]"]
        );
    }

    #[test]
    fn resources_config_and_templates_restart() {
        assert_eq!(
            one(
                "  job:\n",
                "  taskManager:\n    resource: {memory: 4g}\n  job:\n"
            ),
            (
                Action::SavepointUpgrade,
                vec!["taskManager.resource.memory 1728m → 4g".into()]
            )
        );
        // `resources` limits apart from the requests are a change of their own.
        assert_eq!(
            one(
                "  job:\n",
                "  taskManager:\n    resources: {requests: {cpu: 1}, limits: {cpu: 2}}\n  job:\n"
            ),
            (
                Action::SavepointUpgrade,
                vec![
                    "taskManager.resources.limits (= requests) → cpu 2, memory 1728m, ephemeral-storage (none)"
                        .into()
                ]
            )
        );
        assert_eq!(
            one(
                "taskmanager.numberOfTaskSlots: 4",
                "taskmanager.numberOfTaskSlots: 4\n    state.backend.type: rocksdb"
            )
            .1,
            vec!["flinkConfiguration state.backend.type set to rocksdb"]
        );
        assert_eq!(
            one(
                "taskmanager.numberOfTaskSlots: 4",
                "taskmanager.numberOfTaskSlots: 4\n    s3.secret-key: hunter2"
            )
            .1,
            vec!["flinkConfiguration s3.secret-key set to <redacted>"]
        );
        let (a, r) = one(
            "  job:\n",
            "  podTemplate:\n    spec:\n      nodeSelector: {pool: flink}\n  job:\n",
        );
        assert_eq!(a, Action::SavepointUpgrade);
        assert_eq!(r, vec!["podTemplate … → changed"]);
        assert_eq!(
            one("  job:\n", "  restartNonce: 2\n  job:\n"),
            (
                Action::SavepointUpgrade,
                vec!["restartNonce (none) → 2".into()]
            )
        );
    }

    #[test]
    fn pod_keys_in_the_flink_configuration_restart_with_the_pods_they_shape() {
        let (action, reasons) = one(
            "taskmanager.numberOfTaskSlots: 4",
            "taskmanager.numberOfTaskSlots: 4\n    kubernetes.taskmanager.node-selector: pool:flink",
        );
        assert_eq!(action, Action::SavepointUpgrade);
        assert_eq!(
            reasons,
            vec!["flinkConfiguration kubernetes.taskmanager.node-selector set to pool:flink"]
        );
        // Only Secrets' names and keys are in the definition; the plan hides them anyway.
        let (action, reasons) = one(
            "taskmanager.numberOfTaskSlots: 4",
            "taskmanager.numberOfTaskSlots: 4\n    kubernetes.secrets: db:/opt/secrets/db",
        );
        assert_eq!(action, Action::SavepointUpgrade);
        assert_eq!(
            reasons,
            vec!["flinkConfiguration kubernetes.secrets set to <redacted>"]
        );
    }

    #[test]
    fn flinkops_settings_in_the_flink_configuration_restart_nothing() {
        assert_eq!(
            one(
                "taskmanager.numberOfTaskSlots: 4",
                "taskmanager.numberOfTaskSlots: 4\n    kubernetes.operator.periodic.savepoint.interval: 1h"
            ),
            (
                Action::Update,
                vec![
                    "flinkConfiguration kubernetes.operator.periodic.savepoint.interval set to 1h (a flinkops setting: no restart)"
                        .into()
                ]
            )
        );
    }

    #[test]
    fn kubernetes_only_changes_are_updates() {
        let (a, r) = one(
            "  namespace: streaming\n",
            "  namespace: streaming\n  labels: {team: x}\n",
        );
        assert_eq!((a, r), (Action::Update, vec!["labels changed".into()]));
        let (a, r) = one(
            "  job:\n",
            "  logConfiguration:\n    log4j-console.properties: x\n  job:\n",
        );
        assert_eq!(a, Action::Update);
        assert_eq!(
            r,
            vec!["logConfiguration … → changed (reloaded without restart)"]
        );
        let (a, _) = one(
            "  job:\n",
            "  ingress:\n    template: x.example.com\n  job:\n",
        );
        assert_eq!(a, Action::Update);
        let moved = run(&[("a.yaml", APP)], &[("b.yaml", APP)]);
        assert_eq!(
            moved,
            vec![(
                "orders".into(),
                Action::Update,
                vec!["moved from a.yaml to b.yaml".into()]
            )]
        );
    }

    #[test]
    fn suspend_resume_and_changes_while_suspended() {
        assert_eq!(
            one("state: running", "state: suspended"),
            (Action::Suspend, vec!["state running → suspended".into()])
        );
        let suspended = APP.replace("state: running", "state: suspended");
        let resumed = run(&[("a.yaml", &suspended)], &[("a.yaml", APP)]);
        assert_eq!(resumed[0].1, Action::Resume);
        let changed = suspended.replace("parallelism: 2", "parallelism: 3");
        let out = run(&[("a.yaml", &suspended)], &[("a.yaml", &changed)]);
        assert_eq!(out[0].1, Action::Update, "nothing runs, nothing restarts");
    }

    #[test]
    fn a_new_savepoint_trigger_nonce_is_an_update_that_names_the_savepoint() {
        let with = "    upgradeMode: savepoint\n";
        let first = APP.replace(with, &format!("{with}    savepointTriggerNonce: 1\n"));
        let second = APP.replace(with, &format!("{with}    savepointTriggerNonce: 2\n"));
        let out = run(&[("a.yaml", &first)], &[("a.yaml", &second)]);
        assert_eq!(out[0].1, Action::Update);
        assert_eq!(
            out[0].2,
            vec!["savepointTriggerNonce 1 → 2: one savepoint of the running job, no restart"]
        );
        let out = run(&[("a.yaml", &second)], &[("a.yaml", APP)]);
        assert_eq!(out[0].1, Action::Update);
        assert_eq!(out[0].2, vec!["savepointTriggerNonce 2 → (none)"]);
        let checkpoint = APP.replace(with, &format!("{with}    checkpointTriggerNonce: 7\n"));
        let out = run(&[("a.yaml", APP)], &[("a.yaml", &checkpoint)]);
        assert_eq!(out[0].1, Action::Update);
        assert_eq!(
            out[0].2,
            vec![
                "checkpointTriggerNonce (none) → 7: one checkpoint of the running job, no restart"
            ]
        );
    }

    #[test]
    fn redeploy_nonce_redeploys_from_initial_savepoint() {
        let with = "    upgradeMode: savepoint\n    initialSavepointPath: s3://b/sp-1\n";
        let base = APP.replace("    upgradeMode: savepoint\n", with);
        let bumped = base.replace(with, &format!("{with}    savepointRedeployNonce: 1\n"));
        let out = run(&[("a.yaml", &base)], &[("a.yaml", &bumped)]);
        assert_eq!(out[0].1, Action::Redeploy);
        assert_eq!(
            out[0].2,
            vec![
                "savepointRedeployNonce (none) → 1",
                "STATE LOSS: the current state is dropped: the job restarts from initialSavepointPath (savepointRedeployNonce)"
            ]
        );
    }

    #[test]
    fn session_cluster_restart_cascades_to_its_jobs() {
        let changed = SESSION.replacen("image: flink:2.0", "image: flink:2.1", 1);
        let out = run(&[("s.yaml", SESSION)], &[("s.yaml", &changed)]);
        assert_eq!(
            out,
            vec![
                (
                    "shared".into(),
                    Action::Restart,
                    vec!["image flink:2.0 → flink:2.1".into()]
                ),
                (
                    "top".into(),
                    Action::LastStateUpgrade,
                    vec![
                        "session cluster streaming/shared restarts, so this job restarts with it"
                            .into()
                    ]
                ),
            ]
        );
    }

    #[test]
    fn invalid_definition_is_an_error_and_keeps_the_job() {
        let broken = APP.replace("parallelism: 2", "parallelism: 0");
        let p = plan(
            &catalog(&[("a.yaml", APP)]).jobs,
            &catalog(&[("a.yaml", &broken)]),
        );
        assert_eq!(p.jobs[0].action, Action::Error);
        assert_eq!(
            p.jobs[0].reasons,
            vec!["definition is invalid: the running job is left as it is"]
        );
        assert_eq!(
            p.jobs[0].errors[0].to_string(),
            "a.yaml:13:18: spec.job.parallelism: must be at least 1, got 0"
        );
        assert!(p.has_errors());
        assert!(!p.has_changes());
    }

    #[test]
    fn unparseable_file_or_settings_never_deletes() {
        let p = plan(
            &catalog(&[("a.yaml", APP)]).jobs,
            &catalog(&[("a.yaml", "spec: [\n")]),
        );
        assert_eq!(p.jobs[0].action, Action::Error);
        assert_eq!(
            p.jobs[0].reasons,
            vec!["a.yaml failed to load: the job is kept as it is until it loads again"]
        );
        let p = plan(
            &catalog(&[("a.yaml", APP)]).jobs,
            &catalog(&[("flinkops.yaml", "roots: [elsewhere]\nprune: 3\n")]),
        );
        assert_eq!(p.jobs[0].action, Action::Error);
        assert_eq!(
            p.jobs[0].reasons,
            vec!["flinkops.yaml failed to load: the job is kept as it is until it loads again"]
        );
    }

    #[test]
    fn a_file_whose_name_cannot_be_read_blocks_every_deletion() {
        // A file renamed to a non-UTF-8 name: its job is absent under its old name, and
        // which jobs the unreadable file holds cannot be known, so nothing is deleted.
        let mut head = crate::model::spec::testing::snapshot(&[]);
        head.files.insert(
            "jobs/\u{FFFD}.yaml".into(),
            crate::model::snapshot::Entry::Unreadable {
                reason: "the file name is not UTF-8 text; rename it".into(),
                named: false,
            },
        );
        let p = plan(
            &catalog(&[("jobs/a.yaml", APP)]).jobs,
            &crate::model::spec::load(&head),
        );
        assert_eq!(p.jobs[0].action, Action::Error, "{:?}", p.jobs[0]);
        assert_eq!(
            p.jobs[0].reasons,
            vec!["a file whose name flinkops cannot read failed to load: the job is kept as it is until it loads again"]
        );
        assert_eq!(p.jobs[0].errors, p.errors);
        assert_eq!(
            p.errors[0].to_string(),
            "jobs/\u{FFFD}.yaml:1:1: the file name is not UTF-8 text; rename it; until it can be read, no job is deleted (flinkops cannot tell which jobs it holds)"
        );
    }

    #[test]
    fn reasons_hide_credentials_in_configuration_and_arguments() {
        assert_eq!(
            one(
                "taskmanager.numberOfTaskSlots: 4",
                "taskmanager.numberOfTaskSlots: 4\n    metrics.reporter.dghttp.apikey: hunter2"
            )
            .1,
            vec!["flinkConfiguration metrics.reporter.dghttp.apikey set to <redacted>"]
        );
        let (a, r) = one(
            "args: [--a]",
            "args: [--a, --password, hunter2, -Ds3.secret-key=x1]",
        );
        assert_eq!(a, Action::SavepointUpgrade);
        assert_eq!(
            r,
            vec!["args [--a] → [--a, --password, <redacted>, -Ds3.secret-key=<redacted>]"]
        );
        // A change of the secret alone still shows (and restarts), without its value.
        let before = APP.replace("args: [--a]", "args: [--password, old]");
        let after = APP.replace("args: [--a]", "args: [--password, new]");
        let out = run(&[("a.yaml", &before)], &[("a.yaml", &after)]);
        assert_eq!(out[0].1, Action::SavepointUpgrade);
        assert_eq!(
            out[0].2,
            vec!["args [--password, <redacted>] → [--password, <redacted>] (a redacted value changed)"]
        );
    }

    #[test]
    fn one_broken_file_does_not_block_other_jobs() {
        let other = APP.replace("name: orders", "name: payments");
        let other_changed = other.replace("parallelism: 2", "parallelism: 3");
        let broken = APP.replace("upgradeMode: savepoint", "upgradeMode: sometimes");
        let out = run(
            &[("a.yaml", APP), ("b.yaml", &other)],
            &[("a.yaml", &broken), ("b.yaml", &other_changed)],
        );
        assert_eq!(out[0].1, Action::Error);
        assert_eq!(out[1].1, Action::SavepointUpgrade);
    }

    /// A definition that sets every field flinkops reads.
    const RICH: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: streaming
  labels: {team: checkout}
  annotations: {owner: ana}
spec:
  image: flink:2.0
  imagePullPolicy: IfNotPresent
  flinkVersion: v2_0
  serviceAccount: flink
  restartNonce: 1
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    execution.checkpointing.interval: 10s
    kubernetes.operator.periodic.savepoint.interval: 1h
    high-availability.type: kubernetes
    high-availability.storageDir: file:///ha
  logConfiguration:
    log4j-console.properties: 'rootLogger.level = INFO'
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          env: [{name: SHARED, value: a}]
  jobManager:
    replicas: 1
    resource: {cpu: 1, memory: 2048m}
    podTemplate:
      spec:
        containers:
          - name: flink-main-container
            env: [{name: JM, value: a}]
  taskManager:
    replicas: 2
    resource: {cpu: 1, memory: 2048m, ephemeralStorage: 1Gi}
  ingress:
    template: '{{name}}.example.com'
    className: nginx
    annotations: {a: b}
    labels: {c: d}
  job:
    jarURI: local:///opt/flink/usrlib/orders.jar
    entryClass: com.example.Orders
    args: [--topic, orders]
    parallelism: 4
    upgradeMode: savepoint
    state: running
    initialSavepointPath: file:///sp/first
    allowNonRestoredState: false
    savepointRedeployNonce: 1
    savepointTriggerNonce: 1
    checkpointTriggerNonce: 1
";

    /// Every field of a definition changed alone: the plan restarts the job exactly when
    /// the render replaces its pods, and what the daemon applies for an in-place update
    /// leaves the running pods alone.
    #[test]
    fn every_single_field_change_restarts_exactly_when_the_pods_change() {
        let mutations: &[(&str, &str, &str)] = &[
            ("labels", "team: checkout", "team: payments"),
            ("annotations", "owner: ana", "owner: bo"),
            ("image", "image: flink:2.0", "image: flink:2.1"),
            ("imagePullPolicy", "IfNotPresent", "Always"),
            ("flinkVersion", "v2_0", "v1_20"),
            ("serviceAccount", "serviceAccount: flink", "serviceAccount: other"),
            ("restartNonce", "restartNonce: 1", "restartNonce: 2"),
            ("flinkConfiguration value", "interval: 10s", "interval: 20s"),
            (
                "flinkConfiguration key added",
                "    execution.checkpointing.interval: 10s\n",
                "    execution.checkpointing.interval: 10s\n    pipeline.max-parallelism: 64\n",
            ),
            ("flinkops setting", "savepoint.interval: 1h", "savepoint.interval: 2h"),
            ("logConfiguration content", "INFO'", "DEBUG'"),
            (
                "logConfiguration file added",
                "    log4j-console.properties: 'rootLogger.level = INFO'\n",
                "    log4j-console.properties: 'rootLogger.level = INFO'\n    log4j-extra.properties: x\n",
            ),
            ("podTemplate", "value: a}]\n  jobManager", "value: b}]\n  jobManager"),
            ("jobManager.replicas", "replicas: 1", "replicas: 2"),
            ("jobManager.resource", "{cpu: 1, memory: 2048m}\n    podTemplate", "{cpu: 2, memory: 2048m}\n    podTemplate"),
            ("jobManager.podTemplate", "value: a}]\n  taskManager", "value: b}]\n  taskManager"),
            ("taskManager.replicas", "replicas: 2", "replicas: 3"),
            ("taskManager.memory", "memory: 2048m, ephemeralStorage", "memory: 4096m, ephemeralStorage"),
            ("taskManager.ephemeralStorage", "1Gi", "2Gi"),
            ("ingress.template", "'{{name}}.example.com'", "'{{name}}.example.org'"),
            ("ingress.className", "className: nginx", "className: traefik"),
            ("ingress.annotations", "annotations: {a: b}", "annotations: {a: c}"),
            ("ingress.labels", "labels: {c: d}", "labels: {c: e}"),
            ("jarURI", "orders.jar", "orders-2.jar"),
            ("entryClass", "com.example.Orders", "com.example.Orders2"),
            ("args", "[--topic, orders]", "[--topic, orders2]"),
            ("parallelism", "parallelism: 4", "parallelism: 3"),
            ("upgradeMode to last-state", "upgradeMode: savepoint", "upgradeMode: last-state"),
            ("upgradeMode to stateless", "upgradeMode: savepoint", "upgradeMode: stateless"),
            ("state", "state: running", "state: suspended"),
            ("initialSavepointPath", "file:///sp/first", "file:///sp/second"),
            ("allowNonRestoredState", "allowNonRestoredState: false", "allowNonRestoredState: true"),
            ("savepointRedeployNonce", "savepointRedeployNonce: 1", "savepointRedeployNonce: 2"),
            ("savepointTriggerNonce", "savepointTriggerNonce: 1", "savepointTriggerNonce: 2"),
            ("checkpointTriggerNonce", "checkpointTriggerNonce: 1", "checkpointTriggerNonce: 2"),
        ];
        let load = |text: &str| {
            let c = catalog(&[("a.yaml", text)]);
            assert!(c.errors().is_empty(), "{:?}", c.errors());
            c
        };
        let old = load(RICH);
        let o = old.jobs.values().next().unwrap();
        // What the daemon applies to a job that runs: the savepoint it was started from.
        let applied = |s: &JobSpec| {
            let r = crate::engine::render::render(
                s,
                &crate::engine::render::Context {
                    commit: "c",
                    restore_from: Some("file:///sp/running"),
                },
            );
            r.objects
                .into_iter()
                .filter(|o| o.kind == "Deployment")
                .map(|o| o.body["spec"]["template"].clone())
                .collect::<Vec<_>>()
        };
        for (what, from, to) in mutations {
            assert_eq!(
                RICH.matches(from).count(),
                1,
                "{what}: {from:?} must occur once"
            );
            let new = load(&RICH.replace(from, to));
            let n = new.jobs.values().next().unwrap();
            let p = plan(&old.jobs, &new);
            let job = &p.jobs[0];
            assert_ne!(job.action, Action::None, "{what}: the change is planned");
            let replaced = !pod_changes(&pods(o), &pods(n)).is_empty();
            if replaced {
                assert!(
                    job.action.restarts_job() || job.action == Action::Suspend,
                    "{what}: pods are replaced but the plan says {:?} {:?}",
                    job.action,
                    job.reasons
                );
            }
            if job.action == Action::Update {
                assert!(!replaced, "{what}");
                assert_eq!(applied(o), applied(n), "{what}: an update replaces no pod");
            }
            // Restarting a stateful job without its state is only ever Git's explicit word.
            if job.action == Action::StatelessUpgrade {
                assert_eq!(*what, "upgradeMode to stateless");
            }
        }
    }

    #[test]
    fn changes_that_used_to_restart_without_a_savepoint_now_take_one() {
        for (from, to) in [
            ("upgradeMode: savepoint", "upgradeMode: last-state"),
            ("allowNonRestoredState: false", "allowNonRestoredState: true"),
            (
                "    log4j-console.properties: 'rootLogger.level = INFO'\n",
                "    log4j-console.properties: 'rootLogger.level = INFO'\n    log4j-extra.properties: x\n",
            ),
        ] {
            let (action, reasons) = one_in(RICH, from, to);
            assert_eq!(action, Action::SavepointUpgrade, "{to}: {reasons:?}");
        }
        let (_, reasons) = one_in(RICH, "upgradeMode: savepoint", "upgradeMode: last-state");
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("execution.checkpointing.externalized-checkpoint-retention")),
            "{reasons:?}"
        );
        // A last-state job going to savepoint can use either; both keep the state.
        let ls = RICH.replace("upgradeMode: savepoint", "upgradeMode: last-state");
        let (action, _) = one_in(&ls, "parallelism: 4", "parallelism: 3");
        assert_eq!(action, Action::LastStateUpgrade);
        let (action, _) = one_in(&ls, "upgradeMode: last-state", "upgradeMode: savepoint");
        assert_eq!(action, Action::SavepointUpgrade);
    }

    #[test]
    fn guarded_state_loss_needs_a_fresh_acknowledgement_in_git() {
        let guard = ("flinkops.yaml", "guardStateLoss: true\n");
        let to_stateless = |extra: &str| {
            APP.replace("upgradeMode: savepoint", "upgradeMode: stateless")
                .replace("parallelism: 2", "parallelism: 3")
                .replace(
                    "  namespace: streaming\n",
                    &format!("  namespace: streaming\n{extra}"),
                )
        };
        let old = catalog(&[guard, ("a.yaml", APP)]);
        let p = plan(&old.jobs, &catalog(&[guard, ("a.yaml", &to_stateless(""))]));
        assert_eq!(p.jobs[0].action, Action::Error, "{:?}", p.jobs[0].reasons);
        assert!(p.jobs[0].state_loss.is_some());
        assert!(p.jobs[0]
            .reasons
            .last()
            .unwrap()
            .contains("refused by guardStateLoss"));
        // Acknowledged in the same change: carried out (and named).
        let ack =
            "  annotations: {flinkops.io/accept-state-loss: '2026-11-26 reprocess from scratch'}\n";
        let p = plan(
            &old.jobs,
            &catalog(&[guard, ("a.yaml", &to_stateless(ack))]),
        );
        assert_eq!(
            p.jobs[0].action,
            Action::StatelessUpgrade,
            "{:?}",
            p.jobs[0].reasons
        );
        // An old acknowledgement does not cover a new loss.
        let acked_before = APP.replace(
            "  namespace: streaming\n",
            &format!("  namespace: streaming\n{ack}"),
        );
        let old = catalog(&[guard, ("a.yaml", &acked_before)]);
        let p = plan(
            &old.jobs,
            &catalog(&[guard, ("a.yaml", &to_stateless(ack))]),
        );
        assert_eq!(p.jobs[0].action, Action::Error);
        // Without the guard, the loss is only named.
        let p = plan(
            &catalog(&[("a.yaml", APP)]).jobs,
            &catalog(&[("a.yaml", &to_stateless(""))]),
        );
        assert_eq!(p.jobs[0].action, Action::StatelessUpgrade);
    }

    #[test]
    fn a_jar_url_s_credentials_never_reach_a_reason() {
        let text = SESSION.replace(
            "https://example.com/top.jar",
            "https://ci:hunter2@example.com/top.jar",
        );
        let newer = text.replace("top.jar", "top-2.jar");
        let out = run(&[("s.yaml", &text)], &[("s.yaml", &newer)]);
        let reasons = out.iter().flat_map(|o| o.2.iter()).collect::<Vec<_>>();
        assert!(
            reasons.iter().any(|r| r
                .starts_with("jarURI https://example.com/top.jar → https://example.com/top-2.jar")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().all(|r| !r.contains("hunter2")),
            "{reasons:?}"
        );
    }

    /// The plan of one change to the job in `base`: `from` replaced by `to`, once.
    fn one_in(base: &str, from: &str, to: &str) -> (Action, Vec<String>) {
        assert!(base.contains(from), "{from}");
        let changed = base.replacen(from, to, 1);
        let mut out = run(&[("a.yaml", base)], &[("a.yaml", &changed)]);
        assert_eq!(out.len(), 1);
        let (_, a, r) = out.remove(0);
        (a, r)
    }
}
