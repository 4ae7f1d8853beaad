//! What the daemon follows and whether it can apply it, in a ConfigMap `<instance>-status`
//! next to its Lease, for `flinkops status` and `status --wait`. Written by the leader only
//! when the content changes, so an idle daemon writes nothing. It carries neither the
//! managed-by label nor a job label: the caches and prune never see it.

use crate::engine::render::{LABEL_COMPONENT, LABEL_NAME, MANAGER};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

const KEY: &str = "status.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    /// The repository, as it may be shown (no credentials).
    pub repo: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit being applied.
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<GitCondition>,
    /// The replica that wrote this.
    pub writer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCondition {
    pub reason: String,
    pub message: String,
    /// RFC 3339 time the condition began.
    pub since: String,
}

pub fn name(instance: &str) -> String {
    format!("{instance}-status")
}

pub async fn write(
    client: &kube::Client,
    namespace: &str,
    instance: &str,
    status: &DaemonStatus,
) -> Result<(), kube::Error> {
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(instance),
            "labels": { LABEL_NAME: MANAGER, LABEL_COMPONENT: "daemon-status" },
        },
        "data": { KEY: serde_json::to_string_pretty(status).expect("serializable") },
    });
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name(instance),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// The status, if a daemon has written one; an unreadable one is an error message.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    instance: &str,
) -> Result<Option<Result<DaemonStatus, String>>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt(&name(instance)).await?.map(|cm| {
        let text = cm
            .data
            .and_then(|mut d| d.remove(KEY))
            .ok_or_else(|| format!("{} has no {KEY}", name(instance)))?;
        serde_json::from_str(&text).map_err(|e| format!("{KEY}: {e}"))
    }))
}
