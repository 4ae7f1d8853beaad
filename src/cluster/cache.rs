//! Watch caches of the objects flinkops manages: one reflector per kind (and namespace,
//! when the scope is a list of namespaces), filtered by `managed-by=flinkops`. A cycle reads
//! these instead of listing, and a change to any of them wakes the daemon (drift).

use super::kinds::{ManagedKind, MANAGED};
use crate::reconcile::LiveObject;
use crate::render::{LABEL_MANAGED_BY, MANAGER};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{store::Writer, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub struct Cache {
    stores: Vec<(ManagedKind, Store<DynamicObject>)>,
    tasks: Vec<JoinHandle<()>>,
    /// Signalled on every change seen by a watch.
    pub changed: Arc<Notify>,
}

impl Drop for Cache {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Cache {
    /// Starts the watches; `namespaces` None watches all namespaces.
    pub fn start(client: &Client, namespaces: Option<&[String]>) -> Cache {
        let changed = Arc::new(Notify::new());
        let mut stores = Vec::new();
        let mut tasks = Vec::new();
        let selector = format!("{LABEL_MANAGED_BY}={MANAGER}");
        for kind in MANAGED {
            let ar = kind.api_resource();
            let apis: Vec<Api<DynamicObject>> = match namespaces {
                None => vec![Api::all_with(client.clone(), &ar)],
                Some(list) => list
                    .iter()
                    .map(|ns| Api::namespaced_with(client.clone(), ns, &ar))
                    .collect(),
            };
            for api in apis {
                let writer = Writer::new(ar.clone());
                stores.push((kind, writer.as_reader()));
                let notify = changed.clone();
                let stream = watcher(api, watcher::Config::default().labels(&selector))
                    .default_backoff()
                    .reflect(writer)
                    .touched_objects();
                tasks.push(tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(_) => notify.notify_one(),
                            Err(e) => tracing::warn!(kind = kind.kind, error = %e, "watch error; retrying"),
                        }
                    }
                }));
            }
        }
        Cache {
            stores,
            tasks,
            changed,
        }
    }

    /// Waits until every watch has listed once.
    pub async fn ready(&self, timeout: Duration) -> Result<(), String> {
        let all = futures::future::join_all(self.stores.iter().map(|(_, s)| s.wait_until_ready()));
        match tokio::time::timeout(timeout, all).await {
            Ok(results) if results.iter().all(Result::is_ok) => Ok(()),
            Ok(_) => Err("a watch stopped before it was ready".into()),
            Err(_) => Err(format!(
                "the watches did not list within {}s (is the apiserver reachable, and may flinkops list these kinds?)",
                timeout.as_secs()
            )),
        }
    }

    /// Everything the caches hold now.
    pub fn objects(&self) -> Vec<LiveObject> {
        let mut out = Vec::new();
        for (kind, store) in &self.stores {
            for o in store.state() {
                out.push(live_object(kind, &o));
            }
        }
        out
    }
}

fn live_object(kind: &ManagedKind, o: &DynamicObject) -> LiveObject {
    let m = &o.metadata;
    let mut body = o.data.clone();
    if let Some(obj) = body.as_object_mut() {
        // Watch events carry the type only in `types`; put it back so the body reads like
        // the object flinkops rendered.
        obj.insert("apiVersion".into(), kind.api_version().into());
        obj.insert("kind".into(), kind.kind.into());
        obj.insert(
            "metadata".into(),
            serde_json::to_value(m).unwrap_or_default(),
        );
    }
    LiveObject {
        kind: kind.kind.to_string(),
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        body,
    }
}

/// The ledgers among the cached ConfigMaps, by job; unreadable ones are reported.
pub fn ledgers(
    objects: &[LiveObject],
) -> (
    BTreeMap<crate::spec::JobId, super::ledger::Ledger>,
    Vec<String>,
) {
    use super::ledger::{Ledger, LEDGER_COMPONENT};
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for o in objects {
        if o.kind != "ConfigMap"
            || o.labels
                .get(crate::render::LABEL_COMPONENT)
                .map(String::as_str)
                != Some(LEDGER_COMPONENT)
        {
            continue;
        }
        let Some(job) = o.labels.get(crate::render::LABEL_JOB) else {
            continue;
        };
        let data: BTreeMap<String, String> =
            serde_json::from_value(o.body["data"].clone()).unwrap_or_default();
        match Ledger::from_data(&data) {
            Ok(l) => {
                out.insert(
                    crate::spec::JobId {
                        namespace: o.namespace.clone(),
                        name: job.clone(),
                    },
                    l,
                );
            }
            Err(e) => problems.push(format!("ledger {}/{}: {e}", o.namespace, o.name)),
        }
    }
    (out, problems)
}
