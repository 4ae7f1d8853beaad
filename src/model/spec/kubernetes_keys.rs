//! flinkConfiguration keys under `kubernetes.` and `containerized.`. In the Apache
//! operator's standalone mode, Flink's Kubernetes decorators apply some of them to the
//! pods the operator creates (InitJobManagerDecorator, InitStandaloneTaskManagerDecorator,
//! EnvSecretsDecorator, MountSecretsDecorator): secrets, environment, node selectors,
//! tolerations, labels, annotations, image pull secrets and policy, service accounts and
//! the log directory. flinkops applies the same keys to the pods it renders (`APPLIED`),
//! each value read by one function (`apply`) that both the check at load and the render
//! use. They are not written to Flink's configuration, where nothing reads them in
//! standalone mode, so a change counts once: as the pod template it changes.
//!
//! Keys that only a native-mode deployment or the operator's own resource creation
//! honours are errors naming what to use instead (`NOT_APPLIED`); a few are accepted when
//! they ask for what flinkops renders anyway (`AS_RENDERED`); keys Flink reads inside its
//! processes pass through (`FLINK`); any other key under these prefixes is unknown.
//! Pure: keys and text in, verdicts and values out.

use super::names;
use super::operator_keys::Problem;
use super::OPERATOR_PREFIX;
use std::collections::{BTreeMap, BTreeSet};

pub const SECRETS: &str = "kubernetes.secrets";
pub const ENV_SECRET_KEY_REF: &str = "kubernetes.env.secretKeyRef";
pub const PULL_SECRETS: &str = "kubernetes.container.image.pull-secrets";
pub const PULL_POLICY: &str = "kubernetes.container.image.pull-policy";
pub const SERVICE_ACCOUNT: &str = "kubernetes.service-account";
pub const LOG_DIR: &str = "kubernetes.flink.log.dir";
/// Plain environment variables of the JobManager (`containerized.master.env.NAME`) and
/// the TaskManagers, as Flink names them.
pub const JM_ENV_PREFIX: &str = "containerized.master.env.";
pub const TM_ENV_PREFIX: &str = "containerized.taskmanager.env.";
/// The environment variable Flink's decorators set from `kubernetes.flink.log.dir`, which
/// the image's scripts read.
pub const LOG_DIR_ENV: &str = "FLINK_LOG_DIR";
/// Where flinkops mounts Flink's configuration (a read-only ConfigMap volume).
pub const CONF_DIR: &str = "/opt/flink/conf";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    JobManager,
    TaskManager,
}

/// What an applied key sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secrets,
    SecretEnv,
    PullSecrets,
    PullPolicy,
    ServiceAccount,
    LogDir,
    NodeSelector(Component),
    Tolerations(Component),
    Labels(Component),
    Annotations(Component),
    ComponentServiceAccount(Component),
}

use Component::{JobManager as Jm, TaskManager as Tm};

/// Every key flinkops applies to the pods, besides the environment prefixes.
const APPLIED: [(&str, Kind); 16] = [
    (SECRETS, Kind::Secrets),
    (ENV_SECRET_KEY_REF, Kind::SecretEnv),
    (PULL_SECRETS, Kind::PullSecrets),
    (PULL_POLICY, Kind::PullPolicy),
    (SERVICE_ACCOUNT, Kind::ServiceAccount),
    (LOG_DIR, Kind::LogDir),
    (
        "kubernetes.jobmanager.node-selector",
        Kind::NodeSelector(Jm),
    ),
    (
        "kubernetes.taskmanager.node-selector",
        Kind::NodeSelector(Tm),
    ),
    ("kubernetes.jobmanager.tolerations", Kind::Tolerations(Jm)),
    ("kubernetes.taskmanager.tolerations", Kind::Tolerations(Tm)),
    ("kubernetes.jobmanager.labels", Kind::Labels(Jm)),
    ("kubernetes.taskmanager.labels", Kind::Labels(Tm)),
    ("kubernetes.jobmanager.annotations", Kind::Annotations(Jm)),
    ("kubernetes.taskmanager.annotations", Kind::Annotations(Tm)),
    (
        "kubernetes.jobmanager.service-account",
        Kind::ComponentServiceAccount(Jm),
    ),
    (
        "kubernetes.taskmanager.service-account",
        Kind::ComponentServiceAccount(Tm),
    ),
];

