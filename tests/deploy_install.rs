//! Installing flinkops from deploy/ on the real control plane: the plain manifests as a
//! newcomer would apply them, flinkops running with nothing but the ServiceAccount's
//! rights, those rights being the least it needs, and the Helm chart linted and rendered
//! into objects the apiserver accepts (server-side dry-run).

mod support;

use std::path::Path;
use std::time::Duration;
use support::{git::TestRepo, run_tool as run, TestEnv};

const SA: &str = "system:serviceaccount:flinkops:flinkops";
const MANAGED: [&str; 2] = ["streaming", "analytics"];

fn ok(what: &str, (code, out): (i32, String)) -> String {
    assert_eq!(code, 0, "{what}:\n{out}");
    out
}

fn delete_installation(env: &TestEnv, wait: bool) {
    let wait = format!("--wait={wait}");
    support::kubectl(
        env,
        &[
            "delete",
            "namespace",
            "flinkops",
            MANAGED[0],
            MANAGED[1],
            "--ignore-not-found",
            &wait,
        ],
    );
}

/// A kubeconfig for the test cluster that authenticates as flinkops' ServiceAccount.
fn service_account_kubeconfig(env: &TestEnv, dir: &Path) -> std::path::PathBuf {
    let token = ok(
        "a token for the ServiceAccount",
        support::kubectl(
            env,
            &[
                "-n",
                "flinkops",
                "create",
                "token",
                "flinkops",
                "--duration",
                "1h",
            ],
        ),
    );
    let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let mut kc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let user = &mut kc["users"][0]["user"];
    *user = serde_yaml::Value::Mapping(Default::default());
    user["token"] = token.trim().into();
    let path = dir.join("flinkops-sa.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plain_manifests_install_flinkops_with_least_privilege() {
    let Some(env) = support::testenv() else {
        return;
    };
    delete_installation(&env, true);
    ok(
        "kubectl apply --server-side -k deploy/manifests",
        support::kubectl(
            &env,
            &[
                "apply",
                "--server-side",
                "-k",
                support::repo_root()
                    .join("deploy/manifests")
                    .to_str()
                    .unwrap(),
            ],
        ),
    );

    // What the ServiceAccount may and may not do.
    let can = |verb: &str, resource: &str, ns: &str| {
        let (_, out) = support::kubectl(
            &env,
            &["auth", "can-i", verb, resource, "-n", ns, "--as", SA],
        );
        out.trim() == "yes"
    };
    for ns in MANAGED {
        for (verb, resource) in [
            ("patch", "deployments.apps"),
            ("watch", "deployments.apps"),
            ("delete", "configmaps"),
            ("create", "services"),
            ("patch", "ingresses.networking.k8s.io"),
            ("list", "pods"),
            ("create", "events.events.k8s.io"),
        ] {
            assert!(can(verb, resource, ns), "cannot {verb} {resource} in {ns}");
        }
        for (verb, resource) in [
            ("get", "secrets"),
            ("delete", "pods"),
            ("create", "leases.coordination.k8s.io"),
            ("create", "rolebindings.rbac.authorization.k8s.io"),
        ] {
            assert!(!can(verb, resource, ns), "may {verb} {resource} in {ns}");
        }
    }
    assert!(can("update", "leases.coordination.k8s.io", "flinkops"));
    assert!(can("patch", "configmaps", "flinkops"));
    assert!(!can("get", "secrets", "flinkops"));
    for (verb, resource) in [("create", "deployments.apps"), ("list", "configmaps")] {
        assert!(
            !can(verb, resource, "default"),
            "may {verb} {resource} in default"
        );
    }
    assert!(!can("delete", "namespaces", "default"));

    // flinkops as the Deployment runs it (leader election, its namespace for the Lease and
    // status, the managed namespaces), with only the ServiceAccount's token.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&env, dir.path());
    let repo = TestRepo::examples();
    let head = repo.commit("examples");
    let repo_path = repo.path().to_str().unwrap().to_string();
    let daemon = support::daemon::Daemon::start(
        &env,
        dir.path().join("daemon.log"),
        &[
            "--repo",
            &repo_path,
            "--namespace",
            MANAGED[0],
            "--namespace",
            MANAGED[1],
            "--leader-election",
            "--state-namespace",
            "flinkops",
        ],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let flinkops = Path::new(env!("CARGO_BIN_EXE_flinkops"));
    let jobs = support::eventually_or(
        "every example job applied at the head commit",
        Duration::from_secs(90),
        || daemon.log(),
        || async {
            let (code, out) = run(
                &env,
                flinkops,
                &[
                    "status",
                    "-o",
                    "json",
                    "--namespace",
                    MANAGED[0],
                    "--namespace",
                    MANAGED[1],
                ],
                None,
            );
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            let jobs = v["jobs"].as_array()?.clone();
            // Session jobs are submitted through their session cluster's REST API, and
            // the examples' session clusters run no Flink here: those stay pending,
            // their submission recorded at the head commit.
            let at_head = |j: &serde_json::Value| {
                j["commit"] == head.as_str()
                    || (j["kind"] == "session-job"
                        && j["upgrade"]["targetCommit"] == head.as_str()
                        && j["upgrade"]["action"] == "create")
            };
            let all = code == 0 && jobs.len() == 8 && jobs.iter().all(at_head);
            all.then_some(jobs)
        },
    )
    .await;
    assert!(jobs.iter().all(|j| j["lastError"].is_null()), "{jobs:?}");
    let (_, lease) = support::kubectl(
        &env,
        &[
            "-n",
            "flinkops",
            "get",
            "lease",
            "flinkops",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert!(!lease.trim().is_empty(), "no leader recorded in the Lease");
    ok(
        "the daemon's status ConfigMap",
        support::kubectl(
            &env,
            &["-n", "flinkops", "get", "configmap", "flinkops-status"],
        ),
    );
    let (_, events) = support::kubectl(
        &env,
        &[
            "-n",
            MANAGED[0],
            "get",
            "events.events.k8s.io",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(events.contains("Synced"), "no Synced event: {events}");
    // The status page lists every job (it shows the ledgers as of the last cycle).
    let rows: Vec<String> = jobs
        .iter()
        .map(|j| {
            format!(
                "<tr data-job=\"{}/{}\">",
                j["namespace"].as_str().unwrap(),
                j["name"].as_str().unwrap()
            )
        })
        .collect();
    support::eventually_or(
        "every job on the status page",
        Duration::from_secs(30),
        || daemon.log(),
        || async {
            let (status, page) = daemon.get("/").await?;
            (status == 200 && rows.iter().all(|r| page.contains(r))).then_some(())
        },
    )
    .await;
    let log = daemon.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "flinkops lacked a permission:\n{log}"
    );
    drop(daemon);
    delete_installation(&env, false);
}

fn helm(env: &TestEnv, args: &[&str]) -> (i32, String) {
    run(env, &env.helm, args, None)
}

#[test]
fn the_helm_chart_lints_and_renders_objects_the_apiserver_accepts() {
    let Some(env) = support::testenv() else {
        return;
    };
    let chart = support::repo_root().join("deploy/helm/flinkops");
    let chart = chart.to_str().unwrap();
    let required = [
        "--set",
        "git.repo=https://git.example.com/flink-jobs.git",
        "--set",
        "namespaces={default}",
    ];
    let mut lint = vec!["lint", chart, "--strict"];
    lint.extend(required);
    ok("helm lint", helm(&env, &lint));

    // Without a repository or namespaces the chart says what is missing.
    let (code, out) = helm(&env, &["template", "flinkops", chart]);
    assert_ne!(code, 0);
    assert!(out.contains("set git.repo"), "{out}");
    let (code, out) = helm(
        &env,
        &["template", "flinkops", chart, "--set", "git.repo=x"],
    );
    assert_ne!(code, 0);
    assert!(out.contains("list the namespaces"), "{out}");

    // Namespaced: a Role per managed namespace, no cluster-wide rights.
    let mut args = vec!["template", "flinkops", chart, "--namespace", "default"];
    args.extend(required);
    let namespaced = ok("helm template", helm(&env, &args));
    assert!(!namespaced.contains("kind: ClusterRole"), "{namespaced}");
    assert!(namespaced.contains("--namespace=default"), "{namespaced}");
    assert!(namespaced.contains("--leader-election"), "{namespaced}");
    // The service account Flink runs as, with its high-availability rights, per namespace.
    assert!(
        namespaced.contains("name: flink-high-availability"),
        "{namespaced}"
    );
    // No Secret may be read unless named for a REST truststore, and then only it.
    assert!(!namespaced.contains("resources: [secrets]"), "{namespaced}");
    let mut with_tls = args.clone();
    with_tls.extend(["--set", "restTlsSecrets={rest-tls}"]);
    let tls = ok("helm template (REST TLS)", helm(&env, &with_tls));
    assert!(
        tls.contains("resources: [secrets]") && tls.contains("resourceNames: [\"rest-tls\"]"),
        "{tls}"
    );
    ok(
        "server-side dry-run of the chart with a REST truststore Secret",
        run(
            &env,
            &env.kubectl,
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&tls),
        ),
    );
    ok(
        "server-side dry-run of the namespaced chart",
        run(
            &env,
            &env.kubectl,
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&namespaced),
        ),
    );

    // Cluster-wide: a ClusterRole, no --namespace flags; one replica, no election.
    let cluster_wide = ok(
        "helm template (cluster-wide)",
        helm(
            &env,
            &[
                "template",
                "flinkops",
                chart,
                "--namespace",
                "default",
                "--set",
                "git.repo=https://git.example.com/flink-jobs.git",
                "--set",
                "clusterWide=true",
                "--set",
                "replicas=1",
            ],
        ),
    );
    assert!(cluster_wide.contains("kind: ClusterRoleBinding"));
    assert!(!cluster_wide.contains("--namespace="));
    assert!(!cluster_wide.contains("--leader-election"));
    ok(
        "server-side dry-run of the cluster-wide chart",
        run(
            &env,
            &env.kubectl,
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&cluster_wide),
        ),
    );
}
