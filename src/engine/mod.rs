//! Pure decisions: values in, values out, no I/O. Rendering, planning, reconciling, the
//! upgrade's transitions, what a commit changed and whether it went live. Depends only on
//! `model`.

pub mod commit_status;
pub mod diff;
pub mod drift;
pub mod history;
pub mod job_status;
pub mod live_facts;
pub mod ownership;
pub mod plan;
pub mod reconcile;
pub mod redact;
pub mod render;
pub mod session_job;
pub mod upgrade;
pub mod wait;
