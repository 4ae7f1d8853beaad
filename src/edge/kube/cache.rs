//! Watch caches of the objects flinkops manages: one watch per kind (and namespace,
//! when the scope is a list of namespaces), filtered by `managed-by=flinkops`. A cycle reads
//! these instead of listing, and a change to any of them wakes the daemon (drift).

use crate::engine::reconcile::LiveObject;
use crate::engine::render::{LABEL_MANAGED_BY, MANAGER};
use crate::model::kinds::{ManagedKind, MANAGED};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

const LIST_PAGE: u32 = 100;

/// Objects of one watch by (namespace, name), converted once when they arrive (not per
/// cycle) and shared with every cycle that reads them.
type Objects = BTreeMap<(String, String), Arc<LiveObject>>;

struct Shard {
    objects: RwLock<Objects>,
    /// True once the watch has listed.
    ready: watch::Sender<bool>,
}

impl Shard {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        // Every write is one insert, remove or swap: a panic elsewhere cannot have left
        // the map half-written, so a poisoned lock is still good.
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one watch event; `listing` is the (re)list in progress. True when what a
    /// cycle reads changed.
    fn on_event(
        &self,
        kind: &ManagedKind,
        listing: &mut Option<Objects>,
        event: Event<DynamicObject>,
    ) -> bool {
        match event {
            Event::Init => {
                *listing = Some(Objects::new());
                false
            }
            Event::InitApply(o) => {
                let (key, live) = live_object(kind, o);
                listing.get_or_insert_default().insert(key, Arc::new(live));
                false
            }
            Event::InitDone => {
                *self.write() = listing.take().unwrap_or_default();
                self.ready.send_replace(true);
                true
            }
            Event::Apply(o) => {
                let (key, live) = live_object(kind, o);
                self.write().insert(key, Arc::new(live));
                true
            }
            Event::Delete(o) => {
                let key = (
                    o.metadata.namespace.unwrap_or_default(),
                    o.metadata.name.unwrap_or_default(),
                );
                self.write().remove(&key);
                true
            }
        }
    }
}

pub struct Cache {
    shards: Vec<Arc<Shard>>,
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
        let mut shards = Vec::new();
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
                let shard = Arc::new(Shard {
                    objects: RwLock::new(Objects::new()),
                    ready: watch::Sender::new(false),
                });
                shards.push(shard.clone());
                // Pages of 100 rather than kube's 500: a page is decoded whole before its
                // objects are compacted, and at 500 Deployments that transient is the
                // daemon's peak heap; the extra list requests happen only on (re)lists.
                let config = watcher::Config::default()
                    .labels(&selector)
                    .page_size(LIST_PAGE)
                    .timeout(super::WATCH_TIMEOUT_SECS);
                let stream = watcher::watcher(api, config).default_backoff();
                let notify = changed.clone();
                tasks.push(tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    // A (re)list fills a buffer that replaces the shard's objects at once
                    // when complete, so a cycle never sees half a list.
                    let mut listing: Option<Objects> = None;
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(e) => {
                                if shard.on_event(&kind, &mut listing, e) {
                                    notify.notify_one();
                                }
                            }
                            Err(e) => {
                                tracing::warn!(kind = kind.kind, error = %e, "watch error; retrying")
                            }
                        }
                    }
                }));
            }
        }
        Cache {
            shards,
            tasks,
            changed,
        }
    }

    /// Waits until every watch has listed once.
    pub async fn ready(&self, timeout: Duration) -> Result<(), String> {
        let all = futures::future::join_all(self.shards.iter().map(|s| async move {
            s.ready
                .subscribe()
                .wait_for(|listed| *listed)
                .await
                .map(|_| ())
        }));
        match tokio::time::timeout(timeout, all).await {
            Ok(results) if results.iter().all(Result::is_ok) => Ok(()),
            Ok(_) => Err("a watch stopped before it was ready".into()),
            Err(_) => Err(format!(
                "the watches did not list within {}s (is the apiserver reachable, and may flinkops list these kinds?)",
                timeout.as_secs()
            )),
        }
    }

    /// Everything the caches hold now (shared, not copied).
    pub fn objects(&self) -> Vec<Arc<LiveObject>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let objects = shard.objects.read().unwrap_or_else(|e| e.into_inner());
            out.extend(objects.values().cloned());
        }
        out
    }
}

