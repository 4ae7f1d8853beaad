//! flinkops: a Git-driven reconciler for Apache Flink on Kubernetes.
//!
//! The tree follows the architecture, and dependencies go one way, down this list
//! (`tests/architecture.rs` checks it):
//!
//! - `cli`: the commands.
//! - `daemon`: `flinkops run`: following Git, the run loop, serving HTTP, metrics.
//! - `runtime`: carrying decisions out: per-job workers, the upgrade executor, savepoints,
//!   jars, notifications. Used by the daemon and by one-shot commands (`sync --once`).
//! - `edge`: the outside world: Kubernetes (`kube`), Flink's REST API (`flink`), Git (`git`).
//! - `engine`: pure decisions: render, plan, reconcile, upgrade transitions, diffs, waits.
//! - `model`: pure values: job definitions as read and validated (`spec`), ledgers and
//!   upgrade records, what Flink answers, labels.
//!
//! Data flow: `edge::git` (a commit's files) → `model::spec` (parse, validate) →
//! `engine::render` (objects) → `engine::plan`/`engine::reconcile` (actions) → `runtime`
//! (apply, upgrade through `edge::kube` and `edge::flink`).

pub mod cli;
pub mod daemon;
pub mod edge;
pub mod engine;
pub mod model;
pub mod runtime;
