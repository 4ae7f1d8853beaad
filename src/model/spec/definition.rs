//! Decoding one YAML document into a `JobSpec`: the Apache operator's FlinkDeployment and
//! FlinkSessionJob (`flink.apache.org/v1beta1`) and the seed kinds FlinkCluster and
//! FlinkApplication (`flink.apache.org/v1`).

use super::decode::{Cx, Fields};
use super::kubernetes_keys::{PodKeys, Scope};
use super::model::*;
use super::names::{check_job_name, check_namespace};
use super::quantity::parse_memory;
use super::resource::{decode_resource, decode_resources, ResourceInput, ResourcesInput};
use super::settings::Settings;
use super::yaml::{Node, Pos};
use std::collections::BTreeMap;

pub const V1BETA1: &str = "flink.apache.org/v1beta1";
pub const V1: &str = "flink.apache.org/v1";

/// JobManagers or TaskManagers of one job, written or derived from its parallelism.
pub const MAX_REPLICAS: i32 = 1000;

/// Flink's own defaults for process memory (jobmanager/taskmanager.memory.process.size).
const DEFAULT_JM: ResourceInput = ResourceInput {
    cpu_millis: Some(1000),
    memory_bytes: Some(1600 << 20),
    ephemeral_storage_bytes: None,
};
const DEFAULT_TM: ResourceInput = ResourceInput {
    cpu_millis: Some(1000),
    memory_bytes: Some(1728 << 20),
    ephemeral_storage_bytes: None,
};

/// What could be read from a document: its identity as soon as metadata is readable (so
/// a broken job can be named in the plan), the spec only when it had no errors.
#[derive(Debug)]
pub struct Decoded {
    pub id: Option<JobId>,
    /// Where the document names its job (`metadata.name`, else the document's start):
    /// errors about the job as a whole, such as a second definition, point there.
    pub pos: Pos,
    pub spec: Option<JobSpec>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Deployment,
    SessionJob,
    SeedCluster,
    SeedApplication,
}

