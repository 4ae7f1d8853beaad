//! Validation tests: every error kind with its exact message and location.

use super::testing::snapshot;
use super::*;
use crate::model::snapshot::Entry;

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    load(&snapshot(files))
        .errors()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

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
    upgradeMode: savepoint
";

const SESSION: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: shared
  namespace: streaming
spec:
  flinkVersion: v1_20
";

/// APP with `from` replaced by `to`, asserting the replacement happened.
fn app_with(from: &str, to: &str) -> String {
    assert!(APP.contains(from), "{from}");
    APP.replacen(from, to, 1)
}

#[test]
fn valid_application_resolves_defaults() {
    let c = load(&snapshot(&[("a.yaml", APP)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let s = &c.jobs[&JobId {
        namespace: "streaming".into(),
        name: "orders".into(),
    }];
    assert_eq!(s.kind, JobKind::Application);
    let job = s.job.as_ref().unwrap();
    assert_eq!(job.parallelism, 2);
    assert_eq!(job.upgrade_mode, UpgradeMode::Savepoint);
    assert_eq!(job.state, JobState::Running);
    let cl = s.cluster.as_ref().unwrap();
    assert_eq!(cl.job_manager.replicas, 1);
    // Two slots needed, one slot per TaskManager by default.
    assert_eq!(cl.task_manager.replicas, 2);
    assert_eq!(cl.job_manager.resource.memory_bytes, 1600 << 20);
    assert_eq!(cl.task_manager.resource.memory_bytes, 1728 << 20);
    assert_eq!(s.source.file, "a.yaml");
}

#[test]
fn seed_example_without_image_validates_and_maps_to_session_pair() {
    let seed = "\
apiVersion: flink.apache.org/v1
kind: FlinkCluster
metadata:
  name: reporting
spec:
  flinkVersion: v1_20
---
apiVersion: flink.apache.org/v1
kind: FlinkApplication
metadata:
  name: daily
spec:
  flinkCluster:
    name: reporting
  job:
    jarURI: https://example.com/daily.jar
    parallelism: 1
";
    let c = load(&snapshot(&[("seed.yaml", seed)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let cluster = &c.jobs[&JobId {
        namespace: "default".into(),
        name: "reporting".into(),
    }];
    assert_eq!(cluster.kind, JobKind::SessionCluster);
    assert_eq!(cluster.cluster.as_ref().unwrap().image, "flink:1.20");
    let app = &c.jobs[&JobId {
        namespace: "default".into(),
        name: "daily".into(),
    }];
    assert_eq!(app.kind, JobKind::SessionJob);
    assert_eq!(app.session_cluster.as_deref(), Some("reporting"));
}

#[test]
fn image_comes_from_settings_default_before_flink_version() {
    let settings = "defaults:\n  image: my/flink:2.1\n";
    let c = load(&snapshot(&[
        ("flinkops.yaml", settings),
        ("s.yaml", SESSION),
    ]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let s = c.jobs.values().next().unwrap();
    assert_eq!(s.cluster.as_ref().unwrap().image, "my/flink:2.1");
}

#[test]
fn missing_image_and_version_is_an_error() {
    let text = SESSION.replace("  flinkVersion: v1_20\n", "  serviceAccount: flink\n");
    assert_eq!(
        errors(&[("s.yaml", &text)]),
        vec!["s.yaml:6:1: spec.image: no image: set spec.image, spec.flinkVersion, or defaults.image in flinkops.yaml"]
    );
}

#[test]
fn yaml_syntax_error_is_located_and_blocks_only_that_file() {
    let c = load(&snapshot(&[
        ("a.yaml", APP),
        ("b.yaml", "apiVersion: x\nkind: [\n"),
    ]));
    assert_eq!(c.jobs.len(), 1, "the valid file still loads");
    let errs = c.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, "b.yaml");
    assert!(errs[0].message.starts_with("YAML syntax:"), "{}", errs[0]);
    assert!(!c.absence_is_certain("b.yaml"));
    assert!(c.absence_is_certain("a.yaml"));
}

#[test]
fn every_error_of_a_document_is_reported_at_once() {
    let text = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: Orders_1
  namespace: streaming
spec:
  image: flink:2.0
  imagePullPolicy: Sometimes
  flinkVersion: 2.0
  jobManager:
    resource: {cpu: -1, memory: lots}
  taskManager:
    replicas: 0
    resource: {memory: 2P, ephemeralStorage: 1Gi}
  job:
    parallelism: 0
    upgradeMode: savepointt
    state: paused
    entryClass: [x]
  paralelism: 3
";
    assert_eq!(
        errors(&[("bad.yaml", text)]),
        vec![
            "bad.yaml:4:9: metadata.name: `Orders_1` is not a valid name: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (RFC 1035)",
            "bad.yaml:8:20: spec.imagePullPolicy: `Sometimes` is not one of Always, IfNotPresent, Never",
            "bad.yaml:9:17: spec.flinkVersion: expected a string, got a number",
            "bad.yaml:11:21: spec.jobManager.resource.cpu: `-1` must be greater than zero",
            "bad.yaml:11:33: spec.jobManager.resource.memory: `lots` is not a size (examples: 2048m, 2g, 2Gi)",
            "bad.yaml:13:15: spec.taskManager.replicas: must be between 1 and 1000, got 0",
            "bad.yaml:14:24: spec.taskManager.resource.memory: `2P` has unknown unit `P` (use Flink units k, m, g, t or Kubernetes Ki, Mi, Gi, Ti)",
            "bad.yaml:15:3: spec.job.jarURI: jarURI is required",
            "bad.yaml:16:18: spec.job.parallelism: must be at least 1, got 0",
            "bad.yaml:17:18: spec.job.upgradeMode: `savepointt` is not one of stateless, savepoint, last-state",
            "bad.yaml:18:12: spec.job.state: `paused` is not one of running, suspended",
            "bad.yaml:19:17: spec.job.entryClass: expected a string, got a list",
            "bad.yaml:20:3: spec.paralelism: unknown field `paralelism`; known fields: flinkConfiguration, flinkVersion, image, imagePullPolicy, ingress, job, jobManager, logConfiguration, mode, podTemplate, restartNonce, serviceAccount, taskManager",
        ]
    );
}

#[test]
fn unknown_field_gets_a_suggestion() {
    let text = app_with("    parallelism: 2\n", "    paralellism: 2\n");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:10:5: spec.job.paralellism: unknown field `paralellism` (did you mean `parallelism`?)"]
    );
}

#[test]
fn unsupported_operator_fields_are_rejected_with_reason() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  mode: native\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:8:9: spec.mode: flinkops deploys in standalone mode (it creates the JobManager and TaskManager Deployments itself); `native` is not supported: remove `mode` or set it to standalone"]
    );
    let text = app_with(
        "    upgradeMode: savepoint\n",
        "    upgradeMode: savepoint\n    autoscalerResetNonce: 3\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:12:27: spec.job.autoscalerResetNonce: not supported by flinkops: flinkops has no autoscaler"]
    );
}

#[test]
fn a_savepoint_trigger_nonce_is_an_integer() {
    let text = app_with(
        "    upgradeMode: savepoint\n",
        "    upgradeMode: savepoint\n    savepointTriggerNonce: 3\n",
    );
    let c = super::testing::catalog(&[("a.yaml", &text)]);
    assert!(c.errors().is_empty(), "{:?}", c.errors());
    let job = c.jobs.values().next().unwrap().job.clone().unwrap();
    assert_eq!(job.savepoint_trigger_nonce, Some(3));
    let text = app_with(
        "    upgradeMode: savepoint\n",
        "    upgradeMode: savepoint\n    savepointTriggerNonce: soon\n",
    );
    let errs = errors(&[("a.yaml", &text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("a.yaml:12:28: spec.job.savepointTriggerNonce: "),
        "{errs:?}"
    );
}

#[test]
fn application_jar_must_be_in_the_image() {
    let text = app_with(
        "local:///opt/flink/usrlib/orders.jar",
        "s3://bucket/orders.jar",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:13: spec.job.jarURI: `s3://bucket/orders.jar`: an application cluster runs the jar from its image, so jarURI must be local:///path/in/image.jar"]
    );
    let text = app_with("local:///opt/flink/usrlib/orders.jar", "orders.jar");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:13: spec.job.jarURI: `orders.jar` is not a URI (e.g. local:///opt/flink/usrlib/job.jar)"]
    );
}

#[test]
fn an_application_jar_uri_names_a_file_flink_can_find() {
    let jar = |uri: &str| {
        errors(&[(
            "a.yaml",
            &app_with("local:///opt/flink/usrlib/orders.jar", uri),
        )])
    };
    // Two slashes: `opt` would be a host, and the path /flink/usrlib/orders.jar.
    assert_eq!(
        jar("local://opt/flink/usrlib/orders.jar"),
        vec!["a.yaml:9:13: spec.job.jarURI: `local://opt/flink/usrlib/orders.jar` names no file in the image: write local:/// and the jar's absolute path (three slashes: the path begins with the third)"]
    );
    assert_eq!(jar("local:///opt/flink/usrlib/").len(), 1);
    for (uri, c) in [
        ("'local:///opt/flink/my jobs/orders.jar'", "' '"),
        ("'local:///opt/flink/usrlib/orders#2.jar'", "'#'"),
        ("local:///opt/flink/usrlib/orders.jar?v=2", "'?'"),
        ("local:///opt/flink/usrlib/a.jar;b.jar", "';'"),
        ("local:///opt/flink/usrlib/orders%202.jar", "'%'"),
    ] {
        let errs = jar(uri);
        assert_eq!(errs.len(), 1, "{uri}: {errs:?}");
        assert!(
            errs[0].starts_with("a.yaml:9:13: spec.job.jarURI: ")
                && errs[0].contains(&format!("{c} in the path is read by Flink as something other than part of the file name")),
            "{uri}: {errs:?}"
        );
    }
    // Any absolute path in the image, in usrlib or not.
    for ok in [
        "local:///opt/flink/artifacts/orders.jar",
        "local:///opt/flink/usrlib/jobs/orders-1.2.jar",
    ] {
        assert!(jar(ok).is_empty(), "{ok}");
    }
}

#[test]
fn a_session_job_jar_is_one_flinkops_can_upload() {
    let text = |uri: &str| {
        format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: shared, namespace: streaming}}
spec: {{image: flink:2.3}}
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {{name: enrich, namespace: streaming}}
spec:
  deploymentName: shared
  job: {{jarURI: '{uri}'}}
"
        )
    };
    for ok in [
        "file:///jobs/enrich.jar",
        "https://repo.example.com/enrich.jar",
    ] {
        assert!(errors(&[("s.yaml", &text(ok))]).is_empty(), "{ok}");
    }
    // A jar in the session cluster's image, with or without its entry class named; its
    // path must name a file, as an application's does.
    assert!(errors(&[("s.yaml", &text("local:///opt/flink/usrlib/enrich.jar"))]).is_empty());
    let with_class = |uri: &str| text(uri).replace("'}", "', entryClass: com.example.Enrich}");
    assert!(errors(&[(
        "s.yaml",
        &with_class("local:///opt/flink/usrlib/enrich.jar")
    )])
    .is_empty());
    assert_eq!(
        errors(&[("s.yaml", &with_class("local://opt/enrich.jar"))]),
        vec!["s.yaml:11:17: spec.job.jarURI: `local://opt/enrich.jar` names no file in the image: write local:/// and the jar's absolute path (three slashes: the path begins with the third)"]
    );
    assert_eq!(
        errors(&[("s.yaml", &with_class("s3://bucket/enrich.jar"))]),
        vec!["s.yaml:11:17: spec.job.jarURI: `s3://bucket/enrich.jar`: a session job's jar is uploaded by flinkops (file://, http://, https://) or is in its cluster's image (local://)"]
    );
}

#[test]
fn too_few_task_slots_for_parallelism() {
    let text = app_with(
        "  job:\n",
        "  taskManager:\n    replicas: 1\n  flinkConfiguration:\n    taskmanager.numberOfTaskSlots: 1\n  job:\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:15: spec.taskManager.replicas: parallelism 2 needs 2 task slots, but 1 TaskManagers × 1 slots (taskmanager.numberOfTaskSlots) = 1"]
    );
}

#[test]
fn task_managers_default_from_parallelism_and_slots() {
    let text = app_with(
        "  job:\n",
        "  flinkConfiguration:\n    taskmanager.numberOfTaskSlots: 4\n  job:\n",
    )
    .replace("parallelism: 2", "parallelism: 9");
    let c = load(&snapshot(&[("a.yaml", &text)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let s = c.jobs.values().next().unwrap();
    assert_eq!(s.cluster.as_ref().unwrap().task_manager.replicas, 3);
}

#[test]
fn several_job_managers_need_high_availability() {
    let text = app_with("  job:\n", "  jobManager:\n    replicas: 2\n  job:\n");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:15: spec.jobManager.replicas: more than one JobManager needs high availability (set high-availability.type in flinkConfiguration)"]
    );
}

#[test]
fn high_availability_needs_a_storage_directory_and_the_job_s_own_cluster_id() {
    let ha = |extra: &str| {
        app_with(
            "  job:\n",
            &format!(
                "  flinkConfiguration:\n    high-availability.type: kubernetes\n{extra}  job:\n"
            ),
        )
    };
    assert_eq!(
        errors(&[("a.yaml", &ha(""))]),
        vec!["a.yaml:9:29: spec.flinkConfiguration: high availability needs high-availability.storageDir: where Flink keeps the job graph and checkpoint metadata its HA ConfigMaps point to (a path every JobManager reaches, such as s3:// or a shared volume)"]
    );
    let stored = "    high-availability.storageDir: s3://bucket/ha\n";
    assert!(errors(&[("a.yaml", &ha(stored))]).is_empty());
    // What flinkops would set anyway is accepted; anything else is refused at its value.
    let own =
        format!("{stored}    kubernetes.cluster-id: orders\n    kubernetes.namespace: streaming\n");
    assert!(errors(&[("a.yaml", &ha(&own))]).is_empty());
    let other = format!(
        "{stored}    kubernetes.cluster-id: orders-prod\n    high-availability.cluster-id: x\n"
    );
    assert_eq!(
        errors(&[("a.yaml", &ha(&other))]),
        vec![
            "a.yaml:11:28: spec.flinkConfiguration.kubernetes.cluster-id: `orders-prod`: flinkops sets kubernetes.cluster-id to the job's name (`orders`), which names the high-availability ConfigMaps it cleans up; remove it",
            "a.yaml:12:35: spec.flinkConfiguration.high-availability.cluster-id: `x`: flinkops sets high-availability.cluster-id to the job's name (`orders`), which names the high-availability ConfigMaps it cleans up; remove it",
        ]
    );
    // NONE is no high availability: nothing needed.
    let none = app_with(
        "  job:\n",
        "  flinkConfiguration:\n    high-availability.type: NONE\n  job:\n",
    );
    assert!(errors(&[("a.yaml", &none)]).is_empty());
}

#[test]
fn duplicate_jobs_name_both_files() {
    let c = load(&snapshot(&[("a.yaml", APP), ("b/c.yaml", APP)]));
    assert!(c.jobs.is_empty());
    let errs: Vec<String> = c.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errs,
        vec![
            "a.yaml:4:9: metadata.name: streaming/orders is defined more than once: a.yaml:4, b/c.yaml:4",
            "b/c.yaml:4:9: metadata.name: streaming/orders is defined more than once: a.yaml:4, b/c.yaml:4",
        ]
    );
}

#[test]
fn a_duplicate_is_reported_at_each_document_s_metadata_name() {
    // The second definition is the second document of its file: the error is at its
    // name, not at the file's first line.
    let two = format!("{SESSION}---\n{APP}");
    let errs = errors(&[("a.yaml", APP), ("b.yaml", &two)]);
    assert_eq!(
        errs,
        vec![
            "a.yaml:4:9: metadata.name: streaming/orders is defined more than once: a.yaml:4, b.yaml:12",
            "b.yaml:12:9: metadata.name: streaming/orders is defined more than once: a.yaml:4, b.yaml:12",
        ]
    );
}

#[test]
fn a_duplicate_s_other_errors_are_reported_too() {
    // An error found while reading the document...
    let broken = app_with("parallelism: 2", "parallelism: 0");
    let errs = errors(&[("a.yaml", APP), ("b.yaml", &broken)]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.contains(&"b.yaml:10:18: spec.job.parallelism: must be at least 1, got 0".to_string()),
        "{errs:?}"
    );
    // ...and one found across files (its session cluster is not defined).
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: nowhere
  job:
    jarURI: https://example.com/top.jar
";
    let errs = errors(&[("a.yaml", job), ("b.yaml", job)]);
    let missing = "spec.deploymentName: session cluster streaming/nowhere is not defined";
    for file in ["a.yaml", "b.yaml"] {
        assert!(
            errs.iter().any(|e| e.starts_with(&format!(
                "{file}:4:9: metadata.name: streaming/top is defined more than once"
            ))),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("{file}:7:19: {missing}"))),
            "{errs:?}"
        );
    }
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn session_job_needs_an_existing_session_cluster() {
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  job:
    jarURI: https://example.com/top.jar
";
    let c = load(&snapshot(&[("j.yaml", job), ("s.yaml", SESSION)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    assert_eq!(
        errors(&[("j.yaml", job)]),
        vec!["j.yaml:7:19: spec.deploymentName: session cluster streaming/shared is not defined (a FlinkDeployment without job, or a FlinkCluster, in namespace streaming)"]
    );
    let on_app = job.replace("deploymentName: shared", "deploymentName: orders");
    assert_eq!(
        errors(&[("j.yaml", &on_app), ("a.yaml", APP)]),
        vec!["j.yaml:7:19: spec.deploymentName: streaming/orders is an application deployment (it has a job), not a session cluster"]
    );
    // A session cluster whose own file is broken still exists: only it is an error.
    let broken = SESSION.replace("flinkVersion: v1_20", "flinkVersion: 1");
    let c = load(&snapshot(&[("j.yaml", job), ("s.yaml", &broken)]));
    assert_eq!(c.jobs.len(), 1);
    assert_eq!(c.blocked.len(), 1);
}

#[test]
fn namespace_must_be_allowed_by_settings() {
    let settings = "namespaces: [analytics]\n";
    assert_eq!(
        errors(&[("flinkops.yaml", settings), ("a.yaml", APP)]),
        vec!["a.yaml:5:14: metadata.namespace: namespace `streaming` is not allowed by flinkops.yaml (allowed: analytics)"]
    );
}

#[test]
fn roots_limit_what_is_read_and_cannot_escape() {
    let settings = "roots: [jobs]\n";
    let c = load(&snapshot(&[
        ("flinkops.yaml", settings),
        ("jobs/a.yaml", APP),
        ("ci/workflow.yml", "on: push\n"),
        (".github/x.yaml", "x: 1\n"),
    ]));
    assert!(c.is_valid(), "{:?}", c.errors());
    assert_eq!(c.files, vec!["jobs/a.yaml".to_string()]);
    assert_eq!(
        errors(&[("flinkops.yaml", "roots: [jobs, ../../etc]\n")]),
        vec!["flinkops.yaml:1:15: roots[1]: `../../etc` escapes the repository"]
    );
}

#[test]
fn symlink_escaping_the_repository_is_an_error() {
    let mut snap = snapshot(&[("a.yaml", APP)]);
    snap.files
        .insert("b.yaml".into(), Entry::Symlink("../outside.yaml".into()));
    snap.files
        .insert("c.yaml".into(), Entry::Symlink("a.yaml".into()));
    let c = load(&snap);
    let errs: Vec<String> = c.errors().iter().map(|e| e.to_string()).collect();
    assert!(errs.contains(
        &"b.yaml:1:1: symbolic link to `../outside.yaml` escapes the repository".to_string()
    ));
    // The in-repo link is followed, so it defines the same job a second time.
    assert!(
        errs.iter().any(|e| e.contains("defined more than once")),
        "{errs:?}"
    );
}

#[test]
fn settings_errors_mean_the_repository_did_not_load_as_a_whole() {
    let c = load(&snapshot(&[
        ("flinkops.yaml", "prune: maybe\n"),
        ("a.yaml", APP),
    ]));
    assert_eq!(
        c.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["flinkops.yaml:1:8: prune: expected true or false, got a string"]
    );
    assert!(!c.absence_is_certain("gone.yaml"));
}

#[test]
fn tombstone_retention_is_a_duration() {
    let c = load(&snapshot(&[("flinkops.yaml", "tombstoneRetention: 12h\n")]));
    assert_eq!(c.settings.tombstone_retention_secs, 12 * 3600);
    assert_eq!(
        load(&snapshot(&[])).settings.tombstone_retention_secs,
        super::settings::TOMBSTONE_RETENTION_SECS
    );
    let c = load(&snapshot(&[(
        "flinkops.yaml",
        "tombstoneRetention: soon\n",
    )]));
    assert_eq!(
        c.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["flinkops.yaml:1:21: tombstoneRetention: `soon` is not a duration (e.g. 30s, 5m, 1h)"]
    );
}

#[test]
fn pod_templates_get_no_host_access_unless_the_settings_allow_it() {
    let hostile = APP.replace(
        "spec:\n",
        "spec:\n  podTemplate:\n    spec:\n      hostNetwork: true\n      hostPID: true\n      volumes:\n        - name: root\n          hostPath: {path: /}\n        - name: data\n          hostPath: {path: /var/flink/data}\n      containers:\n        - name: flink-main-container\n          securityContext:\n            privileged: true\n            capabilities: {add: [SYS_ADMIN]}\n          ports: [{containerPort: 1, hostPort: 22}]\n",
    );
    let errs = errors(&[("a.yaml", &hostile)]);
    let fields: Vec<&str> = errs
        .iter()
        .map(|e| e.split(": ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        vec![
            "spec.podTemplate.spec.hostNetwork",
            "spec.podTemplate.spec.hostPID",
            "spec.podTemplate.spec.volumes.0.hostPath.path",
            "spec.podTemplate.spec.volumes.1.hostPath.path",
            "spec.podTemplate.spec.containers.0.securityContext.privileged",
            "spec.podTemplate.spec.containers.0.securityContext.capabilities.add.0",
            "spec.podTemplate.spec.containers.0.ports.0.hostPort",
        ],
        "{errs:#?}"
    );
    assert!(errs[0].starts_with("a.yaml:"), "{errs:?}");
    assert!(errs[2].contains("hostPath `/` mounts the node's filesystem: refused by the pod policy (allow it with podPolicy.allowHostPaths in flinkops.yaml)"), "{errs:?}");
    // The repository's settings open what it needs, and only that.
    let settings = "podPolicy:\n  allowHostNamespaces: true\n  allowPrivileged: true\n  allowHostPaths: [/var/flink]\n  allowCapabilities: [SYS_ADMIN]\n";
    let errs = errors(&[("flinkops.yaml", settings), ("a.yaml", &hostile)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("volumes.0.hostPath.path"), "{errs:?}");
}

#[test]
fn non_flink_documents_and_missing_names_are_file_errors() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {}\nspec: {}\n";
    let errs = errors(&[("x.yaml", text)]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].starts_with("x.yaml:1:1: kind: `v1` `ConfigMap` is not a Flink job definition"));
    assert_eq!(
        errs[1],
        "x.yaml:7:11: metadata.name: metadata.name is required"
    );
    // The spec of a nameless document is still checked.
    assert!(
        errs[2].starts_with("x.yaml:8:7: spec.image: no image"),
        "{errs:?}"
    );
}

#[test]
fn status_and_wrong_top_level_types_are_rejected() {
    let text = format!("{APP}status:\n  jobStatus: {{}}\n");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:12:1: status: not supported by flinkops: status is written by the cluster, not by Git; remove it"]
    );
    assert_eq!(
        errors(&[("a.yaml", "- a\n- b\n")]),
        vec!["a.yaml:1:1: expected a mapping, got a list"]
    );
}

#[test]
fn a_rejected_mapping_is_reported_at_its_key() {
    // A mapping written below its key starts at its first child; the error is about the
    // key's value as a whole, so it points at the key.
    let text = app_with("  image: flink:2.0\n", "  image:\n    name: flink:2.0\n");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:7:3: spec.image: expected a string, got a mapping"]
    );
    let cluster = "\
apiVersion: flink.apache.org/v1
kind: FlinkCluster
metadata: {name: reporting}
spec:
  image: flink:2.0
  job:
    jarURI: local:///opt/flink/usrlib/r.jar
";
    let errs = errors(&[("c.yaml", cluster)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("c.yaml:6:3: spec.job: not supported by flinkops"),
        "{errs:?}"
    );
    // A mapping written on the key's line (flow style) is still located at its start.
    let text = app_with("  image: flink:2.0\n", "  image: {name: flink:2.0}\n");
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:7:10: spec.image: expected a string, got a mapping"]
    );
}

#[test]
fn non_utf8_file_is_an_error_not_a_crash() {
    let mut snap = snapshot(&[]);
    snap.files
        .insert("a.yaml".into(), Entry::File(vec![b'a', 0xff, b'b']));
    let c = load(&snap);
    assert_eq!(
        c.errors()[0].to_string(),
        "a.yaml:1:1: not UTF-8 text (invalid byte at offset 1)"
    );
}

#[test]
fn pod_template_errors_are_located_inside_the_template() {
    let text = app_with(
        "  job:\n",
        "  podTemplate:\n    spec:\n      containers:\n        - name: flink-main-container\n          resources: {limits: 3}\n  job:\n",
    );
    let errs = errors(&[("a.yaml", &text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "a.yaml:12:31: spec.podTemplate.spec.containers.0.resources.limits: invalid type"
        ),
        "{errs:?}"
    );
}

#[test]
fn legacy_flink_uses_legacy_state_directory_keys() {
    let settings =
        "defaults:\n  savepointDirectory: s3://b/sp/\n  checkpointDirectory: s3://b/cp\n";
    let c = load(&snapshot(&[
        ("flinkops.yaml", settings),
        ("s.yaml", SESSION),
        ("a.yaml", APP),
    ]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let legacy = c.jobs.values().find(|s| s.id.name == "shared").unwrap();
    assert_eq!(
        legacy.flink_configuration["state.savepoints.dir"],
        "s3://b/sp/streaming/shared"
    );
    let modern = c.jobs.values().find(|s| s.id.name == "orders").unwrap();
    assert_eq!(
        modern.flink_configuration["execution.checkpointing.dir"],
        "s3://b/cp/streaming/orders"
    );
}

const TEAMS: &str = "\
namespaces: [orders-prod, billing, streaming]
teams:
  - name: orders
    paths: [\"teams/orders/**\"]
    namespaces: [orders-prod, streaming]
    limits:
      taskManagerReplicas: 4
      cpu: \"2\"
      memory: 4Gi
      parallelism: 8
  - name: billing
    paths: [\"teams/billing/**\", \"shared/*.yaml\"]
    namespaces: [billing]
    allowPodTemplate: false
";

#[test]
fn teams_own_their_folders_and_jobs_stay_in_their_namespaces() {
    let c = load(&snapshot(&[
        ("flinkops.yaml", TEAMS),
        ("teams/orders/a.yaml", APP),
    ]));
    assert!(c.is_valid(), "{:?}", c.errors());
    // The same file in billing's folder deploys into a namespace billing does not own.
    assert_eq!(
        errors(&[("flinkops.yaml", TEAMS), ("teams/billing/a.yaml", APP)]),
        vec!["teams/billing/a.yaml:5:14: metadata.namespace: namespace `streaming` is not one of team `billing`'s namespaces (allowed: billing)"]
    );
    // A namespace from defaultNamespace is checked too, at the metadata.
    let unwritten = app_with("  namespace: streaming\n", "");
    let settings = format!("defaultNamespace: billing\n{TEAMS}");
    assert_eq!(
        errors(&[("flinkops.yaml", &settings), ("teams/orders/a.yaml", &unwritten)]),
        vec!["teams/orders/a.yaml:3:1: metadata.namespace: no namespace is written, and the default namespace `billing` is not one of team `orders`'s namespaces (allowed: orders-prod, streaming)"]
    );
}

#[test]
fn every_file_belongs_to_exactly_one_team() {
    let overlapping = TEAMS.replace("\"shared/*.yaml\"", "\"teams/orders/shared.yaml\"");
    let c = load(&snapshot(&[
        ("flinkops.yaml", &overlapping),
        ("elsewhere/a.yaml", APP),
        (
            "teams/orders/shared.yaml",
            &APP.replace("name: orders", "name: o2"),
        ),
        (
            "teams/orders/ok.yaml",
            &APP.replace("name: orders", "name: o3"),
        ),
    ]));
    let errs: Vec<String> = c.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errs,
        vec![
            "elsewhere/a.yaml:1:1: no team owns this path: add it to one team's `paths` in flinkops.yaml",
            "teams/orders/shared.yaml:1:1: teams `orders` and `billing` both own this path: it must belong to exactly one team in flinkops.yaml",
        ]
    );
    // Only those files' jobs are blocked (kept as they run), the rest plan as usual.
    assert_eq!(c.blocked.len(), 2);
    assert_eq!(c.jobs.len(), 1);
}

#[test]
fn jobs_over_a_team_ceiling_are_errors_at_the_field() {
    let files = |app: &str| errors(&[("flinkops.yaml", TEAMS), ("teams/orders/a.yaml", app)]);
    assert_eq!(
        files(&app_with("parallelism: 2", "parallelism: 9")),
        vec![
            "teams/orders/a.yaml:10:18: spec.job.parallelism: parallelism 9 is over team `orders`'s ceiling of 8",
            "teams/orders/a.yaml:10:18: spec.taskManager.replicas: 9 TaskManagers (derived from the job's parallelism and task slots) is over team `orders`'s ceiling of 4",
        ]
    );
    let big = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    replicas: 5\n    resource: {cpu: 3, memory: 8Gi}\n",
    );
    assert_eq!(
        files(&big),
        vec![
            "teams/orders/a.yaml:9:15: spec.taskManager.replicas: 5 TaskManagers is over team `orders`'s ceiling of 4",
            "teams/orders/a.yaml:10:21: spec.taskManager.resource.cpu: cpu 3 per pod is over team `orders`'s ceiling of 2",
            "teams/orders/a.yaml:10:32: spec.taskManager.resource.memory: memory 8Gi per pod is over team `orders`'s ceiling of 4Gi",
        ]
    );
    // A ceiling exceeded by defaults from the settings is reported at the spec.
    let settings = format!("defaults:\n  jobManager:\n    resource: {{memory: 8Gi}}\n{TEAMS}");
    assert_eq!(
        errors(&[("flinkops.yaml", &settings), ("teams/orders/a.yaml", APP)]),
        vec!["teams/orders/a.yaml:6:1: spec.jobManager.resource.memory: memory 8Gi per pod (from defaults in flinkops.yaml or Flink's) is over team `orders`'s ceiling of 4Gi"]
    );
}

#[test]
fn a_team_may_be_refused_pod_templates() {
    let with_template = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  podTemplate:\n    spec: {}\n",
    )
    .replace("namespace: streaming", "namespace: billing");
    assert_eq!(
        errors(&[("flinkops.yaml", TEAMS), ("teams/billing/a.yaml", &with_template)]),
        vec!["teams/billing/a.yaml:8:3: spec.podTemplate: team `billing` may not use podTemplate (allowPodTemplate is false)"]
    );
}

#[test]
fn a_session_job_runs_on_a_cluster_in_its_own_teams_namespace() {
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  job:
    jarURI: https://example.com/top.jar
    parallelism: 20
";
    // The cluster must be in the job's namespace, which its team must own: a billing job
    // cannot reach orders' session cluster, neither by naming orders' namespace ...
    assert_eq!(
        errors(&[
            ("flinkops.yaml", TEAMS),
            ("teams/orders/s.yaml", SESSION),
            ("teams/billing/j.yaml", &job.replace("parallelism: 20", "parallelism: 2")),
        ]),
        vec!["teams/billing/j.yaml:5:14: metadata.namespace: namespace `streaming` is not one of team `billing`'s namespaces (allowed: billing)"]
    );
    // ... nor from its own (the cluster is looked up in the job's namespace).
    let in_billing = job
        .replace("namespace: streaming", "namespace: billing")
        .replace("parallelism: 20", "parallelism: 2");
    assert_eq!(
        errors(&[
            ("flinkops.yaml", TEAMS),
            ("teams/orders/s.yaml", SESSION),
            ("teams/billing/j.yaml", &in_billing),
        ]),
        vec!["teams/billing/j.yaml:7:19: spec.deploymentName: session cluster billing/shared is not defined (a FlinkDeployment without job, or a FlinkCluster, in namespace billing)"]
    );
    // A session job's parallelism is held to its own team's ceiling.
    assert_eq!(
        errors(&[
            ("flinkops.yaml", TEAMS),
            ("teams/orders/s.yaml", SESSION),
            ("teams/orders/j.yaml", job),
        ]),
        vec!["teams/orders/j.yaml:10:18: spec.job.parallelism: parallelism 20 is over team `orders`'s ceiling of 8"]
    );
}

#[test]
fn team_settings_are_checked() {
    let settings = "\
namespaces: [a]
teams:
  - name: x
    paths: [\"/abs/**\"]
    namespaces: [b]
    limits: {cpu: lots, parallelism: 0}
  - name: x
    paths: []
    namespaces: [a]
";
    assert_eq!(
        errors(&[("flinkops.yaml", settings)]),
        vec![
            "flinkops.yaml:4:13: teams[0].paths[0]: `/abs/**` is absolute; paths are relative to the repository",
            "flinkops.yaml:5:18: teams[0].namespaces[0]: `b` is not one of `namespaces` (allowed: a)",
            "flinkops.yaml:6:19: teams[0].limits.cpu: `lots` is not a CPU amount (examples: 0.5, 2, 500m)",
            "flinkops.yaml:6:38: teams[0].limits.parallelism: must be a whole number of at least 1, got 0",
            "flinkops.yaml:7:5: teams[1].paths: paths is required: the folders this team owns, e.g. teams/orders/**",
            "flinkops.yaml:7:11: teams[1].name: team `x` is declared twice",
        ]
    );
}

#[test]
fn operator_keys_are_checked_at_load_and_located() {
    // `flinkConfiguration:` is line 8: its keys are lines 9 on, at column 5; a bad value
    // is reported at the value, a key flinkops does not take at the key.
    let with = |conf: &str| {
        app_with(
            "  image: flink:2.0\n",
            &format!("  image: flink:2.0\n  flinkConfiguration:\n{conf}"),
        )
    };
    let ok = with(
        "    kubernetes.operator.deployment.rollback.enabled: \"FALSE\"\n    \
         kubernetes.operator.deployment.readiness.timeout: 2 min\n    \
         kubernetes.operator.periodic.savepoint.interval: 1h\n    \
         kubernetes.operator.savepoint.history.max.count: 25\n",
    );
    let c = load(&snapshot(&[("a.yaml", &ok)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let spec = c.jobs.values().next().unwrap();
    assert!(!crate::model::upgrade::rollback_enabled(spec));
    assert_eq!(crate::model::upgrade::readiness_timeout(spec), 120);
    assert_eq!(crate::model::upgrade::savepoint_history_max(Some(spec)), 25);
    // The stored map is the text as written (the spec hash is unchanged by the check).
    assert_eq!(
        spec.flink_configuration["kubernetes.operator.deployment.rollback.enabled"],
        "FALSE"
    );

    let bad = with(
        "    kubernetes.operator.deployment.rollback.enabled: \"no\"\n    \
         kubernetes.operator.deployment.readiness.timeout: soon\n    \
         kubernetes.operator.periodic.savepoint.interval: 0 0 * * * ?\n    \
         kubernetes.operator.savepoint.history.max.count: 0\n    \
         kubernetes.operator.job.restart.failed: true\n    \
         kubernetes.operator.deployment.rollback.enable: true\n",
    );
    let f = "spec.flinkConfiguration.kubernetes.operator";
    assert_eq!(
        errors(&[("a.yaml", &bad)]),
        vec![
            format!("a.yaml:9:54: {f}.deployment.rollback.enabled: `no` is not a boolean: write true or false"),
            format!("a.yaml:10:55: {f}.deployment.readiness.timeout: `soon` is not a duration (e.g. 30s, 5m, 1h)"),
            format!("a.yaml:11:54: {f}.periodic.savepoint.interval: `0 0 * * * ?` has unknown unit `0 * * * ?` (ms, s, m, h, d); flinkops takes an interval here, not a cron expression"),
            format!("a.yaml:12:54: {f}.savepoint.history.max.count: must be a whole number from 1 to 100, got `0`"),
            format!("a.yaml:13:5: {f}.job.restart.failed: `kubernetes.operator.job.restart.failed` is an Apache Flink Kubernetes Operator option flinkops does not apply; remove it (the keys flinkops applies are in docs/repository-format.md)"),
            format!("a.yaml:14:5: {f}.deployment.rollback.enable: unknown flinkops setting `kubernetes.operator.deployment.rollback.enable` (did you mean `kubernetes.operator.deployment.rollback.enabled`?)"),
        ]
    );
    let c = load(&snapshot(&[("a.yaml", &bad)]));
    assert!(
        c.jobs.is_empty() && c.blocked.len() == 1,
        "the job is blocked"
    );
}

#[test]
fn nested_operator_keys_are_located_at_their_innermost_key_and_value() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  flinkConfiguration:\n    kubernetes:\n      operator:\n        \
         deployment.rollback.enabled: nope\n        savepoint:\n          history.max.age: 1d\n",
    );
    let f = "spec.flinkConfiguration.kubernetes.operator";
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            format!("a.yaml:11:38: {f}.deployment.rollback.enabled: `nope` is not a boolean: write true or false"),
            format!("a.yaml:13:11: {f}.savepoint.history.max.age: `kubernetes.operator.savepoint.history.max.age` is an Apache Flink Kubernetes Operator option flinkops does not apply; remove it (the keys flinkops applies are in docs/repository-format.md)"),
        ]
    );
}

#[test]
fn session_jobs_and_settings_defaults_check_operator_keys_too() {
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  flinkConfiguration:
    kubernetes.operator.periodic.savepoint.interval: 0
  job:
    jarURI: https://example.com/top.jar
";
    assert_eq!(
        errors(&[("j.yaml", job), ("s.yaml", SESSION)]),
        vec!["j.yaml:9:54: spec.flinkConfiguration.kubernetes.operator.periodic.savepoint.interval: the duration must be greater than zero; remove the key to take no periodic savepoints"]
    );
    // Defaults are checked once, in the settings file, where they are written: an error
    // there means the repository did not load as a whole.
    let settings = "\
defaults:
  flinkConfiguration:
    kubernetes.operator.deployment.readiness.timout: 5m
";
    let c = load(&snapshot(&[("flinkops.yaml", settings), ("a.yaml", APP)]));
    assert_eq!(
        c.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["flinkops.yaml:3:5: defaults.flinkConfiguration.kubernetes.operator.deployment.readiness.timout: unknown flinkops setting `kubernetes.operator.deployment.readiness.timout` (did you mean `kubernetes.operator.deployment.readiness.timeout`?)"]
    );
    assert!(!c.settings_errors.is_empty());
    let good = settings.replace("timout", "timeout");
    let c = load(&snapshot(&[("flinkops.yaml", &good), ("a.yaml", APP)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    assert_eq!(
        crate::model::upgrade::readiness_timeout(c.jobs.values().next().unwrap()),
        300
    );
}

/// The JobManager and TaskManager resources of APP with `components` (YAML under `spec`).
fn resources_of(components: &str, settings: Option<&str>) -> (Resource, Resource) {
    let app = app_with(
        "  image: flink:2.0\n",
        &format!("  image: flink:2.0\n{components}"),
    );
    let mut files = vec![("a.yaml", app.as_str())];
    if let Some(s) = settings {
        files.push(("flinkops.yaml", s));
    }
    let c = load(&snapshot(&files));
    assert!(c.is_valid(), "{:?}", c.errors());
    let cl = c.jobs.values().next().unwrap().cluster.clone().unwrap();
    (cl.job_manager.resource, cl.task_manager.resource)
}

#[test]
fn resources_set_requests_and_limits_as_written() {
    let (jm, tm) = resources_of(
        "  jobManager:
    resources:
      requests: {cpu: 500m, memory: 2Gi}
      limits: {cpu: 1, memory: 3Gi, ephemeral-storage: 10G}
  taskManager:
    resources:
      requests: {memory: 2g, ephemeral-storage: 1Gi}
",
        None,
    );
    assert_eq!(
        jm,
        Resource {
            cpu_millis: 500,
            memory_bytes: 2 << 30,
            // A limit without a request is the request too, as Kubernetes takes it.
            ephemeral_storage_bytes: Some(10_000_000_000),
            limits: Some(Limits {
                cpu_millis: 1000,
                memory_bytes: 3 << 30,
                ephemeral_storage_bytes: Some(10_000_000_000),
            }),
        }
    );
    // A request without a limit is the limit too; ephemeral storage then has no limit,
    // as the operator renders it.
    assert_eq!(
        tm,
        Resource {
            cpu_millis: 1000,
            memory_bytes: 2 << 30,
            ephemeral_storage_bytes: Some(1 << 30),
            limits: Some(Limits {
                cpu_millis: 1000,
                memory_bytes: 2 << 30,
                ephemeral_storage_bytes: None,
            }),
        }
    );
}

#[test]
fn resources_that_mean_what_resource_means_resolve_to_the_same_spec() {
    // Equal requests and limits are the old form's meaning: the same spec, the same hash,
    // nothing restarts when a definition moves from `resource` to `resources`.
    let old = resources_of(
        "  taskManager:\n    resource: {cpu: 2, memory: 4g, ephemeralStorage: 8Gi}\n",
        None,
    );
    for new in [
        "  taskManager:\n    resources: {requests: {cpu: 2, memory: 4Gi, ephemeral-storage: 8Gi}, limits: {cpu: 2, memory: 4Gi, ephemeral-storage: 8Gi}}\n",
        "  taskManager:\n    resources: {limits: {cpu: 2, memory: 4g, ephemeral-storage: 8Gi}}\n",
    ] {
        assert_eq!(resources_of(new, None), old, "{new}");
    }
    assert_eq!(old.1.limits, None);
}

#[test]
fn memory_is_the_request_else_the_limit_else_the_defaults() {
    let settings = "defaults:\n  taskManager:\n    resource: {cpu: 3, memory: 3g}\n";
    let memory = |components: &str, settings: Option<&str>| resources_of(components, settings).1;
    let gib = 1u64 << 30;
    // The request, as the Apache operator takes it (also when a limit is set).
    let r = memory(
        "  taskManager:\n    resources: {requests: {memory: 2g}, limits: {memory: 4g}}\n",
        Some(settings),
    );
    assert_eq!(
        (r.memory_bytes, r.limits().memory_bytes),
        (2 * gib, 4 * gib)
    );
    // Else the limit.
    let r = memory(
        "  taskManager:\n    resources: {limits: {memory: 4g}}\n",
        Some(settings),
    );
    assert_eq!(
        (r.memory_bytes, r.limits().memory_bytes),
        (4 * gib, 4 * gib)
    );
    // Else the settings' default (cpu from `resources`, the rest from the default).
    let r = memory(
        "  taskManager:\n    resources: {requests: {cpu: 1}}\n",
        Some(settings),
    );
    assert_eq!((r.cpu_millis, r.memory_bytes), (1000, 3 * gib));
    // Else Flink's.
    let r = memory("  taskManager:\n    resources: {}\n", None);
    assert_eq!((r.cpu_millis, r.memory_bytes), (1000, 1728 << 20));
}

#[test]
fn resources_errors_are_located() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0
  jobManager:
    resources:
      requests: {cpu: -1, memory: lots, ephemeral-storage: 500m}
      limits: {nvidia.com/gpu: 1, ephemeralStorage: 1Gi}
      claims: [{name: gpu}]
  taskManager:
    resources:
      requests: {cpu: 2, memory: 4Gi}
      limits: {cpu: 1, memory: 2Gi}
    resource: {cpu: 1}
",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            "a.yaml:10:23: spec.jobManager.resources.requests.cpu: `-1` must be greater than zero",
            "a.yaml:10:35: spec.jobManager.resources.requests.memory: `lots` is not a size (examples: 2048m, 2g, 2Gi)",
            "a.yaml:10:60: spec.jobManager.resources.requests.ephemeral-storage: `500m` is 500 thousandths of a byte in Kubernetes; write Mi or M for megabytes",
            "a.yaml:11:16: spec.jobManager.resources.limits.nvidia.com/gpu: `nvidia.com/gpu`: flinkops renders cpu, memory and ephemeral-storage from here; request other resources for the main container (flink-main-container) in podTemplate, where they are kept",
            "a.yaml:11:35: spec.jobManager.resources.limits.ephemeralStorage: unknown resource `ephemeralStorage` (did you mean `ephemeral-storage`?)",
            "a.yaml:12:15: spec.jobManager.resources.claims: not supported by flinkops: resource claims (dynamic resource allocation) are not rendered; add them to the main container in podTemplate",
            "a.yaml:15:23: spec.taskManager.resources.requests.cpu: the cpu request (2) is more than its limit (1, spec.taskManager.resources.limits.cpu); Kubernetes refuses such a pod",
            "a.yaml:15:34: spec.taskManager.resources.requests.memory: the memory request (4Gi) is more than its limit (2Gi, spec.taskManager.resources.limits.memory); Kubernetes refuses such a pod",
            "a.yaml:17:5: spec.taskManager.resource: `resource` and `resources` are both set: write one (`resources`, Kubernetes requests and limits, replaces the deprecated `resource`)",
        ]
    );
    // The second of the two is the one named, whichever comes first.
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    resource: {cpu: 1}\n    resources: {requests: {cpu: 1}}\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:10:5: spec.taskManager.resources: `resource` and `resources` are both set: write one (`resources`, Kubernetes requests and limits, replaces the deprecated `resource`)"]
    );
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    resources: {requests: [cpu]}\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:27: spec.taskManager.resources.requests: expected a mapping, got a list"]
    );
}

#[test]
fn team_ceilings_hold_for_resources_limits() {
    let files = |app: &str| errors(&[("flinkops.yaml", TEAMS), ("teams/orders/a.yaml", app)]);
    let big = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    resources:\n      requests: {cpu: 1, memory: 2Gi}\n      limits: {cpu: 3, memory: 8Gi}\n",
    );
    assert_eq!(
        files(&big),
        vec![
            "teams/orders/a.yaml:11:21: spec.taskManager.resources.limits.cpu: cpu 3 per pod is over team `orders`'s ceiling of 2",
            "teams/orders/a.yaml:11:32: spec.taskManager.resources.limits.memory: memory 8Gi per pod is over team `orders`'s ceiling of 4Gi",
        ]
    );
    let requested = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    resources:\n      requests: {cpu: 3}\n",
    );
    assert_eq!(
        files(&requested),
        vec!["teams/orders/a.yaml:10:23: spec.taskManager.resources.requests.cpu: cpu 3 per pod is over team `orders`'s ceiling of 2"]
    );
}

