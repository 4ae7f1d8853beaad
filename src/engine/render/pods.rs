//! What a change does to a job's pods. Flink reads its configuration, arguments and
//! volumes only when a JobManager or TaskManager starts, so a change to a Deployment's pod
//! template replaces the pods and restarts the Flink job. Whether a change restarts a job
//! is decided here, from the render itself, so the plan cannot call "in place" a change
//! that Kubernetes will carry out by replacing the pods (without a savepoint).

use super::{config, render, Context};
use crate::model::spec::JobSpec;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The pod templates and replica counts of a job's Deployments, by component. Empty for
/// a session job (it runs in its cluster's pods).
#[derive(Debug, Clone, PartialEq)]
pub struct Pods {
    components: BTreeMap<String, (Value, Value)>,
    /// The Flink configuration the config-hash annotation stands for.
    flink_conf: BTreeMap<String, String>,
}

/// The pods `spec` renders to, as they would be applied to a job that already runs:
/// no commit (provenance is not on pod templates) and no savepoint to restore (a running
/// job keeps the one it was started from, whatever the spec says).
pub fn pods(spec: &JobSpec) -> Pods {
    let rendered = render(
        spec,
        &Context {
            commit: "",
            restore_from: None,
        },
    );
    let components = rendered
        .objects
        .into_iter()
        .filter(|o| o.kind == "Deployment")
        .map(|o| {
            let spec = &o.body["spec"];
            (
                o.name.clone(),
                (spec["template"].clone(), spec["replicas"].clone()),
            )
        })
        .collect();
    Pods {
        components,
        flink_conf: config::hashed(spec, None),
    }
}

/// How the pods differ, one line per Deployment whose pods change, or empty when the
/// change leaves every pod running. Values are not shown (they may be secrets): the
/// configuration keys and template fields that differ are.
pub fn pod_changes(old: &Pods, new: &Pods) -> Vec<String> {
    let names: BTreeSet<&String> = old.components.keys().chain(new.components.keys()).collect();
    let conf_keys: Vec<&str> = {
        let keys: BTreeSet<&String> = old.flink_conf.keys().chain(new.flink_conf.keys()).collect();
        keys.into_iter()
            .filter(|k| old.flink_conf.get(*k) != new.flink_conf.get(*k))
            .map(String::as_str)
            .collect()
    };
    let mut out = Vec::new();
    for name in names {
        let (Some((ot, or)), Some((nt, nr))) = (old.components.get(name), new.components.get(name))
        else {
            out.push(format!("Deployment {name} is added or removed"));
            continue;
        };
        if ot == nt && or == nr {
            continue;
        }
        let mut what = Vec::new();
        if or != nr {
            what.push(format!("replicas {or} → {nr}"));
        }
        let mut paths = Vec::new();
        differing_paths(ot, nt, String::new(), &mut paths);
        for p in paths {
            if p.ends_with(super::ANN_CONFIG_HASH) {
                what.push(if conf_keys.is_empty() {
                    "the Flink configuration".to_string()
                } else {
                    format!("the Flink configuration ({})", conf_keys.join(", "))
                });
            } else {
                what.push(p);
            }
        }
        out.push(format!(
            "pods of {name} are replaced: {} changes",
            what.join(", ")
        ));
    }
    out
}

/// The paths (`spec.containers[0].args`) at which two JSON values differ, at most a few,
/// stopping at the first level that names what a person would recognise.
fn differing_paths(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    const MAX: usize = 4;
    if a == b || out.len() >= MAX {
        return;
    }
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => differing_paths(p, q, join(k), out),
                    _ if out.len() < MAX => out.push(join(k)),
                    _ => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() && at.ends_with("containers") => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differing_paths(p, q, format!("{at}[{i}]"), out);
            }
        }
        _ => out.push(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

    fn spec(yaml: &str) -> JobSpec {
        catalog(&[("j.yaml", yaml)])
            .jobs
            .into_values()
            .next()
            .expect("one job")
    }

    const BASE: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  image: flink:2.0
  job: {jarURI: 'local:///opt/flink/usrlib/o.jar', parallelism: 2, upgradeMode: savepoint}
";

    #[test]
    fn same_spec_same_pods() {
        assert!(pod_changes(&pods(&spec(BASE)), &pods(&spec(BASE))).is_empty());
    }

    #[test]
    fn a_derived_configuration_key_replaces_the_pods_and_is_named() {
        let new = BASE.replace("upgradeMode: savepoint", "upgradeMode: last-state");
        let changes = pod_changes(&pods(&spec(BASE)), &pods(&spec(&new)));
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            changes[0].contains("externalized-checkpoint-retention"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_new_jar_replaces_the_pods_on_every_flink_version() {
        for (version, what) in [
            ("v1_17", "the Flink configuration (pipeline.classpaths)"),
            ("v2_0", "spec.containers[0].args"),
        ] {
            let old = BASE
                .replace(
                    "  image: flink:2.0\n",
                    &format!("  image: flink:2.0\n  flinkVersion: {version}\n"),
                )
                .replace("usrlib/o.jar", "artifacts/o.jar");
            let new = old.replace("o.jar", "o-2.jar");
            let changes = pod_changes(&pods(&spec(&old)), &pods(&spec(&new)));
            assert!(
                changes
                    .iter()
                    .any(|c| c.starts_with("pods of orders-jobmanager are replaced")
                        && c.contains(what)),
                "{version}: {changes:?}"
            );
        }
    }

    #[test]
    fn labels_and_provenance_leave_the_pods_alone() {
        let new = BASE.replace(
            "namespace: streaming}",
            "namespace: streaming, labels: {team: a}}",
        );
        assert!(pod_changes(&pods(&spec(BASE)), &pods(&spec(&new))).is_empty());
    }

    #[test]
    fn the_image_names_the_container_field() {
        let new = BASE.replace("flink:2.0", "flink:2.1");
        let changes = pod_changes(&pods(&spec(BASE)), &pods(&spec(&new)));
        assert!(
            changes
                .iter()
                .all(|c| c.contains("spec.containers[0].image")),
            "{changes:?}"
        );
    }

    #[test]
    fn a_pod_key_replaces_the_pods_it_shapes_and_counts_once() {
        let with = |conf: &str| {
            BASE.replace(
                "  image: flink:2.0\n",
                &format!("  image: flink:2.0\n  flinkConfiguration:\n{conf}"),
            )
        };
        let old = with("    kubernetes.taskmanager.node-selector: pool:a\n");
        for (new, want) in [
            (
                with("    kubernetes.taskmanager.node-selector: pool:b\n"),
                "spec.nodeSelector.pool",
            ),
            (
                with("    kubernetes.taskmanager.node-selector: pool:a\n    kubernetes.taskmanager.tolerations: key:k,operator:Exists\n"),
                "spec.tolerations",
            ),
        ] {
            let changes = pod_changes(&pods(&spec(&old)), &pods(&spec(&new)));
            // Only the TaskManagers' pods, and only by the field: the key is not in
            // Flink's configuration, so the config hash does not change with it.
            assert_eq!(
                changes,
                vec![format!("pods of orders-taskmanager are replaced: {want} changes")]
            );
        }
        let secret = with("    kubernetes.taskmanager.node-selector: pool:a\n    kubernetes.secrets: db:/opt/secrets/db\n");
        let changes = pod_changes(&pods(&spec(&old)), &pods(&spec(&secret)));
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            changes.iter().all(|c| !c.contains("Flink configuration")),
            "{changes:?}"
        );
    }
}