/// `owner`: the team owning this file, when the settings declare teams.
pub fn decode_document(
    cx: &mut Cx,
    root: &Node,
    settings: &Settings,
    owner: &super::tenancy::Ownership,
) -> Decoded {
    let errors_before = cx.errors.len();
    let mut decoded = Decoded {
        id: None,
        pos: root.pos,
        spec: None,
    };
    let Some(mut top) = Fields::of(cx, root, "") else {
        return decoded;
    };
    let api = top.string(cx, "apiVersion");
    let kind_text = top.string(cx, "kind");
    let kind = match (api.as_deref(), kind_text.as_deref()) {
        (Some(V1BETA1), Some("FlinkDeployment")) => Some(Kind::Deployment),
        (Some(V1BETA1), Some("FlinkSessionJob")) => Some(Kind::SessionJob),
        (Some(V1), Some("FlinkCluster")) => Some(Kind::SeedCluster),
        (Some(V1), Some("FlinkApplication")) => Some(Kind::SeedApplication),
        (None, _) | (_, None) => {
            let missing = if api.is_none() { "apiVersion" } else { "kind" };
            cx.error(root.pos, missing, format!("{missing} is required"));
            None
        }
        (Some(a), Some(k)) => {
            cx.error(
                root.pos,
                "kind",
                format!(
                    "`{a}` `{k}` is not a Flink job definition; flinkops reads {V1BETA1} FlinkDeployment and FlinkSessionJob, and {V1} FlinkCluster and FlinkApplication (keep other files outside the settings' roots)"
                ),
            );
            None
        }
    };
    let written_as = format!(
        "{}/{}",
        api.unwrap_or_default(),
        kind_text.unwrap_or_default()
    );

    // With teams, the file's owner decides where its jobs may go and how large they are.
    let team = match owner {
        Some(Ok(team)) => Some(*team),
        Some(Err(e)) => {
            cx.error(root.pos, "", e.clone());
            None
        }
        None => None,
    };
    let (id, labels, annotations) = decode_metadata(cx, &mut top, settings, team);
    decoded.id = id.clone();
    if let Some(name) = root.get("metadata").and_then(|m| m.get("name")) {
        decoded.pos = name.pos;
    }
    let spec_node = top.take("spec");
    top.unsupported(
        cx,
        "status",
        "status is written by the cluster, not by Git; remove it",
    );
    top.finish(cx);
    let Some(kind) = kind else {
        return decoded;
    };
    // Without a valid name the spec is still decoded, so all its errors show at once.
    let id = id.unwrap_or_else(|| JobId {
        namespace: settings.default_namespace.clone(),
        name: String::new(),
    });
    let Some(spec_node) = spec_node else {
        cx.error(root.pos, "spec", "spec is required");
        return decoded;
    };
    let Some(mut spec) = Fields::of(cx, spec_node, "spec") else {
        return decoded;
    };
    let mut out = JobSpec {
        id,
        kind: JobKind::SessionCluster,
        source: Source {
            file: cx.file.to_string(),
            line: root.pos.line,
            cluster_ref: spec_node
                .get("deploymentName")
                .or_else(|| spec_node.get("flinkCluster").and_then(|c| c.get("name")))
                .map(|n| (n.pos.line, n.pos.col)),
        },
        written_as,
        labels,
        annotations,
        cluster: None,
        job: None,
        session_cluster: None,
        flink_configuration: BTreeMap::new(),
        restart_nonce: None,
    };
    match kind {
        Kind::Deployment | Kind::SeedCluster => {
            let conf = flink_configuration(cx, &mut spec, settings);
            let job_node = if kind == Kind::Deployment {
                spec.take("job")
            } else {
                spec.unsupported(
                    cx,
                    "job",
                    "a FlinkCluster is a session cluster; submit jobs to it with FlinkApplication",
                );
                None
            };
            let version = flink_version(cx, &mut spec).or(settings.defaults.flink_version);
            if version.is_some_and(FlinkVersion::needs_legacy_conf) {
                check_legacy_conf(cx, &conf, root.pos);
            }
            let slots = task_slots(cx, &conf);
            let mut cluster = decode_cluster(cx, &mut spec, &out.id, settings, version, &conf);
            out.restart_nonce = spec.int(cx, "restartNonce").map(|(n, _)| n);
            if let Some(job_node) = job_node {
                out.kind = JobKind::Application;
                out.job = decode_job(cx, job_node, "spec.job", &conf, true);
            }
            if let (Some(c), Some(slots)) = (cluster.as_mut(), slots) {
                resolve_task_managers(cx, c, out.job.as_ref(), slots, spec_node);
                check_high_availability(cx, c, &conf, spec_node, &out.id);
                check_rest_tls(cx, c, &conf, spec_node);
            }
            out.flink_configuration = with_state_dirs(conf, settings, &out.id, version);
            out.cluster = cluster;
        }
        Kind::SessionJob | Kind::SeedApplication => {
            out.kind = JobKind::SessionJob;
            out.session_cluster = if kind == Kind::SessionJob {
                spec.string(cx, "deploymentName")
            } else {
                spec.take("flinkCluster").and_then(|n| {
                    let mut fc = Fields::of(cx, n, "spec.flinkCluster")?;
                    let name = fc.string(cx, "name");
                    if name.is_none() {
                        cx.error(n.pos, "spec.flinkCluster.name", "name is required");
                    }
                    fc.finish(cx);
                    name
                })
            };
            if out.session_cluster.is_none() && kind == Kind::SessionJob {
                cx.error(
                    spec.pos,
                    "spec.deploymentName",
                    "deploymentName is required: the session cluster (FlinkDeployment without job) to run on",
                );
            }
            // Only the job's own configuration travels with a session job: the cluster's
            // defaults are already in the session cluster.
            let conf = spec
                .flink_configuration(cx, "flinkConfiguration", Scope::SessionJob)
                .unwrap_or_default();
            out.restart_nonce = spec.int(cx, "restartNonce").map(|(n, _)| n);
            match spec.take("job") {
                Some(n) => out.job = decode_job(cx, n, "spec.job", &conf, false),
                None => cx.error(spec.pos, "spec.job", "job is required for a session job"),
            }
            out.flink_configuration = conf.into_iter().map(|(k, (v, _))| (k, v)).collect();
        }
    }
    spec.finish(cx);
    if let Some(team) = team {
        super::tenancy::check_job(cx, team, &out, spec_node, root.pos);
    }
    if cx.errors.len() == errors_before {
        decoded.spec = Some(out);
    }
    decoded
}