#[test]
fn memory_in_the_flink_configuration_is_honoured_when_no_resource_sets_it() {
    let gib = 1u64 << 30;
    let conf = |keys: &str| format!("  flinkConfiguration:\n{keys}");
    let job_conf = conf(
        "    jobmanager.memory.process.size: 2048m\n    taskmanager.memory.process.size: 3g\n",
    );
    // Without resource memory: the definition's own configuration (over Flink's default
    // and over the settings' default resource).
    let settings = "defaults:\n  taskManager:\n    resource: {memory: 5g}\n";
    let (jm, tm) = resources_of(&job_conf, Some(settings));
    assert_eq!((jm.memory_bytes, tm.memory_bytes), (2 * gib, 3 * gib));
    // A resource's memory wins over it, as the operator's resource overwrites it.
    let (_, tm) = resources_of(
        &format!("{job_conf}  taskManager:\n    resources: {{limits: {{memory: 4g}}}}\n"),
        None,
    );
    assert_eq!(tm.memory_bytes, 4 * gib);
    // The settings' flinkConfiguration comes after the settings' default resource, and
    // before Flink's default.
    let settings_conf =
        "defaults:\n  flinkConfiguration:\n    taskmanager.memory.process.size: 6g\n    jobmanager.memory.process.size: 1g\n  jobManager:\n    resource: {memory: 2g}\n";
    let (jm, tm) = resources_of("", Some(settings_conf));
    assert_eq!((jm.memory_bytes, tm.memory_bytes), (2 * gib, 6 * gib));
}

