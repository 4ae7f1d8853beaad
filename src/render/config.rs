//! The Flink configuration files in a job's ConfigMap.

use crate::spec::quantity::flink_bytes;
use crate::spec::{FlinkVersion, JobSpec};
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
///
/// Written by hand rather than with serde_yaml, which writes `yes`, `on` or `0.1e2`-like
/// text unquoted: every value here must read back as the same text in YAML 1.1 and 1.2.
pub fn config_yaml(conf: &BTreeMap<String, String>) -> String {
    let mut root = Level::default();
    for (key, value) in conf {
        root.insert(key, value);
    }
    let mut out = String::new();
    root.write(&mut out, 0);
    if out.is_empty() {
        out.push_str("{}\n");
    }
    out
}

/// One mapping of config.yaml, its keys in the order first inserted.
#[derive(Default)]
struct Level {
    order: Vec<String>,
    items: std::collections::HashMap<String, Item>,
}

enum Item {
    Value(String),
    Level(Level),
}

impl Level {
    fn insert(&mut self, key: &str, value: &str) {
        let Some((head, rest)) = key.split_once('.') else {
            self.put(key, Item::Value(value.to_string()));
            return;
        };
        match self.items.get_mut(head) {
            Some(Item::Level(child)) => child.insert(rest, value),
            Some(Item::Value(_)) => self.put(key, Item::Value(value.to_string())),
            None => {
                let mut child = Level::default();
                child.insert(rest, value);
                self.put(head, Item::Level(child));
            }
        }
    }

    fn put(&mut self, key: &str, item: Item) {
        if self.items.insert(key.to_string(), item).is_none() {
            self.order.push(key.to_string());
        }
    }

    fn write(&self, out: &mut String, indent: usize) {
        for key in &self.order {
            out.push_str(&" ".repeat(indent));
            out.push_str(&yaml_scalar(key));
            out.push(':');
            match &self.items[key] {
                Item::Value(v) => {
                    out.push(' ');
                    out.push_str(&yaml_scalar(v));
                    out.push('\n');
                }
                Item::Level(child) => {
                    out.push('\n');
                    child.write(out, indent + 2);
                }
            }
        }
    }
}

/// A configuration value as YAML that reads back as the same text: whole numbers and
/// `true`/`false` plain (Flink reads them as that text), other text plain only when no
/// YAML 1.1 or 1.2 reader could take it for anything else, else quoted.
pub fn yaml_scalar(v: &str) -> String {
    let canonical_int = v == "0"
        || (v.len() <= 18 && {
            let digits = v.strip_prefix('-').unwrap_or(v);
            digits.starts_with(|c: char| ('1'..='9').contains(&c))
                && digits.bytes().all(|b| b.is_ascii_digit())
        });
    if canonical_int || v == "true" || v == "false" || plain_is_text(v) {
        return v.to_string();
    }
    if v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return format!("'{}'", v.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether `v` written plain reads back as the string `v` in YAML 1.1 and 1.2.
fn plain_is_text(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    let printable = v.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' ');
    if !printable
        || v.starts_with(' ')
        || v.ends_with(' ')
        || v.ends_with(':')
        || v.contains(": ")
        || v.contains(" #")
        || "?:,[]{}#&*!|>'\"%@`<=~".contains(first)
        || (first == '-' && (v.len() == 1 || v.starts_with("- ") || v.starts_with("--")))
    {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    const WORDS: [&str; 10] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    if WORDS.contains(&lower.as_str()) {
        return false;
    }
    // Numbers in any YAML's notation: signs, `_` separators, 0x/0o/0b, exponents,
    // .inf/.nan, sexagesimal `1:30`, dates `2024-01-31`.
    let unsigned = v.trim_start_matches(['+', '-']);
    let bare: String = unsigned.chars().filter(|&c| c != '_').collect();
    let radix = ["0x", "0o", "0b"].iter().any(|p| bare.starts_with(p));
    let float = bare.parse::<f64>().is_ok()
        || matches!(lower.trim_start_matches(['+', '-']), ".inf" | ".nan");
    let sexagesimal = bare.contains(':')
        && bare
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    let date = bare.len() >= 6
        && bare.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && bare.as_bytes()[4] == b'-';
    !(radix || float || sexagesimal || date)
}

/// Flink's legacy format: one `key: value` per line, read without any quoting or
/// escaping (a `#` starts a comment). Validation rejects what this format cannot hold;
/// control characters are replaced here too, so no value can start a line of its own.
fn legacy_conf(conf: &BTreeMap<String, String>) -> String {
    let one_line = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    conf.iter()
        .map(|(k, v)| format!("{}: {}\n", one_line(k), one_line(v)))
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
    fn config_yaml_quotes_whatever_any_yaml_would_read_as_something_else() {
        let tricky = [
            "on",
            "Off",
            "yes",
            "NO",
            "y",
            "N",
            "null",
            "~",
            "",
            "1.10",
            "007",
            "0x1F",
            "0o17",
            "+1",
            "1e3",
            ".inf",
            "-.Inf",
            ".NaN",
            "1:30",
            "2024-01-31",
            "1_000",
            "- x",
            "a: b",
            "x #y",
            " x",
            "x ",
            "'q'",
            "\"d\"",
            "a\nb",
            "tab\t",
            "é",
            "\u{2028}",
            "*a",
            "&a",
            "!t",
            "%x",
            "@x",
            "`x",
            "{a}",
            "[a]",
            ",x",
            "?x",
            "<<",
            "=",
            "---",
            "-",
            "True",
        ];
        for v in tricky {
            let text = config_yaml(&conf(&[("k", v)]));
            assert_ne!(text, format!("k: {v}\n"), "{v:?} must be quoted");
            let back: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(
                back["k"],
                serde_yaml::Value::from(v),
                "{v:?} read back from {text}"
            );
        }
        let plain = [
            "x-rest",
            "s3://b/p",
            "0.0.0.0",
            "60s",
            "1600m",
            "-XX:+UseG1GC",
            "8081",
            "-1",
            "0",
            "true",
            "false",
            "RETAIN_ON_CANCELLATION",
            "a b",
        ];
        for v in plain {
            assert_eq!(config_yaml(&conf(&[("k", v)])), format!("k: {v}\n"));
        }
        // Keys are quoted the same way.
        let text = config_yaml(&conf(&[("on.yes", "x")]));
        assert_eq!(text, "'on':\n  'yes': x\n");
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
