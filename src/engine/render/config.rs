//! The Flink configuration files in a job's ConfigMap.

use crate::model::spec::quantity::flink_bytes;
use crate::model::spec::{
    FlinkVersion, JobSpec, UpgradeMode, JM_PROCESS_MEMORY, TM_PROCESS_MEMORY,
};
use std::collections::{BTreeMap, BTreeSet};

pub const RPC_PORT: i32 = 6123;
pub const BLOB_PORT: i32 = 6124;
pub const TM_RPC_PORT: i32 = 6122;
pub const REST_PORT: i32 = 8081;

pub const CONFIG_YAML: &str = "config.yaml";
/// The JobManager's RPC port under high availability (a range in Flink; fixed here).
pub const HA_JOBMANAGER_PORT: &str = "high-availability.jobmanager.port";
pub const LEGACY_CONF: &str = "flink-conf.yaml";
pub const LOG4J_CONSOLE: &str = "log4j-console.properties";

/// The log4j configuration a cluster gets unless its logConfiguration has this file: the
/// Apache operator's (console, and a rolling file at `log.file`, which Flink's start
/// scripts set and the Flink UI's log tab and log-tailing sidecars read), with
/// monitorInterval so a changed log configuration is picked up without a restart.
pub const DEFAULT_LOG4J: &str = "\
monitorInterval=30
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
rootLogger.appenderRef.rolling.ref = RollingFileAppender
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
appender.rolling.name = RollingFileAppender
appender.rolling.type = RollingFile
appender.rolling.append = false
appender.rolling.fileName = ${sys:log.file}
appender.rolling.filePattern = ${sys:log.file}.%i
appender.rolling.layout.type = PatternLayout
appender.rolling.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.rolling.policies.type = Policies
appender.rolling.policies.size.type = SizeBasedTriggeringPolicy
appender.rolling.policies.size.size = 100MB
appender.rolling.strategy.type = DefaultRolloverStrategy
appender.rolling.strategy.max = 10
";

/// Keeps completed checkpoints when a job is cancelled (last-state upgrades rely on it).
pub const CHECKPOINT_RETENTION: &str = "execution.checkpointing.externalized-checkpoint-retention";
pub const CHECKPOINT_INTERVAL: &str = "execution.checkpointing.interval";

/// The Java module options Flink's own distribution ships in its default configuration
/// (`env.java.opts.all` in conf/flink-conf.yaml of 1.18 and conf/config.yaml of 1.19 to
/// 2.x, the same list): without them Flink fails on Java 17 images, and the config.yaml
/// flinkops writes replaces the distribution's.
pub const JAVA17_OPTS: &str = "\
--add-exports=java.base/sun.net.util=ALL-UNNAMED \
--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED \
--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED \
--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED \
--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED \
--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED \
--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED \
--add-opens=java.base/java.lang=ALL-UNNAMED \
--add-opens=java.base/java.net=ALL-UNNAMED \
--add-opens=java.base/java.io=ALL-UNNAMED \
--add-opens=java.base/java.nio=ALL-UNNAMED \
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
--add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
--add-opens=java.base/java.text=ALL-UNNAMED \
--add-opens=java.base/java.time=ALL-UNNAMED \
--add-opens=java.base/java.util=ALL-UNNAMED \
--add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED \
--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED";

/// Flink's user library folder in the official images: the standalone entrypoint puts
/// every jar under it (sub-folders too) on the job's classpath by itself.
pub const USRLIB: &str = "/opt/flink/usrlib";
pub const CLASSPATHS: &str = "pipeline.classpaths";

/// Whether an application's JobManager takes the job's jar as `--jars`: Flink 1.19 and
/// later (and an unknown version, rendered as the newest), which fetch it and read the
/// entry class from it.
pub fn jar_as_argument(version: Option<FlinkVersion>) -> bool {
    version.is_none_or(|v| !v.needs_legacy_conf())
}