#[test]
fn memory_in_the_flink_configuration_must_be_a_size_where_it_is_used() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  flinkConfiguration:\n    taskmanager.memory.process.size: lots\n    jobmanager.memory.process.size: lots\n  jobManager:\n    resource: {memory: 2g}\n",
    );
    // The JobManager's value is overridden by its resource: never read, no error.
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:9:38: spec.flinkConfiguration.taskmanager.memory.process.size: `lots` is not a size (examples: 2048m, 2g, 2Gi)"]
    );
    let settings =
        "defaults:\n  flinkConfiguration:\n    taskmanager.memory.process.size: 2 apples\n";
    assert_eq!(
        errors(&[("flinkops.yaml", settings), ("a.yaml", APP)]),
        vec!["a.yaml:6:1: spec.flinkConfiguration.taskmanager.memory.process.size: `2 apples` has unknown unit `apples` (use Flink units k, m, g, t or Kubernetes Ki, Mi, Gi, Ti) (from defaults in flinkops.yaml)"]
    );
}

#[test]
fn team_ceilings_hold_for_memory_from_the_flink_configuration() {
    let app = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  flinkConfiguration:\n    taskmanager.memory.process.size: 8g\n",
    );
    assert_eq!(
        errors(&[("flinkops.yaml", TEAMS), ("teams/orders/a.yaml", &app)]),
        vec!["teams/orders/a.yaml:9:38: spec.flinkConfiguration.taskmanager.memory.process.size: memory 8Gi per pod is over team `orders`'s ceiling of 4Gi"]
    );
}

