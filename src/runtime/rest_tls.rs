//! The cluster side of Flink REST over TLS (`model::rest_tls` decides): the JobManager's
//! configuration from the ConfigMap its Pod mounts, the truststore from the Secret mounted
//! at the truststore's path, and a client per JobManager Pod, kept a few minutes (a
//! rotated Secret is read again then, and on a new Pod at once). Reached by Service name,
//! whether a job's JobManager serves TLS at all is remembered for a minute.

use crate::edge::flink::tls;
use crate::engine::render::MAIN_CONTAINER;
use crate::model::spec::JobId;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::Api;
use kube::Client;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a client built from a Secret is used before the Secret is read again.
const KEEP: Duration = Duration::from_secs(300);
/// Clients kept at most (one per JobManager Pod that serves TLS).
const MAX_KEPT: usize = 512;
/// How long what was found of a job's JobManager reached by name is trusted: one that
/// turns TLS on or off is reached the new way within that time (an upgrade waits for it
/// as for any JobManager not answering).
const KNOWN_FOR: Duration = Duration::from_secs(60);
/// Jobs whose finding is kept at most.
const MAX_KNOWN: usize = 4096;

/// Values used for `ttl` after they were stored; at most `max` of them (when full, the
/// stale ones go, and if none is stale, all).
struct Expiring<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    fn new(ttl: Duration, max: usize) -> Self {
        Expiring {
            ttl,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock().unwrap();
        let (at, v) = map.get(k)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    fn insert(&self, k: K, v: V) {
        let mut map = self.map.lock().unwrap();
        if map.len() >= self.max {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(k, (Instant::now(), v));
    }
}

/// A TLS client per JobManager Pod (and address it is reached at).
static KEPT: LazyLock<Expiring<(String, Option<SocketAddr>), reqwest::Client>> =
    LazyLock::new(|| Expiring::new(KEEP, MAX_KEPT));
/// Per job reached by name: a TLS client, or None for plain HTTP.
static KNOWN: LazyLock<Expiring<JobId, Option<reqwest::Client>>> =
    LazyLock::new(|| Expiring::new(KNOWN_FOR, MAX_KNOWN));

/// How job `id`'s JobManager was last found to serve REST, if recently: Some(Some(client))
/// over TLS, Some(None) plain HTTP.
pub fn known(id: &JobId) -> Option<Option<reqwest::Client>> {
    KNOWN.get(id)
}

pub fn remember(id: &JobId, tls: Option<reqwest::Client>) {
    KNOWN.insert(id.clone(), tls);
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
    let key = (pod.metadata.uid.clone().unwrap_or_default(), addr);
    if let Some(c) = KEPT.get(&key) {
        return Ok(c);
    }
    let built = build(client, pod, service, addr).await?;
    KEPT.insert(key, built.clone());
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
        .and_then(|mut d| d.remove(crate::engine::render::config::CONFIG_YAML))
        .ok_or_else(|| why(format!("ConfigMap {config_map} has no config.yaml")))?;
    let conf = crate::engine::render::config::read_config_yaml(&text).map_err(why)?;
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
    let mut builder = crate::edge::flink::rest::client_builder().tls_backend_preconfigured(config);
    if let Some(addr) = addr {
        builder = builder.resolve(service, addr);
    }
    builder.build().map_err(|e| why(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_are_used_while_fresh_and_held_to_a_bound() {
        let fresh: Expiring<u32, &str> = Expiring::new(Duration::from_secs(60), 2);
        fresh.insert(1, "a");
        fresh.insert(2, "b");
        assert_eq!(
            (fresh.get(&1), fresh.get(&2), fresh.get(&3)),
            (Some("a"), Some("b"), None)
        );
        // Full, none stale: everything goes before the third is stored.
        fresh.insert(3, "c");
        assert_eq!((fresh.get(&1), fresh.get(&3)), (None, Some("c")));
        assert_eq!(fresh.map.lock().unwrap().len(), 1);
        let stale: Expiring<u32, &str> = Expiring::new(Duration::ZERO, 2);
        stale.insert(1, "a");
        assert_eq!(stale.get(&1), None);
    }
}