/// The applied keys, for the docs and messages.
pub fn applied_keys() -> impl Iterator<Item = &'static str> {
    APPLIED.iter().map(|(k, _)| *k)
}

/// Keys accepted only with the value that asks for what flinkops renders anyway (any
/// case, as Flink reads enums and booleans), with what to do for another value.
pub const AS_RENDERED: [(&str, &str, &str); 4] = [
    (
        "kubernetes.rest-service.exposed.type",
        "ClusterIP",
        "flinkops renders the REST Service `<name>-rest` as ClusterIP: expose it outside the cluster with spec.ingress, or remove the key",
    ),
    (
        "kubernetes.hostnetwork.enabled",
        "false",
        "set `hostNetwork: true` in spec.podTemplate (the settings' podPolicy.allowHostNamespaces must allow it), or remove the key",
    ),
    (
        "kubernetes.decorator.hadoop-conf-mount.enabled",
        "false",
        "flinkops mounts no Hadoop configuration: mount it in spec.podTemplate, and remove the key or set it to false",
    ),
    (
        "kubernetes.decorator.kerberos-mount.enabled",
        "false",
        "flinkops mounts no Kerberos files: mount them in spec.podTemplate, and remove the key or set it to false",
    ),
];

const RESOURCES_JM: &str = "set spec.jobManager.resources (or resource) instead";
const RESOURCES_TM: &str = "set spec.taskManager.resources (or resource) instead";
const POD_TEMPLATE: &str =
    "write the template in spec.podTemplate (or jobManager/taskManager.podTemplate) instead";
const ENTRYPOINT: &str = "native mode only: flinkops starts Flink through the image's entrypoint with its own arguments; JVM options go in env.java.opts.*";
const CLIENT: &str = "read by Flink's command-line client to reach a cluster; the pods reach the API server with their service account: remove it";

/// Kubernetes options of Flink and the operator that flinkops does not apply, with what
/// to use instead.
pub const NOT_APPLIED: [(&str, &str); 27] = [
    ("kubernetes.config.file", CLIENT),
    ("kubernetes.container-start-command-template", ENTRYPOINT),
    ("kubernetes.container.image", "set spec.image instead"),
    ("kubernetes.container.image.ref", "set spec.image instead"),
    ("kubernetes.context", CLIENT),
    ("kubernetes.entry.path", "flinkops starts the image's entrypoint; to run another, set `command` of flink-main-container in spec.podTemplate"),
    ("kubernetes.flink.conf.dir", "flinkops mounts Flink's configuration at /opt/flink/conf, where the image's scripts read it: remove it"),
    ("kubernetes.hadoop.conf.config-map.name", "mount the ConfigMap in spec.podTemplate and point HADOOP_CONF_DIR at it (containerized.master.env.HADOOP_CONF_DIR, containerized.taskmanager.env.HADOOP_CONF_DIR)"),
    ("kubernetes.jobmanager.cpu", RESOURCES_JM),
    ("kubernetes.jobmanager.cpu.amount", RESOURCES_JM),
    ("kubernetes.jobmanager.cpu.limit-factor", "set limits in spec.jobManager.resources instead"),
    ("kubernetes.jobmanager.entrypoint.args", ENTRYPOINT),
    ("kubernetes.jobmanager.memory.limit-factor", "set limits in spec.jobManager.resources instead"),
    ("kubernetes.jobmanager.owner.reference", "flinkops sets no owner references: it prunes what it created by its labels; remove it"),
    ("kubernetes.jobmanager.replicas", "set spec.jobManager.replicas instead"),
    ("kubernetes.node-name-label", "native mode only (it places TaskManagers Flink creates itself): remove it"),
    ("kubernetes.pod-template-file", POD_TEMPLATE),
    ("kubernetes.pod-template-file.default", POD_TEMPLATE),
    ("kubernetes.pod-template-file.jobmanager", POD_TEMPLATE),
    ("kubernetes.pod-template-file.taskmanager", POD_TEMPLATE),
    ("kubernetes.rest-service.annotations", "flinkops renders the REST Service `<name>-rest` itself: route to it with spec.ingress (annotations in spec.ingress.annotations)"),
    ("kubernetes.rest-service.exposed.node-port-address-type", "flinkops renders the REST Service `<name>-rest` as ClusterIP: expose it with spec.ingress instead"),
    ("kubernetes.taskmanager.cpu", RESOURCES_TM),
    ("kubernetes.taskmanager.cpu.amount", RESOURCES_TM),
    (
        "kubernetes.taskmanager.cpu.limit-factor",
        "set limits in spec.taskManager.resources instead",
    ),
    ("kubernetes.taskmanager.entrypoint.args", ENTRYPOINT),
    (
        "kubernetes.taskmanager.memory.limit-factor",
        "set limits in spec.taskManager.resources instead",
    ),
];

