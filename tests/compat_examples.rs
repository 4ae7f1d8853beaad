//! Definitions written for the Apache Flink Kubernetes Operator run as the operator runs
//! them. tests/compat-repo holds our own definitions with the fields of the operator's
//! examples/ (basic, checkpoint-HA, reactive, ingress, custom logging, pod template, TLS,
//! session cluster and jobs, job from savepoint, SQL runner). Each render is compared with
//! what the operator's standalone mode (`mode: standalone`) would produce for the same
//! spec, read from its sources: FlinkConfigBuilder (the effective configuration), the
//! standalone factories and decorators (the pods), KubernetesStandaloneClusterDescriptor
//! (ports), IngressUtils. Where flinkops deliberately differs, flinkops' value is asserted
//! and the difference is listed in docs/repository-format.md ("Upstream examples, field
//! by field"); where support has not landed yet (high availability, TLS), the missing
//! part is asserted absent, so this test changes when it lands.

mod support;

use flinkops::engine::render::{self, Context, Object};
use flinkops::model::spec::{self, Catalog, JobId, JobSpec};
use serde_json::Value;
use std::collections::BTreeMap;

const NS: &str = "analytics";
const COMMIT: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

fn catalog() -> Catalog {
    spec::load(&support::dir_snapshot(
        &support::repo_root().join("tests/compat-repo"),
        COMMIT,
    ))
}

fn spec_of(catalog: &Catalog, name: &str) -> JobSpec {
    let id = JobId {
        namespace: NS.into(),
        name: name.into(),
    };
    catalog
        .jobs
        .get(&id)
        .unwrap_or_else(|| panic!("{name} is valid: {:?}", catalog.errors()))
        .clone()
}

/// One cluster's render, as `sync` renders its first deployment (initialSavepointPath
/// included), with accessors for what is compared.
struct Job {
    name: &'static str,
    objects: Vec<Object>,
}

fn render(name: &'static str) -> Job {
    let spec = spec_of(&catalog(), name);
    let cx = Context {
        commit: COMMIT,
        restore_from: render::first_restore(&spec),
    };
    Job {
        name,
        objects: render::render(&spec, &cx).objects,
    }
}

/// A Flink memory size (`1536m`, `2g`, Flink's `1536 mb`) in MiB.
fn flink_mib(size: &str) -> u64 {
    let s = size.replace(' ', "").to_ascii_lowercase();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("size {size}"));
    match &s[digits.len()..] {
        "m" | "mb" => n,
        "g" | "gb" => n * 1024,
        unit => panic!("unit {unit} in {size}"),
    }
}

/// A Kubernetes memory quantity (`1536Mi`, `3Gi`) in MiB.
fn k8s_mib(q: &str) -> u64 {
    if let Some(n) = q.strip_suffix("Gi") {
        n.parse::<u64>().unwrap() * 1024
    } else {
        q.strip_suffix("Mi").unwrap().parse().unwrap()
    }
}

/// A Kubernetes CPU quantity (`500m`, `2`) in millicores.
fn k8s_millis(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => q.parse::<u64>().unwrap() * 1000,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["name"].as_str().unwrap().into())
                .collect()
        })
        .unwrap_or_default()
}

impl Job {
    fn object(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
    }