#[test]
fn ingress_tls_and_template_errors_are_located() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0
  ingress:
    template: '{{name}}.example.com:8080'
    tls:
      - hosts: ['{{name}}.example.com', orders.example.com]
        secretName: Flink_TLS
        secretNam: x
      - plain
    className: 7
",
    );
    let f = "spec.ingress";
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            format!("a.yaml:9:15: {f}.template: `{{{{name}}}}.example.com:8080` names a port (`:8080`); an Ingress rule matches a host name, whatever the port: remove it"),
            format!("a.yaml:11:17: {f}.tls[0].hosts[0]: `{{{{name}}}}.example.com` is not a host name: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, a wildcard only as a leading `*.`, at most 253 characters; TLS hosts are used as written (the operator fills in {{{{name}}}} and {{{{namespace}}}} only in the template)"),
            format!("a.yaml:12:21: {f}.tls[0].secretName: `Flink_TLS` is not a Secret name: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters"),
            format!("a.yaml:13:9: {f}.tls[0].secretNam: unknown field `secretNam` (did you mean `secretName`?)"),
            format!("a.yaml:14:9: {f}.tls[1]: expected a mapping, got a string"),
            format!("a.yaml:15:16: {f}.className: expected a string, got an integer"),
        ]
    );
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  ingress:\n    template: x.example.com\n    tls: {secretName: x}\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:10:10: spec.ingress.tls: expected a list of TLS entries ({hosts, secretName}), got a mapping"]
    );
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  ingress:\n    template: '{{namespace}}.{{name}}.127.0.0.1.nip.io'\n    tls:\n      - hosts: ['*.example.com']\n        secretName: flink-tls\n",
    );
    assert!(errors(&[("a.yaml", &text)]).is_empty());
}

