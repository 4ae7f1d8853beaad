//! A kube client for the local control plane and throwaway namespaces.

use super::TestEnv;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub async fn client(env: &TestEnv) -> Client {
    let kc = Kubeconfig::read_from(&env.kubeconfig).expect("readable kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("valid kubeconfig");
    Client::try_from(config).expect("kube client")
}

/// A namespace created for one test and deleted when dropped.
pub struct TestNamespace {
    pub name: String,
    kubectl: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
}

impl TestNamespace {
    pub async fn create(env: &TestEnv, client: &Client, prefix: &str) -> TestNamespace {
        let name = format!("{prefix}-{}", super::suffix());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"flinkops.io/test": "true"}}
        }))
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        TestNamespace {
            name,
            kubectl: env.kubectl.clone(),
            kubeconfig: env.kubeconfig.clone(),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Synchronous on purpose: runs during a panic too, without a runtime.
        let _ = std::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

/// A job's ledger as the apiserver has it now; None when it has none (or it does not
/// decode).
pub async fn ledger(
    client: &Client,
    namespace: &str,
    job: &str,
) -> Option<flinkops::model::ledger::Ledger> {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), namespace);
    let cm = cms
        .get_opt(&flinkops::model::ledger::ledger_name(job))
        .await
        .ok()??;
    flinkops::model::ledger::Ledger::from_data(&cm.data.unwrap_or_default()).ok()
}

/// The REST API of the JobManager Pod of `job` (an application or a session cluster)
/// that runs now: not one being deleted; waits up to a minute for it to have an IP.
pub async fn jobmanager_rest(
    client: &Client,
    namespace: &str,
    job: &str,
) -> flinkops::edge::flink::FlinkRest {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("flinkops.io/job={job},app.kubernetes.io/component=jobmanager");
    let (pod, ip) = super::eventually(
        &format!("a JobManager Pod of {job} with an IP"),
        std::time::Duration::from_secs(60),
        || async {
            let lp = kube::api::ListParams::default().labels(&selector);
            let list = pods.list(&lp).await.ok()?;
            // The newest: an old JobManager Pod may not be marked for deletion yet.
            let p = list
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .max_by_key(|p| p.metadata.creation_timestamp.clone())?;
            let ip = p.status.as_ref()?.pod_ip.clone()?;
            Some((p, ip))
        },
    )
    .await;
    // A JobManager that serves REST over TLS, reached as flinkops reaches it: by the
    // Service's name (its certificate's), connecting to the Pod's IP.
    if flinkops::runtime::rest_tls::wants_tls(&pod) {
        let service = format!("{job}-rest.{namespace}.svc");
        let addr = std::net::SocketAddr::new(ip.parse().unwrap(), 8081);
        let http = flinkops::runtime::rest_tls::client_for(client, &pod, &service, Some(addr))
            .await
            .unwrap();
        return flinkops::edge::flink::FlinkRest::with_client(
            &format!("https://{service}:8081"),
            http,
        );
    }
    flinkops::edge::flink::FlinkRest::new(&format!("http://{ip}:8081"))
}

/// A job's TaskManager Deployment as applied: (commit annotation, replicas).
pub async fn taskmanager(
    deployments: &Api<k8s_openapi::api::apps::v1::Deployment>,
    job: &str,
) -> Option<(String, i32)> {
    let d = deployments.get(&format!("{job}-taskmanager")).await.ok()?;
    let commit = d.metadata.annotations?.get("flinkops.io/commit")?.clone();
    Some((commit, d.spec?.replicas?))
}

/// Waits until `job`'s TaskManager Deployment is at `commit` with `replicas` (else panics
/// after `timeout` with `log()`).
pub async fn wait_taskmanager(
    deployments: &Api<k8s_openapi::api::apps::v1::Deployment>,
    job: &str,
    (commit, replicas): (&str, i32),
    timeout: std::time::Duration,
    log: impl Fn() -> String,
) {
    super::eventually_or(
        &format!("{job} applied at {commit} with {replicas} TaskManagers"),
        timeout,
        log,
        || async {
            let (c, r) = taskmanager(deployments, job).await?;
            (c == commit && r == replicas).then_some(())
        },
    )
    .await
}

/// The one job running in `job`'s JobManager once all its tasks run: (id, parallelism).
/// The JobManager is looked up on every try, as a Service would route: right after a sync
/// the Pod found may be the old one, about to be deleted. `diagnostics` goes into the
/// message when it times out.
pub async fn running_job(
    client: &Client,
    namespace: &str,
    job: &str,
    timeout: std::time::Duration,
    diagnostics: impl Fn() -> String,
) -> (String, u32) {
    super::eventually_or(
        "exactly one job, fully RUNNING",
        timeout,
        diagnostics,
        || async {
            let rest = jobmanager_rest(client, namespace, job).await;
            let jobs = rest.jobs().await.ok()?;
            let live: Vec<_> = jobs
                .iter()
                .filter(|j| j.state == flinkops::edge::flink::JobState::Running)
                .collect();
            assert!(live.len() <= 1, "two jobs run at once: {jobs:?}");
            let d = rest.job(&live.first()?.id).await.ok()?;
            d.fully_running().then(|| {
                (
                    d.id.clone(),
                    d.vertices.iter().map(|v| v.parallelism).max().unwrap_or(0),
                )
            })
        },
    )
    .await
}