type Meta = (
    Option<JobId>,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

fn decode_metadata(
    cx: &mut Cx,
    top: &mut Fields,
    settings: &Settings,
    team: Option<&super::tenancy::Team>,
) -> Meta {
    let none = (None, BTreeMap::new(), BTreeMap::new());
    let Some(node) = top.take("metadata") else {
        let pos = top.pos;
        cx.error(pos, "metadata.name", "metadata.name is required");
        return none;
    };
    let Some(mut m) = Fields::of(cx, node, "metadata") else {
        return none;
    };
    let name = m.take("name");
    let name = match name {
        Some(n) => super::decode::string(cx, n, "metadata.name").and_then(|s| {
            check_job_name(&s)
                .map_err(|e| cx.error(n.pos, "metadata.name", e))
                .ok()
                .map(|_| s)
        }),
        None => {
            cx.error(node.pos, "metadata.name", "metadata.name is required");
            None
        }
    };
    let written = m.take("namespace");
    let namespace = match written {
        Some(n) => super::decode::string(cx, n, "metadata.namespace").and_then(|s| {
            if let Err(e) = check_namespace(&s) {
                cx.error(n.pos, "metadata.namespace", e);
                return None;
            }
            Some(s)
        }),
        None => Some(settings.default_namespace.clone()),
    };
    // The allow-list holds for the namespace the job resolves to, written or not.
    if let (Some(ns), Some(allowed)) = (&namespace, &settings.namespaces) {
        if !allowed.contains(ns) {
            let how = if written.is_some() {
                format!("namespace `{ns}`")
            } else {
                format!("no namespace is written, and the default namespace `{ns}`")
            };
            cx.error(
                written.map_or(node.pos, |n| n.pos),
                "metadata.namespace",
                format!(
                    "{how} is not allowed by {} (allowed: {})",
                    super::settings::SETTINGS_FILE,
                    allowed.join(", ")
                ),
            );
        }
    }
    if let (Some(ns), Some(team)) = (&namespace, team) {
        super::tenancy::check_namespace(cx, team, ns, written.map(|n| n.pos), node.pos);
    }
    let labels = m.labels(cx, "labels").unwrap_or_default();
    let annotations = m.labels(cx, "annotations").unwrap_or_default();
    m.finish(cx);
    let id = match (namespace, name) {
        (Some(namespace), Some(name)) => Some(JobId { namespace, name }),
        _ => None,
    };
    (id, labels, annotations)
}

pub(super) fn pull_policy(cx: &mut Cx, f: &mut Fields) -> Option<String> {
    let node = f.take("imagePullPolicy")?;
    let field = f.field("imagePullPolicy");
    let v = super::decode::string(cx, node, &field)?;
    if ["Always", "IfNotPresent", "Never"].contains(&v.as_str()) {
        Some(v)
    } else {
        cx.error(
            node.pos,
            &field,
            format!("`{v}` is not one of Always, IfNotPresent, Never"),
        );
        None
    }
}

pub(super) fn flink_version(cx: &mut Cx, f: &mut Fields) -> Option<FlinkVersion> {
    let node = f.take("flinkVersion")?;
    let field = f.field("flinkVersion");
    let v = super::decode::string(cx, node, &field)?;
    let parsed = FlinkVersion::parse(&v);
    if parsed.is_none() {
        cx.error(
            node.pos,
            &field,
            format!(
                "`{v}` is not a Flink version; write it as the operator does, e.g. v1_20 or v2_0"
            ),
        );
    }
    parsed
}

fn flink_configuration(
    cx: &mut Cx,
    spec: &mut Fields,
    settings: &Settings,
) -> BTreeMap<String, (String, Pos)> {
    let mut conf: BTreeMap<String, (String, Pos)> = settings
        .defaults
        .flink_configuration
        .iter()
        .map(|(k, v)| (k.clone(), (v.clone(), Pos::default())))
        .collect();
    conf.extend(
        spec.flink_configuration(cx, "flinkConfiguration", Scope::Cluster)
            .unwrap_or_default(),
    );
    conf
}

/// Adds per-job checkpoint and savepoint directories from the settings' base directories,
/// unless the job sets its own.
fn with_state_dirs(
    conf: BTreeMap<String, (String, Pos)>,
    settings: &Settings,
    id: &JobId,
    version: Option<FlinkVersion>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = conf.into_iter().map(|(k, (v, _))| (k, v)).collect();
    let legacy = version.is_some_and(|v| !v.is_2x());
    let keys = if legacy {
        [
            (
                "state.savepoints.dir",
                &settings.defaults.savepoint_directory,
            ),
            (
                "state.checkpoints.dir",
                &settings.defaults.checkpoint_directory,
            ),
        ]
    } else {
        [
            (
                "execution.checkpointing.savepoint-dir",
                &settings.defaults.savepoint_directory,
            ),
            (
                "execution.checkpointing.dir",
                &settings.defaults.checkpoint_directory,
            ),
        ]
    };
    for (key, base) in keys {
        if let Some(base) = base {
            out.entry(key.to_string()).or_insert_with(|| {
                format!(
                    "{}/{}/{}",
                    base.trim_end_matches('/'),
                    id.namespace,
                    id.name
                )
            });
        }
    }
    out
}

/// Flink before 1.19 reads flink-conf.yaml line by line: `key: value`, split at the first
/// `: `, cut at the first `#`, trimmed, with no quoting. What it would read differently
/// from what was written is an error rather than a silently different setting.
fn check_legacy_conf(cx: &mut Cx, conf: &BTreeMap<String, (String, Pos)>, root: Pos) {
    for (key, (value, pos)) in conf {
        let problem = if value.contains(['\n', '\t']) {
            Some("holds a line break or tab, which flink-conf.yaml cannot hold in a value")
        } else if key.contains('#') || value.contains('#') {
            Some("holds `#`, which starts a comment in flink-conf.yaml")
        } else if key.contains(": ") || key.ends_with(':') {
            Some("the key holds `: `, which ends a key in flink-conf.yaml")
        } else if key.trim() != key || value.trim() != value {
            Some("starts or ends with spaces, which flink-conf.yaml drops")
        } else {
            None
        };
        let Some(problem) = problem else { continue };
        let (pos, from) = if *pos == Pos::default() {
            (
                root,
                format!(" (from defaults in {})", super::settings::SETTINGS_FILE),
            )
        } else {
            (*pos, String::new())
        };
        cx.error(
            pos,
            &format!("spec.flinkConfiguration.{key}"),
            format!("{problem}: Flink before 1.19 would read another value{from}"),
        );
    }
}

fn task_slots(cx: &mut Cx, conf: &BTreeMap<String, (String, Pos)>) -> Option<i32> {
    let key = "taskmanager.numberOfTaskSlots";
    let Some((v, pos)) = conf.get(key) else {
        return Some(1);
    };
    match v.parse::<i32>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            cx.error(
                *pos,
                &format!("spec.flinkConfiguration.{key}"),
                format!("must be a whole number of at least 1, got `{v}`"),
            );
            None
        }
    }
}

