//! Writes to the cluster: server-side apply (field manager `flinkops`), delete, ledgers.

use crate::engine::reconcile::ObjectRef;
use crate::engine::render::{Object, MANAGER};
use crate::model::kinds::{ManagedKind, CONFIG_MAP};
use crate::model::ledger::{ledger_labels, ledger_name, Ledger};
use crate::model::spec::JobId;
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
    #[error("{0}")]
    Ledger(String),
    /// Leader election is on and this replica's lease is not current: it writes nothing.
    #[error("not writing {0}: this replica does not hold a current lease")]
    Fenced(String),
    /// The ledger changed since it was read (another writer): read it again and decide
    /// again.
    #[error("the ledger of {0} changed since it was read; deciding again")]
    Conflict(String),
}

impl OpError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, OpError::Conflict(_))
    }

    /// The cluster refused the request itself (forbidden, invalid, denied by an admission
    /// webhook or policy, a kind it does not serve): sending it again changes nothing
    /// until someone changes the definition or the cluster. Timeouts, 5xx, 429 and
    /// connection errors are transient.
    pub fn is_terminal(&self) -> bool {
        match self {
            OpError::Kube { source, .. } => is_terminal_status(source),
            OpError::Unmanaged(_) => true,
            _ => false,
        }
    }
}

fn is_terminal_status(e: &kube::Error) -> bool {
    match e {
        // 409 is a conflict of versions (decided again), 404 a namespace or object that
        // may appear, 408/429 ask to come back later.
        kube::Error::Api(status) => matches!(status.code, 400 | 401 | 403 | 405 | 413 | 415 | 422),
        _ => false,
    }
}

fn fenced(what: impl FnOnce() -> String) -> Result<(), OpError> {
    if super::fence::may_write() {
        Ok(())
    } else {
        Err(OpError::Fenced(what()))
    }
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
    } else {
        fenced(|| format!("{} {}/{}", o.kind, o.namespace, o.name))?;
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
    fenced(|| r.to_string())?;
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

/// Writes a job's ledger if nobody wrote it since `ledger` was read (its
/// resourceVersion is the precondition; a ledger read as absent is only created). Returns
/// the new resourceVersion, for a writer that writes again on the same read.
pub async fn write_ledger(client: &Client, id: &JobId, ledger: &Ledger) -> Result<String, OpError> {
    fenced(|| format!("the ledger of {id}"))?;
    let mut body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ledger_name(&id.name),
            "namespace": id.namespace,
            "labels": ledger_labels(id),
        },
        "data": ledger.to_data(),
    });
    let api: Api<DynamicObject> = api(client, CONFIG_MAP.kind, &id.namespace)?;
    let what = || format!("writing the ledger of {id}");
    let result = match &ledger.resource_version {
        Some(rv) => {
            body["metadata"]["resourceVersion"] = rv.clone().into();
            api.patch(
                &ledger_name(&id.name),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        }
        None => {
            let object: DynamicObject =
                serde_json::from_value(body).map_err(|e| OpError::Ledger(e.to_string()))?;
            api.create(&Default::default(), &object).await
        }
    };
    match result {
        Ok(o) => Ok(o.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(OpError::Conflict(id.to_string())),
        Err(source) => Err(OpError::Kube {
            what: what(),
            source,
        }),
    }
}

/// The job's ledger as the apiserver has it now (not the watch cache, which may lag a
/// write just made). None when there is none; an unreadable one is an error.
pub async fn read_ledger(client: &Client, id: &JobId) -> Result<Option<Ledger>, OpError> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), &id.namespace);
    let what = || format!("reading the ledger of {}/{}", id.namespace, id.name);
    let Some(cm) = api
        .get_opt(&ledger_name(&id.name))
        .await
        .map_err(|source| OpError::Kube {
            what: what(),
            source,
        })?
    else {
        return Ok(None);
    };
    let mut ledger = Ledger::from_data(&cm.data.unwrap_or_default())
        .map_err(|e| OpError::Ledger(format!("{}: {e}", what())))?;
    ledger.resource_version = cm.metadata.resource_version;
    Ok(Some(ledger))
}

