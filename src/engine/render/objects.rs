//! The objects of one job: ConfigMap, JobManager and TaskManager Deployments, the
//! JobManager Service (rpc, blob), the REST Service and, if asked for, an Ingress.

use super::config::{self, BLOB_PORT, REST_PORT, RPC_PORT, TM_RPC_PORT};
use super::*;
use crate::model::spec::kubernetes_keys::{self as pod_keys, PodKeys, CONF_DIR};
use crate::model::spec::quantity::{k8s_bytes, k8s_cpu};
use crate::model::spec::{Cluster, Component, JobKind, JobSpec, JobState};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    LocalObjectReference, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretKeySelector, SecretVolumeSource, Service, ServicePort, ServiceSpec,
    TCPSocketAction, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use std::collections::BTreeMap;

const CONFIG_VOLUME: &str = "flink-config";

struct Names<'a> {
    spec: &'a JobSpec,
    cx: &'a Context<'a>,
    spec_hash: &'a str,
}

impl Names<'_> {
    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.spec.id.name)
    }

    fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_JOB.to_string(), self.spec.id.name.clone()),
            (LABEL_COMPONENT.to_string(), component.to_string()),
        ])
    }

    /// Labels of the pods: only flinkops' own, so that editing the definition's labels
    /// does not replace pods (and restart the job). Pod labels go in podTemplate.
    fn pod_labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut l = self.selector(component);
        l.insert(LABEL_MANAGED_BY.into(), MANAGER.into());
        l.insert(LABEL_NAME.into(), self.spec.id.name.clone());
        l
    }

    fn labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut l = self.spec.labels.clone();
        l.extend(self.pod_labels(component));
        l
    }

    fn meta(&self, suffix: &str, component: &str) -> ObjectMeta {
        let mut annotations = self.spec.annotations.clone();
        annotations.insert(ANN_COMMIT.into(), self.cx.commit.to_string());
        annotations.insert(ANN_SOURCE.into(), self.spec.source.file.clone());
        annotations.insert(ANN_SPEC_HASH.into(), self.spec_hash.to_string());
        ObjectMeta {
            name: Some(self.name(suffix)),
            namespace: Some(self.spec.id.namespace.clone()),
            labels: Some(self.labels(component)),
            annotations: Some(annotations),
            ..Default::default()
        }
    }
}

fn object<T: serde::Serialize>(
    api_version: &'static str,
    kind: &'static str,
    meta: &ObjectMeta,
    value: &T,
) -> Object {
    let mut body = serde_json::to_value(value).expect("k8s objects serialize");
    body["apiVersion"] = json!(api_version);
    body["kind"] = json!(kind);
    Object {
        api_version,
        kind,
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        body,
    }
}

