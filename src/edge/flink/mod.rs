//! Talking to a Flink cluster's REST API: typed requests and answers, errors that carry
//! Flink's own text. The edge the upgrade state machine drives.

pub mod rest;
pub mod tls;

pub use crate::model::flink::*;
pub use rest::{FlinkError, FlinkRest};