    fn kinds_and_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect()
    }

    fn config_map(&self) -> &Value {
        &self
            .object("ConfigMap", &format!("{}-config", self.name))
            .expect("a ConfigMap")
            .body["data"]
    }

    /// The effective Flink configuration, as Flink reads config.yaml.
    fn conf(&self) -> BTreeMap<String, String> {
        let text = self.config_map()["config.yaml"].as_str().unwrap();
        flinkops::engine::render::config::read_config_yaml(text).unwrap()
    }

    fn deployment(&self, component: &str) -> &Value {
        &self
            .object("Deployment", &format!("{}-{component}", self.name))
            .unwrap_or_else(|| panic!("{} has no {component}", self.name))
            .body
    }

    fn pod(&self, component: &str) -> &Value {
        &self.deployment(component)["spec"]["template"]["spec"]
    }

    fn pod_meta(&self, component: &str) -> &Value {
        &self.deployment(component)["spec"]["template"]["metadata"]
    }

    fn main(&self, component: &str) -> &Value {
        self.pod(component)["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "flink-main-container")
            .expect("the main container")
    }

    fn args(&self, component: &str) -> Vec<String> {
        strings(&self.main(component)["args"])
    }

    /// The main container's mounts as `(mountPath, volume)`.
    fn mounts(&self, component: &str) -> Vec<(String, String)> {
        self.main(component)["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["mountPath"].as_str().unwrap().into(),
                    m["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn volume(&self, component: &str, name: &str) -> &Value {
        self.pod(component)["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{component} has no volume {name}"))
    }

    fn replicas(&self, component: &str) -> i64 {
        self.deployment(component)["spec"]["replicas"]
            .as_i64()
            .unwrap()
    }

    /// Process memory (config) and the main container's memory (MiB) and CPU (millis),
    /// requests and limits.
    fn assert_sized(&self, component: &str, mib: u64, millis: u64) {
        let key = format!("{component}.memory.process.size");
        assert_eq!(flink_mib(&self.conf()[&key]), mib, "{} {key}", self.name);
        let r = &self.main(component)["resources"];
        for side in ["requests", "limits"] {
            assert_eq!(k8s_mib(r[side]["memory"].as_str().unwrap()), mib, "{side}");
            assert_eq!(
                k8s_millis(r[side]["cpu"].as_str().unwrap()),
                millis,
                "{side}"
            );
        }
    }
}

/// What the operator's standalone mode gives every cluster, and where flinkops' render
/// differs from it on purpose.
fn as_every_operator_cluster(j: &Job, image: &str, application: bool) {
    let name = j.name;
    let conf = j.conf();
    let ha = conf.contains_key("high-availability.type");
    // KubernetesStandaloneClusterDescriptor.deployClusterInternal fixes the ports a pod
    // exposes (blob 6124, TaskManager rpc 6122, REST 8081); the JobManager's rpc port is
    // Flink's default 6123.
    for (key, value) in [
        ("blob.server.port", "6124"),
        ("taskmanager.rpc.port", "6122"),
        ("rest.port", "8081"),
        ("jobmanager.rpc.port", "6123"),
        // FlinkConfigBuilder.applyFlinkConfiguration: nobody cancels from the UI.
        ("web.cancel.enable", "false"),
        // FlinkConfMountDecorator leaves the bind addresses out, so Flink binds to its
        // default 0.0.0.0; flinkops writes that value.
        ("jobmanager.bind-host", "0.0.0.0"),
        ("taskmanager.bind-host", "0.0.0.0"),
        ("rest.bind-address", "0.0.0.0"),
    ] {
        assert_eq!(
            conf.get(key).map(String::as_str),
            Some(value),
            "{name} {key}"
        );
    }
    // Difference (names): InternalServiceDecorator points jobmanager.rpc.address at the
    // Service `<name>` as `<name>.<namespace>`; flinkops' Service is `<name>-jobmanager`.
    assert_eq!(conf["jobmanager.rpc.address"], format!("{name}-jobmanager"));
    let svc = &j
        .object("Service", &format!("{name}-jobmanager"))
        .expect("the JobManager Service")
        .body["spec"];
    let ports: Vec<i64> = svc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [6123, 6124]);
    // ExternalServiceDecorator: `<name>-rest`, ClusterIP (FlinkConfigBuilder's default
    // kubernetes.rest-service.exposed.type), port 8081: the same.
    let rest = &j
        .object("Service", &format!("{name}-rest"))
        .expect("the REST Service")
        .body["spec"];
    assert_eq!(rest["type"], "ClusterIP");
    assert_eq!(rest["ports"][0]["port"], 8081);
    // Difference (names): StandaloneKubernetesUtils names the JobManager Deployment
    // `<name>`, FlinkConfMountDecorator the ConfigMap `flink-config-<name>` (volume
    // `flink-config-volume`); the TaskManager Deployment is `<name>-taskmanager` on both.
    assert!(j
        .object("Deployment", &format!("{name}-jobmanager"))
        .is_some());
    assert!(j.object("Deployment", name).is_none());
    for component in ["jobmanager", "taskmanager"] {
        let main = j.main(component);
        // InitJobManagerDecorator / InitStandaloneTaskManagerDecorator: the image.
        assert_eq!(main["image"], image, "{name} {component}");
        // FlinkConfMountDecorator: the configuration at /opt/flink/conf from the ConfigMap.
        assert!(j
            .mounts(component)
            .contains(&("/opt/flink/conf".into(), "flink-config".into())));
        let cm = &j.volume(component, "flink-config")["configMap"];
        assert_eq!(cm["name"], format!("{name}-config"));
        // Difference (probes): FlinkUtils.addStartupProbe gives the operator's JobManager
        // an HTTP startup probe on `rest` /config (period 1 s, no failure limit) and no
        // liveness probe; flinkops probes each main container's rpc port for liveness.
        assert!(main.get("startupProbe").is_none());
        let rpc = if component == "jobmanager" {
            6123
        } else {
            6122
        };
        assert_eq!(main["livenessProbe"]["tcpSocket"]["port"], rpc);
        // InitJobManagerDecorator adds `_POD_IP_ADDRESS` (the pod's IP) to the
        // JobManager; difference (env): flinkops only where high availability reads it.
        if ha && component == "jobmanager" {
            assert_eq!(
                main["env"],
                serde_json::json!([{
                    "name": "_POD_IP_ADDRESS",
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}
                }]),
                "{name}"
            );
        } else {
            assert!(main.get("env").is_none(), "{name} {component} env");
        }
        // Difference (command): CmdStandalone*Decorator sets `kubernetes.entry.path`
        // (/docker-entrypoint.sh); flinkops leaves the image's entrypoint, the same
        // script in the official images.
        assert!(main.get("command").is_none());
    }
    // Ports as InitJobManagerDecorator / InitStandaloneTaskManagerDecorator open them;
    // difference (names): theirs are jobmanager-rpc, blobserver, rest, taskmanager-rpc.
    let ports = |c: &str| -> Vec<(String, i64)> {
        j.main(c)["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().into(),
                    p["containerPort"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        ports("jobmanager"),
        [
            ("rpc".to_string(), 6123),
            ("blob".to_string(), 6124),
            ("rest".to_string(), 8081)
        ]
    );
    assert_eq!(ports("taskmanager"), [("rpc".to_string(), 6122)]);
    // Difference: FlinkConfigBuilder.build also writes the Kubernetes client's keys
    // (kubernetes.cluster-id, kubernetes.namespace, execution.target: remote, internal
    // ones) that standalone Flink does not read outside high availability (where
    // flinkops writes the first two: high_availability_as_the_operator).
    let client_keys: &[&str] = if ha {
        &["execution.target"]
    } else {
        &[
            "kubernetes.cluster-id",
            "kubernetes.namespace",
            "execution.target",
        ]
    };
    for key in client_keys {
        assert!(!conf.contains_key(*key), "{name} {key}");
    }
    if application {
        // FlinkConfigBuilder.applyJobOrSessionSpec: kept up after the job finishes.
        assert_eq!(conf["execution.shutdown-on-application-finish"], "false");
        // FlinkConfigBuilder.applyJobConfig: the job is named after the resource.
        assert_eq!(conf["pipeline.name"], name);
        // Difference (usrlib): UserLibMountDecorator mounts an emptyDir `user-lib-dir` over
        // /opt/flink/usrlib on every standalone application's JobManager (the operator
        // always sets pipeline.classpaths), hiding jars an image keeps there.
        assert!(!j
            .mounts("jobmanager")
            .iter()
            .any(|(path, _)| path.starts_with("/opt/flink/usrlib")));
        assert!(j.pod("jobmanager")["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["name"] != "user-lib-dir"));
    }
}

/// Where a stateless application without high availability differs from the operator's
/// job defaults.
fn stateless_job_defaults(j: &Job) {
    let conf = j.conf();
    // Difference: FlinkConfigBuilder.applyJobConfig keeps checkpoints on cancellation
    // for every job; flinkops for savepoint and last-state jobs only.
    assert!(!conf.contains_key("execution.checkpointing.externalized-checkpoint-retention"));
    // Difference: applyJobOrSessionSpec sets submit-failed-job-on-application-error for
    // every application; Flink refuses it without high availability or a fixed job id.
    assert!(!conf.contains_key("execution.submit-failed-job-on-application-error"));
}

/// High availability as flinkops renders it today; the operator also sets
/// high-availability.cluster-id and kubernetes.cluster-id to the name
/// (FlinkConfigBuilder.build, KubernetesStandaloneClusterDescriptor), kubernetes.namespace,
/// `_POD_IP_ADDRESS` and `-D jobmanager.rpc.address=$(_POD_IP_ADDRESS)` on the JobManager
/// (CmdStandaloneJobManagerDecorator). Flink's Kubernetes HA services need the cluster id
/// (no default) and the namespace (default `default`): these assertions change when
/// high-availability support lands.
/// KubernetesStandaloneClusterDescriptor and FlinkConfigBuilder under high availability:
/// the cluster ids (the resource's name), the namespace, the JobManager's rpc port as
/// the HA port, and CmdStandaloneJobManagerDecorator's `-D jobmanager.rpc.address=
/// $(_POD_IP_ADDRESS)`; ApplicationReconciler's fixed job id per deployment (theirs is
/// random, recorded in the resource's status; flinkops derives it from what the
/// deployment starts from).
fn high_availability_as_the_operator(j: &Job) {
    let conf = j.conf();
    let namespace = j.objects[0].namespace.as_str();
    for (key, value) in [
        ("high-availability.cluster-id", j.name),
        ("kubernetes.cluster-id", j.name),
        ("kubernetes.namespace", namespace),
        ("high-availability.jobmanager.port", "6123"),
    ] {
        assert_eq!(conf.get(key).map(String::as_str), Some(value), "{key}");
    }
    let id = &conf["$internal.pipeline.job-id"];
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let args = j.args("jobmanager");
    let d = args.iter().position(|a| a == "-D").expect("-D");
    assert_eq!(args[d + 1], "jobmanager.rpc.address=$(_POD_IP_ADDRESS)");
}

#[test]
fn the_examples_validate_but_two_operator_only_fields() {
    let c = catalog();
    let valid: Vec<&str> = c.jobs.keys().map(|id| id.name.as_str()).collect();
    assert_eq!(
        valid,
        [
            "adhoc-session",
            "adhoc-windowing",
            "audit-trail",
            "clickstream-counter",
            "fraud-scorer",
            "geo-enricher",
            "inventory-audit",
            "inventory-sync",
            "orders-replay",
            "payments-ledger",
            "secure-payments",
            "secure-session",
            "shared-session",
            "sql-reports",
            "state-machine",
            "top-speed",
        ]
    );
    assert!(c.jobs.keys().all(|id| id.namespace == NS));
    // What is rejected, exactly where: the operator's savepoint format option (flinkops
    // triggers Flink's default, canonical savepoints, and has no such option), and the
    // FlinkStateSnapshot kind (a savepoint is named in initialSavepointPath).
    let errors: Vec<(String, usize, usize, String)> = c
        .errors()
        .iter()
        .map(|e| (e.file.clone(), e.line, e.column, e.field.clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "rejected/savepoint-format.yaml".to_string(),
                11,
                5,
                "spec.flinkConfiguration.kubernetes.operator.savepoint.format.type".to_string()
            ),
            (
                "rejected/state-snapshot.yaml".to_string(),
                3,
                1,
                "kind".to_string()
            ),
            // A session job has no pods of its own to mount a Secret in: the upstream
            // example's kubernetes.secrets on its session job is an error here (the session
            // cluster mounts it).
            (
                "tls/secure.yaml".to_string(),
                77,
                5,
                "spec.flinkConfiguration.kubernetes.secrets".to_string()
            ),
        ]
    );
    let messages: Vec<&str> = c.errors().iter().map(|e| e.message.as_str()).collect();
    assert!(messages[0].contains("Apache Flink Kubernetes Operator option flinkops does not apply"));
    assert!(messages[1].contains("`FlinkStateSnapshot` is not a Flink job definition"));
    // Each blocks only what it names: a job of that name keeps what runs.
    let blocked: Vec<&str> = c.blocked.keys().map(|id| id.name.as_str()).collect();
    assert_eq!(
        blocked,
        [
            "orders-savepoint",
            "payments-ledger-native",
            "secure-windowing"
        ]
    );
}

#[test]
fn basic_runs_as_written() {
    let j = render("clickstream-counter");
    as_every_operator_cluster(&j, "flink:2.1", true);
    stateless_job_defaults(&j);
    let conf = j.conf();
    // FlinkConfigBuilder.applyFlinkConfiguration: the definition's keys as written.
    assert_eq!(conf["taskmanager.numberOfTaskSlots"], "3");
    // applyJobOrSessionSpec: parallelism.default is the job's parallelism.
    assert_eq!(conf["parallelism.default"], "6");
    // setResourceRequirements: process memory is the memory request read as a Flink size
    // (MemorySize.parse("1536m") = 1536 MiB), CPU the request; InitJobManagerDecorator
    // sizes the container with it (limit factor 1: limits = requests).
    j.assert_sized("jobmanager", 1536, 500);
    j.assert_sized("taskmanager", 3072, 2000);
    // applyTaskManagerSpec: FlinkUtils.getNumTaskManagers = ceil(6 / 3) TaskManagers.
    assert_eq!(j.replicas("taskmanager"), 2);
    assert_eq!(j.replicas("jobmanager"), 1);
    // InitJobManagerDecorator / InitStandaloneTaskManagerDecorator: the service account.
    for c in ["jobmanager", "taskmanager"] {
        assert_eq!(j.pod(c)["serviceAccountName"], "flink-runner");
    }
    // Difference (jar): CmdStandaloneJobManagerDecorator gives `standalone-job` alone and
    // applyJobOrSessionSpec passes the jar as pipeline.classpaths
    // (file:///opt/flink/examples/streaming/WindowJoin.jar); flinkops passes it as --jars
    // from Flink 1.19 on.
    assert_eq!(
        j.args("jobmanager"),
        [
            "standalone-job",
            "--jars",
            "local:///opt/flink/examples/streaming/WindowJoin.jar"
        ]
    );
    assert!(!conf.contains_key("pipeline.classpaths"));
    // CmdStandaloneTaskManagerDecorator.
    assert_eq!(j.args("taskmanager"), ["taskmanager"]);
    // Objects: the operator's are the same kinds (StandaloneKubernetesJobManagerFactory,
    // StandaloneKubernetesTaskManagerFactory), named as noted above.
    assert_eq!(
        j.kinds_and_names(),
        [
            "ConfigMap/clickstream-counter-config",
            "Deployment/clickstream-counter-jobmanager",
            "Deployment/clickstream-counter-taskmanager",
            "Service/clickstream-counter-jobmanager",
            "Service/clickstream-counter-rest",
        ]
    );
}

/// The state directories and hostPath volume of the checkpoint/HA, reactive and
/// savepoint examples: the podTemplate is the pods' on both (FlinkConfigBuilder.
/// applyPodTemplate; KubernetesUtils.loadPodFromTemplateFile), the main container keeps
/// its mount next to the configuration's.
fn state_on_host_path(j: &Job, host_type: &str) {
    for c in ["jobmanager", "taskmanager"] {
        assert_eq!(
            j.mounts(c),
            [
                ("/srv/flink-state".to_string(), "state-volume".to_string()),
                ("/opt/flink/conf".to_string(), "flink-config".to_string()),
            ]
        );
        assert_eq!(
            j.volume(c, "state-volume")["hostPath"],
            serde_json::json!({"path": "/srv/flink-state", "type": host_type})
        );
    }
}

#[test]
fn checkpoint_ha_renders_its_keys_volume_and_high_availability() {
    let j = render("payments-ledger");
    as_every_operator_cluster(&j, "flink:2.1", true);
    let conf = j.conf();
    // applyFlinkConfiguration: nested keys flattened as Flink reads them, as written.
    for (key, value) in [
        (
            "state.savepoints.dir",
            "file:///srv/flink-state/payments/savepoints",
        ),
        (
            "state.checkpoints.dir",
            "file:///srv/flink-state/payments/checkpoints",
        ),
        ("high-availability.type", "kubernetes"),
        (
            "high-availability.storageDir",
            "file:///srv/flink-state/payments/ha",
        ),
        ("taskmanager.numberOfTaskSlots", "2"),
        ("parallelism.default", "4"),
        // applyJobConfig: a savepoint job keeps its checkpoints on cancellation.
        (
            "execution.checkpointing.externalized-checkpoint-retention",
            "RETAIN_ON_CANCELLATION",
        ),
        // applyJobOrSessionSpec, with high availability on both.
        ("execution.submit-failed-job-on-application-error", "true"),
    ] {
        assert_eq!(conf.get(key).map(String::as_str), Some(value), "{key}");
    }
    // "2g" requests: MemorySize 2 GiB.
    j.assert_sized("jobmanager", 2048, 1000);
    j.assert_sized("taskmanager", 2048, 1000);
    assert_eq!(j.replicas("taskmanager"), 2);
    state_on_host_path(&j, "DirectoryOrCreate");
    high_availability_as_the_operator(&j);
    // The operator's: `standalone-job -D jobmanager.rpc.address=$(_POD_IP_ADDRESS)`, the
    // jar in pipeline.classpaths.
    assert_eq!(
        j.args("jobmanager"),
        [
            "standalone-job",
            "-D",
            "jobmanager.rpc.address=$(_POD_IP_ADDRESS)",
            "--jars",
            "local:///opt/flink/examples/streaming/StateMachineExample.jar"
        ]
    );
}

#[test]
fn reactive_keeps_the_scheduler_mode_and_the_factory_named_high_availability() {
    let j = render("fraud-scorer");
    as_every_operator_cluster(&j, "flink:2.1", true);
    let conf = j.conf();
    assert_eq!(conf["scheduler-mode"], "REACTIVE");
    // HighAvailabilityMode.isHighAvailabilityModeActivated takes a factory class as HA,
    // so the operator sets submit-failed-job and its HA keys, as flinkops does.
    assert_eq!(
        conf["high-availability.type"],
        "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"
    );
    assert_eq!(
        conf["execution.submit-failed-job-on-application-error"],
        "true"
    );
    // getNumTaskManagers: ceil(3 / 2).
    assert_eq!(j.replicas("taskmanager"), 2);
    state_on_host_path(&j, "DirectoryOrCreate");
    high_availability_as_the_operator(&j);
}

#[test]
fn ingress_rules_are_the_operator_s_under_another_name() {
    // IngressUtils.getIngressRule: one ImplementationSpecific path to `<name>-rest` on the
    // REST port, with the template's host and path; class and annotations as written.
    // Difference (name): the operator names the Ingress `<name>`.
    let host = render("inventory-sync");
    as_every_operator_cluster(&host, "flink:2.1", true);
    assert!(host.object("Ingress", "inventory-sync").is_none());
    let ing = &host
        .object("Ingress", "inventory-sync-rest")
        .expect("the Ingress")
        .body;
    assert_eq!(
        ing["spec"],
        serde_json::json!({"rules": [{
            "host": "inventory-sync.analytics.flink.example.org",
            "http": {"paths": [{
                "backend": {"service": {"name": "inventory-sync-rest", "port": {"number": 8081}}},
                "pathType": "ImplementationSpecific",
            }]},
        }]})
    );
    let path = render("inventory-audit");
    let ing = &path
        .object("Ingress", "inventory-audit-rest")
        .expect("the Ingress")
        .body;
    assert_eq!(
        ing["spec"],
        serde_json::json!({"ingressClassName": "nginx", "rules": [{
            "http": {"paths": [{
                "backend": {"service": {"name": "inventory-audit-rest", "port": {"number": 8081}}},
                "path": "/analytics/inventory-audit(/|$)(.*)",
                "pathType": "ImplementationSpecific",
            }]},
        }]})
    );
    assert_eq!(
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"],
        "/$2"
    );
}

#[test]
fn custom_logging_is_the_log4j_file_flink_reads() {
    let j = render("audit-trail");
    as_every_operator_cluster(&j, "flink:2.1", true);
    stateless_job_defaults(&j);
    // FlinkConfigBuilder.applyLogConfiguration writes the file where
    // FlinkConfMountDecorator copies it into the ConfigMap and mounts it next to the
    // configuration: the text as written.
    let written = std::fs::read_to_string(
        support::repo_root().join("tests/compat-repo/apps/custom-logging.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&written).unwrap();
    let want = doc["spec"]["logConfiguration"]["log4j-console.properties"]
        .as_str()
        .unwrap();
    assert!(want.contains("logger.audit.level = DEBUG"));
    assert_eq!(j.config_map()["log4j-console.properties"], want);
    let items: Vec<String> = j.volume("jobmanager", "flink-config")["configMap"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().into())
        .collect();
    assert_eq!(items, ["config.yaml", "log4j-console.properties"]);
}

#[test]
fn pod_template_keeps_the_sidecar_the_init_container_and_the_volumes() {
    let j = render("geo-enricher");
    as_every_operator_cluster(&j, "flink:2.1", true);
    for c in ["jobmanager", "taskmanager"] {
        // The shared template's main-container mounts, then FlinkConfMountDecorator's.
        assert_eq!(
            j.mounts(c),
            [
                ("/opt/flink/log".to_string(), "flink-logs".to_string()),
                ("/opt/flink/artifacts".to_string(), "artifacts".to_string()),
                ("/opt/flink/conf".to_string(), "flink-config".to_string()),
            ]
        );
        let pod = j.pod(c);
        assert_eq!(
            names(&pod["volumes"]),
            ["flink-logs", "artifacts", "flink-config"]
        );
        assert_eq!(j.volume(c, "artifacts")["emptyDir"], serde_json::json!({}));
        // Difference (order): the standalone factories append the main container after
        // the template's others (`addToContainers(mainContainer)`); flinkops keeps the
        // template's order.
        assert_eq!(
            names(&pod["containers"]),
            ["flink-main-container", "log-shipper"]
        );
        let sidecar = &pod["containers"][1];
        assert_eq!(sidecar["image"], "fluent/fluent-bit:3.0");
        assert_eq!(strings(&sidecar["command"])[0], "sh");
        assert_eq!(sidecar["volumeMounts"][0]["mountPath"], "/flink-logs");
    }
    // FlinkConfigBuilder.applyPodTemplate: the JobManager's template over the shared one
    // (init container on the JobManager only).
    assert_eq!(names(&j.pod("jobmanager")["initContainers"]), ["fetch-jar"]);
    assert!(j.pod("taskmanager").get("initContainers").is_none());
    // CmdStandaloneJobManagerDecorator: `--job-classname` from entryClass; the jar as
    // --jars (difference above).
    assert_eq!(
        j.args("jobmanager"),
        [
            "standalone-job",
            "--job-classname",
            "com.example.geo.EnrichmentJob",
            "--jars",
            "local:///opt/flink/artifacts/geo-enricher.jar"
        ]
    );
}

#[test]
fn the_sql_runner_runs_its_jar_from_usrlib_with_the_script_as_argument() {
    let j = render("sql-reports");
    as_every_operator_cluster(&j, "registry.example.com/analytics/sql-runner:0.4", true);
    stateless_job_defaults(&j);
    let conf = j.conf();
    // Flink 1.20 reads config.yaml only; the Java 17 options Flink 1.19+ default to.
    assert!(j.config_map().get("flink-conf.yaml").is_none());
    assert!(conf.contains_key("env.java.default-opts.all"));
    assert_eq!(j.replicas("taskmanager"), 1);
    // Difference (jar and usrlib): the operator gives `standalone-job
    // /opt/flink/usrlib/sql-scripts/daily-report.sql`, pipeline.classpaths
    // file:///opt/flink/usrlib/sql-runner.jar and an emptyDir over /opt/flink/usrlib
    // (UserLibMountDecorator), which hides the runner and its script: the upstream example
    // runs in native mode. flinkops leaves usrlib as the image has it; `--` keeps the
    // script from being read as another jar.
    assert_eq!(
        j.args("jobmanager"),
        [
            "standalone-job",
            "--jars",
            "local:///opt/flink/usrlib/sql-runner.jar",
            "--",
            "/opt/flink/usrlib/sql-scripts/daily-report.sql"
        ]
    );
    assert!(!conf.contains_key("pipeline.classpaths"));
}

#[test]
fn a_job_from_a_savepoint_starts_from_it() {
    let j = render("orders-replay");
    as_every_operator_cluster(&j, "flink:2.1", true);
    let conf = j.conf();
    // The operator puts execution.savepoint.path in the configuration and
    // CmdStandaloneJobManagerDecorator repeats it as `--fromSavepoint`; Flink reads
    // either. flinkops writes the key.
    assert_eq!(
        conf["execution.savepoint.path"],
        "file:///srv/flink-state/orders/savepoints/savepoint-7f3a21-0c9d4e5b6a71"
    );
    assert!(!j
        .args("jobmanager")
        .contains(&"--fromSavepoint".to_string()));
    assert_eq!(
        conf["state.checkpoints.dir"],
        "file:///srv/flink-state/orders/checkpoints"
    );
    // No slots written: Flink's 1, so ceil(2 / 1) TaskManagers.
    assert!(!conf.contains_key("taskmanager.numberOfTaskSlots"));
    assert_eq!(j.replicas("taskmanager"), 2);
    state_on_host_path(&j, "Directory");
}

#[test]
fn session_clusters_and_their_jobs() {
    for (name, tm_mib, tm_millis) in [
        ("shared-session", 4096, 2000),
        ("adhoc-session", 2048, 1000),
    ] {
        let j = render(name);
        as_every_operator_cluster(&j, "flink:2.1", false);
        let conf = j.conf();
        // CmdStandaloneJobManagerDecorator.decorateSessionContainer: `jobmanager`.
        assert_eq!(j.args("jobmanager"), ["jobmanager"]);
        assert_eq!(j.args("taskmanager"), ["taskmanager"]);
        // No job: no job keys (applyJobConfig is for jobs).
        for key in [
            "pipeline.name",
            "parallelism.default",
            "pipeline.classpaths",
        ] {
            assert!(!conf.contains_key(key), "{name} {key}");
        }
        // kubernetes.internal.taskmanager.replicas defaults to 1 for a session cluster.
        assert_eq!(j.replicas("taskmanager"), 1);
        j.assert_sized("taskmanager", tm_mib, tm_millis);
    }
    // A session job renders no objects on either: it is submitted to its cluster
    // (AbstractFlinkService.submitJobToSessionCluster → runJar).
    let c = catalog();
    for (name, entry, parallelism) in [
        ("top-speed", None, 4),
        (
            "state-machine",
            Some("org.apache.flink.streaming.examples.statemachine.StateMachineExample"),
            2,
        ),
        ("adhoc-windowing", None, 4),
    ] {
        let spec = spec_of(&c, name);
        let cx = Context {
            commit: COMMIT,
            restore_from: None,
        };
        assert!(render::render(&spec, &cx).objects.is_empty());
        let run = flinkops::engine::session_job::run_request(
            &spec,
            None,
            "0123456789abcdef0123456789abcdef",
        );
        // JarRunRequestBody: entry class, parallelism, a fixed job id.
        assert_eq!(run.entry_class.as_deref(), entry);
        assert_eq!(run.parallelism, Some(parallelism));
        assert!(run.program_args_list.is_empty());
        assert!(run.job_id.is_some());
        // FlinkConfigManager.getSessionJobConfig → applyJobConfig: named after the session
        // job. Difference: the operator sends its whole cluster configuration with it and
        // keeps a stateless job's checkpoints; flinkops sends the job's own.
        assert_eq!(run.flink_configuration["pipeline.name"], name);
        assert!(!run
            .flink_configuration
            .contains_key("execution.checkpointing.externalized-checkpoint-retention"));
        assert!(!run
            .flink_configuration
            .contains_key("jobmanager.rpc.address"));
    }
}

#[test]
fn tls_options_reach_flink_and_the_keystores_are_mounted() {
    // The security.ssl options are written as given (applyFlinkConfiguration on both), and
    // `kubernetes.secrets` is mounted as MountSecretsDecorator mounts it (Secret
    // `payments-tls` as volume `payments-tls-volume` at /opt/flink/certs of both main
    // containers). A JobManager serving REST over TLS is marked for flinkops, which then
    // reads the truststore from that Secret (flink::tls); internal SSL alone is not.
    for (name, application, keys) in [
        (
            "secure-payments",
            true,
            &[
                ("security.ssl.enabled", "true"),
                ("security.ssl.keystore", "/opt/flink/certs/keystore.jks"),
                ("security.ssl.truststore", "/opt/flink/certs/truststore.jks"),
            ][..],
        ),
        (
            "secure-session",
            false,
            &[
                ("security.ssl.internal.enabled", "true"),
                ("security.ssl.rest.enabled", "true"),
                (
                    "security.ssl.rest.truststore",
                    "/opt/flink/certs/truststore.jks",
                ),
            ][..],
        ),
    ] {
        let j = render(name);
        as_every_operator_cluster(&j, "flink:2.1", application);
        let conf = j.conf();
        for (key, value) in keys {
            assert_eq!(
                conf.get(*key).map(String::as_str),
                Some(*value),
                "{name} {key}"
            );
        }
        // kubernetes.secrets is applied to the pods (as the operator's MountSecretsDecorator
        // does), not passed to Flink.
        assert!(!conf.contains_key("kubernetes.secrets"), "{name}");
        let rest_tls = j.pod_meta("jobmanager")["annotations"]
            .get(flinkops::edge::flink::tls::ANN_REST_TLS)
            .cloned();
        let serves_tls = keys.contains(&("security.ssl.rest.enabled", "true"));
        assert_eq!(rest_tls.is_some(), serves_tls, "{name}");
        for c in ["jobmanager", "taskmanager"] {
            assert_eq!(
                j.mounts(c),
                [
                    ("/opt/flink/conf".to_string(), "flink-config".to_string()),
                    (
                        "/opt/flink/certs".to_string(),
                        "payments-tls-volume".to_string()
                    )
                ],
                "{name} {c}"
            );
            assert_eq!(
                names(&j.pod(c)["volumes"]),
                ["flink-config", "payments-tls-volume"]
            );
        }
    }
}
