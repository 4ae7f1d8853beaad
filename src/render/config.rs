//! The Flink configuration files in a job's ConfigMap.

use crate::spec::quantity::flink_bytes;
use crate::spec::{FlinkVersion, JobSpec};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

pub const RPC_PORT: i32 = 6123;
pub const BLOB_PORT: i32 = 6124;
pub const TM_RPC_PORT: i32 = 6122;
pub const REST_PORT: i32 = 8081;

pub const CONFIG_YAML: &str = "config.yaml";
pub const LEGACY_CONF: &str = "flink-conf.yaml";
pub const LOG4J_CONSOLE: &str = "log4j-console.properties";

/// Flink's console logging, with monitorInterval so a changed log configuration is
/// picked up without restarting the job.
pub const DEFAULT_LOG4J: &str = "\
monitorInterval=30
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
logger.akka.name = akka
logger.akka.level = INFO
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = INFO
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
";

/// Keeps completed checkpoints when a job is cancelled (last-state upgrades rely on it).
pub const CHECKPOINT_RETENTION: &str = "execution.checkpointing.externalized-checkpoint-retention";

/// Where savepoints go, from the effective configuration (Flink 2 key, then the legacy one).
pub fn savepoint_dir(conf: &BTreeMap<String, String>) -> Option<&str> {
    conf.get("execution.checkpointing.savepoint-dir")
        .or_else(|| conf.get("state.savepoints.dir"))
        .map(String::as_str)
}

/// The effective Flink configuration of a cluster: the job's configuration, then what
/// flinkops must control for the pods to find each other.
pub fn effective(spec: &JobSpec, restore_from: Option<&str>) -> BTreeMap<String, String> {
    let mut conf = spec.flink_configuration.clone();
    conf.retain(|k, _| !crate::spec::is_operator_key(k));
    let Some(cluster) = &spec.cluster else {
        return conf;
    };
    let name = &spec.id.name;
    let mut set = |k: &str, v: String| {
        conf.insert(k.to_string(), v);
    };
    set("jobmanager.rpc.address", format!("{name}-jobmanager"));
    set("jobmanager.rpc.port", RPC_PORT.to_string());
    set("blob.server.port", BLOB_PORT.to_string());
    set("taskmanager.rpc.port", TM_RPC_PORT.to_string());
    set("rest.port", REST_PORT.to_string());
    set("rest.address", format!("{name}-rest"));
    set("rest.bind-address", "0.0.0.0".into());
    set("jobmanager.bind-host", "0.0.0.0".into());
    set("taskmanager.bind-host", "0.0.0.0".into());
    set(
        "jobmanager.memory.process.size",
        flink_bytes(cluster.job_manager.resource.memory_bytes),
    );
    set(
        "taskmanager.memory.process.size",
        flink_bytes(cluster.task_manager.resource.memory_bytes),
    );
    if let Some(job) = &spec.job {
        set("parallelism.default", job.parallelism.to_string());
        // Keep the JobManager up after the job stops (e.g. stop-with-savepoint), so it
        // cannot exit, be restarted by its Deployment and re-run the job from a stale
        // savepoint; flinkops observes the outcome and replaces it.
        set("execution.shutdown-on-application-finish", "false".into());
        // Only what the caller says: initialSavepointPath is for the first deployment
        // alone, which the caller knows and this function does not.
        if let Some(path) = restore_from {
            set("execution.savepoint.path", path.to_string());
        }
        if let Some(allow) = job.allow_non_restored_state {
            set(
                "execution.savepoint.ignore-unclaimed-state",
                allow.to_string(),
            );
        }
    }
    // last-state upgrades cancel the job and restore its latest checkpoint, which Flink
    // deletes on cancellation unless told to keep it.
    if spec
        .job
        .as_ref()
        .is_some_and(|j| j.upgrade_mode == crate::spec::UpgradeMode::LastState)
    {
        conf.entry(CHECKPOINT_RETENTION.to_string())
            .or_insert_with(|| "RETAIN_ON_CANCELLATION".into());
    }
    conf
}