#[test]
fn resource_ephemeral_storage_is_a_kubernetes_quantity() {
    // As the operator reads `resource.ephemeralStorage` (Quantity.parse): `2G` is 2×10^9
    // bytes, `2Gi` 2×2^30; it is the container's request and limit alike.
    let settings = "defaults:\n  jobManager:\n    resource: {ephemeralStorage: 1G}\n";
    let (jm, tm) = resources_of(
        "  taskManager:\n    resource: {ephemeralStorage: 2G}\n",
        Some(settings),
    );
    assert_eq!(tm.ephemeral_storage_bytes, Some(2_000_000_000));
    assert_eq!(tm.limits().ephemeral_storage_bytes, Some(2_000_000_000));
    assert_eq!(jm.ephemeral_storage_bytes, Some(1_000_000_000));
    let (_, tm) = resources_of(
        "  taskManager:\n    resource: {ephemeralStorage: 2Gi}\n",
        None,
    );
    assert_eq!(tm.ephemeral_storage_bytes, Some(2 << 30));

    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  jobManager:\n    resource: {ephemeralStorage: 2g}\n  taskManager:\n    resource: {ephemeralStorage: 512m}\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            "a.yaml:9:34: spec.jobManager.resource.ephemeralStorage: `2g` is not a Kubernetes quantity (its units are case-sensitive): write 2Gi (2 × 2^30 bytes) or 2G (2 × 10^9 bytes)",
            "a.yaml:11:34: spec.taskManager.resource.ephemeralStorage: `512m` is 512 thousandths of a byte in Kubernetes; write Mi or M for megabytes",
        ]
    );
    let settings = "defaults:\n  taskManager:\n    resource: {ephemeralStorage: 1gb}\n";
    assert_eq!(
        errors(&[("flinkops.yaml", settings), ("a.yaml", APP)]),
        vec!["flinkops.yaml:3:34: defaults.taskManager.resource.ephemeralStorage: `1gb` is not a Kubernetes quantity (its units are case-sensitive): write 1Gi (1 × 2^30 bytes) or 1G (1 × 10^9 bytes)"]
    );
    // With `resources` it is one or the other, as for every part of `resource`: the
    // operator would ignore `resource` (logging a warning); flinkops names the second.
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  taskManager:\n    resource: {ephemeralStorage: 1Gi}\n    resources: {limits: {ephemeral-storage: 2Gi}}\n",
    );
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec!["a.yaml:10:5: spec.taskManager.resources: `resource` and `resources` are both set: write one (`resources`, Kubernetes requests and limits, replaces the deprecated `resource`)"]
    );
}

