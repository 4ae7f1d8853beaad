//! `flinkops sync --once` against the real control plane of scripts/testenv: create from
//! an empty namespace, no-op cycles that write nothing, an upgrade carrying the new commit,
//! self-heal, a broken file that blocks only its job, prune, and held-back stateful
//! upgrades.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::process::Command;
use support::git::TestRepo;
use support::TestEnv;

fn diff_cluster(env: &TestEnv, repo: &TestRepo, ns: &str) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args([
            "diff",
            "--cluster",
            "--format",
            "json",
            "--namespace",
            ns,
            "--repo",
        ])
        .arg(repo.path())
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn sync(env: &TestEnv, repo: &TestRepo) -> (i32, String) {
    support::sync_once(env, repo.path())
}

/// What a write by flinkops would change, per object it manages in the namespace: the
/// resourceVersion of ConfigMaps, and for Deployments (whose status the controllers keep
/// updating) the generation and the time of flinkops' last apply.
async fn versions(client: &kube::Client, ns: &str) -> BTreeMap<String, String> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=flinkops");
    let mut out = BTreeMap::new();
    for d in Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        let applied = d
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.manager.as_deref() == Some("flinkops"))
            .map(|m| format!("{:?}", m.time))
            .collect::<Vec<_>>()
            .join(",");
        out.insert(
            format!("Deployment/{}", d.metadata.name.unwrap()),
            format!("generation {:?}, applied {applied}", d.metadata.generation),
        );
    }
    for c in Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap()
    {
        out.insert(
            format!("ConfigMap/{}", c.metadata.name.unwrap()),
            c.metadata.resource_version.unwrap(),
        );
    }
    out
}

/// (type, reason) of the Events flinkops published about an object, oldest first.
async fn events_for(client: &kube::Client, ns: &str, name: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::events::v1::Event;
    let mut events: Vec<Event> = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.reporting_controller.as_deref() == Some("flinkops")
        })
        .collect();
    events.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    events
        .into_iter()
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
        .collect()
}

fn commit_of(d: &Deployment) -> String {
    d.metadata.annotations.as_ref().unwrap()["flinkops.io/commit"].clone()
}