/// Options the Apache operator and Flink's clients set for themselves.
const INTERNAL_PREFIX: &str = "kubernetes.internal.";

/// Keys Flink reads inside the JobManager and TaskManagers (its Kubernetes client for
/// high availability): they reach Flink's configuration as written.
pub const FLINK: [&str; 5] = [
    "kubernetes.client.io-pool.size",
    "kubernetes.client.user-agent",
    "kubernetes.cluster-id",
    "kubernetes.namespace",
    "kubernetes.transactional-operation.max-retries",
];

fn not_applied(key: &str) -> Option<&'static str> {
    NOT_APPLIED
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, why)| *why)
}

/// Where a flinkConfiguration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A cluster's (a FlinkDeployment, a FlinkCluster, the settings' defaults): its pods
    /// take the applied keys.
    Cluster,
    /// A session job's, submitted with the job: it has no pods of its own.
    SessionJob,
}

/// Whether flinkops takes the key for the pods (applied or accepted as rendered), so it
/// is left out of Flink's configuration.
pub fn is_pod_key(key: &str) -> bool {
    kind(key).is_some() || env_key(key).is_some() || AS_RENDERED.iter().any(|(k, ..)| *k == key)
}

fn kind(key: &str) -> Option<Kind> {
    APPLIED
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
}

/// `containerized.master.env.NAME` → (JobManager, NAME).
fn env_key(key: &str) -> Option<(Component, &str)> {
    if let Some(name) = key.strip_prefix(JM_ENV_PREFIX) {
        return Some((Jm, name));
    }
    key.strip_prefix(TM_ENV_PREFIX).map(|name| (Tm, name))
}

/// Checks one flinkConfiguration entry: Ok for keys outside `kubernetes.` and
/// `containerized.`, for `kubernetes.operator.` (operator_keys'), for keys Flink reads
/// itself, and for an applied key with a valid value in a cluster's configuration.
pub fn check(key: &str, value: &str, scope: Scope) -> Result<(), Problem> {
    let ours = key.starts_with("kubernetes.") || key.starts_with("containerized.");
    if !ours || key.starts_with(OPERATOR_PREFIX) || FLINK.contains(&key) {
        return Ok(());
    }
    if is_pod_key(key) && scope == Scope::SessionJob {
        return Err(Problem::NotApplied(format!(
            "`{key}` shapes the pods, and a session job runs in its session cluster's pods: set it in the session cluster's flinkConfiguration"
        )));
    }
    if let Some((_, name)) = env_key(key) {
        // The key names the variable: an error at the key.
        return names::check_env_name(name).map_err(|e| {
            Problem::NotApplied(format!(
                "`{key}` sets the environment variable `{name}`, but {e}"
            ))
        });
    }
    if let Some(k) = kind(key) {
        return apply(&mut PodKeys::default(), k, value).map_err(Problem::Value);
    }
    if let Some((_, want, otherwise)) = AS_RENDERED.iter().find(|(k, ..)| *k == key) {
        if value.trim().eq_ignore_ascii_case(want) {
            return Ok(());
        }
        return Err(Problem::Value(format!(
            "`{value}`: flinkops applies only `{want}` here; {otherwise}"
        )));
    }
    if let Some(instead) = not_applied(key) {
        return Err(Problem::NotApplied(format!(
            "`{key}` is a Kubernetes option flinkops does not apply; {instead}"
        )));
    }
    if key.starts_with(INTERNAL_PREFIX) {
        return Err(Problem::NotApplied(format!(
            "`{key}` is set by Flink's and the Apache operator's own clients, not in a definition: remove it"
        )));
    }
    // A map written as nested YAML is flattened into keys below it.
    let is_map = |k: &Kind| {
        !matches!(
            k,
            Kind::PullSecrets
                | Kind::PullPolicy
                | Kind::ServiceAccount
                | Kind::LogDir
                | Kind::ComponentServiceAccount(_)
        )
    };
    if let Some(base) = APPLIED
        .iter()
        .filter(|(_, k)| is_map(k))
        .map(|(k, _)| *k)
        .find(|k| key.strip_prefix(k).is_some_and(|r| r.starts_with('.')))
    {
        return Err(Problem::NotApplied(format!(
            "`{base}` is one value (`key:value,key2:value2`, as Flink reads it); written as a nested mapping it became the key `{key}`, which nothing reads: write `{base}` as one line"
        )));
    }
    Err(Problem::Unknown(unknown(key)))
}