#[test]
fn autoscaler_options_are_errors_where_written() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0
  flinkConfiguration:
    job.autoscaler.enabled: true
    job:
      autoscaler:
        target.utilization: 0.6
    kubernetes.operator.job.autoscaler.stabilization.interval: 1m
",
    );
    let what = "an option of the Apache operator's autoscaler; flinkops has no autoscaler, so it would do nothing: remove it, and set the job's parallelism in Git (spec.job.parallelism)";
    let f = "spec.flinkConfiguration";
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            format!("a.yaml:9:5: {f}.job.autoscaler.enabled: `job.autoscaler.enabled` is {what}"),
            format!("a.yaml:12:9: {f}.job.autoscaler.target.utilization: `job.autoscaler.target.utilization` is {what}"),
            format!("a.yaml:13:5: {f}.kubernetes.operator.job.autoscaler.stabilization.interval: `kubernetes.operator.job.autoscaler.stabilization.interval` is {what}"),
        ]
    );
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  flinkConfiguration:
    job.autoscaler.enabled: \"true\"
  job:
    jarURI: https://example.com/top.jar
";
    assert_eq!(
        errors(&[("j.yaml", job), ("s.yaml", SESSION)]),
        vec![format!(
            "j.yaml:9:5: {f}.job.autoscaler.enabled: `job.autoscaler.enabled` is {what}"
        )]
    );
    let settings = "defaults:\n  flinkConfiguration:\n    job.autoscaler.enabled: \"true\"\n";
    let c = load(&snapshot(&[("flinkops.yaml", settings), ("a.yaml", APP)]));
    assert_eq!(
        c.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec![format!("flinkops.yaml:3:5: defaults.flinkConfiguration.job.autoscaler.enabled: `job.autoscaler.enabled` is {what}")]
    );
    assert!(!c.settings_errors.is_empty());
}

