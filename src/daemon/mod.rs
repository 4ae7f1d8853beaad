//! The reconciler: carrying out reconcile decisions against the cluster.

pub mod cluster_diff;
pub mod commit_status;
pub mod execute;
pub mod flink_probe;
pub mod follow;
pub mod http;
pub mod jar;
pub mod live_impact;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod periodic;
pub mod rest_tls;
pub mod run;
pub mod savepoint;
pub mod status_page;
pub mod sync;
pub mod upgrade;
pub mod webhook;
pub mod workers;
