//! `resource {cpu, memory, ephemeralStorage}` of a JobManager or TaskManager.

use super::decode::{Cx, Fields};
use super::quantity::{parse_cpu, parse_memory};
use super::yaml::{Node, Value};

/// A resource block as written: each part optional until defaults are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceInput {
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub ephemeral_storage_bytes: Option<u64>,
}

impl ResourceInput {
    /// Fills what this block leaves out from `fallback`.
    pub fn or(self, fallback: ResourceInput) -> ResourceInput {
        ResourceInput {
            cpu_millis: self.cpu_millis.or(fallback.cpu_millis),
            memory_bytes: self.memory_bytes.or(fallback.memory_bytes),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .or(fallback.ephemeral_storage_bytes),
        }
    }
}

pub fn decode_resource(cx: &mut Cx, node: &Node, path: &str) -> ResourceInput {
    let mut out = ResourceInput::default();
    let Some(mut f) = Fields::of(cx, node, path) else {
        return out;
    };
    if let Some(n) = f.take("cpu") {
        out.cpu_millis = quantity(cx, n, &f.field("cpu"), parse_cpu);
    }
    if let Some(n) = f.take("memory") {
        out.memory_bytes = quantity(cx, n, &f.field("memory"), parse_memory);
    }
    if let Some(n) = f.take("ephemeralStorage") {
        out.ephemeral_storage_bytes = quantity(cx, n, &f.field("ephemeralStorage"), parse_memory);
    }
    f.finish(cx);
    out
}

/// A CPU or size value, written as a number or a string.
pub(super) fn quantity(
    cx: &mut Cx,
    node: &Node,
    field: &str,
    parse: fn(&str) -> Result<u64, String>,
) -> Option<u64> {
    let text = match &node.value {
        Value::Str(_) | Value::Int(_) | Value::Float(_) => node.scalar_text()?,
        _ => {
            cx.error(
                node.pos,
                field,
                format!("expected a number or a string, got {}", node.type_name()),
            );
            return None;
        }
    };
    match parse(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.error(node.pos, field, e);
            None
        }
    }
}
