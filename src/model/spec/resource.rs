//! `resource {cpu, memory, ephemeralStorage}` of a JobManager or TaskManager, and
//! `resources {requests, limits}`: Kubernetes ResourceRequirements, which replace
//! `resource` in the Apache operator.

use super::decode::{closest, Cx, Fields};
use super::quantity::{k8s_bytes, k8s_cpu, parse_cpu, parse_k8s_bytes, parse_memory};
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
    // A Kubernetes quantity, as the operator reads it (`2G` is 2×10^9 bytes), unlike memory.
    if let Some(n) = f.take("ephemeralStorage") {
        out.ephemeral_storage_bytes =
            quantity(cx, n, &f.field("ephemeralStorage"), parse_k8s_bytes);
    }
    f.finish(cx);
    out
}

/// `resources` as written: requests and limits, each part optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourcesInput {
    pub requests: ResourceInput,
    pub limits: ResourceInput,
}

/// The resource names `resources` takes: the ones Flink's process and the pod's size need.
const RESOURCE_NAMES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// `resources`, read as the Apache operator reads it: memory in Flink's units first
/// (`2G` is 2 GiB, as there), ephemeral storage as a Kubernetes quantity, and a request
/// above its limit is an error (Kubernetes would refuse the pod).
pub fn decode_resources(cx: &mut Cx, node: &Node, path: &str) -> ResourcesInput {
    let mut out = ResourcesInput::default();
    let Some(mut f) = Fields::of(cx, node, path) else {
        return out;
    };
    if let Some(n) = f.take("requests") {
        out.requests = decode_resource_list(cx, n, &f.field("requests"));
    }
    if let Some(n) = f.take("limits") {
        out.limits = decode_resource_list(cx, n, &f.field("limits"));
    }
    f.unsupported(
        cx,
        "claims",
        "resource claims (dynamic resource allocation) are not rendered; add them to the main container in podTemplate",
    );
    f.finish(cx);
    let (r, l) = (out.requests, out.limits);
    let pairs = [
        (
            "cpu",
            r.cpu_millis,
            l.cpu_millis,
            k8s_cpu as fn(u64) -> String,
        ),
        ("memory", r.memory_bytes, l.memory_bytes, k8s_bytes),
        (
            "ephemeral-storage",
            r.ephemeral_storage_bytes,
            l.ephemeral_storage_bytes,
            k8s_bytes,
        ),
    ];
    for (name, request, limit, show) in pairs {
        let (Some(request), Some(limit)) = (request, limit) else {
            continue;
        };
        if request > limit {
            let pos = node
                .get("requests")
                .and_then(|n| n.get(name))
                .map_or(node.pos, |n| n.pos);
            cx.error(
                pos,
                &format!("{path}.requests.{name}"),
                format!(
                    "the {name} request ({}) is more than its limit ({}, {path}.limits.{name}); Kubernetes refuses such a pod",
                    show(request),
                    show(limit)
                ),
            );
        }
    }
    out
}

fn decode_resource_list(cx: &mut Cx, node: &Node, path: &str) -> ResourceInput {
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
    if let Some(n) = f.take("ephemeral-storage") {
        out.ephemeral_storage_bytes =
            quantity(cx, n, &f.field("ephemeral-storage"), parse_k8s_bytes);
    }
    for (k, _) in f.take_rest() {
        let name = k.scalar_text().unwrap_or_else(|| "<complex key>".into());
        let message = if name.contains('/') || name.starts_with("hugepages-") {
            format!("`{name}`: flinkops renders cpu, memory and ephemeral-storage from here; request other resources for the main container (flink-main-container) in podTemplate, where they are kept")
        } else if let Some(best) = closest(&name, &RESOURCE_NAMES) {
            format!("unknown resource `{name}` (did you mean `{best}`?)")
        } else {
            format!(
                "unknown resource `{name}`; known: {}",
                RESOURCE_NAMES.join(", ")
            )
        };
        cx.error(k.pos, &f.field(&name), message);
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