/// How an application's jar (`local:///path`, as validated) reaches Flink before 1.19,
/// which has no `--jars`: as a `pipeline.classpaths` entry (`file:///path`, as the Apache
/// operator passes it), which Flink adds to the job's classpath. None when `--jars`
/// carries it, and for a jar under `USRLIB`, which Flink loads with the folder: listing it
/// again would make Flink find its entry class twice and refuse to choose.
pub fn jar_classpath(jar_uri: &str, version: Option<FlinkVersion>) -> Option<String> {
    if jar_as_argument(version) {
        return None;
    }
    let path = jar_uri.strip_prefix("local://")?;
    let in_usrlib = path
        .strip_prefix(USRLIB)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| rest.split('/').all(|s| !matches!(s, "" | "." | "..")));
    (!in_usrlib).then(|| format!("file://{path}"))
}

/// Where savepoints go, from the effective configuration (Flink 2 key, then the legacy one).
pub fn savepoint_dir(conf: &BTreeMap<String, String>) -> Option<&str> {
    conf.get("execution.checkpointing.savepoint-dir")
        .or_else(|| conf.get("state.savepoints.dir"))
        .map(String::as_str)
}

/// The checkpoint interval the Apache operator gives a last-state job that sets none
/// (its DEFAULT_CHECKPOINTING_INTERVAL): a last-state upgrade needs a checkpoint.
pub const DEFAULT_LAST_STATE_INTERVAL: &str = "5 min";

const V1_15: FlinkVersion = FlinkVersion {
    major: 1,
    minor: 15,
};
const V1_18: FlinkVersion = FlinkVersion {
    major: 1,
    minor: 18,
};

/// A setting flinkops adds when the definition (or the settings' defaults) leaves it out:
/// the definition's value always wins.
struct Default {
    key: &'static str,
    value: String,
    /// Whether pods that run without it must restart to take it, so the config hash
    /// counts it. Most defaults change nothing a running job relies on: a flinkops
    /// version that adds one rewrites the ConfigMap and restarts nothing, and the pods
    /// read it when they next start (see docs/repository-format.md).
    restarts: bool,
}

/// Where the Java 17 options go for a Flink version: `env.java.default-opts.all` from
/// 1.19 on (and when the version is unknown), where `env.java.opts.all` adds to it as on
/// the Apache operator; `env.java.opts.all` in 1.18, which has no default options; none
/// before, as Flink runs on Java 17 from 1.18 only.
pub fn java_opts_key(version: Option<FlinkVersion>) -> Option<&'static str> {
    match version {
        Some(v) if v < V1_18 => None,
        Some(v) if v == V1_18 => Some("env.java.opts.all"),
        _ => Some("env.java.default-opts.all"),
    }
}

/// Whether the configuration turns on high availability (as Flink decides it).
pub fn high_availability(conf: &BTreeMap<String, String>) -> bool {
    conf.get("high-availability.type")
        .or_else(|| conf.get("high-availability"))
        .is_some_and(|v| !v.eq_ignore_ascii_case("none"))
}

/// The Apache operator's defaults for a job (application or session job): its name,
/// checkpoints kept on cancellation for a job whose state matters, and a checkpoint
/// interval for a last-state job.
fn job_defaults(spec: &JobSpec, out: &mut Vec<Default>) {
    let Some(job) = &spec.job else { return };
    out.push(Default {
        key: "pipeline.name",
        value: spec.id.name.clone(),
        restarts: false,
    });
    if job.upgrade_mode != UpgradeMode::Stateless {
        // last-state upgrades cancel the job and restore its latest checkpoint, which
        // Flink deletes on cancellation unless told to keep it: a last-state job restarts
        // for it (as it always has); a savepoint job keeps its checkpoints from its next
        // start (a switch to last-state restarts it, as this is then counted).
        out.push(Default {
            key: CHECKPOINT_RETENTION,
            value: "RETAIN_ON_CANCELLATION".into(),
            restarts: job.upgrade_mode == UpgradeMode::LastState,
        });
    }
    if job.upgrade_mode == UpgradeMode::LastState {
        out.push(Default {
            key: CHECKPOINT_INTERVAL,
            value: DEFAULT_LAST_STATE_INTERVAL.into(),
            restarts: false,
        });
    }
}