/// APP with `conf` (lines indented by four) as its flinkConfiguration, which starts at
/// line 9.
fn app_with_conf(conf: &str) -> String {
    app_with(
        "  image: flink:2.0\n",
        &format!("  image: flink:2.0\n  flinkConfiguration:\n{conf}"),
    )
}

#[test]
fn kubernetes_keys_are_checked_at_load_and_located() {
    let ok = app_with_conf(
        "    kubernetes.secrets: db-creds:/opt/secrets/db\n    \
         kubernetes.env.secretKeyRef: env:DB_PASSWORD,secret:db-creds,key:password\n    \
         containerized.master.env.JM_ONLY: '1'\n    \
         kubernetes.taskmanager.node-selector: pool:flink\n    \
         kubernetes.taskmanager.tolerations:\n      \
         - key:dedicated,operator:Equal,value:flink,effect:NoSchedule\n      - operator:Exists\n    \
         kubernetes.cluster-id: orders\n",
    );
    let c = load(&snapshot(&[("a.yaml", &ok)]));
    assert!(c.is_valid(), "{:?}", c.errors());
    // The stored map is the text as written (YAML lists `;`-joined, as Flink reads them).
    let spec = c.jobs.values().next().unwrap();
    assert_eq!(
        spec.flink_configuration["kubernetes.taskmanager.tolerations"],
        "key:dedicated,operator:Equal,value:flink,effect:NoSchedule;operator:Exists"
    );

    let bad = app_with_conf(
        "    kubernetes.secrets: db-creds\n    \
         kubernetes.taskmanager.tolerations: key:a,operator:Exists,value:b\n    \
         containerized.taskmanager.env.2X: y\n    \
         kubernetes.jobmanager.cpu: 2\n    \
         kubernetes.taskmanager.node-selectr: a:b\n    \
         kubernetes.rest-service.exposed.type: LoadBalancer\n",
    );
    let f = "spec.flinkConfiguration";
    assert_eq!(
        errors(&[("a.yaml", &bad)]),
        vec![
            format!("a.yaml:9:25: {f}.kubernetes.secrets: `db-creds` is not `secret:path` (entries are separated by `,`; quote one that holds `,` or `:`)"),
            format!("a.yaml:10:41: {f}.kubernetes.taskmanager.tolerations: entry 1: operator Exists takes no value"),
            format!("a.yaml:11:5: {f}.containerized.taskmanager.env.2X: `containerized.taskmanager.env.2X` sets the environment variable `2X`, but `2X` is not an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit"),
            format!("a.yaml:12:5: {f}.kubernetes.jobmanager.cpu: `kubernetes.jobmanager.cpu` is a Kubernetes option flinkops does not apply; set spec.jobManager.resources (or resource) instead"),
            format!("a.yaml:13:5: {f}.kubernetes.taskmanager.node-selectr: unknown Kubernetes option `kubernetes.taskmanager.node-selectr` (did you mean `kubernetes.taskmanager.node-selector`?)"),
            format!("a.yaml:14:43: {f}.kubernetes.rest-service.exposed.type: `LoadBalancer`: flinkops applies only `ClusterIP` here; flinkops renders the REST Service `<name>-rest` as ClusterIP: expose it outside the cluster with spec.ingress, or remove the key"),
        ]
    );
}