/// The configuration's values without their positions, as the pure readers of keys take it.
fn values(conf: &BTreeMap<String, (String, Pos)>) -> BTreeMap<String, String> {
    conf.iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

fn decode_cluster(
    cx: &mut Cx,
    spec: &mut Fields,
    id: &JobId,
    settings: &Settings,
    version: Option<FlinkVersion>,
    conf: &BTreeMap<String, (String, Pos)>,
) -> Option<Cluster> {
    let d = &settings.defaults;
    let image_node = spec.take("image");
    let image_written = image_node.and_then(|n| super::decode::string(cx, n, "spec.image"));
    // The spec's fields, else the keys the operator's decorators read, else the
    // settings' defaults (the operator sets the keys from the fields when they are set).
    let plain = values(conf);
    let keys = PodKeys::read(&plain);
    let pull = pull_policy(cx, spec)
        .or(keys.image_pull_policy)
        .or_else(|| d.image_pull_policy.clone());
    let service_account = spec
        .string(cx, "serviceAccount")
        .or(keys.service_account)
        .or_else(|| d.service_account.clone());
    if let Some(mode) = spec.take("mode") {
        let field = spec.field("mode");
        if let Some(m) = super::decode::string(cx, mode, &field) {
            if m != "standalone" {
                cx.error(
                    mode.pos,
                    &field,
                    format!("flinkops deploys in standalone mode (it creates the JobManager and TaskManager Deployments itself); `{m}` is not supported: remove `mode` or set it to standalone"),
                );
            }
        }
    }
    let jm = spec
        .take("jobManager")
        .map(|n| decode_component(cx, n, "spec.jobManager", &settings.pod_policy));
    let tm = spec
        .take("taskManager")
        .map(|n| decode_component(cx, n, "spec.taskManager", &settings.pod_policy));
    let pod_template = spec
        .take("podTemplate")
        .and_then(|n| super::pod_template::check(cx, n, "spec.podTemplate", &settings.pod_policy));
    check_pod_key_conflicts(cx, &plain, conf, &pod_template, &jm, &tm, spec.pos);
    let log_configuration = spec.file_map(cx, "logConfiguration").unwrap_or_default();
    let ingress = spec
        .take("ingress")
        .and_then(|n| super::ingress::decode(cx, n, id));

    let image = match (image_written, &d.image, version) {
        (Some(i), _, _) => i,
        (None, Some(i), _) => i.clone(),
        (None, None, Some(v)) => v.default_image(),
        // Written but not a string: that error is reported already.
        (None, None, None) if image_node.is_some() => return None,
        (None, None, None) => {
            cx.error(
                spec.pos,
                "spec.image",
                format!(
                    "no image: set spec.image, spec.flinkVersion, or defaults.image in {}",
                    super::settings::SETTINGS_FILE
                ),
            );
            return None;
        }
    };
    let at = spec.pos;
    let mut component = |c: Option<ComponentInput>,
                         default: ResourceInput,
                         fallback: ResourceInput,
                         memory_key: &str| {
        let c = c.unwrap_or_default();
        Component {
            replicas: c.replicas.unwrap_or(0),
            resource: resolve_resource(cx, &c, fallback, default, conf, memory_key, at),
            pod_template: c.pod_template,
        }
    };
    let mut job_manager = component(jm, DEFAULT_JM, d.job_manager, JM_PROCESS_MEMORY);
    if job_manager.replicas == 0 {
        job_manager.replicas = 1;
    }
    let task_manager = component(tm, DEFAULT_TM, d.task_manager, TM_PROCESS_MEMORY);
    Some(Cluster {
        image,
        image_pull_policy: pull,
        flink_version: version,
        service_account,
        job_manager,
        task_manager,
        pod_template,
        log_configuration,
        ingress,
    })
}

/// The pod keys of flinkConfiguration that cannot hold together or with the pod
/// templates (`kubernetes_keys::conflicts`), each reported at its key's value.
fn check_pod_key_conflicts(
    cx: &mut Cx,
    plain: &BTreeMap<String, String>,
    conf: &BTreeMap<String, (String, Pos)>,
    shared: &Option<serde_json::Value>,
    jm: &Option<ComponentInput>,
    tm: &Option<ComponentInput>,
    at: Pos,
) {
    use super::kubernetes_keys::Component;
    let templates: Vec<(Option<Component>, &serde_json::Value)> = [
        (None, shared.as_ref()),
        (
            Some(Component::JobManager),
            jm.as_ref().and_then(|c| c.pod_template.as_ref()),
        ),
        (
            Some(Component::TaskManager),
            tm.as_ref().and_then(|c| c.pod_template.as_ref()),
        ),
    ]
    .into_iter()
    .filter_map(|(c, t)| Some((c, t?)))
    .collect();
    for (key, message) in super::kubernetes_keys::conflicts(plain, &templates) {
        let pos = conf.get(&key).map_or(Pos::default(), |(_, p)| *p);
        let (pos, from) = if pos == Pos::default() {
            (
                at,
                format!(" (from defaults in {})", super::settings::SETTINGS_FILE),
            )
        } else {
            (pos, String::new())
        };
        cx.error(
            pos,
            &format!("spec.flinkConfiguration.{key}"),
            format!("{message}{from}"),
        );
    }
}

#[derive(Default)]
struct ComponentInput {
    replicas: Option<i32>,
    resource: ResourceInput,
    /// `resources`, when written (then `resource` is not).
    resources: Option<ResourcesInput>,
    pod_template: Option<serde_json::Value>,
}

/// A component's resources, resolved. Its memory is Flink's process memory and the
/// container's memory request, from the most specific place that sets it: the
/// component's own `resources` (the request, else the limit, as the Apache operator reads
/// it) or `resource`; `jobmanager/taskmanager.memory.process.size` in the definition's
/// flinkConfiguration; the settings' `defaults.<component>.resource`; that key in the
/// settings' flinkConfiguration; Flink's default. CPU and ephemeral storage: written, else
/// the settings' defaults, else 1 CPU and none. Limits: as written in `resources`, else
/// the requests (a request written without a limit, as Kubernetes takes it, has the
/// request as its limit too, except ephemeral storage, which then has no limit, as the
/// operator renders it).
fn resolve_resource(
    cx: &mut Cx,
    input: &ComponentInput,
    fallback: ResourceInput,
    default: ResourceInput,
    conf: &BTreeMap<String, (String, Pos)>,
    memory_key: &str,
    at: Pos,
) -> Resource {
    // A limit written without a request is the request too, as Kubernetes defaults it.
    let (req, lim) = match &input.resources {
        Some(rs) => (rs.requests.or(rs.limits), rs.limits),
        None => (input.resource, input.resource),
    };
    // The key in the definition's flinkConfiguration (written there: a position) or in the
    // settings' (no position); a value that is not a size is an error where it was set.
    let from_conf = |cx: &mut Cx, settings_level: bool| -> Option<u64> {
        let (text, pos) = conf.get(memory_key)?;
        if (*pos == Pos::default()) != settings_level {
            return None;
        }
        match parse_memory(text) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                let (pos, from) = if settings_level {
                    (
                        at,
                        format!(" (from defaults in {})", super::settings::SETTINGS_FILE),
                    )
                } else {
                    (*pos, String::new())
                };
                cx.error(
                    pos,
                    &format!("spec.flinkConfiguration.{memory_key}"),
                    format!("{e}{from}"),
                );
                None
            }
        }
    };
    let memory = req
        .memory_bytes
        .or_else(|| from_conf(cx, false))
        .or(fallback.memory_bytes)
        .or_else(|| from_conf(cx, true))
        .or(default.memory_bytes)
        .unwrap_or(1 << 30);
    let cpu = req
        .cpu_millis
        .or(fallback.cpu_millis)
        .or(default.cpu_millis)
        .unwrap_or(1000);
    let ephemeral = req
        .ephemeral_storage_bytes
        .or(fallback.ephemeral_storage_bytes);
    let request_only_storage = input
        .resources
        .is_some_and(|rs| rs.requests.ephemeral_storage_bytes.is_some());
    let limits = Limits {
        cpu_millis: lim.cpu_millis.unwrap_or(cpu),
        memory_bytes: lim.memory_bytes.unwrap_or(memory),
        ephemeral_storage_bytes: if request_only_storage {
            lim.ephemeral_storage_bytes
        } else {
            lim.ephemeral_storage_bytes.or(ephemeral)
        },
    };
    let mut out = Resource {
        cpu_millis: cpu,
        memory_bytes: memory,
        ephemeral_storage_bytes: ephemeral,
        limits: None,
    };
    if limits != out.limits() {
        out.limits = Some(limits);
    }
    out
}

