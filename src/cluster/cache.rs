//! Watch caches of the objects flinkops manages: one watch per kind (and namespace,
//! when the scope is a list of namespaces), filtered by `managed-by=flinkops`. A cycle reads
//! these instead of listing, and a change to any of them wakes the daemon (drift).

use super::kinds::{ManagedKind, MANAGED};
use crate::reconcile::LiveObject;
use crate::render::{LABEL_MANAGED_BY, MANAGER};
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
                    .page_size(LIST_PAGE);
                let stream = watcher::watcher(api, config).default_backoff();
                let notify = changed.clone();
                tasks.push(tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    // A (re)list fills a buffer that replaces the shard's objects at once
                    // when complete, so a cycle never sees half a list.
                    let mut listing: Option<Objects> = None;
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(Event::Init) => listing = Some(Objects::new()),
                            Ok(Event::InitApply(o)) => {
                                let (key, live) = live_object(&kind, o);
                                listing.get_or_insert_default().insert(key, Arc::new(live));
                            }
                            Ok(Event::InitDone) => {
                                let listed = listing.take().unwrap_or_default();
                                *shard.objects.write().unwrap_or_else(|e| e.into_inner()) = listed;
                                shard.ready.send_replace(true);
                                notify.notify_one();
                            }
                            Ok(Event::Apply(o)) => {
                                let (key, live) = live_object(&kind, o);
                                shard
                                    .objects
                                    .write()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(key, Arc::new(live));
                                notify.notify_one();
                            }
                            Ok(Event::Delete(o)) => {
                                let key = (
                                    o.metadata.namespace.unwrap_or_default(),
                                    o.metadata.name.unwrap_or_default(),
                                );
                                shard
                                    .objects
                                    .write()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&key);
                                notify.notify_one();
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
    crate::ownership::trim_managed_fields(&mut body);
    let live = LiveObject::new(kind.kind, &body);
    ((live.namespace.clone(), live.name.clone()), live)
}

/// The ledgers among the cached ConfigMaps, by job; unreadable ones are reported.
pub fn ledgers<L: Borrow<LiveObject>>(
    objects: &[L],
) -> (
    BTreeMap<crate::spec::JobId, super::ledger::Ledger>,
    Vec<String>,
) {
    use super::ledger::{Ledger, LEDGER_COMPONENT};
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for o in objects.iter().map(Borrow::borrow) {
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
            serde_json::from_value(o.body()["data"].take()).unwrap_or_default();
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