/// Every default of `spec`, in the order they apply.
fn defaults(spec: &JobSpec) -> Vec<Default> {
    let mut out = Vec::new();
    job_defaults(spec, &mut out);
    let Some(cluster) = &spec.cluster else {
        return out;
    };
    let version = cluster.flink_version;
    // Nobody cancels a job by hand from the Flink UI behind flinkops' back.
    out.push(Default {
        key: "web.cancel.enable",
        value: "false".into(),
        restarts: false,
    });
    if let Some(key) = java_opts_key(version) {
        out.push(Default {
            key,
            value: JAVA17_OPTS.into(),
            restarts: false,
        });
    }
    // A job whose main() fails is reported as a FAILED job rather than a JobManager that
    // exits (Flink 1.15+). Flink refuses it unless one job per cluster is enforced, which
    // it does only with high availability: without, the application would fail.
    if spec.kind == crate::model::spec::JobKind::Application
        && version.is_none_or(|v| v >= V1_15)
        && high_availability(&spec.flink_configuration)
    {
        out.push(Default {
            key: "execution.submit-failed-job-on-application-error",
            value: "true".into(),
            restarts: false,
        });
    }
    out
}

/// The effective Flink configuration of a cluster: the job's configuration, then what
/// flinkops must control for the pods to find each other, then the defaults the
/// definition leaves out. For a session job: what is submitted with it.
pub fn effective(spec: &JobSpec, restore_from: Option<&str>) -> BTreeMap<String, String> {
    effective_and_lazy(spec, restore_from).0
}

/// What the config hash stands for (what the pods must restart for): the effective
/// configuration without the defaults that running pods do not restart for.
pub fn hashed(spec: &JobSpec, restore_from: Option<&str>) -> BTreeMap<String, String> {
    let (mut conf, lazy) = effective_and_lazy(spec, restore_from);
    conf.retain(|k, _| !lazy.contains(k.as_str()));
    conf
}

/// The effective configuration, and the keys in it that came from a default pods do not
/// restart for.
fn effective_and_lazy(
    spec: &JobSpec,
    restore_from: Option<&str>,
) -> (BTreeMap<String, String>, BTreeSet<&'static str>) {
    let mut conf = forced(spec, restore_from);
    let mut lazy = BTreeSet::new();
    for d in defaults(spec) {
        if conf.contains_key(d.key) {
            continue;
        }
        conf.insert(d.key.to_string(), d.value);
        if !d.restarts {
            lazy.insert(d.key);
        }
    }
    if let Some(id) = fixed_job_id(spec, &conf, &lazy, restore_from) {
        conf.insert(FIXED_JOB_ID.to_string(), id);
    }
    (conf, lazy)
}

/// The labels Flink's Kubernetes HA services put on the ConfigMaps they write (leader,
/// job graphs, checkpoint pointers) for cluster id `name`, which flinkops sets to the
/// job's name. (Flink before 2.0 adds `configmap-type: high-availability`.)
pub fn ha_selector(name: &str) -> String {
    format!("app={name},type=flink-native-kubernetes")
}

/// Whether a ConfigMap the selector found is one of Flink's HA ConfigMaps of job `name`:
/// `<name>-cluster-config-map` and `<name>-<job id>-config-map` (Flink 1.15 on), or
/// `<name>-<component>-leader` (before), and not a native-mode cluster's configuration.
pub fn is_ha_configmap(name: &str, configmap: &str) -> bool {
    configmap
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| rest.ends_with("-config-map") || rest.ends_with("-leader"))
}

