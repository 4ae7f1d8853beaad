//! Carrying reconcile decisions out against the cluster and Flink: per-job workers with
//! deadlines and backoff, the upgrade executor (the pure transitions of
//! `engine::upgrade::transition`, interpreted), savepoints, session-job jars,
//! notifications. Used by the daemon and by the one-shot commands (`sync --once`, `diff
//! --cluster`, `savepoint`).

pub mod clock;
pub mod cluster_diff;
pub mod execute;
pub mod fault;
pub mod flink_probe;
pub mod image_jar;
pub mod jar;
pub mod live_impact;
pub mod notify;
pub mod outbound;
pub mod periodic;
pub mod rest_tls;
pub mod savepoint;
pub mod sync;
pub mod upgrade;
pub mod workers;
