//! The Kubernetes edge: the kinds flinkops manages and each job's ledger.

pub mod kinds;
pub mod ledger;
