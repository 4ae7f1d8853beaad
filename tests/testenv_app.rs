//! Application mode for real: `flinkops sync --once` applies a rendered FlinkDeployment,
//! the real controllers and KWOK make its Pods Running, and the pod runner starts the real
//! Flink JobManager and TaskManager those Pods describe, from the rendered ConfigMap. The
//! job runs and counts; removing it from Git stops the processes.

mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::time::Duration;
use support::git::TestRepo;
use support::pod_runner::PodRunner;

fn sync(env: &support::TestEnv, repo: &TestRepo) {
    let (code, out) = support::sync_once(env, repo.path());
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_synced_application_runs_on_real_flink_through_the_pod_runner() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-app").await;
    let runner = PodRunner::start(&env, &client, &ns.name);
    let state = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "counter.yaml",
        &format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: counter
  namespace: {ns}
spec:
  image: flink:2.3
  flinkVersion: v2_3
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    execution.checkpointing.interval: 1s
    execution.checkpointing.dir: file://{state}/checkpoints
    execution.checkpointing.savepoint-dir: file://{state}/savepoints
  jobManager:
    resource: {{cpu: 0.5, memory: 1024m}}
  taskManager:
    resource: {{cpu: 0.5, memory: 1024m}}
  job:
    jarURI: local:///opt/flink/usrlib/counter.jar
    entryClass: flinkops.testjob.CounterJob
    args: [\"20\"]
    parallelism: 2
",
            ns = ns.name,
            state = state.path().display()
        ),
    );
    repo.commit("counter job");
    sync(&env, &repo);

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let jm_ip = support::eventually(
        "JobManager Pod Running with an IP",
        Duration::from_secs(60),
        || async {
            let lp = ListParams::default()
                .labels("flinkops.io/job=counter,app.kubernetes.io/component=jobmanager");
            let list = pods.list(&lp).await.ok()?;
            list.items.first()?.status.as_ref()?.pod_ip.clone()
        },
    )
    .await;
    let rest = format!("http://{jm_ip}:8081");
    let http = support::http();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{rest}{path}"));
        async move {
            let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            Some(v)
        }
    };
    let job_id = support::eventually_or(
        "the application's job RUNNING",
        Duration::from_secs(120),
        || format!("running: {:?}\n{}", runner.running(), runner.logs()),
        || async {
            let v = get("/jobs/overview").await?;
            let job = v["jobs"].as_array()?.first()?.clone();
            (job["state"] == "RUNNING" && job["tasks"]["running"].as_u64()? > 0)
                .then(|| job["jid"].as_str().unwrap().to_string())
        },
    )
    .await;
    support::eventually_or(
        "counters from the TaskManager",
        Duration::from_secs(60),
        || runner.logs(),
        || async {
            let c = runner.counters();
            (c.len() == 4 && c.values().all(|v| *v >= 5)).then_some(())
        },
    )
    .await;

    // It runs what was rendered: parallelism, addresses and flinkops' settings.
    let details = get(&format!("/jobs/{job_id}")).await.unwrap();
    assert!(details["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["parallelism"] == 2));
    let config = get("/jobmanager/config").await.unwrap();
    let value = |key: &str| {
        config
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        value("execution.shutdown-on-application-finish").as_deref(),
        Some("false")
    );
    assert_eq!(
        value("jobmanager.rpc.address").as_deref(),
        Some(jm_ip.as_str())
    );
    assert_eq!(value("parallelism.default").as_deref(), Some("2"));
    let components: Vec<String> = runner.running().into_iter().map(|(_, c)| c).collect();
    assert_eq!(components.len(), 2, "{components:?}");

    // Gone from Git: the objects are pruned, the Pods go, and so do the processes.
    repo.remove("counter.yaml");
    repo.commit("remove counter");
    sync(&env, &repo);
    support::eventually(
        "Flink processes stopped",
        Duration::from_secs(60),
        || async {
            (runner.running().is_empty() && get("/overview").await.is_none()).then_some(())
        },
    )
    .await;
}
