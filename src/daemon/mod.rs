//! `flinkops run`: following Git, the run loop and leadership, serving the status page,
//! health, metrics and webhooks, and reporting commit statuses.

pub mod commit_status;
pub mod follow;
pub mod http;
pub mod metrics;
pub mod run;
pub mod status_page;
pub mod webhook;
