//! The Kubernetes edge: the kinds flinkops manages, watch caches, writes and ledgers.

pub mod cache;
pub mod daemon_status;
pub mod fence;
pub mod kinds;
pub mod lease;
pub mod ledger;
pub mod ops;

use anyhow::Context as _;

/// A client for the current kubeconfig (KUBECONFIG, ~/.kube/config) or the in-cluster
/// service account, sending `User-Agent: flinkops/<version>` so the apiserver's audit log
/// and metrics can tell flinkops' requests apart.
pub async fn client() -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::infer()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    config.headers.push((
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static(concat!("flinkops/", env!("CARGO_PKG_VERSION"))),
    ));
    kube::Client::try_from(config).context("building the Kubernetes client")
}