#[test]
fn kubernetes_keys_in_session_jobs_and_settings_defaults() {
    let job = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: top
  namespace: streaming
spec:
  deploymentName: shared
  flinkConfiguration:
    containerized.taskmanager.env.A: b
    kubernetes.namespace: streaming
  job:
    jarURI: https://example.com/top.jar
";
    assert_eq!(
        errors(&[("j.yaml", job), ("s.yaml", SESSION)]),
        vec!["j.yaml:9:5: spec.flinkConfiguration.containerized.taskmanager.env.A: `containerized.taskmanager.env.A` shapes the pods, and a session job runs in its session cluster's pods: set it in the session cluster's flinkConfiguration"]
    );
    // The settings' defaults are a cluster's configuration: pod keys apply, and are
    // checked where they are written.
    let settings = "\
defaults:
  flinkConfiguration:
    kubernetes.container.image.pull-secrets: Regcred
";
    let c = load(&snapshot(&[("flinkops.yaml", settings), ("a.yaml", APP)]));
    assert_eq!(
        c.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["flinkops.yaml:3:46: defaults.flinkConfiguration.kubernetes.container.image.pull-secrets: `Regcred` is not a Secret name: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters"]
    );
}

#[test]
fn pod_keys_that_collide_are_errors_at_the_key() {
    let text = app_with(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  flinkConfiguration:\n    \
         kubernetes.secrets: db:/opt/secrets/db\n    \
         kubernetes.flink.log.dir: /var/log/flink\n    \
         kubernetes.env.secretKeyRef: env:FLINK_LOG_DIR,secret:db,key:dir\n  \
         taskManager:\n    podTemplate:\n      spec:\n        volumes:\n          \
         - {name: db-volume, emptyDir: {}}\n",
    );
    let f = "spec.flinkConfiguration";
    assert_eq!(
        errors(&[("a.yaml", &text)]),
        vec![
            format!("a.yaml:9:25: {f}.kubernetes.secrets: Secret `db` is mounted from the volume `db-volume`, which spec.taskManager.podTemplate declares too: rename one"),
            format!("a.yaml:11:34: {f}.kubernetes.env.secretKeyRef: the environment variable `FLINK_LOG_DIR` is set by kubernetes.flink.log.dir and by kubernetes.env.secretKeyRef: set it once"),
        ]
    );
}

#[test]
fn pull_policy_and_service_account_keys_yield_to_the_spec_fields() {
    let conf = "    kubernetes.container.image.pull-policy: never\n    \
                kubernetes.service-account: flink-conf\n";
    let c = load(&snapshot(&[("a.yaml", &app_with_conf(conf))]));
    assert!(c.is_valid(), "{:?}", c.errors());
    let cl = c.jobs.values().next().unwrap().cluster.clone().unwrap();
    assert_eq!(cl.image_pull_policy.as_deref(), Some("Never"));
    assert_eq!(cl.service_account.as_deref(), Some("flink-conf"));
    // The operator sets the keys from the fields when they are written: the fields win.
    let text = app_with_conf(conf).replace(
        "  image: flink:2.0\n",
        "  image: flink:2.0\n  imagePullPolicy: Always\n  serviceAccount: flink\n",
    );
    let c = load(&snapshot(&[("a.yaml", &text)]));
    let cl = c.jobs.values().next().unwrap().cluster.clone().unwrap();
    assert_eq!(cl.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(cl.service_account.as_deref(), Some("flink"));
    // And the keys win over the settings' defaults.
    let settings = "defaults:\n  imagePullPolicy: IfNotPresent\n  serviceAccount: default-sa\n";
    let c = load(&snapshot(&[
        ("flinkops.yaml", settings),
        ("a.yaml", &app_with_conf(conf)),
    ]));
    let cl = c.jobs.values().next().unwrap().cluster.clone().unwrap();
    assert_eq!(cl.image_pull_policy.as_deref(), Some("Never"));
    assert_eq!(cl.service_account.as_deref(), Some("flink-conf"));
}

#[test]
fn rest_over_tls_needs_a_truststore_flinkops_can_read() {
    let tls = "    security.ssl.rest.enabled: true\n";
    let store = "    security.ssl.rest.truststore: /opt/flink/tls/truststore.p12\n";
    let mount = "    kubernetes.secrets: rest-tls:/opt/flink/tls\n";
    assert_eq!(
        errors(&[("a.yaml", &app_with_conf(&format!("{tls}{store}{mount}")))]),
        Vec::<String>::new()
    );
    // No truststore; one outside every Secret; client certificates.
    assert_eq!(
        errors(&[("a.yaml", &app_with_conf(tls))]),
        vec!["a.yaml:9:32: spec.flinkConfiguration.security.ssl.rest.enabled: security.ssl.rest.enabled is true, so security.ssl.rest.truststore is required: flinkops trusts the JobManager's certificate through it"]
    );
    assert_eq!(
        errors(&[("a.yaml", &app_with_conf(&format!("{tls}{store}")))]),
        vec!["a.yaml:10:35: spec.flinkConfiguration.security.ssl.rest.truststore: `/opt/flink/tls/truststore.p12` is not in a Secret mounted with kubernetes.secrets (secret:/dir): flinkops reads the truststore from that Secret to trust the JobManager's certificate"]
    );
    let mutual = "    security.ssl.rest.authentication-enabled: true\n";
    let e = errors(&[(
        "a.yaml",
        &app_with_conf(&format!("{tls}{store}{mount}{mutual}")),
    )]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "a.yaml:12:47: spec.flinkConfiguration.security.ssl.rest.authentication-enabled: "
        ),
        "{e:?}"
    );
    // A mount that only shares a prefix with the truststore's directory is not it.
    let near = "    kubernetes.secrets: rest-tls:/opt/flink/tl\n";
    assert_eq!(
        errors(&[("a.yaml", &app_with_conf(&format!("{tls}{store}{near}")))]).len(),
        1
    );
}