/// The object as reconcile reads it, keyed by (namespace, name). managedFields entries
/// ownership never reads are dropped here: they are most of a cached object's size.
fn live_object(kind: &ManagedKind, o: DynamicObject) -> ((String, String), LiveObject) {
    let DynamicObject { metadata, data, .. } = o;
    let mut body = data;
    if let Some(obj) = body.as_object_mut() {
        // Watch events carry the type only in `types`; put it back so the body reads like
        // the object flinkops rendered.
        obj.insert("apiVersion".into(), kind.api_version().into());
        obj.insert("kind".into(), kind.kind.into());
        obj.insert(
            "metadata".into(),
            serde_json::to_value(&metadata).unwrap_or_default(),
        );
    }
    crate::engine::ownership::trim_managed_fields(&mut body);
    let live = LiveObject::new(kind.kind, &body);
    ((live.namespace.clone(), live.name.clone()), live)
}

/// The ledgers among the cached ConfigMaps, by job; unreadable ones are reported.
pub fn ledgers<L: Borrow<LiveObject>>(
    objects: &[L],
) -> (
    BTreeMap<crate::model::spec::JobId, crate::model::ledger::Ledger>,
    Vec<String>,
) {
    use crate::model::ledger::{Ledger, LEDGER_COMPONENT};
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for o in objects.iter().map(Borrow::borrow) {
        if o.kind != "ConfigMap"
            || o.labels
                .get(crate::engine::render::LABEL_COMPONENT)
                .map(String::as_str)
                != Some(LEDGER_COMPONENT)
        {
            continue;
        }
        let Some(job) = o.labels.get(crate::engine::render::LABEL_JOB) else {
            continue;
        };
        let data: BTreeMap<String, String> =
            serde_json::from_value(o.body()["data"].take()).unwrap_or_default();
        match Ledger::from_data(&data) {
            Ok(mut l) => {
                l.resource_version = Some(o.resource_version.clone());
                out.insert(
                    crate::model::spec::JobId {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::SERVICE;

    fn svc(name: &str, version: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"namespace": "ns", "name": name, "resourceVersion": version,
                         "managedFields": [{"manager": "flinkops", "operation": "Apply",
                                            "fieldsV1": {"f:spec": {}}}]},
            "spec": {"ports": [{"port": 8081}]}
        }))
        .unwrap()
    }

    fn names(shard: &Shard) -> Vec<String> {
        shard.write().values().map(|l| l.name.clone()).collect()
    }

    #[test]
    fn a_list_shows_whole_and_events_apply_one_by_one() {
        let shard = Shard {
            objects: RwLock::new(Objects::new()),
            ready: watch::Sender::new(false),
        };
        let mut listing = None;
        assert!(!shard.on_event(&SERVICE, &mut listing, Event::Init));
        assert!(!shard.on_event(&SERVICE, &mut listing, Event::InitApply(svc("a", "1"))));
        // Half a list is never seen, and the watch is not ready before it is whole.
        assert!(names(&shard).is_empty());
        assert!(!*shard.ready.borrow());
        assert!(shard.on_event(&SERVICE, &mut listing, Event::InitDone));
        assert_eq!(names(&shard), vec!["a"]);
        assert!(*shard.ready.borrow());
        assert!(shard.on_event(&SERVICE, &mut listing, Event::Apply(svc("b", "2"))));
        assert!(shard.on_event(&SERVICE, &mut listing, Event::Delete(svc("a", "1"))));
        assert_eq!(names(&shard), vec!["b"]);
        let b = shard.write()[&("ns".to_string(), "b".to_string())].clone();
        assert_eq!(
            (b.kind.as_str(), b.resource_version.as_str()),
            ("Service", "2")
        );
        // Stored as the object reads, without flinkops' own managedFields entry.
        let body = b.body();
        assert_eq!(body["kind"], "Service");
        assert_eq!(body["metadata"]["managedFields"], serde_json::json!([]));
        // A relist replaces everything at once.
        shard.on_event(&SERVICE, &mut listing, Event::Init);
        shard.on_event(&SERVICE, &mut listing, Event::InitApply(svc("c", "3")));
        assert_eq!(names(&shard), vec!["b"]);
        shard.on_event(&SERVICE, &mut listing, Event::InitDone);
        assert_eq!(names(&shard), vec!["c"]);
    }
}