/// Scales a Deployment to zero replicas (flinkops' own field, so the next apply takes it
/// back); true when it was not already there. A missing Deployment is fine.
pub async fn scale_to_zero(client: &Client, namespace: &str, name: &str) -> Result<bool, OpError> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), namespace);
    let what = || format!("scaling Deployment {namespace}/{name} to 0");
    fenced(what)?;
    let Some(d) = api.get_opt(name).await.map_err(|source| OpError::Kube {
        what: what(),
        source,
    })?
    else {
        return Ok(false);
    };
    if d.spec.and_then(|s| s.replicas) == Some(0) {
        return Ok(false);
    }
    let patch = serde_json::json!({"spec": {"replicas": 0}});
    let pp = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    api.patch(name, &pp, &Patch::Merge(&patch))
        .await
        .map_err(|source| OpError::Kube {
            what: what(),
            source,
        })?;
    Ok(true)
}

/// The job's pods (both components, or one).
pub async fn job_pods(
    client: &Client,
    id: &JobId,
    component: Option<&str>,
) -> Result<Vec<k8s_openapi::api::core::v1::Pod>, OpError> {
    use crate::engine::render::{LABEL_COMPONENT, LABEL_JOB};
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &id.namespace);
    let mut selector = format!("{LABEL_JOB}={}", id.name);
    if let Some(c) = component {
        selector.push_str(&format!(",{LABEL_COMPONENT}={c}"));
    }
    pods.list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .map_err(|source| OpError::Kube {
            what: format!("listing the pods of {id}"),
            source,
        })
}

/// Deletes Flink's high-availability ConfigMaps of a job that is gone, once none of its
/// pods is left (a JobManager still running would write its leader ConfigMap again).
/// Waits for the pods up to `wait`; Err when they are still there (the next cycle tries
/// again: the ledger is written only after this). Returns how many were deleted.
pub async fn delete_ha_metadata(
    client: &Client,
    id: &JobId,
    wait: std::time::Duration,
) -> Result<usize, OpError> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ListParams;
    fenced(|| format!("the high-availability ConfigMaps of {id}"))?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = job_pods(client, id, None).await?.len();
        if left == 0 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(OpError::Ledger(format!(
                "{left} pods of {id} are still terminating: its high-availability ConfigMaps are removed once they are gone"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &id.namespace);
    let ha = ListParams::default().labels(&crate::engine::render::config::ha_selector(&id.name));
    let found = cms.list(&ha).await.map_err(|source| OpError::Kube {
        what: format!("listing the high-availability ConfigMaps of {id}"),
        source,
    })?;
    let mut deleted = 0;
    for cm in found.items {
        let Some(name) = cm
            .metadata
            .name
            .filter(|n| crate::engine::render::config::is_ha_configmap(&id.name, n))
        else {
            continue;
        };
        delete(
            client,
            &ObjectRef {
                kind: CONFIG_MAP.kind.into(),
                namespace: id.namespace.clone(),
                name,
            },
        )
        .await?;
        deleted += 1;
    }
    Ok(deleted)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: u16) -> OpError {
        OpError::Kube {
            what: "apply Deployment ns/x".into(),
            source: kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn refusals_are_terminal_and_everything_else_transient() {
        for code in [400, 401, 403, 405, 413, 415, 422] {
            assert!(refused(code).is_terminal(), "{code}");
        }
        for code in [404, 408, 409, 429, 500, 502, 503, 504] {
            assert!(!refused(code).is_terminal(), "{code}");
        }
        assert!(OpError::Unmanaged("Pod".into()).is_terminal());
        assert!(!OpError::Conflict("ns/x".into()).is_terminal());
        assert!(!OpError::Fenced("ns/x".into()).is_terminal());
        let timeout = OpError::Kube {
            what: "apply".into(),
            source: kube::Error::Service("no answer within 30 s".into()),
        };
        assert!(!timeout.is_terminal());
    }
}
