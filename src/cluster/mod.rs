//! The Kubernetes edge: the kinds flinkops manages, watch caches, writes and ledgers.

pub mod cache;
pub mod daemon_status;
pub mod kinds;
pub mod lease;
pub mod ledger;
pub mod ops;
