//! What the upgrade executor touches, as two traits: the JobManager's REST API and the
//! cluster side (the job's ledger, its workloads, the jar source). The live
//! implementations are the Flink REST client and the kube client; unit tests substitute
//! scripted ones to reach the failure paths real Flink cannot produce on demand.

use super::Reach;
use crate::edge::flink::{
    Checkpoints, FlinkError, FlinkRest, JobDetails, JobSummary, Operation, RunJar,
};
use crate::edge::kube::ops::{self, OpError};
use crate::engine::render::{Object, ANN_CONFIG_HASH};
use crate::engine::upgrade::transition::Template;
use crate::model::ledger::Ledger;
use crate::model::spec::JobId;
use crate::runtime::jar::{Jar, JarError, JarFetcher};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::Client;
use std::future::Future;

/// A JobManager's REST API, as far as an upgrade uses it.
pub trait FlinkApi: Send + Sync {
    fn jobs(&self) -> impl Future<Output = Result<Vec<JobSummary>, FlinkError>> + Send;
    fn job(&self, id: &str) -> impl Future<Output = Result<JobDetails, FlinkError>> + Send;
    fn checkpoints(&self, id: &str)
        -> impl Future<Output = Result<Checkpoints, FlinkError>> + Send;
    fn stop_with_savepoint(
        &self,
        id: &str,
        dir: Option<&str>,
        trigger: &str,
    ) -> impl Future<Output = Result<(), FlinkError>> + Send;
    fn savepoint_status(
        &self,
        id: &str,
        trigger: &str,
    ) -> impl Future<Output = Result<Operation, FlinkError>> + Send;
    fn cancel(&self, id: &str) -> impl Future<Output = Result<(), FlinkError>> + Send;
    /// The first line of the root exception of a failed job.
    fn root_exception(&self, id: &str) -> impl Future<Output = Option<String>> + Send;
    /// Uploads a jar; the id Flink gives it.
    fn upload_jar(&self, jar: Jar) -> impl Future<Output = Result<String, FlinkError>> + Send;
    fn run_jar(
        &self,
        jar_id: &str,
        run: &RunJar,
    ) -> impl Future<Output = Result<(), FlinkError>> + Send;
    fn delete_jar(&self, jar_id: &str) -> impl Future<Output = Result<(), FlinkError>> + Send;
}

/// The cluster side of an upgrade.
pub trait Edges: Send + Sync {
    type Flink: FlinkApi;
    fn read_ledger(
        &self,
        id: &JobId,
    ) -> impl Future<Output = Result<Option<Ledger>, OpError>> + Send;
    /// Writes the ledger on condition of its `resource_version`; the new version.
    fn write_ledger(
        &self,
        id: &JobId,
        ledger: &Ledger,
    ) -> impl Future<Output = Result<String, OpError>> + Send;
    /// Scales the Deployment to zero; true when it was not already there.
    fn scale_to_zero(
        &self,
        id: &JobId,
        name: &str,
    ) -> impl Future<Output = Result<bool, OpError>> + Send;
    /// How many of the job's pods exist (any component, terminating ones included).
    fn pod_count(&self, id: &JobId) -> impl Future<Output = Result<usize, String>> + Send;
    /// The live JobManager Deployment's template (None: no such Deployment).
    fn jobmanager(
        &self,
        id: &JobId,
    ) -> impl Future<Output = Result<Option<Template>, String>> + Send;
    fn apply(&self, object: &Object) -> impl Future<Output = Result<(), OpError>> + Send;
    /// The REST API of the JobManager `home` names (the job's own, or its session
    /// cluster's); Err says why none can be reached.
    fn flink(&self, home: &JobId) -> impl Future<Output = Result<Self::Flink, String>> + Send;
    /// A session job's jar, within the operator's limits.
    fn fetch_jar(&self, uri: &str) -> impl Future<Output = Result<Jar, JarError>> + Send;
    /// Waits (Flink's checkpoint statistics settling; polling a short phase).
    fn pause(&self, d: std::time::Duration) -> impl Future<Output = ()> + Send;
}

impl FlinkApi for FlinkRest {
    async fn jobs(&self) -> Result<Vec<JobSummary>, FlinkError> {
        FlinkRest::jobs(self).await
    }
    async fn job(&self, id: &str) -> Result<JobDetails, FlinkError> {
        FlinkRest::job(self, id).await
    }
    async fn checkpoints(&self, id: &str) -> Result<Checkpoints, FlinkError> {
        FlinkRest::checkpoints(self, id).await
    }
    async fn stop_with_savepoint(
        &self,
        id: &str,
        dir: Option<&str>,
        trigger: &str,
    ) -> Result<(), FlinkError> {
        FlinkRest::stop_with_savepoint(self, id, dir, Some(trigger))
            .await
            .map(drop)
    }
    async fn savepoint_status(&self, id: &str, trigger: &str) -> Result<Operation, FlinkError> {
        FlinkRest::savepoint_status(self, id, trigger).await
    }
    async fn cancel(&self, id: &str) -> Result<(), FlinkError> {
        FlinkRest::cancel(self, id).await
    }
    async fn root_exception(&self, id: &str) -> Option<String> {
        FlinkRest::root_exception(self, id).await.ok().flatten()
    }
    async fn upload_jar(&self, jar: Jar) -> Result<String, FlinkError> {
        self.upload_jar_bytes(&jar.name, jar.bytes).await
    }
    async fn run_jar(&self, jar_id: &str, run: &RunJar) -> Result<(), FlinkError> {
        FlinkRest::run_jar(self, jar_id, run).await.map(drop)
    }
    async fn delete_jar(&self, jar_id: &str) -> Result<(), FlinkError> {
        FlinkRest::delete_jar(self, jar_id).await
    }
}

