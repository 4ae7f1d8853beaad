//! What a `podTemplate` may ask of the node. Whoever can push to the job repository
//! chooses the pods' template; without a policy that is root on every node the pods land
//! on (a privileged container, the host's filesystem, network or processes). By default
//! all of that is refused; `podPolicy` in flinkops.yaml opens what a repository needs.

use super::decode::Cx;
use super::yaml::Node;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodPolicy {
    /// `securityContext.privileged` and `allowPrivilegeEscalation: true`.
    pub allow_privileged: bool,
    /// `hostNetwork`, `hostPID`, `hostIPC`, `hostUsers: false`... and container `hostPort`s.
    pub allow_host_namespaces: bool,
    /// `hostPath` volumes under these paths (exact or below); none by default.
    pub allow_host_paths: Vec<String>,
    /// Linux capabilities a container may add; none by default.
    pub allow_capabilities: Vec<String>,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Reports every field of the Pod `pod` (read from `node`) that the policy refuses, at
/// its own position.
pub fn check(cx: &mut Cx, node: &Node, pod: &Value, field: &str, policy: &PodPolicy) {
    let mut refuse = |path: &[&str], what: String, setting: &str| {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let at = node.locate(&path);
        cx.error(
            at.pos,
            &format!("{field}.{}", path.join(".")),
            format!("{what}: refused by the pod policy (allow it with podPolicy.{setting} in flinkops.yaml)"),
        );
    };
    let spec = &pod["spec"];
    if !policy.allow_host_namespaces {
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            if spec[key] == Value::Bool(true) {
                refuse(
                    &["spec", key],
                    format!("{key} shares the node's namespace"),
                    "allowHostNamespaces",
                );
            }
        }
    }
    if let Some(volumes) = spec["volumes"].as_array() {
        for (i, v) in volumes.iter().enumerate() {
            let Some(path) = v["hostPath"]["path"].as_str() else {
                continue;
            };
            if !host_path_allowed(path, &policy.allow_host_paths) {
                let i = i.to_string();
                refuse(
                    &["spec", "volumes", &i, "hostPath", "path"],
                    format!("hostPath `{path}` mounts the node's filesystem"),
                    "allowHostPaths",
                );
            }
        }
    }
    for list in CONTAINER_LISTS {
        let Some(containers) = spec[list].as_array() else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            let i = i.to_string();
            let sc = &c["securityContext"];
            if !policy.allow_privileged {
                if sc["privileged"] == Value::Bool(true) {
                    refuse(
                        &["spec", list, &i, "securityContext", "privileged"],
                        "a privileged container is root on the node".into(),
                        "allowPrivileged",
                    );
                }
                if sc["allowPrivilegeEscalation"] == Value::Bool(true) {
                    refuse(
                        &[
                            "spec",
                            list,
                            &i,
                            "securityContext",
                            "allowPrivilegeEscalation",
                        ],
                        "privilege escalation".into(),
                        "allowPrivileged",
                    );
                }
            }
            if let Some(add) = sc["capabilities"]["add"].as_array() {
                for (j, cap) in add.iter().enumerate() {
                    let name = cap.as_str().unwrap_or_default();
                    let bare = name.trim_start_matches("CAP_");
                    if !policy
                        .allow_capabilities
                        .iter()
                        .any(|a| a.trim_start_matches("CAP_").eq_ignore_ascii_case(bare))
                    {
                        let j = j.to_string();
                        refuse(
                            &[
                                "spec",
                                list,
                                &i,
                                "securityContext",
                                "capabilities",
                                "add",
                                &j,
                            ],
                            format!("the capability `{name}`"),
                            "allowCapabilities",
                        );
                    }
                }
            }
            if !policy.allow_host_namespaces {
                if let Some(ports) = c["ports"].as_array() {
                    for (j, p) in ports.iter().enumerate() {
                        if p.get("hostPort").is_some_and(|h| !h.is_null()) {
                            let j = j.to_string();
                            refuse(
                                &["spec", list, &i, "ports", &j, "hostPort"],
                                "a hostPort listens on the node's network".into(),
                                "allowHostNamespaces",
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `path` is one of `allowed` or below one (by whole path segments; `..` never passes).
fn host_path_allowed(path: &str, allowed: &[String]) -> bool {
    if path.split('/').any(|seg| seg == "..") {
        return false;
    }
    let path = path.trim_end_matches('/');
    allowed.iter().any(|a| {
        // `/` allows every path (said explicitly).
        let a = a.trim_end_matches('/');
        a.is_empty() || path == a || path.starts_with(&format!("{a}/"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_match_by_whole_segments() {
        let allowed = vec!["/var/flink".to_string()];
        assert!(host_path_allowed("/var/flink", &allowed));
        assert!(host_path_allowed("/var/flink/savepoints/", &allowed));
        assert!(!host_path_allowed("/var/flinkx", &allowed));
        assert!(!host_path_allowed("/var/flink/../../etc", &allowed));
        assert!(!host_path_allowed("/", &allowed));
        assert!(!host_path_allowed("/var/flink", &[]));
        assert!(host_path_allowed("/etc", &["/".to_string()]));
    }
}