/// ConfigMap data: config.yaml (nested, as Flink 2 writes it), flink-conf.yaml for Flink
/// before 1.19, and logging configuration.
pub fn files(
    conf: &BTreeMap<String, String>,
    version: Option<FlinkVersion>,
    logging: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert(CONFIG_YAML.to_string(), config_yaml(conf));
    if version.is_some_and(FlinkVersion::needs_legacy_conf) {
        out.insert(LEGACY_CONF.to_string(), legacy_conf(conf));
    }
    out.insert(LOG4J_CONSOLE.to_string(), DEFAULT_LOG4J.to_string());
    for (k, v) in logging {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Nested YAML: `a.b.c: x` becomes `a: {b: {c: x}}`. A key that is both a value and a
/// prefix of another key (`a.b` and `a.b.c`) keeps the longer one flat below the shared
/// part, which Flink's reader flattens back to the same keys.
pub fn config_yaml(conf: &BTreeMap<String, String>) -> String {
    let mut root = Mapping::new();
    for (key, value) in conf {
        insert(&mut root, key, scalar(value));
    }
    serde_yaml::to_string(&Value::Mapping(root)).expect("a mapping of scalars serializes")
}

fn insert(map: &mut Mapping, key: &str, value: Value) {
    let Some((head, rest)) = key.split_once('.') else {
        map.insert(Value::String(key.to_string()), value);
        return;
    };
    let head_key = Value::String(head.to_string());
    match map.get_mut(&head_key) {
        Some(Value::Mapping(child)) => insert(child, rest, value),
        Some(_) => {
            map.insert(Value::String(key.to_string()), value);
        }
        None => {
            let mut child = Mapping::new();
            insert(&mut child, rest, value);
            map.insert(head_key, Value::Mapping(child));
        }
    }
}

/// Whole numbers and booleans are written as YAML scalars of their type; the rest as
/// strings (serde_yaml quotes anything that would read as another type).
fn scalar(v: &str) -> Value {
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match v.parse::<i64>() {
            Ok(i) if i.to_string() == v => Value::Number(i.into()),
            _ => Value::String(v.to_string()),
        },
    }
}

/// Flink's legacy format: one `key: value` per line, read without YAML quoting rules.
fn legacy_conf(conf: &BTreeMap<String, String>) -> String {
    conf.iter()
        .map(|(k, v)| format!("{k}: {}\n", v.replace('\n', " ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_yaml_nests_keys_and_types_scalars() {
        let text = config_yaml(&conf(&[
            ("rest.port", "8081"),
            ("rest.address", "x-rest"),
            ("state.backend.type", "rocksdb"),
            ("execution.shutdown-on-application-finish", "false"),
            ("pipeline.name", "007"),
        ]));
        assert_eq!(
            text,
            "execution:\n  shutdown-on-application-finish: false\npipeline:\n  name: '007'\nrest:\n  address: x-rest\n  port: 8081\nstate:\n  backend:\n    type: rocksdb\n"
        );
    }

    #[test]
    fn config_yaml_keeps_prefix_conflicts_readable() {
        let text = config_yaml(&conf(&[("a.b", "1"), ("a.b.c", "2")]));
        assert_eq!(text, "a:\n  b: 1\n  b.c: 2\n");
        // Reading it back the way Flink does (flattening) gives both keys.
        let back: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back["a"]["b"], serde_yaml::Value::from(1));
        assert_eq!(back["a"]["b.c"], serde_yaml::Value::from(2));
    }

    #[test]
    fn legacy_file_only_before_1_19() {
        let c = conf(&[("a.b", "x")]);
        let none = BTreeMap::new();
        let old = files(&c, FlinkVersion::parse("v1_18"), &none);
        assert_eq!(old[LEGACY_CONF], "a.b: x\n");
        assert!(old.contains_key(CONFIG_YAML));
        let new = files(&c, FlinkVersion::parse("v1_20"), &none);
        assert!(!new.contains_key(LEGACY_CONF));
        assert!(new[LOG4J_CONSOLE].starts_with("monitorInterval=30"));
    }

    #[test]
    fn flinkops_settings_are_not_passed_to_flink() {
        let catalog = crate::spec::testing::catalog(&[(
            "a.yaml",
            "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: a, namespace: n}
spec:
  image: flink:2.0
  flinkConfiguration:
    kubernetes.operator.periodic.savepoint.interval: 1h
    state.backend.type: rocksdb
  job: {jarURI: local:///a.jar}
",
        )]);
        let spec = catalog.jobs.values().next().unwrap();
        let conf = effective(spec, None);
        assert_eq!(
            conf.get("state.backend.type").map(String::as_str),
            Some("rocksdb")
        );
        assert!(conf.keys().all(|k| !k.starts_with("kubernetes.operator.")));
    }

    #[test]
    fn log_configuration_replaces_the_default() {
        let logging = conf(&[(LOG4J_CONSOLE, "rootLogger.level = DEBUG\n")]);
        let out = files(&BTreeMap::new(), None, &logging);
        assert_eq!(out[LOG4J_CONSOLE], "rootLogger.level = DEBUG\n");
    }
}