fn unknown(key: &str) -> String {
    if key.starts_with("containerized.") {
        return format!(
            "unknown option `{key}`; flinkops applies {JM_ENV_PREFIX}NAME (the JobManager's environment) and {TM_ENV_PREFIX}NAME (the TaskManagers')"
        );
    }
    // Compared without the shared prefix, so only a near miss of the part that differs
    // is suggested.
    const PREFIX: &str = "kubernetes.";
    let known: Vec<&str> = applied_keys()
        .chain(AS_RENDERED.iter().map(|(k, ..)| *k))
        .chain(NOT_APPLIED.iter().map(|(k, _)| *k))
        .chain(FLINK)
        .map(|k| &k[PREFIX.len()..])
        .collect();
    let rest = key.strip_prefix(PREFIX).unwrap_or(key);
    let mut message = format!("unknown Kubernetes option `{key}`");
    match super::decode::closest(rest, &known) {
        Some(best) => message.push_str(&format!(" (did you mean `{PREFIX}{best}`?)")),
        None => message.push_str(
            "; the kubernetes.* keys flinkops applies, and those it refuses, are listed in docs/repository-format.md",
        ),
    }
    message
}

/// A toleration as Flink builds it from `key:…,operator:…,value:…,effect:…,tolerationSeconds:…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
    pub toleration_seconds: Option<i64>,
}

/// An environment variable from a key of a Secret (`env:NAME,secret:SECRET,key:KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    pub env: String,
    pub secret: String,
    pub key: String,
}

/// What the keys set on one component's pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentKeys {
    /// `containerized.master.env.*` / `containerized.taskmanager.env.*`.
    pub env: BTreeMap<String, String>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub service_account: Option<String>,
}

/// What the applied keys of a configuration set on the pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodKeys {
    /// Secret name → mount path in flink-main-container, on both components.
    pub secrets: BTreeMap<String, String>,
    /// Environment variables from Secrets, on both components, in the order written.
    pub secret_env: Vec<SecretEnv>,
    pub image_pull_secrets: Vec<String>,
    /// Canonical: `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: Option<String>,
    /// `kubernetes.service-account`: both components, under spec.serviceAccount.
    pub service_account: Option<String>,
    pub log_dir: Option<String>,
    pub job_manager: ComponentKeys,
    pub task_manager: ComponentKeys,
}

impl PodKeys {
    /// What the applied keys of `conf` set. A value that does not parse is skipped: the
    /// load refuses it, so only a spec stored before the load checked these keys can
    /// hold one.
    pub fn read(conf: &BTreeMap<String, String>) -> PodKeys {
        let mut out = PodKeys::default();
        for (key, value) in conf {
            if let Some((component, name)) = env_key(key) {
                if names::check_env_name(name).is_ok() {
                    out.component_mut(component)
                        .env
                        .insert(name.to_string(), value.clone());
                }
            } else if let Some(k) = kind(key) {
                let mut one = out.clone();
                if apply(&mut one, k, value).is_ok() {
                    out = one;
                }
            }
        }
        out
    }

    pub fn component(&self, c: Component) -> &ComponentKeys {
        match c {
            Jm => &self.job_manager,
            Tm => &self.task_manager,
        }
    }

    fn component_mut(&mut self, c: Component) -> &mut ComponentKeys {
        match c {
            Jm => &mut self.job_manager,
            Tm => &mut self.task_manager,
        }
    }

    /// The name of the volume a Secret is mounted from: the operator's (MountSecretsDecorator),
    /// so a template's sidecar can mount it too.
    pub fn volume_name(secret: &str) -> String {
        format!("{secret}-volume")
    }

