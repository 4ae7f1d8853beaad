//! The JSON Schema of the files flinkops reads, for editors (yaml-language-server) and CI.
//!
//! The decoder is hand-written (it reports positions and every error at once), so these
//! types exist only to describe the format; a test decodes a document of each kind and
//! checks that the fields the decoder reads are exactly the fields described here.

// The types below are never built: they only describe the format.
#![allow(dead_code)]

use schemars::JsonSchema;
use std::collections::BTreeMap;

/// The JSON Schema of job definition files (`flinkops schema`).
pub fn jobs() -> serde_json::Value {
    let mut s = schemars::schema_for!(JobDocument).to_value();
    s["$id"] = "https://flinkops.io/schema/jobs.json".into();
    s
}

/// The JSON Schema of the repository's settings file (`flinkops schema --settings`).
pub fn settings() -> serde_json::Value {
    let mut s = schemars::schema_for!(SettingsFile).to_value();
    s["$id"] = "https://flinkops.io/schema/settings.json".into();
    s
}

/// A Flink job definition: the Apache Flink Kubernetes Operator's FlinkDeployment or
/// FlinkSessionJob (flink.apache.org/v1beta1), or the FlinkCluster / FlinkApplication pair
/// (flink.apache.org/v1), as a plain file.
#[derive(JsonSchema)]
#[serde(untagged)]
enum JobDocument {
    Deployment(FlinkDeployment),
    SessionJob(FlinkSessionJob),
    Cluster(FlinkCluster),
    Application(FlinkApplication),
}

#[derive(JsonSchema)]
enum V1beta1 {
    #[serde(rename = "flink.apache.org/v1beta1")]
    V1beta1,
}

#[derive(JsonSchema)]
enum V1 {
    #[serde(rename = "flink.apache.org/v1")]
    V1,
}

/// A Flink cluster: an application cluster when it has `job`, else a session cluster.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlinkDeployment {
    api_version: V1beta1,
    kind: DeploymentKind,
    metadata: Metadata,
    spec: DeploymentSpec,
}

#[derive(JsonSchema)]
enum DeploymentKind {
    FlinkDeployment,
}

/// A job submitted to a session cluster (a FlinkDeployment without `job`).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlinkSessionJob {
    api_version: V1beta1,
    kind: SessionJobKind,
    metadata: Metadata,
    spec: SessionJobSpec,
}

#[derive(JsonSchema)]
enum SessionJobKind {
    FlinkSessionJob,
}

/// A session cluster (flink.apache.org/v1).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlinkCluster {
    api_version: V1,
    kind: ClusterKind,
    metadata: Metadata,
    spec: ClusterSpec,
}

#[derive(JsonSchema)]
enum ClusterKind {
    FlinkCluster,
}

/// A job on a FlinkCluster (flink.apache.org/v1).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlinkApplication {
    api_version: V1,
    kind: ApplicationKind,
    metadata: Metadata,
    spec: ApplicationSpec,
}

#[derive(JsonSchema)]
enum ApplicationKind {
    FlinkApplication,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    /// The job's name: a DNS label of at most 45 characters (its objects add suffixes).
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 45))]
    name: String,
    /// Default: the settings' `defaultNamespace`.
    namespace: Option<String>,
    /// Copied to every object of the job.
    labels: Option<BTreeMap<String, String>>,
    /// Copied to every object of the job.
    annotations: Option<BTreeMap<String, String>>,
}

