//! flinkops: a Git-driven reconciler for Apache Flink on Kubernetes.
//!
//! Data flow: `source` (Git) → `spec` (parse, validate) → `render` (objects) → `plan`
//! (actions and diffs). Everything after `source` is pure.

pub mod cli;
pub mod cluster;
pub mod commit_status;
pub mod daemon;
pub mod diff;
pub mod drift;
pub mod duration;
pub mod escape;
pub mod fault;
pub mod flink;
pub mod history;
pub mod image_jar;
pub mod live_facts;
pub mod ownership;
pub mod plan;
pub mod reconcile;
pub mod redact;
pub mod render;
pub mod session_job;
pub mod source;
pub mod spec;
pub mod status;
pub mod upgrade;
pub mod wait;