/// The live cluster, through the kube client.
pub struct Live<'a> {
    pub client: &'a Client,
    pub jars: &'a JarFetcher,
    pub reach: Reach,
}

impl Edges for Live<'_> {
    type Flink = FlinkRest;

    async fn read_ledger(&self, id: &JobId) -> Result<Option<Ledger>, OpError> {
        ops::read_ledger(self.client, id).await
    }
    async fn write_ledger(&self, id: &JobId, ledger: &Ledger) -> Result<String, OpError> {
        ops::write_ledger(self.client, id, ledger).await
    }
    async fn scale_to_zero(&self, id: &JobId, name: &str) -> Result<bool, OpError> {
        ops::scale_to_zero(self.client, &id.namespace, name).await
    }
    async fn pod_count(&self, id: &JobId) -> Result<usize, String> {
        job_pods(self.client, id, None).await.map(|p| p.len())
    }
    async fn jobmanager(&self, id: &JobId) -> Result<Option<Template>, String> {
        let name = format!("{}-jobmanager", id.name);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &id.namespace);
        let live = deployments
            .get_opt(&name)
            .await
            .map_err(|e| format!("reading Deployment {name}: {e}"))?;
        Ok(live.map(|d| {
            let spec = d.spec.unwrap_or_default();
            Template {
                config_hash: spec
                    .template
                    .metadata
                    .and_then(|m| m.annotations)
                    .and_then(|mut a| a.remove(ANN_CONFIG_HASH)),
                replicas: spec.replicas,
            }
        }))
    }
    async fn apply(&self, object: &Object) -> Result<(), OpError> {
        ops::apply(self.client, object, false).await.map(drop)
    }
    async fn flink(&self, home: &JobId) -> Result<FlinkRest, String> {
        rest_for(self.client, self.reach, home).await
    }
    async fn fetch_jar(&self, uri: &str) -> Result<Jar, JarError> {
        self.jars.fetch(uri).await
    }
    async fn pause(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await
    }
}

/// The job's pods (both components, or one).
async fn job_pods(
    client: &Client,
    id: &JobId,
    component: Option<&str>,
) -> Result<Vec<Pod>, String> {
    crate::edge::kube::ops::job_pods(client, id, component)
        .await
        .map_err(|e| e.to_string())
}

/// The job's JobManager REST API: over TLS when its JobManager Pod says so
/// (`model::rest_tls::ANN_REST_TLS`), checked against the Service name either way.
pub async fn rest_for(client: &Client, reach: Reach, id: &JobId) -> Result<FlinkRest, String> {
    use crate::runtime::rest_tls;
    let port = crate::engine::render::config::REST_PORT;
    let service = format!("{}-rest.{}.svc", id.name, id.namespace);
    let https = format!("https://{service}:{port}");
    // By name, whether the JobManager serves TLS is looked up once a minute, not on every
    // call (the Flink probe asks every job's JobManager every few seconds).
    if reach == Reach::ServiceDns {
        if let Some(known) = rest_tls::known(id) {
            return Ok(match known {
                Some(http) => FlinkRest::with_client(&https, http),
                None => FlinkRest::new(&format!("http://{service}:{port}")),
            });
        }
    }
    let pods = job_pods(client, id, Some("jobmanager")).await?;
    let running: Option<(&Pod, std::net::IpAddr)> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .find_map(|p| Some((p, p.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?)));
    let (pod, addr) = match (reach, running) {
        // By name: the Service picks the Pod; any running one tells whether it is TLS.
        (Reach::ServiceDns, running) => (running.map(|(pod, _)| pod), None),
        (Reach::PodIp, Some((pod, ip))) => {
            (Some(pod), Some(std::net::SocketAddr::new(ip, port as u16)))
        }
        (Reach::PodIp, None) => return Err("no running JobManager pod".into()),
    };
    let tls = match pod.filter(|p| rest_tls::wants_tls(p)) {
        Some(pod) => Some(rest_tls::client_for(client, pod, &service, addr).await?),
        None => None,
    };
    if reach == Reach::ServiceDns && pod.is_some() {
        rest_tls::remember(id, tls.clone());
    }
    Ok(match tls {
        Some(http) => FlinkRest::with_client(&https, http),
        None => FlinkRest::new(&match addr {
            Some(a) => format!("http://{a}"),
            None => format!("http://{service}:{port}"),
        }),
    })
}