    /// The environment variables set on a component's main container, in the order
    /// rendered (plain ones by name, the log directory, those from Secrets), each with
    /// the key that sets it.
    pub fn env_names(&self, c: Component) -> Vec<(&str, String)> {
        let prefix = match c {
            Jm => JM_ENV_PREFIX,
            Tm => TM_ENV_PREFIX,
        };
        let mut out: Vec<(&str, String)> = self
            .component(c)
            .env
            .keys()
            .map(|n| (n.as_str(), format!("{prefix}{n}")))
            .collect();
        if self.log_dir.is_some() {
            out.push((LOG_DIR_ENV, LOG_DIR.to_string()));
        }
        out.extend(
            self.secret_env
                .iter()
                .map(|e| (e.env.as_str(), ENV_SECRET_KEY_REF.to_string())),
        );
        out
    }
}

/// Reads `value` of an applied key into `out`; the one parser of each key.
fn apply(out: &mut PodKeys, kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Secrets => out.secrets = secrets(value)?,
        Kind::SecretEnv => out.secret_env = secret_env(value)?,
        Kind::PullSecrets => out.image_pull_secrets = pull_secrets(value)?,
        Kind::PullPolicy => out.image_pull_policy = Some(pull_policy(value)?),
        Kind::ServiceAccount => out.service_account = Some(service_account(value)?),
        Kind::LogDir => {
            if value.trim().is_empty() {
                return Err("the log directory is empty".into());
            }
            out.log_dir = Some(value.trim().to_string());
        }
        Kind::NodeSelector(c) => out.component_mut(c).node_selector = labels(value, false)?,
        Kind::Tolerations(c) => out.component_mut(c).tolerations = tolerations(value)?,
        Kind::Labels(c) => out.component_mut(c).labels = labels(value, true)?,
        Kind::Annotations(c) => out.component_mut(c).annotations = annotations(value)?,
        Kind::ComponentServiceAccount(c) => {
            out.component_mut(c).service_account = Some(service_account(value)?)
        }
    }
    Ok(())
}

/// Flink's StructuredOptionsSplitter: items separated by `delimiter`; an item in `'…'` or
/// `"…"` may hold the delimiter (a doubled quote is one quote inside); unquoted items are
/// trimmed. Two delimiters in a row make an empty item; one at either end makes none.
pub fn split_escaped(text: &str, delimiter: char) -> Result<Vec<String>, String> {
    enum Token {
        Quoted(String),
        Plain(String),
        Delimiter,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let mut item = String::new();
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => {
                        return Err(format!(
                            "a quote ({c}) is not closed (write a quote inside a quoted item twice)"
                        ))
                    }
                    Some(&q) if q == c && chars.get(j + 1) == Some(&c) => {
                        item.push(c);
                        j += 2;
                    }
                    Some(&q) if q == c => break,
                    Some(&other) => {
                        item.push(other);
                        j += 1;
                    }
                }
            }
            tokens.push(Token::Quoted(item));
            i = j + 1;
        } else if c == delimiter {
            tokens.push(Token::Delimiter);
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && chars[i] != delimiter {
                i += 1;
            }
            let item: String = chars[start..i].iter().collect();
            tokens.push(Token::Plain(item.trim().to_string()));
        }
    }
    let mut out = Vec::new();
    for (k, token) in tokens.iter().enumerate() {
        match token {
            Token::Quoted(item) => {
                if matches!(tokens.get(k + 1), Some(Token::Quoted(_) | Token::Plain(_))) {
                    return Err(format!(
                        "text follows the quoted `{item}` before the next `{delimiter}` (quote a whole item)"
                    ));
                }
                out.push(item.clone());
            }
            Token::Plain(item) => out.push(item.clone()),
            Token::Delimiter => {
                if matches!(tokens.get(k + 1), Some(Token::Delimiter)) {
                    out.push(String::new());
                }
            }
        }
    }
    Ok(out)
}

