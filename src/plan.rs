//! Planning: what happens to each job when the observed specs become the desired ones.
//! Pure: specs in, actions with human reasons out. Flink-aware: it knows which changes
//! restart a running job (and so need a savepoint) and which only touch Kubernetes.

use crate::redact::{is_sensitive_key, REDACTED};
use crate::spec::quantity::{flink_bytes, k8s_bytes, k8s_cpu};
use crate::spec::{Catalog, Cluster, Component, JobId, JobKind, JobSpec, JobState, SpecError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    None,
    Create,
    Delete,
    /// Kubernetes-only change: the running job is not restarted.
    Update,
    SavepointUpgrade,
    LastStateUpgrade,
    StatelessUpgrade,
    /// `savepointRedeployNonce` changed: restart from `initialSavepointPath`, discarding
    /// the current state.
    Redeploy,
    /// A session cluster whose pods are replaced (its session jobs are upgraded too).
    Restart,
    Suspend,
    Resume,
    /// Back to the last stable spec after the new one failed to run (automatic).
    Rollback,
    /// The definition is invalid: whatever runs is left as it is.
    Error,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Update => "update",
            Action::SavepointUpgrade => "savepoint-upgrade",
            Action::LastStateUpgrade => "last-state-upgrade",
            Action::StatelessUpgrade => "stateless-upgrade",
            Action::Redeploy => "redeploy",
            Action::Restart => "restart",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Rollback => "rollback",
            Action::Error => "error",
        }
    }

    pub const ALL: [Action; 13] = [
        Action::None,
        Action::Create,
        Action::Delete,
        Action::Update,
        Action::SavepointUpgrade,
        Action::LastStateUpgrade,
        Action::StatelessUpgrade,
        Action::Redeploy,
        Action::Restart,
        Action::Suspend,
        Action::Resume,
        Action::Rollback,
        Action::Error,
    ];

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the running Flink job stops and starts again.
    pub fn restarts_job(self) -> bool {
        matches!(
            self,
            Action::SavepointUpgrade
                | Action::LastStateUpgrade
                | Action::StatelessUpgrade
                | Action::Redeploy
                | Action::Restart
                | Action::Rollback
        )
    }
}

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
    let mut errors: Vec<SpecError> = desired.settings_errors.clone();
    errors.extend(desired.file_errors.values().flatten().cloned());
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
                if o.job.as_ref().is_some_and(|j| j.state == JobState::Running) {
                    p.reasons
                        .push("the running job is cancelled without a savepoint".into());
                }
            } else {
                p.action = Action::Error;
                p.reasons.push(format!(
                    "{} failed to load: the job is kept as it is until it loads again",
                    if desired.settings_errors.is_empty() {
                        o.source.file.as_str()
                    } else {
                        crate::spec::SETTINGS_FILE
                    }
                ));
                p.errors = desired
                    .file_errors
                    .get(&o.source.file)
                    .cloned()
                    .unwrap_or_else(|| desired.settings_errors.clone());
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
            let changes = changes(o, n);
            p.action = action_for(o, n, &changes);
            p.reasons = changes.into_iter().map(|c| c.reason).collect();
        }
    }
    p
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
            Some(j) => upgrade_action(j.upgrade_mode),
            None => Action::Restart,
        };
    }
    if changes.is_empty() {
        Action::None
    } else {
        Action::Update
    }
}

fn upgrade_action(mode: crate::spec::UpgradeMode) -> Action {
    match mode {
        crate::spec::UpgradeMode::Savepoint => Action::SavepointUpgrade,
        crate::spec::UpgradeMode::LastState => Action::LastStateUpgrade,
        crate::spec::UpgradeMode::Stateless => Action::StatelessUpgrade,
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
        f("jarURI", oj.jar_uri.clone(), nj.jar_uri.clone(), true);
        f(
            "entryClass",
            opt(&oj.entry_class),
            opt(&nj.entry_class),
            true,
        );
        // Shown without the values of sensitive options; compared with them.
        let (a, mut b) = (
            list(&crate::redact::args_list(&oj.args)),
            list(&crate::redact::args_list(&nj.args)),
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
        let restart = !crate::spec::is_operator_key(&key);
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
        // log4j reloads its file (monitorInterval): no restart.
        f(
            "logConfiguration",
            "…".into(),
            "changed (reloaded without restart)".into(),
            false,
        );
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
    use crate::spec::testing::catalog;

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
        assert!(APP.contains(from), "{from}");
        let changed = APP.replacen(from, to, 1);
        let mut out = run(&[("a.yaml", APP)], &[("a.yaml", &changed)]);
        assert_eq!(out.len(), 1);
        let (_, a, r) = out.remove(0);
        (a, r)
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
                "the running job is cancelled without a savepoint"
            ]
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
        let (a, r) = one(
            "    upgradeMode: savepoint\n",
            "    upgradeMode: last-state\n    entryClass: x.Y\n",
        );
        assert_eq!(a, Action::LastStateUpgrade);
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
    fn redeploy_nonce_redeploys_from_initial_savepoint() {
        let with = "    upgradeMode: savepoint\n    initialSavepointPath: s3://b/sp-1\n";
        let base = APP.replace("    upgradeMode: savepoint\n", with);
        let bumped = base.replace(with, &format!("{with}    savepointRedeployNonce: 1\n"));
        let out = run(&[("a.yaml", &base)], &[("a.yaml", &bumped)]);
        assert_eq!(out[0].1, Action::Redeploy);
        assert_eq!(out[0].2, vec!["savepointRedeployNonce (none) → 1"]);
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
}
