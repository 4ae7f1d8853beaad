//! The Kubernetes edge: the kinds flinkops manages, watch caches, writes and ledgers.

pub mod cache;
pub mod kinds;
pub mod ledger;
pub mod ops;