#[tokio::test]
async fn sync_once_creates_noops_upgrades_heals_blocks_and_prunes() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-sync").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "a.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    repo.write(
        "b.yaml",
        &support::app_job("beta", &ns.name, 1, "stateless"),
    );
    let c1 = repo.commit("two jobs");

    // Create from an empty namespace.
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    let tm = deployments.get("alpha-taskmanager").await.unwrap();
    assert_eq!(commit_of(&tm), c1);
    assert_eq!(tm.spec.as_ref().unwrap().replicas, Some(2));
    let ledger = Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .get("alpha-flinkops")
        .await
        .unwrap();
    assert!(ledger.data.unwrap()["ledger.json"].contains(&c1));
    assert_eq!(
        events_for(&client, &ns.name, "alpha-jobmanager").await,
        vec![("Normal".to_string(), "Synced".to_string())]
    );

    // Once the Deployments are Available, a cycle records the jobs Healthy; `status`
    // shows it; the cycle after that writes nothing at all.
    support::eventually(
        "Deployments Available",
        std::time::Duration::from_secs(60),
        || async {
            let list = deployments.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .all(|d| {
                    d.status.as_ref().is_some_and(|s| {
                        s.ready_replicas.unwrap_or(0)
                            == d.spec.as_ref().unwrap().replicas.unwrap_or(1)
                    })
                })
                .then_some(())
        },
    )
    .await;
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    let status = Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["status", "-o", "json", "--namespace", &ns.name])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let rows = &status["jobs"];
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    for row in rows.as_array().unwrap() {
        assert_eq!(row["commit"], c1.as_str(), "{row}");
        assert_eq!(row["health"], "Healthy", "{row}");
        assert_eq!(row["kind"], "application", "{row}");
    }
    let (code, plan) = diff_cluster(&env, &repo, &ns.name);
    assert_eq!(code, 0, "in sync: {plan}");
    assert!(plan["objects"].as_array().unwrap().is_empty(), "{plan}");
    let before = versions(&client, &ns.name).await;
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 jobs with work"), "{out}");
    assert_eq!(
        versions(&client, &ns.name).await,
        before,
        "a no-op cycle wrote"
    );

    // A change to one job re-applies only it, with the new commit.
    repo.write(
        "a.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("scale alpha");
    // diff --cluster shows what the sync will do, against a dry-run apply.
    let (code, plan) = diff_cluster(&env, &repo, &ns.name);
    assert_eq!(code, 2, "{plan}");
    let alpha = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "alpha")
        .unwrap();
    assert_eq!(alpha["action"], "stateless-upgrade", "{plan}");
    assert!(
        alpha["reasons"]
            .as_array()
            .unwrap()
            .contains(&"parallelism 2 → 3".into()),
        "{plan}"
    );
    let tm_diff = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "alpha-taskmanager")
        .map(|o| o["diff"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(
        tm_diff.contains("-  replicas: 2\n+  replicas: 3\n"),
        "{tm_diff}"
    );
    assert!(
        !tm_diff.contains("managedFields") && !tm_diff.contains("resourceVersion"),
        "{tm_diff}"
    );
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    let tm = deployments.get("alpha-taskmanager").await.unwrap();
    assert_eq!(
        (commit_of(&tm), tm.spec.unwrap().replicas),
        (c2.clone(), Some(3))
    );
    assert_eq!(
        commit_of(&deployments.get("beta-taskmanager").await.unwrap()),
        c1
    );

    // A hand edit (kubectl patch) is reverted.
    let (code, out) = support::kubectl(
        &env,
        &[
            "-n",
            &ns.name,
            "patch",
            "deployment",
            "beta-taskmanager",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("drift reverted: Deployment"), "{out}");
    let beta = deployments.get("beta-taskmanager").await.unwrap();
    assert_eq!(beta.spec.unwrap().replicas, Some(1));

    // A broken file blocks only its job; the other job's change still goes out.
    repo.write(
        "a.yaml",
        &support::app_job("alpha", &ns.name, 0, "stateless"),
    );
    repo.write(
        "b.yaml",
        &support::app_job("beta", &ns.name, 2, "stateless"),
    );
    let c3 = repo.commit("break alpha, scale beta");
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a.yaml:10:18: spec.job.parallelism: must be at least 1, got 0"),
        "{out}"
    );
    assert_eq!(
        commit_of(&deployments.get("alpha-taskmanager").await.unwrap()),
        c2
    );
    assert_eq!(
        commit_of(&deployments.get("beta-taskmanager").await.unwrap()),
        c3
    );
    assert!(events_for(&client, &ns.name, "alpha-jobmanager")
        .await
        .contains(&("Warning".to_string(), "Blocked".to_string())));

    // Removing a job prunes its objects and ledger.
    repo.remove("a.yaml");
    repo.commit("remove alpha");
    let (code, out) = sync(&env, &repo);
    assert_eq!(code, 0, "{out}");
    let left: Vec<String> = versions(&client, &ns.name)
        .await
        .into_keys()
        .filter(|k| k.contains("alpha"))
        .collect();
    assert!(left.is_empty(), "not pruned: {left:?}\n{out}");

    // A savepoint-mode job is not restarted without its state.
    repo.write(
        "b.yaml",
        &support::app_job("beta", &ns.name, 2, "savepoint"),
    );
    repo.commit("beta keeps state");
    let (code, out) = sync(&env, &repo);
    assert_eq!(
        code, 0,
        "an upgradeMode change alone restarts nothing: {out}"
    );
    repo.write(
        "b.yaml",
        &support::app_job("beta", &ns.name, 4, "savepoint"),
    );
    repo.commit("scale stateful beta");
    let before = versions(&client, &ns.name).await;
    let (code, out) = support::sync_once_args(&env, repo.path(), &["--external-wait", "2s"]);
    // Its JobManager Pod has no Flink behind it here: no savepoint can be taken, so the
    // upgrade waits for the JobManager, says why, and nothing of the running job is
    // touched.
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("    waiting: ") && out.contains("Flink REST unreachable"),
        "{out}"
    );
    let after = versions(&client, &ns.name).await;
    let deployments_of = |v: &BTreeMap<String, String>| -> Vec<String> {
        v.iter()
            .filter(|(k, _)| k.starts_with("Deployment/"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect()
    };
    assert_eq!(
        deployments_of(&before),
        deployments_of(&after),
        "the running job was touched"
    );
}

/// A session job whose cluster runs no Flink (KWOK pods: Running, but nothing answers):
/// `sync --once` applies everything it can, reports the job as waiting on something
/// outside flinkops and exits 3 soon, instead of waiting out the upgrade timeout.
#[tokio::test]
async fn a_session_job_whose_cluster_does_not_answer_is_reported_waiting() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-wait").await;
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "shared.yaml",
        &format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: shared, namespace: {ns}}}
spec:
  image: flink:2.3
  flinkVersion: v2_3
  jobManager: {{resource: {{cpu: 0.5, memory: 1024m}}}}
  taskManager: {{replicas: 1, resource: {{cpu: 0.5, memory: 1024m}}}}
---
apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {{name: counter, namespace: {ns}}}
spec:
  deploymentName: shared
  job:
    jarURI: file://{jar}
    parallelism: 1
    upgradeMode: savepoint
",
            ns = ns.name,
            jar = env.test_jar.display(),
        ),
    );
    repo.commit("a session cluster and a job on it");
    let started = std::time::Instant::now();
    let (code, text) = support::sync_once_args(&env, repo.path(), &["--external-wait", "3s"]);
    let took = started.elapsed();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&format!("{}/counter", ns.name)), "{text}");
    assert!(text.contains("    waiting: "), "{text}");
    assert!(text.contains("0 failed, 1 waiting"), "{text}");
    // The cluster's objects are applied all the same.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    assert!(deployments.get("shared-jobmanager").await.is_ok());
    // Seconds, not the 10-minute upgrade timeout (a bound, not a timing assertion).
    assert!(
        took < std::time::Duration::from_secs(120),
        "{took:?}\n{text}"
    );
}