/// A Flink map value, `k1:v1,k2:v2`, in the order written. Each entry is exactly one
/// `key:value` (quote an entry, or a part, that holds `,` or `:`); a key twice is an
/// error, as in Flink.
pub fn map(text: &str, entry: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in split_escaped(text, ',')? {
        let pair = split_escaped(&item, ':')?;
        let [k, v] = <[String; 2]>::try_from(pair).map_err(|_| {
            format!("`{item}` is not `{entry}` (entries are separated by `,`; quote one that holds `,` or `:`)")
        })?;
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("`{k}` is given twice"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// A Flink list of maps: maps separated by `;`. An empty entry is an error (Flink would
/// build an object with nothing set, which Kubernetes refuses).
fn list_of_maps(text: &str, entry: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let items = split_escaped(text, ';')?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_empty() {
                return Err(format!(
                    "entry {} is empty (entries are separated by one `;`)",
                    i + 1
                ));
            }
            map(item, entry).map_err(|e| format!("entry {} (`{item}`): {e}", i + 1))
        })
        .collect()
}

/// `kubernetes.secrets`: `secret:/mount/path,…`, each Secret mounted read-only at its
/// path in flink-main-container.
fn secrets(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut paths: Vec<&str> = Vec::new();
    let entries = map(text, "secret:path")?;
    for (secret, path) in &entries {
        names::check_secret_name(secret)?;
        let volume = PodKeys::volume_name(secret);
        if !names::is_dns_label(&volume) {
            return Err(format!(
                "Secret `{secret}` is mounted from the volume `{volume}` (the operator's name), which Kubernetes refuses: a volume name has at most 63 lowercase letters, digits and '-'"
            ));
        }
        if !path.starts_with('/') || path == "/" || path.split('/').any(|s| s == "..") {
            return Err(format!(
                "`{path}` (Secret `{secret}`) is not an absolute path below `/` without `..`"
            ));
        }
        let path = path.trim_end_matches('/');
        if nested(path, CONF_DIR) {
            return Err(format!(
                "`{path}` (Secret `{secret}`) is in {CONF_DIR}, where flinkops mounts Flink's configuration"
            ));
        }
        if let Some(other) = paths.iter().find(|p| nested(path, p) || nested(p, path)) {
            return Err(format!(
                "`{path}` (Secret `{secret}`) and `{other}` are the same folder or one is in the other, which Kubernetes cannot mount (a Secret's volume is read-only)"
            ));
        }
        paths.push(path);
        out.insert(secret.clone(), path.to_string());
    }
    Ok(out)
}

/// `path` is `dir` or below it (whole segments).
fn nested(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// `kubernetes.env.secretKeyRef`: `env:NAME,secret:SECRET,key:KEY;…`.
fn secret_env(text: &str) -> Result<Vec<SecretEnv>, String> {
    let mut out: Vec<SecretEnv> = Vec::new();
    for (i, entry) in list_of_maps(text, "field:value")?.into_iter().enumerate() {
        let n = i + 1;
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in entry {
            if !["env", "secret", "key"].contains(&k.as_str()) {
                return Err(format!(
                    "entry {n}: unknown field `{k}`; an entry is env:NAME,secret:SECRET,key:KEY"
                ));
            }
            fields.insert(k, v);
        }
        let mut get = |f: &str| {
            fields.remove(f).ok_or_else(|| {
                format!("entry {n} has no `{f}`; an entry is env:NAME,secret:SECRET,key:KEY")
            })
        };
        let (env, secret, key) = (get("env")?, get("secret")?, get("key")?);
        names::check_env_name(&env).map_err(|e| format!("entry {n}: {e}"))?;
        names::check_secret_name(&secret).map_err(|e| format!("entry {n}: {e}"))?;
        names::check_secret_key(&key).map_err(|e| format!("entry {n}: {e}"))?;
        if out.iter().any(|e| e.env == env) {
            return Err(format!("entry {n}: `{env}` is set twice"));
        }
        out.push(SecretEnv { env, secret, key });
    }
    Ok(out)
}

/// `kubernetes.container.image.pull-secrets`: Secret names separated by `;` (blank ones
/// skipped, as Flink does).
fn pull_secrets(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in split_escaped(text, ';')? {
        let name = name.trim().to_string();
        if name.is_empty() {
            continue;
        }
        names::check_secret_name(&name)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

fn pull_policy(text: &str) -> Result<String, String> {
    ["Always", "IfNotPresent", "Never"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(text.trim()))
        .map(str::to_string)
        .ok_or_else(|| format!("`{text}` is not one of Always, IfNotPresent, Never"))
}

fn service_account(text: &str) -> Result<String, String> {
    let name = text.trim();
    names::check_service_account_name(name)?;
    Ok(name.to_string())
}

/// Labels (`labels`: not flinkops' own) or a node selector: Kubernetes label keys and
/// values.
fn labels(text: &str, pod_labels: bool) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in map(text, "key:value")? {
        names::check_qualified_name(&k)?;
        names::check_label_value(&v)?;
        if pod_labels && names::is_flinkops_key(&k) {
            return Err(format!(
                "`{k}` is set by flinkops on every pod it manages (to find and tell them apart); remove it"
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn annotations(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in map(text, "key:value")? {
        names::check_qualified_name(&k)?;
        if names::is_flinkops_key(&k) {
            return Err(format!(
                "`{k}` is set by flinkops on the pods it manages; remove it"
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Tolerations, as Flink reads them (field names in any case) and as Kubernetes checks
/// them (an unknown field, which Flink would skip with a warning, is an error).
fn tolerations(text: &str) -> Result<Vec<Toleration>, String> {
    let mut out = Vec::new();
    let entries = list_of_maps(text, "field:value")?;
    for (i, entry) in entries.into_iter().enumerate() {
        let n = i + 1;
        let mut t = Toleration::default();
        for (k, v) in entry {
            match k.to_ascii_lowercase().as_str() {
                "key" => t.key = Some(v),
                "operator" => t.operator = Some(v),
                "value" => t.value = Some(v),
                "effect" => t.effect = Some(v),
                "tolerationseconds" => {
                    t.toleration_seconds = Some(v.trim().parse::<i64>().map_err(|_| {
                        format!("entry {n}: tolerationSeconds `{v}` is not a whole number")
                    })?)
                }
                _ => {
                    return Err(format!(
                        "entry {n}: unknown field `{k}`; a toleration has key, operator, value, effect, tolerationSeconds"
                    ))
                }
            }
        }
        check_toleration(&t).map_err(|e| format!("entry {n}: {e}"))?;
        out.push(t);
    }
    Ok(out)
}

/// What Kubernetes refuses in a toleration.
fn check_toleration(t: &Toleration) -> Result<(), String> {
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() {
        names::check_qualified_name(key)?;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => {
            if t.value.as_deref().is_some_and(|v| !v.is_empty()) {
                return Err("operator Exists takes no value".into());
            }
        }
        "Equal" | "" => {
            if key.is_empty() {
                return Err("a toleration without a key must have operator Exists".into());
            }
            names::check_label_value(t.value.as_deref().unwrap_or(""))?;
        }
        other => return Err(format!("operator `{other}` is not Equal or Exists")),
    }
    let effect = t.effect.as_deref().unwrap_or("");
    if !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        return Err(format!(
            "effect `{effect}` is not NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        return Err("tolerationSeconds needs effect NoExecute".into());
    }
    Ok(())
}

/// What the applied keys of a cluster's configuration ask that cannot hold together, or
/// with its pod templates (the user's Pods, shared and per component): an environment
/// variable set twice on one component, a Secret's volume or mount path a template uses
/// already. Each problem with the key it is about.
pub fn conflicts(
    conf: &BTreeMap<String, String>,
    templates: &[(Option<Component>, &serde_json::Value)],
) -> Vec<(String, String)> {
    let keys = PodKeys::read(conf);
    let mut out = Vec::new();
    for c in [Jm, Tm] {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (name, from) in keys.env_names(c) {
            if let Some(first) = seen.insert(name, from.clone()) {
                // At the key that sets it the second time.
                let problem = (
                    from.clone(),
                    format!("the environment variable `{name}` is set by {first} and by {from}: set it once"),
                );
                if !out.contains(&problem) {
                    out.push(problem);
                }
            }
        }
    }
    for (component, template) in templates {
        let spec = &template["spec"];
        let volumes: BTreeSet<&str> = spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let mounts: BTreeSet<&str> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == crate::model::labels::MAIN_CONTAINER)
            .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
            .filter_map(|m| m["mountPath"].as_str())
            .map(|p| p.trim_end_matches('/'))
            .collect();
        let which = match component {
            Some(Jm) => "spec.jobManager.podTemplate",
            Some(Tm) => "spec.taskManager.podTemplate",
            None => "spec.podTemplate",
        };
        for (secret, path) in &keys.secrets {
            let volume = PodKeys::volume_name(secret);
            if volumes.contains(volume.as_str()) {
                out.push((
                    SECRETS.to_string(),
                    format!("Secret `{secret}` is mounted from the volume `{volume}`, which {which} declares too: rename one"),
                ));
            }
            if mounts.contains(path.as_str()) {
                out.push((
                    SECRETS.to_string(),
                    format!("Secret `{secret}` is mounted at `{path}`, where {which} mounts a volume in {} too", crate::model::labels::MAIN_CONTAINER),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
