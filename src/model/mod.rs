//! Pure values: what Git declares (`spec`, read and validated from a commit's files), what
//! flinkops records in the cluster (ledgers, upgrade records), what Flink answers, and the
//! labels that tie them together. Depends on nothing else in the crate.

pub mod action;
pub mod duration;
pub mod escape;
pub mod flink;
pub mod kinds;
pub mod labels;
pub mod ledger;
pub mod objects;
pub mod rest_tls;
pub mod secret;
pub mod snapshot;
pub mod spec;
pub mod time;
pub mod upgrade;
