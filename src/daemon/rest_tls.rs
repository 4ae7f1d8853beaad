//! The cluster side of Flink REST over TLS (`flink::tls` decides): the JobManager's
//! configuration from the ConfigMap its Pod mounts, the truststore from the Secret mounted
//! at the truststore's path, and a client per JobManager Pod, kept a few minutes (a
//! rotated Secret is read again then, and on a new Pod at once). Reached by Service name,
//! whether a job's JobManager serves TLS at all is remembered for a minute.

use crate::flink::tls;
use crate::render::MAIN_CONTAINER;
use crate::spec::JobId;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::Api;
use kube::Client;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a client built from a Secret is used before the Secret is read again.
const KEEP: Duration = Duration::from_secs(300);
/// Clients kept at most (one per JobManager Pod that serves TLS).
const MAX_KEPT: usize = 512;

type Kept = HashMap<(String, Option<SocketAddr>), (Instant, reqwest::Client)>;

fn kept() -> &'static Mutex<Kept> {
    static KEPT: std::sync::OnceLock<Mutex<Kept>> = std::sync::OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What was found of each job's JobManager reached by name: a TLS client, or None for
/// plain HTTP. Kept `KNOWN_FOR`: a JobManager that turns TLS on or off is reached the new
/// way within that time (an upgrade waits for it as for any JobManager not answering).
type Known = HashMap<JobId, (Instant, Option<reqwest::Client>)>;
const KNOWN_FOR: Duration = Duration::from_secs(60);

fn known_map() -> &'static Mutex<Known> {
    static KNOWN: std::sync::OnceLock<Mutex<Known>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// How job `id`'s JobManager was last found to serve REST, if recently: Some(Some(client))
/// over TLS, Some(None) plain HTTP.
pub fn known(id: &JobId) -> Option<Option<reqwest::Client>> {
    let known = known_map().lock().unwrap();
    let (at, tls) = known.get(id)?;
    (at.elapsed() < KNOWN_FOR).then(|| tls.clone())
}

pub fn remember(id: &JobId, tls: Option<reqwest::Client>) {
    let mut known = known_map().lock().unwrap();
    if known.len() >= MAX_KEPT * 8 {
        known.retain(|_, (at, _)| at.elapsed() < KNOWN_FOR);
    }
    known.insert(id.clone(), (Instant::now(), tls));
}

/// Whether `pod` is a JobManager that serves its REST API over TLS.
pub fn wants_tls(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.get(tls::ANN_REST_TLS).is_some_and(|v| v == "true"))
}

/// A client for JobManager `pod`'s REST API over TLS: trusting its truststore, checking
/// the name `service`, connecting to `addr` when given (the Pod's IP) instead of resolving
/// it. Errors say what is missing and where.
pub async fn client_for(
    client: &Client,
    pod: &Pod,
    service: &str,
    addr: Option<SocketAddr>,
) -> Result<reqwest::Client, String> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let key = (uid, addr);
    if let Some((at, c)) = kept().lock().unwrap().get(&key) {
        if at.elapsed() < KEEP {
            return Ok(c.clone());
        }
    }
    let built = build(client, pod, service, addr).await?;
    let mut kept = kept().lock().unwrap();
    if kept.len() >= MAX_KEPT {
        kept.retain(|_, (at, _)| at.elapsed() < KEEP);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
    }
    kept.insert(key, (Instant::now(), built.clone()));
    Ok(built)
}

async fn build(
    client: &Client,
    pod: &Pod,
    service: &str,
    addr: Option<SocketAddr>,
) -> Result<reqwest::Client, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let why = |e: String| format!("REST over TLS to JobManager {namespace}/{pod_name}: {e}");
    let config_map = pod
        .spec
        .as_ref()
        .and_then(|s| {
            s.volumes
                .iter()
                .flatten()
                .find_map(|v| v.config_map.as_ref().map(|c| c.name.clone()))
        })
        .ok_or_else(|| why("the Pod mounts no configuration".into()))?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let text = cms
        .get(&config_map)
        .await
        .map_err(|e| why(format!("reading ConfigMap {config_map}: {e}")))?
        .data
        .and_then(|mut d| d.remove(crate::render::config::CONFIG_YAML))
        .ok_or_else(|| why(format!("ConfigMap {config_map} has no config.yaml")))?;
    let conf = crate::render::config::read_config_yaml(&text).map_err(why)?;
    let settings = tls::tls_conf(&conf)
        .map_err(why)?
        .ok_or_else(|| why(format!("its configuration does not set {}", tls::ENABLED)))?;
    let (secret, file) =
        tls::secret_file(pod, MAIN_CONTAINER, &settings.truststore).map_err(why)?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let store = secrets
        .get(&secret)
        .await
        .map_err(|e| {
            why(format!(
                "reading Secret {secret} (the truststore {}): {e}; flinkops needs get on it (Helm value restTlsSecrets)",
                settings.truststore
            ))
        })?
        .data
        .and_then(|mut d| d.remove(&file))
        .ok_or_else(|| why(format!("Secret {secret} has no key {file}")))?;
    let certs = tls::trusted_certificates(&store.0, &settings.password)
        .map_err(|e| why(format!("{}: {e}", settings.truststore)))?;
    let config = tls::client_config(&certs, settings.verify_hostname).map_err(why)?;
    let mut builder = crate::flink::rest::client_builder().tls_backend_preconfigured(config);
    if let Some(addr) = addr {
        builder = builder.resolve(service, addr);
    }
    builder.build().map_err(|e| why(e.to_string()))
}