fn decode_component(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    policy: &super::pod_policy::PodPolicy,
) -> ComponentInput {
    let mut out = ComponentInput::default();
    let Some(mut f) = Fields::of(cx, node, path) else {
        return out;
    };
    if let Some((n, pos)) = f.int(cx, "replicas") {
        if !(1..=i64::from(MAX_REPLICAS)).contains(&n) {
            cx.error(
                pos,
                &f.field("replicas"),
                format!("must be between 1 and {MAX_REPLICAS}, got {n}"),
            );
        } else {
            out.replicas = Some(n as i32);
        }
    }
    // Both forms are read (so every error in either shows), then one is kept.
    let old = f
        .take("resource")
        .map(|n| decode_resource(cx, n, &f.field("resource")));
    let new = f
        .take("resources")
        .map(|n| decode_resources(cx, n, &f.field("resources")));
    if let (Some(_), Some(_)) = (old, new) {
        let second = ["resource", "resources"]
            .into_iter()
            .max_by_key(|k| node.key_pos(k))
            .unwrap_or("resources");
        cx.error(
            node.key_pos(second).unwrap_or(node.pos),
            &f.field(second),
            "`resource` and `resources` are both set: write one (`resources`, Kubernetes requests and limits, replaces the deprecated `resource`)",
        );
    }
    out.resource = old.unwrap_or_default();
    out.resources = new;
    if let Some(n) = f.take("podTemplate") {
        out.pod_template = super::pod_template::check(cx, n, &f.field("podTemplate"), policy);
    }
    f.finish(cx);
    out
}