pub fn objects(spec: &JobSpec, cx: &Context, spec_hash: &str) -> Vec<Object> {
    let Some(cluster) = &spec.cluster else {
        // A session job runs inside its session cluster's pods: nothing to render.
        return Vec::new();
    };
    let n = Names {
        spec,
        cx,
        spec_hash,
    };
    let conf = config::effective(spec, cx.restore_from);
    let files = config::files(&conf, cluster.flink_version, &cluster.log_configuration);
    // The hash stands for the Flink configuration the pods must restart for: the files
    // without the defaults a running job does not need (config::hashed). Logging files
    // are left out: log4j reloads them (monitorInterval), so changing them must not
    // replace the pods.
    let hashed = config::files(
        &config::hashed(spec, cx.restore_from),
        cluster.flink_version,
        &BTreeMap::new(),
    );
    let flink_files: BTreeMap<&String, &String> = hashed
        .iter()
        .filter(|(k, _)| *k == config::CONFIG_YAML || *k == config::LEGACY_CONF)
        .collect();
    let config_hash = hex(&Sha256::digest(
        serde_json::to_vec(&flink_files).expect("strings serialize"),
    ));

    let cm_meta = n.meta("config", "config");
    let cm = ConfigMap {
        metadata: cm_meta.clone(),
        data: Some(files.clone()),
        ..Default::default()
    };
    let mut out = vec![object("v1", "ConfigMap", &cm_meta, &cm)];

    let running = spec
        .job
        .as_ref()
        .is_none_or(|j| j.state == JobState::Running);
    // Under high availability the JobManager publishes its pod IP as its address (the
    // TaskManagers find the leader through the HA ConfigMaps), as on the operator.
    let ha_address: Vec<String> = if config::high_availability(&spec.flink_configuration) {
        vec![
            "-D".to_string(),
            format!("jobmanager.rpc.address=$({POD_IP_ENV})"),
        ]
    } else {
        Vec::new()
    };
    let jm_args: Vec<String> = match (&spec.kind, &spec.job) {
        (JobKind::Application, Some(job)) => {
            let mut a = vec!["standalone-job".to_string()];
            if let Some(class) = &job.entry_class {
                a.extend(["--job-classname".to_string(), class.clone()]);
            }
            a.extend(ha_address.clone());
            // Flink 1.19+ takes the jar location here; older versions get it in
            // pipeline.classpaths (config::jar_classpath).
            if config::jar_as_argument(cluster.flink_version) {
                a.extend(["--jars".to_string(), job.jar_uri.clone()]);
            }
            // Everything after `--` is the job's: without it --jars would swallow the
            // job's arguments, and an argument such as `-D…` or `--fromSavepoint` would be
            // read by Flink's own parser (every version stops at `--`).
            if !job.args.is_empty() {
                a.push("--".to_string());
            }
            a.extend(job.args.iter().cloned());
            a
        }
        _ => std::iter::once("jobmanager".to_string())
            .chain(ha_address)
            .collect(),
    };
    let jm_ports = vec![
        port("rpc", RPC_PORT),
        port("blob", BLOB_PORT),
        port("rest", REST_PORT),
    ];
    let keys: Vec<String> = files.keys().cloned().collect();
    // What the configuration's kubernetes.* and containerized.* keys set on the pods, as
    // the operator's decorators apply them (they are not in Flink's configuration).
    let pod_keys = PodKeys::read(&spec.flink_configuration);
    for (suffix, component, which, comp, args, ports, probe_port) in [
        (
            "jobmanager",
            "jobmanager",
            pod_keys::Component::JobManager,
            &cluster.job_manager,
            jm_args,
            jm_ports,
            RPC_PORT,
        ),
        (
            "taskmanager",
            "taskmanager",
            pod_keys::Component::TaskManager,
            &cluster.task_manager,
            vec!["taskmanager".to_string()],
            vec![port("rpc", TM_RPC_PORT)],
            TM_RPC_PORT,
        ),
    ] {
        let mut meta = n.meta(suffix, component);
        // The keys' labels and annotations are the Deployment's too, as on the operator;
        // flinkops' own stay on top.
        let theirs = pod_keys.component(which);
        for (extra, slot) in [
            (&theirs.labels, &mut meta.labels),
            (&theirs.annotations, &mut meta.annotations),
        ] {
            let mut merged = extra.clone();
            merged.extend(slot.take().unwrap_or_default());
            *slot = Some(merged);
        }
        let replicas = if running { comp.replicas } else { 0 };
        let pod = pod_template(
            &n,
            cluster,
            comp,
            component,
            (&pod_keys, which),
            args,
            ports,
            probe_port,
            &keys,
            &config_hash,
        );
        let d = Deployment {
            metadata: meta.clone(),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(n.selector(component)),
                    ..Default::default()
                },
                // Never two JobManagers of one job, nor old and new TaskManagers mixed.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..Default::default()
                }),
                template: pod,
                ..Default::default()
            }),
            ..Default::default()
        };
        out.push(object("apps/v1", "Deployment", &meta, &d));
    }

    let svc = |suffix: &str, component: &str, ports: Vec<ServicePort>| {
        let meta = n.meta(suffix, component);
        let s = Service {
            metadata: meta.clone(),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(n.selector("jobmanager")),
                ports: Some(ports),
                ..Default::default()
            }),
            ..Default::default()
        };
        object("v1", "Service", &meta, &s)
    };
    out.push(svc(
        "jobmanager",
        "jobmanager",
        vec![
            service_port("rpc", RPC_PORT),
            service_port("blob", BLOB_PORT),
        ],
    ));
    out.push(svc("rest", "rest", vec![service_port("rest", REST_PORT)]));

    if let Some(ing) = &cluster.ingress {
        out.push(ingress(&n, ing));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn pod_template(
    n: &Names,
    cluster: &Cluster,
    comp: &Component,
    component: &str,
    (pod_keys, which): (&PodKeys, pod_keys::Component),
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    probe_port: i32,
    config_keys: &[String],
    config_hash: &str,
) -> PodTemplateSpec {
    let r = &comp.resource;
    let quantities = |cpu: u64, memory: u64, storage: Option<u64>| {
        let mut q = BTreeMap::from([
            ("cpu".to_string(), Quantity(k8s_cpu(cpu))),
            ("memory".to_string(), Quantity(k8s_bytes(memory))),
        ]);
        if let Some(e) = storage {
            q.insert("ephemeral-storage".into(), Quantity(k8s_bytes(e)));
        }
        q
    };
    let limits = r.limits();
    let container = Container {
        name: MAIN_CONTAINER.into(),
        image: Some(cluster.image.clone()),
        image_pull_policy: cluster.image_pull_policy.clone(),
        args: Some(args),
        ports: Some(ports),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(
                r.cpu_millis,
                r.memory_bytes,
                r.ephemeral_storage_bytes,
            )),
            limits: Some(quantities(
                limits.cpu_millis,
                limits.memory_bytes,
                limits.ephemeral_storage_bytes,
            )),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(probe_port),
                ..Default::default()
            }),
            initial_delay_seconds: Some(30),
            period_seconds: Some(60),
            ..Default::default()
        }),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: CONFIG_VOLUME.into(),
                mount_path: CONF_DIR.into(),
                ..Default::default()
            })
            .chain(pod_keys.secrets.iter().map(|(secret, path)| VolumeMount {
                name: PodKeys::volume_name(secret),
                mount_path: path.clone(),
                ..Default::default()
            }))
            .collect(),
        ),
        env: non_empty(env(
            pod_keys,
            which,
            config::high_availability(&n.spec.flink_configuration),
        )),
        ..Default::default()
    };
    let theirs = pod_keys.component(which);
    let mut labels = theirs.labels.clone();
    labels.extend(n.pod_labels(component));
    let mut annotations = theirs.annotations.clone();
    annotations.insert(ANN_CONFIG_HASH.to_string(), config_hash.to_string());
    // Says flinkops must reach this JobManager's REST API over TLS (`model::rest_tls`).
    if component == "jobmanager" && crate::model::rest_tls::enabled(&n.spec.flink_configuration) {
        annotations.insert(
            crate::model::rest_tls::ANN_REST_TLS.to_string(),
            "true".into(),
        );
    }
    let ours = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            // The component's key, else spec.serviceAccount (kubernetes.service-account
            // resolved into it at load).
            service_account_name: theirs
                .service_account
                .clone()
                .or_else(|| cluster.service_account.clone()),
            node_selector: (!theirs.node_selector.is_empty()).then(|| theirs.node_selector.clone()),
            tolerations: non_empty(theirs.tolerations.iter().map(toleration).collect()),
            image_pull_secrets: non_empty(
                pod_keys
                    .image_pull_secrets
                    .iter()
                    .map(|name| LocalObjectReference { name: name.clone() })
                    .collect(),
            ),
            containers: vec![container],
            volumes: Some(
                std::iter::once(Volume {
                    name: CONFIG_VOLUME.into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: n.name("config"),
                        items: Some(
                            config_keys
                                .iter()
                                .map(|k| k8s_openapi::api::core::v1::KeyToPath {
                                    key: k.clone(),
                                    path: k.clone(),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .chain(pod_keys.secrets.keys().map(|secret| Volume {
                    name: PodKeys::volume_name(secret),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }))
                .collect(),
            ),
            ..Default::default()
        }),
    };
    if cluster.pod_template.is_none() && comp.pod_template.is_none() {
        return ours;
    }
    // The user's Pod (apiVersion/kind/metadata/spec) as a template: shared one first,
    // then the component's, then ours on top.
    let mut merged = serde_json::json!({});
    for user in [&cluster.pod_template, &comp.pod_template]
        .into_iter()
        .flatten()
    {
        let mut t = user.clone();
        if let Some(o) = t.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
        merge::merge(&mut merged, &t);
    }
    let ours = serde_json::to_value(&ours).expect("pod templates serialize");
    // An environment variable flinkops sets replaces the template's of that name whole
    // (merged field by field, the template's valueFrom would stay beside our value), as
    // on the operator, where Kubernetes takes the later of the two.
    let our_env: Vec<&str> = pod_keys
        .env_names(which)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if let Some(containers) = merged
        .pointer_mut("/spec/containers")
        .and_then(serde_json::Value::as_array_mut)
    {
        for c in containers
            .iter_mut()
            .filter(|c| c["name"] == MAIN_CONTAINER)
        {
            if let Some(env) = c.get_mut("env").and_then(serde_json::Value::as_array_mut) {
                env.retain(|e| !e["name"].as_str().is_some_and(|n| our_env.contains(&n)));
            }
        }
    }
    // Tolerations have no names, so merged, ours would replace the template's; the
    // operator adds its to the template's.
    let their_tolerations = merged
        .pointer("/spec/tolerations")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    merge::merge(&mut merged, &ours);
    if let Some(all) = merged
        .pointer_mut("/spec/tolerations")
        .and_then(serde_json::Value::as_array_mut)
    {
        if ours.pointer("/spec/tolerations").is_some() {
            let added = std::mem::take(all);
            *all = their_tolerations;
            all.extend(added);
        }
    }
    serde_json::from_value(merged).expect("validated pod templates merge into a pod template")
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// A JobManager's own pod IP, which it publishes as its RPC address under high
/// availability (the operator's name for it, so pod templates that read it keep working).
pub const POD_IP_ENV: &str = "_POD_IP_ADDRESS";

/// A component's environment: under high availability the JobManager's pod IP, then from
/// the keys the plain variables, the log directory, and those from Secrets (the order of
/// the operator's decorators).
fn env(keys: &PodKeys, which: pod_keys::Component, ha: bool) -> Vec<EnvVar> {
    let pod_ip = (ha && which == pod_keys::Component::JobManager).then(|| EnvVar {
        name: POD_IP_ENV.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: "status.podIP".into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let plain = keys
        .component(which)
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..Default::default()
        });
    let log_dir = keys.log_dir.iter().map(|dir| EnvVar {
        name: pod_keys::LOG_DIR_ENV.into(),
        value: Some(dir.clone()),
        ..Default::default()
    });
    let secrets = keys.secret_env.iter().map(|e| EnvVar {
        name: e.env.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: e.secret.clone(),
                key: e.key.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    pod_ip
        .into_iter()
        .chain(plain)
        .chain(log_dir)
        .chain(secrets)
        .collect()
}

fn toleration(t: &pod_keys::Toleration) -> Toleration {
    Toleration {
        key: t.key.clone(),
        operator: t.operator.clone(),
        value: t.value.clone(),
        effect: t.effect.clone(),
        toleration_seconds: t.toleration_seconds,
    }
}

fn port(name: &str, p: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: p,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn service_port(name: &str, p: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: p,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// The operator's Ingress (IngressUtils): one rule, with the template's host (if any) and
/// one path, `ImplementationSpecific`, with the template's path (if any: a host-only
/// template routes all of the host); TLS as written.
fn ingress(n: &Names, spec: &crate::model::spec::Ingress) -> Object {
    let url =
        crate::model::spec::ingress::url(&spec.template, &n.spec.id.name, &n.spec.id.namespace);
    // The ingress's own labels and annotations first, flinkops' on top: they are how the
    // object is found, pruned and told apart from another job's (validation rejects
    // definitions that set them; this keeps them ours regardless).
    let mut meta = n.meta("rest", "rest");
    for (theirs, ours) in [
        (&spec.labels, &mut meta.labels),
        (&spec.annotations, &mut meta.annotations),
    ] {
        let mut merged = theirs.clone();
        merged.extend(ours.take().unwrap_or_default());
        *ours = Some(merged);
    }
    let ing = Ingress {
        metadata: meta.clone(),
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            tls: (!spec.tls.is_empty()).then(|| {
                spec.tls
                    .iter()
                    .map(|t| IngressTLS {
                        hosts: (!t.hosts.is_empty()).then(|| t.hosts.clone()),
                        secret_name: t.secret_name.clone(),
                    })
                    .collect()
            }),
            rules: Some(vec![IngressRule {
                host: url.host,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: url.path,
                        path_type: "ImplementationSpecific".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: n.name("rest"),
                                port: Some(ServiceBackendPort {
                                    number: Some(REST_PORT),
                                    ..Default::default()
                                }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    object("networking.k8s.io/v1", "Ingress", &meta, &ing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

    fn rendered(yaml: &str) -> Vec<Object> {
        let c = catalog(&[("a.yaml", yaml)]);
        assert!(c.is_valid(), "{:?}", c.errors());
        let spec = c.jobs.values().next().unwrap();
        render(
            spec,
            &Context {
                commit: "c",
                restore_from: None,
            },
        )
        .objects
    }

    fn container_resources(objects: &[Object], name: &str) -> serde_json::Value {
        let d = objects
            .iter()
            .find(|o| o.kind == "Deployment" && o.name == name)
            .unwrap();
        d.body["spec"]["template"]["spec"]["containers"][0]["resources"].clone()
    }

    const APP: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  image: flink:2.0
  jobManager:
    resource: {cpu: 0.5, memory: 2048m, ephemeralStorage: 2Gi}
  taskManager:
    resources:
      requests: {cpu: 1, memory: 2Gi, ephemeral-storage: 10G}
      limits: {cpu: 2, memory: 3Gi}
  job: {jarURI: 'local:///opt/flink/usrlib/o.jar'}
";

    #[test]
    fn memory_set_in_the_flink_configuration_is_what_runs() {
        // Before, the process memory was always overwritten by the resource's (Flink's
        // default when none was written), and the container sized by it.
        let yaml = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  image: flink:2.0
  flinkConfiguration:
    taskmanager.memory.process.size: 3072m
  job: {jarURI: 'local:///opt/flink/usrlib/o.jar'}
";
        let objects = rendered(yaml);
        let cm = objects.iter().find(|o| o.kind == "ConfigMap").unwrap();
        let config = cm.body["data"]["config.yaml"].as_str().unwrap();
        assert!(
            config.contains("    process:\n      size: 3g\n"),
            "{config}"
        );
        assert_eq!(
            container_resources(&objects, "orders-taskmanager")["limits"]["memory"],
            "3Gi"
        );
        assert_eq!(
            container_resources(&objects, "orders-jobmanager")["limits"]["memory"],
            "1600Mi"
        );
    }

    /// An application on `version` with its jar at `jar` (local://…): the JobManager's
    /// arguments and the Flink configuration files.
    fn jar_render(version: &str, jar: &str) -> (Vec<String>, BTreeMap<String, String>) {
        let yaml = format!(
            "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: orders, namespace: streaming}}
spec:
  flinkVersion: {version}
  job: {{jarURI: '{jar}', entryClass: com.example.Orders}}
"
        );
        let objects = rendered(&yaml);
        let jm = objects
            .iter()
            .find(|o| o.name == "orders-jobmanager")
            .unwrap();
        let args = serde_json::from_value(
            jm.body["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
        )
        .unwrap();
        let cm = objects.iter().find(|o| o.kind == "ConfigMap").unwrap();
        let files = serde_json::from_value(cm.body["data"].clone()).unwrap();
        (args, files)
    }

    #[test]
    fn before_flink_1_19_the_jar_is_on_the_pipeline_classpath() {
        for version in ["v1_16", "v1_17", "v1_18"] {
            let (args, files) = jar_render(version, "local:///opt/flink/artifacts/orders.jar");
            // No --jars, which these versions do not know.
            assert_eq!(
                args,
                ["standalone-job", "--job-classname", "com.example.Orders"],
                "{version}"
            );
            // flink-conf.yaml is what these versions read; config.yaml says the same.
            assert!(
                files[config::LEGACY_CONF]
                    .lines()
                    .any(|l| l == "pipeline.classpaths: file:///opt/flink/artifacts/orders.jar"),
                "{version}: {}",
                files[config::LEGACY_CONF]
            );
            let conf: serde_yaml::Value =
                serde_yaml::from_str(&files[config::CONFIG_YAML]).unwrap();
            assert_eq!(
                conf["pipeline"]["classpaths"].as_str(),
                Some("file:///opt/flink/artifacts/orders.jar")
            );
        }
        // A jar in usrlib is on the classpath already: listed twice, Flink would find its
        // entry class twice.
        let (_, files) = jar_render("v1_17", "local:///opt/flink/usrlib/jobs/orders.jar");
        assert!(!files[config::LEGACY_CONF].contains("pipeline.classpaths"));
        // A path that only looks as if it were in usrlib is listed.
        let (_, files) = jar_render("v1_17", "local:///opt/flink/usrlib/../orders.jar");
        assert!(files[config::LEGACY_CONF]
            .contains("pipeline.classpaths: file:///opt/flink/usrlib/../orders.jar\n"));
    }

    #[test]
    fn from_flink_1_19_the_jar_is_an_argument() {
        for version in ["v1_19", "v1_20", "v2_0", "v2_3"] {
            for jar in [
                "local:///opt/flink/artifacts/orders.jar",
                "local:///opt/flink/usrlib/orders.jar",
            ] {
                let (args, files) = jar_render(version, jar);
                assert_eq!(
                    args,
                    [
                        "standalone-job",
                        "--job-classname",
                        "com.example.Orders",
                        "--jars",
                        jar
                    ],
                    "{version}"
                );
                assert!(
                    !files[config::CONFIG_YAML].contains("classpaths"),
                    "{version}"
                );
            }
        }
    }

    #[test]
    fn the_definition_s_own_classpaths_are_kept_after_the_job_s_jar() {
        let yaml = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  flinkVersion: v1_18
  flinkConfiguration:
    pipeline.classpaths: [file:///opt/flink/lib-extra/udf.jar, file:///opt/flink/artifacts/o.jar]
  job: {jarURI: 'local:///opt/flink/artifacts/o.jar'}
";
        let objects = rendered(yaml);
        let cm = objects.iter().find(|o| o.kind == "ConfigMap").unwrap();
        let legacy = cm.body["data"][config::LEGACY_CONF].as_str().unwrap();
        assert!(
            legacy.contains(
                "pipeline.classpaths: file:///opt/flink/artifacts/o.jar;file:///opt/flink/lib-extra/udf.jar\n"
            ),
            "{legacy}"
        );
    }

    #[test]
    fn the_container_gets_the_requests_and_limits() {
        let objects = rendered(APP);
        assert_eq!(
            container_resources(&objects, "orders-jobmanager"),
            json!({
                "requests": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "2Gi"},
                "limits": {"cpu": "500m", "memory": "2Gi", "ephemeral-storage": "2Gi"},
            })
        );
        assert_eq!(
            container_resources(&objects, "orders-taskmanager"),
            json!({
                "requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "9765625Ki"},
                "limits": {"cpu": "2", "memory": "3Gi"},
            })
        );
    }

    #[test]
    fn resource_ephemeral_storage_is_the_request_and_limit_as_a_kubernetes_quantity() {
        let objects = rendered(&APP.replace("ephemeralStorage: 2Gi", "ephemeralStorage: 2G"));
        let r = container_resources(&objects, "orders-jobmanager");
        // 2G is 2×10^9 bytes, as the operator reads it (written in exact binary units).
        assert_eq!(r["requests"]["ephemeral-storage"], "1953125Ki");
        assert_eq!(r["limits"]["ephemeral-storage"], "1953125Ki");
    }

    /// The Ingress rendered for APP with `ingress` (YAML under `spec.ingress`).
    fn ingress_body(ingress: &str) -> serde_json::Value {
        let yaml = APP.replacen("  job: {", &format!("  ingress:\n{ingress}  job: {{"), 1);
        let objects = rendered(&yaml);
        let ing = objects
            .iter()
            .find(|o| o.kind == "Ingress" && o.name == "orders-rest")
            .unwrap();
        ing.body.clone()
    }

    fn ingress_spec(ingress: &str) -> serde_json::Value {
        ingress_body(ingress)["spec"].clone()
    }

    fn rest_backend() -> serde_json::Value {
        json!({"service": {"name": "orders-rest", "port": {"number": 8081}}})
    }

    #[test]
    fn a_host_only_template_renders_the_operators_rule() {
        // The operator's IngressUtils reads the template as a URL: a host and no path give
        // a rule for that host whose one path has no `path` (all of the host).
        assert_eq!(
            ingress_spec("    template: '{{name}}.{{namespace}}.flink.k8s.io'\n"),
            json!({"rules": [{
                "host": "orders.streaming.flink.k8s.io",
                "http": {"paths": [{"backend": rest_backend(), "pathType": "ImplementationSpecific"}]},
            }]})
        );
        // A scheme is dropped and the placeholders are read in any case, as there; a
        // trailing slash is a path.
        assert_eq!(
            ingress_spec("    template: 'HTTPS://{{Name}}.{{NAMESPACE}}.flink.k8s.io/'\n"),
            json!({"rules": [{
                "host": "orders.streaming.flink.k8s.io",
                "http": {"paths": [{"backend": rest_backend(), "path": "/", "pathType": "ImplementationSpecific"}]},
            }]})
        );
    }

    #[test]
    fn a_path_template_renders_its_path_as_written() {
        // The operator's documented nginx setup: a regex path, with the rewrite annotation
        // and class written by the definition (the operator adds neither).
        let body = ingress_body(
            "    template: 'flink.k8s.io/{{namespace}}/{{name}}(/|$)(.*)'\n    className: nginx\n    annotations: {nginx.ingress.kubernetes.io/rewrite-target: /$2}\n",
        );
        assert_eq!(
            body["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"],
            "/$2"
        );
        assert_eq!(
            body["spec"],
            json!({"ingressClassName": "nginx", "rules": [{
                "host": "flink.k8s.io",
                "http": {"paths": [{"backend": rest_backend(), "path": "/streaming/orders(/|$)(.*)", "pathType": "ImplementationSpecific"}]},
            }]})
        );
        // Without a host, a rule for every host.
        assert_eq!(
            ingress_spec("    template: '/{{namespace}}/{{name}}(/|$)(.*)'\n"),
            json!({"rules": [{
                "http": {"paths": [{"backend": rest_backend(), "path": "/streaming/orders(/|$)(.*)", "pathType": "ImplementationSpecific"}]},
            }]})
        );
    }

    #[test]
    fn ingress_tls_is_rendered_as_written() {
        let spec = ingress_spec(
            "    template: '{{name}}.example.com'\n    tls:\n      - hosts: [orders.example.com, '*.example.com']\n        secretName: flink-tls\n      - secretName: default-tls\n",
        );
        assert_eq!(
            spec["tls"],
            json!([
                {"hosts": ["orders.example.com", "*.example.com"], "secretName": "flink-tls"},
                {"secretName": "default-tls"},
            ])
        );
        assert!(
            ingress_spec("    template: '{{name}}.example.com'\n    tls: []\n")
                .get("tls")
                .is_none()
        );
    }

    /// APP with `conf` (indented by four) as its flinkConfiguration and `extra` (indented
    /// by two) under spec: its JobManager and TaskManager pod templates.
    fn pod_templates(conf: &str, extra: &str) -> (serde_json::Value, serde_json::Value) {
        let yaml = APP.replacen(
            "  image: flink:2.0\n",
            &format!("  image: flink:2.0\n  flinkConfiguration:\n{conf}{extra}"),
            1,
        );
        let objects = rendered(&yaml);
        let template = |name: &str| {
            objects
                .iter()
                .find(|o| o.kind == "Deployment" && o.name == name)
                .unwrap()
                .body["spec"]["template"]
                .clone()
        };
        (
            template("orders-jobmanager"),
            template("orders-taskmanager"),
        )
    }

    const POD_KEYS: &str = "    kubernetes.secrets: db-creds:/opt/secrets/db\n    \
        kubernetes.env.secretKeyRef: env:DB_PASSWORD,secret:db-creds,key:password\n    \
        containerized.master.env.JM_ONLY: jm\n    \
        containerized.taskmanager.env.TM_ONLY: tm\n    \
        kubernetes.jobmanager.node-selector: disk:ssd\n    \
        kubernetes.taskmanager.node-selector: pool:flink\n    \
        kubernetes.taskmanager.tolerations: key:dedicated,operator:Equal,value:flink,effect:NoSchedule\n    \
        kubernetes.jobmanager.labels: team:orders\n    \
        kubernetes.taskmanager.annotations: prometheus.io/scrape:'true'\n    \
        kubernetes.container.image.pull-secrets: regcred\n    \
        kubernetes.taskmanager.service-account: flink-tm\n";

    #[test]
    fn secrets_are_mounted_in_the_main_container_of_both_components() {
        let (jm, tm) = pod_templates(POD_KEYS, "");
        for t in [&jm, &tm] {
            let spec = &t["spec"];
            assert_eq!(
                spec["volumes"][1],
                json!({"name": "db-creds-volume", "secret": {"secretName": "db-creds"}})
            );
            let main = &spec["containers"][0];
            assert_eq!(main["name"], MAIN_CONTAINER);
            assert_eq!(
                main["volumeMounts"],
                json!([
                    {"name": "flink-config", "mountPath": "/opt/flink/conf"},
                    {"name": "db-creds-volume", "mountPath": "/opt/secrets/db"},
                ])
            );
            assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
        }
    }

    #[test]
    fn environment_comes_from_the_keys_per_component_and_from_secrets() {
        let (jm, tm) = pod_templates(POD_KEYS, "");
        let from_secret = json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}});
        assert_eq!(
            jm["spec"]["containers"][0]["env"],
            json!([{"name": "JM_ONLY", "value": "jm"}, from_secret])
        );
        assert_eq!(
            tm["spec"]["containers"][0]["env"],
            json!([{"name": "TM_ONLY", "value": "tm"}, from_secret])
        );
    }

    #[test]
    fn node_selectors_tolerations_labels_and_annotations_go_to_their_component() {
        let (jm, tm) = pod_templates(POD_KEYS, "");
        assert_eq!(jm["spec"]["nodeSelector"], json!({"disk": "ssd"}));
        assert_eq!(tm["spec"]["nodeSelector"], json!({"pool": "flink"}));
        assert!(jm["spec"].get("tolerations").is_none());
        assert_eq!(
            tm["spec"]["tolerations"],
            json!([{"key": "dedicated", "operator": "Equal", "value": "flink", "effect": "NoSchedule"}])
        );
        assert_eq!(jm["metadata"]["labels"]["team"], "orders");
        assert_eq!(jm["metadata"]["labels"][LABEL_COMPONENT], "jobmanager");
        assert!(tm["metadata"]["labels"].get("team").is_none());
        assert_eq!(
            tm["metadata"]["annotations"]["prometheus.io/scrape"],
            "true"
        );
        assert!(tm["metadata"]["annotations"].get(ANN_CONFIG_HASH).is_some());
        // The component's service account; the JobManager has none (none is set).
        assert_eq!(tm["spec"]["serviceAccountName"], "flink-tm");
        assert!(jm["spec"].get("serviceAccountName").is_none());
    }

    #[test]
    fn a_job_manager_serving_rest_over_tls_says_so_on_its_pods() {
        let tls = "    security.ssl.rest.enabled: true\n    \
            security.ssl.rest.truststore: /opt/flink/tls/ts.p12\n    \
            kubernetes.secrets: rest-tls:/opt/flink/tls\n";
        let (jm, tm) = pod_templates(tls, "");
        let ann = crate::model::rest_tls::ANN_REST_TLS;
        assert_eq!(jm["metadata"]["annotations"][ann], "true");
        assert!(tm["metadata"]["annotations"].get(ann).is_none());
        // The truststore's Secret is mounted where the configuration says.
        assert_eq!(
            jm["spec"]["containers"][0]["volumeMounts"][1]["mountPath"],
            "/opt/flink/tls"
        );
        let (jm, _) = pod_templates("    security.ssl.rest.enabled: false\n", "");
        assert!(jm["metadata"]["annotations"].get(ann).is_none());
    }

    #[test]
    fn the_keys_merge_with_the_pod_template_as_on_the_operator() {
        let template = "  podTemplate:\n    metadata:\n      labels: {team: x, tier: stream}\n    spec:\n      serviceAccountName: from-template\n      nodeSelector: {pool: other, zone: a}\n      tolerations: [{key: spot, operator: Exists}]\n      containers:\n        - name: flink-main-container\n          env:\n            - {name: DB_PASSWORD, value: plain}\n            - {name: KEEP, value: k}\n";
        let conf =
            "    kubernetes.env.secretKeyRef: env:DB_PASSWORD,secret:db-creds,key:password\n    \
            kubernetes.taskmanager.node-selector: pool:flink\n    \
            kubernetes.taskmanager.tolerations: key:dedicated,operator:Exists\n    \
            kubernetes.taskmanager.labels: team:orders\n";
        let (_, tm) = pod_templates(conf, template);
        let spec = &tm["spec"];
        // Maps: the key's entries over the template's.
        assert_eq!(spec["nodeSelector"], json!({"pool": "flink", "zone": "a"}));
        assert_eq!(tm["metadata"]["labels"]["team"], "orders");
        assert_eq!(tm["metadata"]["labels"]["tier"], "stream");
        // Tolerations: added to the template's.
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "spot", "operator": "Exists"}, {"key": "dedicated", "operator": "Exists"}])
        );
        // A variable the keys set replaces the template's of that name whole.
        assert_eq!(
            spec["containers"][0]["env"],
            json!([
                {"name": "KEEP", "value": "k"},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}},
            ])
        );
        // Without a service account from spec or keys, the template's stays.
        assert_eq!(spec["serviceAccountName"], "from-template");
    }

    #[test]
    fn the_keys_labels_and_annotations_are_on_the_deployment_too() {
        let yaml = APP.replacen(
            "  image: flink:2.0\n",
            "  image: flink:2.0\n  flinkConfiguration:\n    kubernetes.jobmanager.labels: team:orders\n    kubernetes.jobmanager.annotations: owner:data\n",
            1,
        );
        let objects = rendered(&yaml);
        let jm = objects
            .iter()
            .find(|o| o.name == "orders-jobmanager")
            .unwrap();
        assert_eq!(jm.body["metadata"]["labels"]["team"], "orders");
        assert_eq!(jm.body["metadata"]["annotations"]["owner"], "data");
        assert_eq!(jm.body["metadata"]["annotations"][ANN_COMMIT], "c");
        let tm = objects
            .iter()
            .find(|o| o.name == "orders-taskmanager")
            .unwrap();
        assert!(tm.body["metadata"]["labels"].get("team").is_none());
    }

    #[test]
    fn pull_policy_service_account_and_log_dir_from_the_keys() {
        let conf = "    kubernetes.container.image.pull-policy: Always\n    \
            kubernetes.service-account: flink\n    \
            kubernetes.jobmanager.service-account: flink-jm\n    \
            kubernetes.flink.log.dir: /var/log/flink\n";
        let (jm, tm) = pod_templates(conf, "");
        assert_eq!(jm["spec"]["serviceAccountName"], "flink-jm");
        assert_eq!(tm["spec"]["serviceAccountName"], "flink");
        for t in [&jm, &tm] {
            let main = &t["spec"]["containers"][0];
            assert_eq!(main["imagePullPolicy"], "Always");
            assert_eq!(
                main["env"],
                json!([{"name": "FLINK_LOG_DIR", "value": "/var/log/flink"}])
            );
        }
    }

    #[test]
    fn pod_keys_are_not_written_to_flinks_configuration() {
        let yaml = APP.replacen(
            "  image: flink:2.0\n",
            &format!("  image: flink:2.0\n  flinkConfiguration:\n{POD_KEYS}    kubernetes.rest-service.exposed.type: ClusterIP\n    kubernetes.cluster-id: orders\n"),
            1,
        );
        let objects = rendered(&yaml);
        let cm = objects.iter().find(|o| o.kind == "ConfigMap").unwrap();
        let config = cm.body["data"]["config.yaml"].as_str().unwrap();
        assert!(!config.contains("secrets"), "{config}");
        assert!(!config.contains("containerized"), "{config}");
        assert!(!config.contains("node-selector"), "{config}");
        assert!(!config.contains("rest-service"), "{config}");
        // What Flink reads itself stays.
        assert!(config.contains("cluster-id: orders"), "{config}");
    }

    const HA: &str =
        "    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n";

    #[test]
    fn a_job_manager_with_high_availability_publishes_its_pod_ip_as_the_operator_does() {
        let (jm, tm) = pod_templates(HA, "");
        let main = &jm["spec"]["containers"][0];
        let args: Vec<&str> = main["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let d = args.iter().position(|a| *a == "-D").expect("a -D argument");
        assert_eq!(args[d + 1], "jobmanager.rpc.address=$(_POD_IP_ADDRESS)");
        // Flink's own options, so before the job's jar and arguments.
        assert!(
            d < args.iter().position(|a| *a == "--jars").unwrap(),
            "{args:?}"
        );
        let env = main["env"].as_array().unwrap();
        let ip = env
            .iter()
            .find(|e| e["name"] == POD_IP_ENV)
            .expect("the pod IP");
        assert_eq!(ip["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
        // TaskManagers find the leader through the HA ConfigMaps.
        let tm_main = &tm["spec"]["containers"][0];
        assert_eq!(tm_main["args"], json!(["taskmanager"]));
        assert!(tm_main["env"]
            .as_array()
            .is_none_or(|e| e.iter().all(|e| e["name"] != POD_IP_ENV)));
        // Without high availability: neither.
        let (jm, _) = pod_templates("    execution.checkpointing.interval: 10s\n", "");
        let main = &jm["spec"]["containers"][0];
        assert!(!main["args"].to_string().contains("-D"), "{}", main["args"]);
        assert!(main["env"].is_null(), "{}", main["env"]);
    }

    #[test]
    fn a_session_cluster_with_high_availability_publishes_its_pod_ip_too() {
        let yaml = format!(
            "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: shared, namespace: streaming}}
spec:
  image: flink:2.0
  jobManager: {{replicas: 2}}
  flinkConfiguration:
{HA}"
        );
        let objects = rendered(&yaml);
        let jm = objects
            .iter()
            .find(|o| o.kind == "Deployment" && o.name == "shared-jobmanager")
            .unwrap();
        assert_eq!(jm.body["spec"]["replicas"], 2);
        assert_eq!(
            jm.body["spec"]["template"]["spec"]["containers"][0]["args"],
            json!([
                "jobmanager",
                "-D",
                "jobmanager.rpc.address=$(_POD_IP_ADDRESS)"
            ])
        );
        let config = objects.iter().find(|o| o.kind == "ConfigMap").unwrap();
        let yaml = config.body["data"]["config.yaml"].as_str().unwrap();
        // A session cluster runs many jobs: no fixed job id.
        assert!(!yaml.contains("job-id"), "{yaml}");
        assert!(yaml.contains("cluster-id: shared"), "{yaml}");
    }
}