/// Flink configuration: flat (`a.b: x`) or nested YAML; scalar values; lists become
/// `;`-joined. Keys under `kubernetes.operator.` are flinkops settings (readiness timeout,
/// rollback, periodic savepoints, savepoint history): not passed to Flink, and changing
/// one restarts nothing. The load checks them (`operator_keys`), not this schema; it also
/// refuses the Apache operator's autoscaler options (`job.autoscaler.`): flinkops has no
/// autoscaler.
type FlinkConfiguration = BTreeMap<String, serde_json::Value>;

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeploymentSpec {
    #[serde(flatten)]
    cluster: ClusterSpec,
    /// The application job; without it the deployment is a session cluster.
    job: Option<Job>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClusterSpec {
    /// Container image. Default: the settings' `defaults.image`, else the official image of
    /// `flinkVersion`.
    image: Option<String>,
    image_pull_policy: Option<PullPolicy>,
    /// The Flink version, as the Apache operator writes it (`v1_20`, `v2_0`).
    #[schemars(regex(pattern = r"^v\d+_\d+$"))]
    flink_version: Option<String>,
    service_account: Option<String>,
    /// Only `standalone`: flinkops creates the JobManager and TaskManager Deployments.
    mode: Option<Mode>,
    flink_configuration: Option<FlinkConfiguration>,
    job_manager: Option<Component>,
    task_manager: Option<Component>,
    /// A Pod template merged into both components' Pods.
    pod_template: Option<serde_json::Map<String, serde_json::Value>>,
    /// Log configuration files by name (`log4j-console.properties`), reloaded without a
    /// restart.
    log_configuration: Option<BTreeMap<String, String>>,
    ingress: Option<IngressSpec>,
    /// Changing it restarts the job (with a savepoint in the job's upgrade mode).
    restart_nonce: Option<i64>,
}

#[derive(JsonSchema)]
enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Standalone,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Component {
    /// JobManagers: default 1 (more need high availability). TaskManagers: default enough
    /// for the job's parallelism at `taskmanager.numberOfTaskSlots` per TaskManager.
    #[schemars(range(min = 1, max = 1000))]
    replicas: Option<i64>,
    /// The older form (deprecated by the Apache operator): requests = limits. Not
    /// together with `resources`.
    resource: Option<Resource>,
    /// The main container's Kubernetes requests and limits. Flink's process memory is the
    /// memory request, else the limit, as in the Apache operator; without either it is
    /// `jobmanager/taskmanager.memory.process.size` from flinkConfiguration, else the
    /// settings' default, else Flink's. Not together with `resource`.
    resources: Option<ResourceRequirements>,
    /// A Pod template for this component's Pods.
    pod_template: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Requests = limits of the container, and Flink's process memory size.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Resource {
    /// Cores: `0.5`, `2`, `500m`.
    cpu: Option<Quantity>,
    /// Flink sizes (`2048m`, `2g`) or Kubernetes quantities (`2Gi`).
    memory: Option<Quantity>,
    /// The container's request and limit: a Kubernetes quantity, as the Apache operator
    /// reads it (`10Gi`; `10G` is 10^10 bytes).
    ephemeral_storage: Option<Quantity>,
}

/// Kubernetes ResourceRequirements of the main container. A limit without a request is
/// the request too; a request without a limit is the limit too (except ephemeral-storage,
/// which then has no limit). A request above its limit is an error.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResourceRequirements {
    requests: Option<ResourceList>,
    limits: Option<ResourceList>,
}

/// Other resources (GPUs, hugepages) go in the main container of `podTemplate`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResourceList {
    /// Cores: `0.5`, `2`, `500m`.
    cpu: Option<Quantity>,
    /// Read as the Apache operator reads it: Flink sizes first (`2048m`, `2g`; `2G` is
    /// 2 GiB), else Kubernetes binary quantities (`2Gi`).
    memory: Option<Quantity>,
    /// A Kubernetes quantity (`10Gi`; `10G` is 10^10 bytes).
    #[serde(rename = "ephemeral-storage")]
    ephemeral_storage: Option<Quantity>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