/// TaskManager count: as written, else enough for the job's parallelism; never fewer
/// slots than the job needs.
fn resolve_task_managers(cx: &mut Cx, c: &mut Cluster, job: Option<&Job>, slots: i32, spec: &Node) {
    let written = c.task_manager.replicas;
    let Some(job) = job else {
        if written == 0 {
            c.task_manager.replicas = 1;
        }
        return;
    };
    // In i64: parallelism and slots are each up to i32::MAX, so their sums and products
    // are not.
    let (parallelism, slots64) = (i64::from(job.parallelism), i64::from(slots));
    let needed = (parallelism + slots64 - 1) / slots64;
    if written == 0 {
        if needed > i64::from(MAX_REPLICAS) {
            let pos = spec
                .get("job")
                .and_then(|j| j.get("parallelism"))
                .map_or(spec.pos, |n| n.pos);
            cx.error(
                pos,
                "spec.job.parallelism",
                format!(
                    "parallelism {parallelism} with {slots} slots per TaskManager (taskmanager.numberOfTaskSlots) needs {needed} TaskManagers; at most {MAX_REPLICAS}"
                ),
            );
            return;
        }
        c.task_manager.replicas = needed as i32;
    } else if i64::from(written) * slots64 < parallelism {
        let pos = spec
            .get("taskManager")
            .and_then(|t| t.get("replicas"))
            .map_or(spec.pos, |n| n.pos);
        cx.error(
            pos,
            "spec.taskManager.replicas",
            format!(
                "parallelism {} needs {} task slots, but {written} TaskManagers × {slots} slots (taskmanager.numberOfTaskSlots) = {}",
                job.parallelism,
                job.parallelism,
                i64::from(written) * slots64
            ),
        );
    }
}

