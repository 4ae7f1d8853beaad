//! The control plane of scripts/testenv is real: a Deployment applied server-side gets a
//! ReplicaSet and Pods from the real controllers, KWOK makes them Running and Ready, and
//! the Deployment reports Available.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use std::time::Duration;

#[tokio::test]
async fn server_side_applied_deployment_becomes_available() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-apply").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let body = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "flinkops"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/web:1"}]}
            }
        }
    });
    let applied = deployments
        .patch(
            "web",
            &PatchParams::apply("flinkops").force(),
            &Patch::Apply(&body),
        )
        .await
        .expect("server-side apply");
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"flinkops".to_string()), "{managers:?}");

    support::eventually_or(
        "Deployment web Available",
        Duration::from_secs(60),
        || support::cluster_diagnostics(&env, &ns.name),
        || async {
            let d = deployments.get("web").await.ok()?;
            let available = d
                .status?
                .conditions?
                .into_iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            available.then_some(())
        },
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    for p in list.items {
        let status = p.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        // KWOK hands out loopback Pod IPs, so a local process can stand in for a pod.
        let ip = status.pod_ip.expect("pod IP");
        assert!(ip.starts_with("127."), "pod IP {ip} is not loopback");
    }
}

/// The fake node heartbeats through its Lease. Without it, every 10 minutes
/// (node-monitor-grace-period) the node lifecycle controller found the node silent, marked
/// every Pod NotReady and KWOK never made them Ready again: whatever test ran at that mark
/// saw its Deployments 0/N ready and timed out.
#[tokio::test]
async fn the_node_renews_its_lease() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client, "kube-node-lease");
    let renewed = || async {
        leases
            .get_opt("kwok-node-0")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.renew_time)
    };
    let first =
        support::eventually("a Lease of kwok-node-0", Duration::from_secs(60), renewed).await;
    support::eventually(
        "kwok-node-0 renewing its Lease",
        Duration::from_secs(60),
        || async { renewed().await.filter(|t| *t != first) },
    )
    .await;
}
