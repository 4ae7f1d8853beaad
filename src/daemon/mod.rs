//! The reconciler: carrying out reconcile decisions against the cluster.

pub mod execute;
pub mod run;
pub mod sync;