/// Flink's internal key for the job id an application runs as.
pub const FIXED_JOB_ID: &str = "$internal.pipeline.job-id";

/// The Flink job id of an application with high availability, as the Apache operator
/// fixes one per deployment. With high availability Flink keys the job's HA metadata
/// (job graph, checkpoint pointers) and its job result by the job id, which it would
/// otherwise derive from the cluster id: the same for every deployment, so a new version
/// could find the previous one's leftovers and recover the old job graph, or take the job
/// for finished. The id is the same for as long as the pods run (a JobManager restart
/// recovers its job) and new with each start that changes the restart-relevant
/// configuration or the state the job starts from: a pure function of both, so the
/// render stays reproducible from the ledger.
fn fixed_job_id(
    spec: &JobSpec,
    conf: &BTreeMap<String, String>,
    lazy: &BTreeSet<&'static str>,
    restore_from: Option<&str>,
) -> Option<String> {
    use sha2::{Digest, Sha256};
    if spec.kind != crate::model::spec::JobKind::Application
        || spec.job.is_none()
        || !high_availability(conf)
        || conf.contains_key(FIXED_JOB_ID)
    {
        return None;
    }
    let mut h = Sha256::new();
    for part in [
        spec.id.namespace.as_str(),
        spec.id.name.as_str(),
        restore_from.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in conf.iter().filter(|(k, _)| !lazy.contains(k.as_str())) {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// The job's configuration and what flinkops sets whatever it says.
fn forced(spec: &JobSpec, restore_from: Option<&str>) -> BTreeMap<String, String> {
    let mut conf = spec.flink_configuration.clone();
    // flinkops' settings, and what flinkops applies to the pods (nothing in a standalone
    // Flink reads it): a change to one counts once, as the pod template it changes.
    conf.retain(|k, _| {
        !crate::model::spec::is_operator_key(k)
            && !crate::model::spec::kubernetes_keys::is_pod_key(k)
    });
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
    if high_availability(&spec.flink_configuration) {
        // What the Apache operator sets in standalone mode: Flink's Kubernetes HA
        // services name their ConfigMaps after the cluster id and work in this namespace;
        // the JobManager's RPC port is fixed so TaskManagers reach the leader it
        // publishes (its pod IP: see the JobManager's arguments in objects.rs).
        set("kubernetes.cluster-id", name.clone());
        set("high-availability.cluster-id", name.clone());
        set("kubernetes.namespace", spec.id.namespace.clone());
        set(HA_JOBMANAGER_PORT, RPC_PORT.to_string());
    }
    // Each component's memory, resolved from its resources, the configuration's own
    // value or the defaults (spec::definition::resolve_resource).
    set(
        JM_PROCESS_MEMORY,
        flink_bytes(cluster.job_manager.resource.memory_bytes),
    );
    set(
        TM_PROCESS_MEMORY,
        flink_bytes(cluster.task_manager.resource.memory_bytes),
    );
    if let Some(job) = &spec.job {
        // The job's jar first, then any classpaths the definition sets itself.
        if let Some(jar) = jar_classpath(&job.jar_uri, cluster.flink_version) {
            let theirs = conf.get(CLASSPATHS).cloned().unwrap_or_default();
            let mut list = vec![jar.as_str()];
            list.extend(theirs.split(';').filter(|c| !c.is_empty() && *c != jar));
            conf.insert(CLASSPATHS.to_string(), list.join(";"));
        }
        let mut set = |k: &str, v: String| {
            conf.insert(k.to_string(), v);
        };
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

/// The flat keys of a Flink config.yaml (`config_yaml`'s inverse, and what Flink reads from
/// one written by hand) (nested mappings joined with `.`, lists with
/// `;`), as Flink reads them.
pub fn read_config_yaml(text: &str) -> Result<BTreeMap<String, String>, String> {
    fn walk(prefix: &str, v: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
        use serde_yaml::Value;
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    let full = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&full, v, out);
                }
            }
            Value::Sequence(items) => {
                let parts: Vec<String> = items.iter().map(scalar).collect();
                out.insert(prefix.to_string(), parts.join(";"));
            }
            other => {
                out.insert(prefix.to_string(), scalar(other));
            }
        }
    }
    fn scalar(v: &serde_yaml::Value) -> String {
        match v {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Null => String::new(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("config.yaml: {e}"))?;
    let mut out = BTreeMap::new();
    walk("", &value, &mut out);
    out.remove("");
    Ok(out)
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
    fn config_yaml_reads_back_as_the_flat_keys_it_was_written_from() {
        let flat = conf(&[
            ("security.ssl.rest.enabled", "true"),
            ("security.ssl.rest.truststore-password", "0123"),
            ("taskmanager.numberOfTaskSlots", "2"),
            ("pipeline.classpaths", "file:///a.jar;file:///b.jar"),
            ("a.b", "x: y"),
            ("a.c", ""),
        ]);
        assert_eq!(read_config_yaml(&config_yaml(&flat)).unwrap(), flat);
        // Lists written by hand read as Flink reads them: `;`-joined.
        let hand = read_config_yaml("env.java.opts.all: [-Da=1, -Db=2]\nrest:\n  port: 8081\n");
        assert_eq!(
            hand.unwrap(),
            conf(&[("env.java.opts.all", "-Da=1;-Db=2"), ("rest.port", "8081")])
        );
        assert!(read_config_yaml("a: [unclosed").is_err());
        assert!(read_config_yaml("").unwrap().is_empty());
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
        let catalog = crate::model::spec::testing::catalog(&[(
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
        // Another file leaves the default in place.
        let logging = conf(&[("logback-console.xml", "<configuration/>")]);
        let out = files(&BTreeMap::new(), None, &logging);
        assert_eq!(out[LOG4J_CONSOLE], DEFAULT_LOG4J);
    }

    #[test]
    fn the_default_log4j_logs_to_the_console_and_the_log_file() {
        // The Flink UI's log tab and log-tailing sidecars read the file Flink's start
        // scripts name in log.file.
        let lines: Vec<&str> = DEFAULT_LOG4J.lines().collect();
        for want in [
            "rootLogger.appenderRef.console.ref = ConsoleAppender",
            "rootLogger.appenderRef.rolling.ref = RollingFileAppender",
            "appender.rolling.type = RollingFile",
            "appender.rolling.fileName = ${sys:log.file}",
            "appender.rolling.policies.size.size = 100MB",
            "appender.rolling.strategy.max = 10",
            "monitorInterval=30",
        ] {
            assert!(lines.contains(&want), "{want}");
        }
    }

    /// A FlinkDeployment with `extra` under `spec` (indented by two).
    fn deployment(extra: &str) -> JobSpec {
        let text = format!(
            "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: orders, namespace: streaming}}
spec:
  image: flink:2.0
{extra}  job: {{jarURI: local:///a.jar, upgradeMode: savepoint}}
"
        );
        let catalog = crate::model::spec::testing::catalog(&[("a.yaml", &text)]);
        assert!(catalog.is_valid(), "{:?}", catalog.errors());
        catalog.jobs.into_values().next().unwrap()
    }

    #[test]
    fn java_17_options_are_there_unless_the_definition_sets_them() {
        let opts = |extra: &str, key: &str| effective(&deployment(extra), None).get(key).cloned();
        // Flink 1.19 and later, and an unknown version: the default options, which a
        // definition's env.java.opts.all adds to.
        for extra in ["", "  flinkVersion: v1_20\n", "  flinkVersion: v2_0\n"] {
            assert_eq!(
                opts(extra, "env.java.default-opts.all").as_deref(),
                Some(JAVA17_OPTS),
                "{extra}"
            );
        }
        let own = "  flinkConfiguration:\n    env.java.opts.all: -XX:+UseG1GC\n";
        assert_eq!(
            opts(own, "env.java.default-opts.all").as_deref(),
            Some(JAVA17_OPTS)
        );
        assert_eq!(
            opts(own, "env.java.opts.all").as_deref(),
            Some("-XX:+UseG1GC")
        );
        // The definition's default options win.
        let theirs = "  flinkConfiguration:\n    env.java.default-opts.all: --add-opens=x\n";
        assert_eq!(
            opts(theirs, "env.java.default-opts.all").as_deref(),
            Some("--add-opens=x")
        );
        // 1.18 has no default options: env.java.opts.all, unless the definition sets it.
        let v118 = "  flinkVersion: v1_18\n";
        assert_eq!(
            opts(v118, "env.java.opts.all").as_deref(),
            Some(JAVA17_OPTS)
        );
        assert_eq!(opts(v118, "env.java.default-opts.all"), None);
        let spec = deployment(v118);
        let legacy = &files(
            &effective(&spec, None),
            FlinkVersion::parse("v1_18"),
            &BTreeMap::new(),
        )[LEGACY_CONF];
        assert!(legacy.contains(&format!("env.java.opts.all: {JAVA17_OPTS}\n")));
        assert_eq!(
            opts(&format!("{v118}{own}"), "env.java.opts.all").as_deref(),
            Some("-XX:+UseG1GC")
        );
        // Before 1.18 Flink does not run on Java 17.
        let v117 = "  flinkVersion: v1_17\n";
        assert_eq!(opts(v117, "env.java.opts.all"), None);
        assert_eq!(opts(v117, "env.java.default-opts.all"), None);
        // The list is Flink's own: module options only, one space apart.
        assert_eq!(JAVA17_OPTS.split(' ').count(), 20);
        assert!(JAVA17_OPTS
            .split(' ')
            .all(|o| o.starts_with("--add-exports=") || o.starts_with("--add-opens=")));
    }

    fn with_mode(extra: &str, mode: UpgradeMode) -> JobSpec {
        let mut spec = deployment(extra);
        spec.job.as_mut().unwrap().upgrade_mode = mode;
        spec
    }

    #[test]
    fn the_operator_s_job_defaults() {
        let conf = effective(&deployment(""), None);
        assert_eq!(conf["pipeline.name"], "orders");
        assert_eq!(conf["web.cancel.enable"], "false");
        // Savepoint and last-state jobs keep their checkpoints on cancellation.
        assert_eq!(conf[CHECKPOINT_RETENTION], "RETAIN_ON_CANCELLATION");
        let last_state = effective(&with_mode("", UpgradeMode::LastState), None);
        assert_eq!(last_state[CHECKPOINT_RETENTION], "RETAIN_ON_CANCELLATION");
        // A last-state job needs checkpoints: the operator's interval when none is set.
        assert_eq!(last_state[CHECKPOINT_INTERVAL], "5 min");
        assert!(!conf.contains_key(CHECKPOINT_INTERVAL));
        let stateless = effective(&with_mode("", UpgradeMode::Stateless), None);
        assert!(!stateless.contains_key(CHECKPOINT_RETENTION));
        assert!(!stateless.contains_key(CHECKPOINT_INTERVAL));
        // Without high availability Flink refuses submit-failed-job-on-application-error
        // (one job per cluster is not enforced): the application would not start.
        let key = "execution.submit-failed-job-on-application-error";
        assert!(!conf.contains_key(key));
        let ha = "  flinkConfiguration:\n    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n";
        assert_eq!(effective(&deployment(ha), None)[key], "true");
        let none = "  flinkConfiguration:\n    high-availability.type: NONE\n";
        assert!(!effective(&deployment(none), None).contains_key(key));
        // Flink has it from 1.15 on.
        for (version, has) in [("v1_14", false), ("v1_15", true), ("v2_0", true)] {
            let spec = deployment(&format!("  flinkVersion: {version}\n{ha}"));
            assert_eq!(effective(&spec, None).contains_key(key), has, "{version}");
        }
    }

    #[test]
    fn a_session_cluster_gets_the_cluster_defaults_only() {
        let text = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: shared, namespace: streaming}
spec:
  image: flink:2.0
  flinkConfiguration: {high-availability.type: kubernetes, high-availability.storageDir: \"file:///ha\"}
";
        let catalog = crate::model::spec::testing::catalog(&[("a.yaml", text)]);
        let conf = effective(catalog.jobs.values().next().unwrap(), None);
        assert_eq!(conf["web.cancel.enable"], "false");
        assert!(conf.contains_key("env.java.default-opts.all"));
        for key in [
            "pipeline.name",
            CHECKPOINT_RETENTION,
            "execution.submit-failed-job-on-application-error",
        ] {
            assert!(!conf.contains_key(key), "{key}");
        }
    }

    #[test]
    fn a_value_the_definition_sets_wins_over_every_default() {
        let mine = "  flinkVersion: v2_0
  flinkConfiguration:
    pipeline.name: Orders (prod)
    web.cancel.enable: true
    execution.checkpointing.externalized-checkpoint-retention: DELETE_ON_CANCELLATION
    execution.checkpointing.interval: 30s
    execution.submit-failed-job-on-application-error: false
    high-availability.type: kubernetes
    high-availability.storageDir: file:///ha
    env.java.default-opts.all: -Dmine=1
";
        let conf = effective(&with_mode(mine, UpgradeMode::LastState), None);
        for (key, value) in [
            ("pipeline.name", "Orders (prod)"),
            ("web.cancel.enable", "true"),
            (CHECKPOINT_RETENTION, "DELETE_ON_CANCELLATION"),
            (CHECKPOINT_INTERVAL, "30s"),
            ("execution.submit-failed-job-on-application-error", "false"),
            ("env.java.default-opts.all", "-Dmine=1"),
        ] {
            assert_eq!(conf[key], value, "{key}");
        }
        // The settings' defaults are the repository's own values: they win too.
        let settings = "defaults:\n  flinkConfiguration:\n    web.cancel.enable: true\n";
        let app = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  image: flink:2.0
  job: {jarURI: local:///a.jar}
";
        let catalog =
            crate::model::spec::testing::catalog(&[("flinkops.yaml", settings), ("a.yaml", app)]);
        let spec = catalog.jobs.values().next().unwrap();
        assert_eq!(effective(spec, None)["web.cancel.enable"], "true");
    }

    #[test]
    fn the_job_defaults_restart_nothing_but_a_last_state_job_s_retention() {
        for mode in [
            UpgradeMode::Stateless,
            UpgradeMode::Savepoint,
            UpgradeMode::LastState,
        ] {
            let ha = "  flinkConfiguration:\n    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n";
            let spec = with_mode(ha, mode);
            let (all, counted) = (effective(&spec, None), hashed(&spec, None));
            let extra: Vec<&String> = all.keys().filter(|k| !counted.contains_key(*k)).collect();
            let mut want = vec![
                "env.java.default-opts.all",
                "execution.submit-failed-job-on-application-error",
                "pipeline.name",
                "web.cancel.enable",
            ];
            if mode == UpgradeMode::Savepoint {
                want.insert(1, CHECKPOINT_RETENTION);
            }
            if mode == UpgradeMode::LastState {
                want.insert(1, CHECKPOINT_INTERVAL);
            }
            assert_eq!(extra, want, "{mode:?}");
        }
    }

    #[test]
    fn config_yaml_keeps_the_java_options_as_one_string() {
        let text = config_yaml(&effective(&deployment(""), None));
        let back: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back["env"]["java"]["default-opts"]["all"], JAVA17_OPTS);
    }

    #[test]
    fn defaults_a_running_job_does_not_need_restart_nothing() {
        // They are written, but the config hash does not count them: a flinkops version
        // that adds one replaces no pods.
        let spec = deployment("");
        assert!(effective(&spec, None).contains_key("env.java.default-opts.all"));
        assert!(!hashed(&spec, None).contains_key("env.java.default-opts.all"));
        // Written in the definition, it is the definition's and counts.
        let spec = deployment("  flinkConfiguration:\n    env.java.default-opts.all: -Dx=1\n");
        assert_eq!(hashed(&spec, None)["env.java.default-opts.all"], "-Dx=1");
        // Checkpoints kept for a last-state job count, as they always did: switching to
        // last-state restarts the job so that it keeps them.
        let mut last_state = deployment("");
        last_state.job.as_mut().unwrap().upgrade_mode = UpgradeMode::LastState;
        assert_eq!(
            hashed(&last_state, None)[CHECKPOINT_RETENTION],
            "RETAIN_ON_CANCELLATION"
        );
    }

    #[test]
    fn high_availability_gets_the_keys_the_operator_sets_and_a_job_id_per_start() {
        let ha = "  flinkConfiguration:\n    high-availability.type: kubernetes\n    high-availability.storageDir: file:///ha\n";
        let spec = deployment(ha);
        let conf = effective(&spec, None);
        for (key, value) in [
            ("kubernetes.cluster-id", "orders"),
            ("high-availability.cluster-id", "orders"),
            ("kubernetes.namespace", "streaming"),
            (HA_JOBMANAGER_PORT, "6123"),
        ] {
            assert_eq!(conf.get(key).map(String::as_str), Some(value), "{key}");
        }
        let id = conf[FIXED_JOB_ID].clone();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        // The same for as long as the pods run: the render is reproducible, and the
        // config hash (so the pods) covers it.
        assert_eq!(effective(&spec, None)[FIXED_JOB_ID], id);
        assert_eq!(hashed(&spec, None)[FIXED_JOB_ID], id);
        // New with the state it starts from, and with a restart-relevant change.
        let restored = effective(&spec, Some("file:///sp/savepoint-1"));
        assert_ne!(restored[FIXED_JOB_ID], id);
        let mut wider = spec.clone();
        wider.job.as_mut().unwrap().parallelism = 4;
        assert_ne!(effective(&wider, None)[FIXED_JOB_ID], id);
        // Another job with the same definition gets another id.
        let mut other = spec.clone();
        other.id.name = "payments".into();
        assert_ne!(effective(&other, None)[FIXED_JOB_ID], id);

        // Without high availability: none of it (standalone Flink reads none of it).
        let plain = effective(&deployment(""), None);
        for key in [
            "kubernetes.cluster-id",
            "high-availability.cluster-id",
            "kubernetes.namespace",
            HA_JOBMANAGER_PORT,
            FIXED_JOB_ID,
        ] {
            assert!(!plain.contains_key(key), "{key}");
        }
    }

    #[test]
    fn flink_s_ha_configmaps_are_told_from_others_by_name() {
        for ha in [
            "orders-cluster-config-map",
            "orders-ed974c5ef3d15ee80e6cca3d8f7bbb23-config-map",
            "orders-dispatcher-leader",
            "orders-00000000000000000000000000000000-jobmanager-leader",
        ] {
            assert!(is_ha_configmap("orders", ha), "{ha}");
        }
        for other in [
            "flink-config-orders",
            "orders-config",
            "orders-flinkops",
            "orders-eu-cluster-config-map-backup",
            "ordersx-cluster-config-map",
        ] {
            assert!(!is_ha_configmap("orders", other), "{other}");
        }
        assert_eq!(
            ha_selector("orders"),
            "app=orders,type=flink-native-kubernetes"
        );
    }
}
