//! Writes to the cluster: server-side apply (field manager `flinkops`), delete, ledgers.

use super::kinds::{ManagedKind, CONFIG_MAP};
use super::ledger::{ledger_labels, ledger_name, Ledger};
use crate::reconcile::ObjectRef;
use crate::render::{Object, MANAGER};
use crate::spec::JobId;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0} is not a kind flinkops manages")]
    Unmanaged(String),
}

fn api(client: &Client, kind: &str, namespace: &str) -> Result<Api<DynamicObject>, OpError> {
    let k = ManagedKind::find(kind).ok_or_else(|| OpError::Unmanaged(kind.to_string()))?;
    Ok(Api::namespaced_with(
        client.clone(),
        namespace,
        &k.api_resource(),
    ))
}

/// Server-side apply; `force` takes over fields a hand edit took (self-heal).
pub async fn apply(client: &Client, o: &Object, dry_run: bool) -> Result<DynamicObject, OpError> {
    let mut pp = PatchParams::apply(MANAGER).force();
    if dry_run {
        pp = pp.dry_run();
    }
    api(client, o.kind, &o.namespace)?
        .patch(&o.name, &pp, &Patch::Apply(&o.body))
        .await
        .map_err(|source| OpError::Kube {
            what: format!("applying {} {}/{}", o.kind, o.namespace, o.name),
            source,
        })
}

/// Deletes an object; one already gone is fine.
pub async fn delete(client: &Client, r: &ObjectRef) -> Result<(), OpError> {
    let dp = DeleteParams::background();
    match api(client, &r.kind, &r.namespace)?
        .delete(&r.name, &dp)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(OpError::Kube {
            what: format!("deleting {r}"),
            source,
        }),
    }
}

pub async fn write_ledger(client: &Client, id: &JobId, ledger: &Ledger) -> Result<(), OpError> {
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ledger_name(&id.name),
            "namespace": id.namespace,
            "labels": ledger_labels(id),
        },
        "data": ledger.to_data(),
    });
    let o = Object {
        api_version: "v1",
        kind: CONFIG_MAP.kind,
        namespace: id.namespace.clone(),
        name: ledger_name(&id.name),
        body,
    };
    apply(client, &o, false).await.map(|_| ())
}

pub async fn delete_ledger(client: &Client, id: &JobId) -> Result<(), OpError> {
    delete(
        client,
        &ObjectRef {
            kind: CONFIG_MAP.kind.into(),
            namespace: id.namespace.clone(),
            name: ledger_name(&id.name),
        },
    )
    .await
}