enum Quantity {
    Number(f64),
    Text(String),
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IngressSpec {
    /// Host and/or path of the Flink UI, read as a URL as the Apache operator reads it:
    /// `{{name}}.{{namespace}}.example.com` (the whole host),
    /// `example.com/{{namespace}}/{{name}}(/|$)(.*)` (a path, with the controller's rewrite
    /// annotation) or `/{{namespace}}/{{name}}` (any host).
    template: String,
    class_name: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    /// Kubernetes IngressTLS entries, used as written (not templated).
    tls: Option<Vec<IngressTls>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IngressTls {
    /// Host names the certificate covers (`*.example.com` allowed).
    hosts: Option<Vec<String>>,
    /// The Secret holding the certificate and key.
    secret_name: Option<String>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Job {
    /// The job's jar: `local:///path/in/image.jar` for an application cluster;
    /// `file://` (where flinkops runs) or `http(s)://` for a session job, which flinkops
    /// uploads to its session cluster.
    #[serde(rename = "jarURI")]
    jar_uri: String,
    entry_class: Option<String>,
    /// Program arguments (text, even when they look like numbers).
    args: Option<Vec<String>>,
    /// Default: `parallelism.default` from flinkConfiguration, else 1.
    #[schemars(range(min = 1))]
    parallelism: Option<i64>,
    /// How a change that restarts the job carries its state. Default `stateless`.
    upgrade_mode: Option<UpgradeMode>,
    /// Default `running`; `suspended` stops the job with a savepoint (stateful modes) and
    /// removes its Pods.
    state: Option<JobState>,
    /// A savepoint the job starts from when it is first deployed.
    initial_savepoint_path: Option<String>,
    allow_non_restored_state: Option<bool>,
    /// Changing it redeploys from `initialSavepointPath`, discarding the current state.
    savepoint_redeploy_nonce: Option<i64>,
    /// Changing it to a new value takes one savepoint of the running job, recorded in its
    /// savepoint history with the commit; nothing restarts.
    savepoint_trigger_nonce: Option<i64>,
    /// Changing it to a new value takes one checkpoint of the running job (Flink 1.17+),
    /// recorded in its history with the commit; nothing restarts.
    checkpoint_trigger_nonce: Option<i64>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum UpgradeMode {
    Stateless,
    Savepoint,
    LastState,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum JobState {
    Running,
    Suspended,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SessionJobSpec {
    /// The session cluster (a FlinkDeployment without `job`, same namespace).
    deployment_name: String,
    /// Submitted with the job.
    flink_configuration: Option<FlinkConfiguration>,
    job: Job,
    restart_nonce: Option<i64>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApplicationSpec {
    flink_cluster: ClusterRef,
    /// Submitted with the job.
    flink_configuration: Option<FlinkConfiguration>,
    job: Job,
    restart_nonce: Option<i64>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClusterRef {
    /// The FlinkCluster's name (same namespace).
    name: String,
}

/// `flinkops.yaml` at the repository's root: where jobs live and defaults for all of them.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsFile {
    api_version: Option<SettingsApi>,
    kind: Option<SettingsKind>,
    /// Directories (relative to the repository) holding job files. Default: all of it.
    roots: Option<Vec<String>>,
    /// The only namespaces jobs may name (and flinkops manages). Default: any.
    namespaces: Option<Vec<String>>,
    /// For jobs without `metadata.namespace`. Default `default`.
    default_namespace: Option<String>,
    /// Delete objects of jobs removed from Git. Default true.
    prune: Option<bool>,
    /// Revert changes made by hand to managed fields. Default true.
    self_heal: Option<bool>,
    /// How long the ledger of a job removed from Git is kept as its tombstone (savepoint
    /// lineage that adding the job again resumes from), e.g. `90d`, `12h`. Default `90d`.
    tombstone_retention: Option<String>,
    /// Refuse a change that loses a job's state (a switch to stateless, a redeploy nonce,
    /// removing a stateless job) unless its definition acknowledges it by a new value of
    /// the annotation `flinkops.io/accept-state-loss`. Default false.
    guard_state_loss: Option<bool>,
    /// What pod templates may ask of the node; by default nothing (no privileged
    /// containers, host namespaces, hostPath volumes or added capabilities).
    pod_policy: Option<PodPolicy>,
    /// Teams sharing the repository: each folder may deploy only into its team's
    /// namespaces, within its team's ceilings. When set, every job file must belong to
    /// exactly one team.
    teams: Option<Vec<Team>>,
    defaults: Option<Defaults>,
}

/// One team: the files it owns and what their jobs may do.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Team {
    name: String,
    /// Globs over repository paths: `**` any depth, `*` within one folder or file name,
    /// e.g. `teams/orders/**`.
    paths: Vec<String>,
    /// The only namespaces this team's jobs may use (within `namespaces`, if set).
    namespaces: Vec<String>,
    limits: Option<TeamLimits>,
    /// Whether this team's jobs may set podTemplate (which can add containers the
    /// ceilings do not count). Default true.
    allow_pod_template: Option<bool>,
}

/// Ceilings for each of a team's jobs.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TeamLimits {
    #[schemars(range(min = 1))]
    task_manager_replicas: Option<i32>,
    /// CPU per JobManager or TaskManager pod: `4`, `500m`.
    cpu: Option<Quantity>,
    /// Memory per JobManager or TaskManager pod: `16Gi`, `2g`.
    memory: Option<Quantity>,
    #[schemars(range(min = 1))]
    parallelism: Option<i32>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PodPolicy {
    /// Allow `securityContext.privileged` and `allowPrivilegeEscalation: true`.
    allow_privileged: Option<bool>,
    /// Allow `hostNetwork`, `hostPID`, `hostIPC` and container `hostPort`s.
    allow_host_namespaces: Option<bool>,
    /// `hostPath` volumes allowed at or below these absolute paths.
    allow_host_paths: Option<Vec<String>>,
    /// Linux capabilities containers may add (e.g. `NET_ADMIN`).
    allow_capabilities: Option<Vec<String>>,
}

#[derive(JsonSchema)]
enum SettingsApi {
    #[serde(rename = "flinkops.io/v1alpha1")]
    V1alpha1,
}

#[derive(JsonSchema)]
enum SettingsKind {
    Settings,
}

/// Defaults for every job; a definition's own values win.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Defaults {
    image: Option<String>,
    image_pull_policy: Option<PullPolicy>,
    #[schemars(regex(pattern = r"^v\d+_\d+$"))]
    flink_version: Option<String>,
    service_account: Option<String>,
    flink_configuration: Option<FlinkConfiguration>,
    /// Each job's savepoints go to `<dir>/<namespace>/<name>`.
    savepoint_directory: Option<String>,
    /// Each job's checkpoints go to `<dir>/<namespace>/<name>`.
    checkpoint_directory: Option<String>,
    job_manager: Option<DefaultComponent>,
    task_manager: Option<DefaultComponent>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DefaultComponent {
    resource: Option<Resource>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::decode::{child, Cx};
    use crate::model::spec::{definition, settings, yaml, Settings};
    use serde_json::Value;
    use std::collections::BTreeSet;

    type Known = BTreeMap<String, BTreeSet<String>>;

    /// The object fields the schema describes, by path, starting at `$defs/def` (the root
    /// when `def` is empty).
    fn described(schema: &Value, def: &str) -> Known {
        fn walk(s: &Value, root: &Value, path: &str, out: &mut Known) {
            let s = match s["$ref"].as_str() {
                Some(r) => &root["$defs"][r.trim_start_matches("#/$defs/")],
                None => s,
            };
            for key in ["anyOf", "oneOf", "allOf"] {
                for branch in s[key].as_array().into_iter().flatten() {
                    walk(branch, root, path, out);
                }
            }
            // A list's items describe the fields at the list's own path (the decoder
            // drops indices).
            if s["items"].is_object() {
                walk(&s["items"], root, path, out);
            }
            if let Some(props) = s["properties"].as_object() {
                out.entry(path.into())
                    .or_default()
                    .extend(props.keys().cloned());
                for (k, v) in props {
                    walk(v, root, &child(path, k), out);
                }
            }
        }
        let mut out = Known::new();
        let start = if def.is_empty() {
            schema
        } else {
            &schema["$defs"][def]
        };
        walk(start, schema, "", &mut out);
        out
    }

    /// The fields the decoder reads, by path, decoding `doc` (which must hold every
    /// mapping the decoder descends into).
    fn read(doc: &str, as_settings: bool) -> Known {
        let mut cx = Cx::new("f.yaml");
        cx.known_fields = Some(BTreeMap::new());
        let root = &yaml::parse_documents(doc).unwrap()[0].root;
        if as_settings {
            settings::decode_settings(&mut cx, root);
        } else {
            definition::decode_document(&mut cx, root, &Settings::default(), &None);
        }
        cx.known_fields
            .unwrap()
            .into_iter()
            .map(|(p, keys)| (p, keys.into_iter().map(String::from).collect()))
            .collect()
    }

    // Both resource forms at once are an error, but both are read (the decoder reports
    // every error), so one document shows every field.
    const CLUSTER_MAPPINGS: &str = "
  jobManager: {resource: {cpu: 1}, resources: {requests: {cpu: 1}, limits: {cpu: 1}}}
  taskManager: {resource: {cpu: 1}, resources: {requests: {cpu: 1}, limits: {cpu: 1}}}
  ingress: {template: x, tls: [{}]}
";
    const JOB: &str = "  job: {jarURI: local:///a.jar}\n";

    #[test]
    fn the_schema_describes_exactly_the_fields_the_decoder_reads() {
        let jobs = jobs();
        let cases = [
            (
                "FlinkDeployment",
                format!("apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {{name: a}}\nspec:{CLUSTER_MAPPINGS}{JOB}"),
            ),
            (
                "FlinkSessionJob",
                format!("apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob\nmetadata: {{name: a}}\nspec:\n  deploymentName: s\n{JOB}"),
            ),
            (
                "FlinkCluster",
                format!("apiVersion: flink.apache.org/v1\nkind: FlinkCluster\nmetadata: {{name: a}}\nspec:{CLUSTER_MAPPINGS}"),
            ),
            (
                "FlinkApplication",
                format!("apiVersion: flink.apache.org/v1\nkind: FlinkApplication\nmetadata: {{name: a}}\nspec:\n  flinkCluster: {{name: s}}\n{JOB}"),
            ),
        ];
        for (def, doc) in cases {
            assert_eq!(read(&doc, false), described(&jobs, def), "{def}");
        }
        let doc =
            "defaults:\n  jobManager: {resource: {cpu: 1}}\n  taskManager: {resource: {cpu: 1}}\npodPolicy: {}\nteams:\n  - limits: {}\n";
        assert_eq!(read(doc, true), described(&settings(), ""), "settings");
    }

    #[test]
    fn unsupported_fields_are_not_described() {
        let d = described(&jobs(), "FlinkDeployment");
        assert!(!d[""].contains("status"));
        assert!(!d["spec.job"].contains("autoscalerResetNonce"));
        assert!(d["spec.jobManager"].contains("resources"));
        assert!(!d["spec.jobManager.resources"].contains("claims"));
        assert!(d["spec.taskManager.resources.limits"].contains("ephemeral-storage"));
    }

    fn checked_in(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    #[test]
    fn the_checked_in_schemas_are_current() {
        for (name, flag, schema) in [
            ("jobs.schema.json", "", jobs()),
            ("settings.schema.json", " --settings", settings()),
        ] {
            assert!(
                checked_in(name) == schema,
                "schema/{name} is stale: run `cargo run -q -- schema{flag} > schema/{name}`"
            );
        }
    }
}