/// REST over TLS as flinkops can reach it (`model::rest_tls`): a truststore it can read, from a
/// Secret mounted at its path (`kubernetes.secrets`; a pod template may mount it too,
/// which only the cluster can check), and no client certificates.
fn check_rest_tls(cx: &mut Cx, c: &Cluster, conf: &BTreeMap<String, (String, Pos)>, spec: &Node) {
    use crate::model::rest_tls as tls;
    let flat = values(conf);
    let at = |key: &str| conf.get(key).map_or(spec.pos, |(_, pos)| *pos);
    let field = |key: &str| format!("spec.flinkConfiguration.{key}");
    match tls::tls_conf(&flat) {
        Err(e) => {
            let key = [
                tls::MUTUAL,
                tls::TRUSTSTORE_TYPE,
                tls::ALGORITHMS,
                tls::PROTOCOL,
            ]
            .into_iter()
            .find(|k| e.starts_with(*k))
            .unwrap_or(tls::ENABLED);
            cx.error(at(key), &field(key), e);
        }
        Ok(Some(t)) if c.pod_template.is_none() && c.job_manager.pod_template.is_none() => {
            let mounted = PodKeys::read(&flat).secrets.values().any(|dir| {
                t.truststore
                    .strip_prefix(dir.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
            });
            if !mounted {
                cx.error(
                    at(tls::TRUSTSTORE),
                    &field(tls::TRUSTSTORE),
                    format!(
                        "`{}` is not in a Secret mounted with kubernetes.secrets (secret:/dir): flinkops reads the truststore from that Secret to trust the JobManager's certificate",
                        t.truststore
                    ),
                );
            }
        }
        Ok(_) => {}
    }
}

/// High availability as flinkops renders it (render::config::forced): more than one
/// JobManager needs it; it needs a storage directory; the cluster id and namespace Flink's
/// Kubernetes HA services use are the job's, so a definition that names others is
/// refused rather than overridden.
fn check_high_availability(
    cx: &mut Cx,
    c: &Cluster,
    conf: &BTreeMap<String, (String, Pos)>,
    spec: &Node,
    id: &JobId,
) {
    let ha = conf
        .get("high-availability.type")
        .or_else(|| conf.get("high-availability"));
    let on = ha.is_some_and(|(v, _)| !v.eq_ignore_ascii_case("none"));
    if c.job_manager.replicas > 1 && !on {
        let pos = spec
            .get("jobManager")
            .and_then(|t| t.get("replicas"))
            .map_or(spec.pos, |n| n.pos);
        cx.error(
            pos,
            "spec.jobManager.replicas",
            "more than one JobManager needs high availability (set high-availability.type in flinkConfiguration)",
        );
    }
    if let (true, Some((_, pos))) = (on, ha) {
        if !conf.contains_key("high-availability.storageDir") {
            cx.error(
                *pos,
                "spec.flinkConfiguration",
                "high availability needs high-availability.storageDir: where Flink keeps the job graph and checkpoint metadata its HA ConfigMaps point to (a path every JobManager reaches, such as s3:// or a shared volume)",
            );
        }
    }
    for (key, want, what) in [
        ("kubernetes.cluster-id", &id.name, "the job's name"),
        ("high-availability.cluster-id", &id.name, "the job's name"),
        ("kubernetes.namespace", &id.namespace, "the job's namespace"),
    ] {
        if let Some((value, pos)) = conf.get(key).filter(|(v, _)| v.trim() != want.as_str()) {
            cx.error(
                *pos,
                &format!("spec.flinkConfiguration.{key}"),
                format!(
                    "`{value}`: flinkops sets {key} to {what} (`{want}`), which names the high-availability ConfigMaps it cleans up; remove it"
                ),
            );
        }
    }
}

fn decode_job(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    conf: &BTreeMap<String, (String, Pos)>,
    application: bool,
) -> Option<Job> {
    let mut f = Fields::of(cx, node, path)?;
    let jar_node = f.take("jarURI");
    let jar_uri = match jar_node {
        Some(n) => super::decode::string(cx, n, &f.field("jarURI")),
        None => {
            cx.error(node.pos, &f.field("jarURI"), "jarURI is required");
            None
        }
    };
    if let (Some(uri), Some(n)) = (&jar_uri, jar_node) {
        if let Err(e) = check_jar_uri(uri, application) {
            cx.error(n.pos, &f.field("jarURI"), e);
        }
    }
    let entry_class = f.string(cx, "entryClass");
    if let (Some(class), Some(n)) = (&entry_class, node.get("entryClass")) {
        if let Err(e) = super::names::check_class_name(class) {
            cx.error(n.pos, &f.field("entryClass"), e);
        }
    }
    let args = f.string_list(cx, "args").unwrap_or_default();
    let parallelism = match f.int(cx, "parallelism") {
        Some((p, _)) if p >= 1 && p <= i32::MAX as i64 => Some(p as i32),
        Some((p, pos)) => {
            cx.error(
                pos,
                &f.field("parallelism"),
                format!("must be at least 1, got {p}"),
            );
            None
        }
        None => match conf.get("parallelism.default") {
            None => Some(1),
            Some((v, pos)) => match v.parse::<i32>() {
                Ok(p) if p >= 1 => Some(p),
                _ => {
                    cx.error(
                        *pos,
                        "spec.flinkConfiguration.parallelism.default",
                        format!("must be a whole number of at least 1, got `{v}`"),
                    );
                    None
                }
            },
        },
    };
    let upgrade_mode = enum_field(
        cx,
        &mut f,
        "upgradeMode",
        &UpgradeMode::NAMES,
        UpgradeMode::parse,
    )
    .unwrap_or(Some(UpgradeMode::Stateless));
    let state = enum_field(
        cx,
        &mut f,
        "state",
        &["running", "suspended"],
        JobState::parse,
    )
    .unwrap_or(Some(JobState::Running));
    let initial_savepoint_path = f.string(cx, "initialSavepointPath");
    let allow_non_restored_state = f.boolean(cx, "allowNonRestoredState");
    let savepoint_redeploy_nonce = f.int(cx, "savepointRedeployNonce").map(|(n, _)| n);
    if let (Some(_), None, Some(n)) = (
        savepoint_redeploy_nonce,
        &initial_savepoint_path,
        node.get("savepointRedeployNonce"),
    ) {
        cx.error(
            n.pos,
            &f.field("savepointRedeployNonce"),
            "savepointRedeployNonce redeploys from initialSavepointPath, which is not set",
        );
    }
    let savepoint_trigger_nonce = f.int(cx, "savepointTriggerNonce").map(|(n, _)| n);
    let checkpoint_trigger_nonce = f.int(cx, "checkpointTriggerNonce").map(|(n, _)| n);
    f.unsupported(cx, "autoscalerResetNonce", "flinkops has no autoscaler");
    f.finish(cx);
    Some(Job {
        jar_uri: jar_uri?,
        entry_class,
        args,
        parallelism: parallelism?,
        upgrade_mode: upgrade_mode?,
        state: state?,
        initial_savepoint_path,
        allow_non_restored_state,
        savepoint_redeploy_nonce,
        savepoint_trigger_nonce,
        checkpoint_trigger_nonce,
    })
}

/// Some(None) when the field is present but invalid; None when absent.
fn enum_field<T>(
    cx: &mut Cx,
    f: &mut Fields,
    key: &'static str,
    names: &[&str],
    parse: fn(&str) -> Option<T>,
) -> Option<Option<T>> {
    let node = f.take(key)?;
    let field = f.field(key);
    let text = super::decode::string(cx, node, &field);
    let parsed = text.as_deref().and_then(parse);
    if let (Some(t), None) = (&text, &parsed) {
        cx.error(
            node.pos,
            &field,
            format!("`{t}` is not one of {}", names.join(", ")),
        );
    }
    Some(parsed)
}

/// Application clusters start the jar from the image (standalone mode cannot fetch it);
/// session jobs' jars are uploaded by flinkops, from a file or over HTTP(S), or are in the
/// session cluster's image (`image_jar`).
fn check_jar_uri(uri: &str, application: bool) -> Result<(), String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!(
            "`{uri}` is not a URI (e.g. local:///opt/flink/usrlib/job.jar)"
        ));
    };
    if rest.is_empty() || scheme.is_empty() {
        return Err(format!(
            "`{uri}` is not a URI (e.g. local:///opt/flink/usrlib/job.jar)"
        ));
    }
    if application && scheme != "local" {
        return Err(format!(
            "`{uri}`: an application cluster runs the jar from its image, so jarURI must be local:///path/in/image.jar"
        ));
    }
    if scheme == "local" {
        // `local://opt/x.jar` names host `opt` and path `/x.jar`: no file Flink would find.
        if !rest.starts_with('/') || rest.ends_with('/') {
            return Err(format!(
                "`{uri}` names no file in the image: write local:/// and the jar's absolute path (three slashes: the path begins with the third)"
            ));
        }
        // Flink reads these as URI syntax (`#` fragment, `?` query, `%` escapes, decoded by
        // some Flink versions and not others) or as the separator of pipeline.classpaths.
        if let Some(c) = rest
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "#?;%".contains(*c))
        {
            return Err(format!(
                "`{uri}`: {c:?} in the path is read by Flink as something other than part of the file name; rename the jar or its folder"
            ));
        }
    }
    if !application {
        crate::model::spec::jar_uri::jar_source(uri)?;
    }
    Ok(())
}
