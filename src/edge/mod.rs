//! The outside world, each behind a small surface: Kubernetes (`kube`: watch caches,
//! server-side apply, ledgers, the lease), Flink's REST API (`flink`), and Git (`git`: a
//! commit's files, remotes). Depends on `engine` and `model` only.

pub mod flink;
pub mod git;
pub mod kube;
