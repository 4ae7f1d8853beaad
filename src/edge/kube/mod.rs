//! The Kubernetes edge: the kinds flinkops manages, watch caches, writes and ledgers.

pub mod cache;
pub mod daemon_status;
pub mod fence;
pub mod lease;
pub mod ops;

use anyhow::Context as _;

/// How long a Kubernetes API call may go without an answer.
pub const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Server-side length of one watch request, below `REQUEST_TIMEOUT_SECS`.
pub const WATCH_TIMEOUT_SECS: u32 = 25;

/// A client for the current kubeconfig (KUBECONFIG, ~/.kube/config) or the in-cluster
/// service account, sending `User-Agent: flinkops/<version>` so the apiserver's audit log
/// and metrics can tell flinkops' requests apart.
pub async fn client() -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::infer()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    // No request may hang a cycle: a call that gets no answer for this long fails (and is
    // retried by the next cycle) instead of stalling every job behind it. Counted from
    // when the request is sent, not from when its pooled connection went idle. Watches
    // end on the server before it (`WATCH_TIMEOUT_SECS`) and are renewed.
    config.read_timeout = Some(std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS));
    config.reset_reader_on_write = true;
    config.headers.push((
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static(concat!("flinkops/", env!("CARGO_PKG_VERSION"))),
    ));
    kube::Client::try_from(config).context("building the Kubernetes client")
}
