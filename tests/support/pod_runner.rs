//! The pod runner: plays the kubelet for flinkops' Flink pods in one namespace. When a
//! JobManager or TaskManager Pod of a job is Running on the KWOK node, it starts the real
//! Flink process that Pod describes (the rendered ConfigMap as its configuration, the
//! container's args as its entry point), bound to the Pod's own loopback IP; when the Pod
//! goes away, the process is killed. Translation to local terms: Service names become the
//! JobManager Pod's IP, 0.0.0.0 binds become the Pod IP, `/opt/flink/usrlib/*.jar` becomes
//! the test job's jar.

use super::flink::{classpath, java_command, parse_counters, Proc};
use super::TestEnv;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

#[derive(Default)]
struct Running {
    /// Pod uid → its process.
    procs: HashMap<String, Started>,
    /// Pods whose process is being prepared (uids); a deletion meanwhile removes them.
    starting: HashSet<String>,
}

struct Started {
    name: String,
    component: String,
    job: String,
    ip: String,
    proc_: Proc,
}

pub struct PodRunner {
    pub dir: Arc<TempDir>,
    running: Arc<Mutex<Running>>,
    journal: Journal,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.task.abort();
        let procs = match self.running.lock() {
            Ok(mut r) => std::mem::take(&mut r.procs),
            Err(_) => HashMap::new(),
        };
        drop(procs);
        // A failed test keeps what its pods printed: the temporary directory goes.
        super::keep_if_panicking(self.dir.path(), "pod runner: logs");
    }
}

/// What the runner did and when (`runner.events` in its directory): the first place to
/// look when a test waits for a job that never runs.
#[derive(Clone)]
struct Journal(Arc<Mutex<std::fs::File>>);

impl Journal {
    fn new(dir: &Path) -> Journal {
        let f = std::fs::File::create(dir.join("runner.events")).unwrap();
        Journal(Arc::new(Mutex::new(f)))
    }

    fn note(&self, line: String) {
        use std::io::Write;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if let Ok(mut f) = self.0.lock() {
            let _ = writeln!(f, "{}.{:03} {line}", t.as_secs(), t.subsec_millis());
        }
    }
}

impl PodRunner {
    pub fn start(env: &TestEnv, client: &Client, namespace: &str) -> PodRunner {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let running = Arc::new(Mutex::new(Running::default()));
        let journal = Journal::new(dir.path());
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let cfg = watcher::Config::default().labels("app.kubernetes.io/managed-by=flinkops");
        let (env, r, d, j) = (env.clone(), running.clone(), dir.clone(), journal.clone());
        // The loop only records and spawns: a Pod that takes long to start (a TaskManager
        // waiting for its JobManager) never delays stopping another Pod's process.
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher(pods.clone(), cfg));
            while let Some(event) = stream.next().await {
                let (pod, deleted) = match event {
                    Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => (p, false),
                    Ok(watcher::Event::Delete(p)) => (p, true),
                    _ => continue,
                };
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
                if deleted || pod.metadata.deletion_timestamp.is_some() {
                    stop(&r, &j, &uid, &name);
                    continue;
                }
                let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
                let Some(ip) = ip.filter(|_| phase.as_deref() == Some("Running")) else {
                    continue;
                };
                {
                    let mut run = r.lock().unwrap();
                    if run.procs.contains_key(&uid) || !run.starting.insert(uid.clone()) {
                        continue;
                    }
                }
                j.note(format!("{name}: Running at {ip}, starting"));
                let (env, r, d, j) = (env.clone(), r.clone(), d.clone(), j.clone());
                let (pods, cms) = (pods.clone(), cms.clone());
                tokio::spawn(async move {
                    let k = Kubelet {
                        env: &env,
                        pods: &pods,
                        cms: &cms,
                        running: &r,
                        journal: &j,
                        dir: d.path(),
                    };
                    let started = start_pod(k, &pod, &ip).await;
                    let mut run = r.lock().unwrap();
                    let wanted = run.starting.remove(&uid);
                    match started {
                        Ok(s) if wanted => {
                            j.note(format!(
                                "{name}: started {} (pid {})",
                                s.component,
                                s.proc_.child.id()
                            ));
                            run.procs.insert(uid, s);
                        }
                        Ok(s) => {
                            j.note(format!("{name}: deleted while starting, stopped"));
                            drop(run);
                            drop(s);
                        }
                        Err(e) => {
                            j.note(format!("{name}: not started: {e}"));
                            eprintln!("pod runner: {name}: {e}");
                        }
                    }
                });
            }
        });
        PodRunner {
            dir,
            running,
            journal,
            task,
        }
    }

    /// Sends `signal` to the Flink processes of `component` (jobmanager, taskmanager);
    /// returns how many got it. SIGSTOP freezes one as a stalled node would.
    pub fn signal(&self, component: &str, signal: i32) -> usize {
        let r = self.running.lock().unwrap();
        let mut n = 0;
        for s in r.procs.values() {
            if s.component == component {
                self.journal.note(format!("{}: signal {signal}", s.name));
                // SAFETY: signalling our own child's process group.
                unsafe {
                    libc::kill(-(s.proc_.child.id() as i32), signal);
                }
                n += 1;
            }
        }
        n
    }

    /// Pods with a running process: (pod name, component).
    pub fn running(&self) -> Vec<(String, String)> {
        let r = self.running.lock().unwrap();
        let mut v: Vec<(String, String)> = r
            .procs
            .values()
            .map(|s| (s.name.clone(), s.component.clone()))
            .collect();
        v.sort();
        v
    }

    /// Highest count per key printed by the test job in any TaskManager so far.
    pub fn counters(&self) -> BTreeMap<u64, u64> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with("-taskmanager.log") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for (k, c) in parse_counters(&text) {
                let e = out.entry(k).or_insert(0);
                *e = (*e).max(c);
            }
        }
        out
    }

    /// The test job's counter lines per TaskManager log (one log per Pod), in order.
    pub fn counter_logs(&self) -> BTreeMap<String, Vec<(u64, u64)>> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("-taskmanager.log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                out.insert(name, parse_counters(&text));
            }
        }
        out
    }

    /// `counter_logs`, oldest first: by when each was last written (a TaskManager's log
    /// stops growing when its pod goes).
    pub fn counter_logs_oldest_first(&self) -> Vec<(String, Vec<(u64, u64)>)> {
        let written = |name: &str| {
            std::fs::metadata(self.dir.path().join(name))
                .and_then(|m| m.modified())
                .ok()
        };
        let mut logs: Vec<_> = self.counter_logs().into_iter().collect();
        logs.sort_by_key(|(name, _)| (written(name), name.clone()));
        logs
    }

    /// The runner's journal, then the last 30 lines of every log, for timeout messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        let events = self.dir.path().join("runner.events");
        s.push_str(&format!("==> {} <==\n", events.display()));
        s.push_str(&std::fs::read_to_string(&events).unwrap_or_default());
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for path in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            s.push_str(&format!("==> {} <==\n", path.display()));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

/// Stops the process of a Pod that is going away (or forgets that it was starting).
fn stop(r: &Mutex<Running>, j: &Journal, uid: &str, name: &str) {
    let (proc_, was_starting) = {
        let mut run = r.lock().unwrap();
        (run.procs.remove(uid), run.starting.remove(uid))
    };
    if let Some(s) = proc_ {
        j.note(format!(
            "{name}: going away, killing pid {}",
            s.proc_.child.id()
        ));
        drop(s); // SIGKILL to the group, then reaped: the IP's ports are free after this
        j.note(format!("{name}: stopped"));
    } else if was_starting {
        j.note(format!("{name}: going away while starting"));
    }
}

/// What starting a Pod's process reads and records.
#[derive(Clone, Copy)]
struct Kubelet<'a> {
    env: &'a TestEnv,
    pods: &'a Api<Pod>,
    cms: &'a Api<ConfigMap>,
    running: &'a Mutex<Running>,
    journal: &'a Journal,
    dir: &'a Path,
}

async fn start_pod(k: Kubelet<'_>, pod: &Pod, ip: &str) -> Result<Started, String> {
    let Kubelet {
        env,
        pods,
        cms,
        running,
        journal,
        dir,
    } = k;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let component = labels
        .get("app.kubernetes.io/component")
        .cloned()
        .ok_or("no component label")?;
    let job = labels
        .get("flinkops.io/job")
        .cloned()
        .ok_or("no job label")?;
    let ip = ip.to_string();
    let spec = pod.spec.as_ref().ok_or("no spec")?;
    let container = spec
        .containers
        .iter()
        .find(|c| c.name == "flink-main-container")
        .ok_or("no flink-main-container")?;
    // The container's environment as a kubelet resolves it (plain values and the pod's
    // IP; other sources are not needed here), and its arguments with `$(VAR)` expanded.
    let vars: BTreeMap<String, String> = container
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => match from.field_ref.as_ref()?.field_path.as_str() {
                    "status.podIP" => ip.to_string(),
                    _ => return None,
                },
                _ => return None,
            };
            Some((e.name.clone(), value))
        })
        .collect();
    let args: Vec<String> = container
        .args
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|a| expand(a, &vars))
        .collect();
    let cm_name = spec
        .volumes
        .iter()
        .flatten()
        .find_map(|v| v.config_map.as_ref().map(|c| c.name.clone()))
        .ok_or("no ConfigMap volume")?;
    let data = cms
        .get(&cm_name)
        .await
        .map_err(|e| format!("ConfigMap {cm_name}: {e}"))?
        .data
        .unwrap_or_default();
    // The JobManager's address. A TaskManager reaches its JobManager through the Service
    // name, which follows the JobManager Pod that serves now: here it is the address of
    // a JobManager Pod of the same job that is not going away, whose process runs, and
    // that was rendered from the same configuration (an old JobManager Pod may not be
    // marked for deletion yet when the new TaskManager starts). A TaskManager may start
    // before its JobManager (a kubelet would start it anyway and let Flink retry): wait,
    // and after 60 s take any running JobManager of the job.
    let jm_ip = if component == "jobmanager" {
        ip.clone()
    } else {
        let lp = kube::api::ListParams::default().labels(&format!(
            "flinkops.io/job={job},app.kubernetes.io/component=jobmanager"
        ));
        let hash = config_hash(pod);
        let mut found = None;
        for attempt in 0..240 {
            let listed = pods.list(&lp).await.map_err(|e| e.to_string())?.items;
            found = {
                let run = running.lock().unwrap();
                let mut live: Vec<(&Pod, String)> = listed
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter_map(|p| {
                        Some((p, run.procs.get(p.metadata.uid.as_deref()?)?.ip.clone()))
                    })
                    .collect();
                // Newest first.
                live.sort_by_key(|(p, _)| std::cmp::Reverse(p.metadata.creation_timestamp.clone()));
                live.iter()
                    .find(|(p, _)| config_hash(p) == hash)
                    .or_else(|| live.first().filter(|_| attempt >= 120))
                    .map(|(_, ip)| ip.clone())
            };
            if found.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        found.ok_or("no running JobManager for the job within 120 s")?
    };
    // KWOK hands a deleted Pod's IP to the next Pod: the old process must be gone before
    // a new one binds there (its Delete event may still be on its way).
    for waited in 0.. {
        let holder = {
            let run = running.lock().unwrap();
            run.procs
                .values()
                .find(|s| s.ip == ip)
                .map(|s| s.name.clone())
        };
        match holder {
            None => break,
            Some(other) if waited >= 120 => {
                return Err(format!("{other} still runs at {ip} after 60 s"))
            }
            Some(other) if waited == 0 => {
                eprintln!("pod runner: {name}: waiting for {other} to leave {ip}");
                journal.note(format!("{name}: waiting for {other} to leave {ip}"))
            }
            Some(_) => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    journal.note(format!(
        "{name}: {component} of {job} at {ip}, JobManager at {jm_ip}"
    ));
    let conf_dir = dir.join(format!("{name}-conf"));
    std::fs::create_dir_all(&conf_dir).map_err(|e| e.to_string())?;
    let mut config = translate_config(
        data.get("config.yaml").map(String::as_str).unwrap_or(""),
        &ip,
        &jm_ip,
    )?;
    // Secret volumes, as a kubelet mounts them: the Secret's keys as files, in a directory
    // of the pod's. The process runs in this machine's file system, not the image's, so a
    // path in the configuration under the mount path is rewritten to that directory.
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(cms.clone().into_client(), &namespace);
    for m in container.volume_mounts.iter().flatten() {
        let Some(secret) = flinkops::edge::flink::tls::secret_volume(spec, &m.name) else {
            continue;
        };
        let secret_name = secret.secret_name.clone().unwrap_or_default();
        let files = secrets
            .get(&secret_name)
            .await
            .map_err(|e| format!("Secret {secret_name}: {e}"))?
            .data
            .unwrap_or_default();
        let host = dir.join(format!("{name}-secret-{}", m.name));
        std::fs::create_dir_all(&host).map_err(|e| e.to_string())?;
        for (key, bytes) in files {
            std::fs::write(host.join(&key), bytes.0).map_err(|e| e.to_string())?;
        }
        let mount = format!("{}/", m.mount_path.trim_end_matches('/'));
        config = config.replace(&mount, &format!("{}/", host.display()));
        journal.note(format!(
            "{name}: Secret {secret_name} at {mount} is {}",
            host.display()
        ));
    }
    std::fs::write(conf_dir.join("config.yaml"), config).map_err(|e| e.to_string())?;
    for (k, v) in &data {
        if k != "config.yaml" {
            std::fs::write(conf_dir.join(k), v).map_err(|e| e.to_string())?;
        }
    }
    let log = dir.join(format!("{name}-{component}.log"));
    let mut cmd = java_command(dir);
    cmd.envs(&vars);
    // The pod's service account, as Flink's Kubernetes client (high availability) finds
    // it: a token for it, so what the pod may do is what its RBAC grants. (A pod that
    // names none gets no credentials here; the default account has no rights anyway.)
    if let Some(account) = &spec.service_account_name {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let kubeconfig = service_account_kubeconfig(env, &namespace, account, &conf_dir)?;
        cmd.env("KUBECONFIG", kubeconfig);
    }
    cmd.arg(format!(
        "-Dlog4j.configurationFile=file:{}",
        conf_dir.join("log4j-console.properties").display()
    ));
    // As Flink's start scripts do: the rendered log4j configuration also writes the file
    // log.file names (the Flink UI's log tab reads it).
    cmd.arg(format!(
        "-Dlog.file={}",
        dir.join(format!("{name}-{component}.flink.log")).display()
    ));
    let cp = classpath(&env.flink_home);
    match args.first().map(String::as_str) {
        Some("standalone-job") => {
            // The image's /opt/flink/usrlib/*.jar is the test job's jar here. It stays a
            // user artifact (`--jars`), so Flink ships it to the TaskManagers as it would.
            let rest: Vec<String> = args[1..]
                .iter()
                .map(|a| match a.strip_prefix("local:///opt/flink/usrlib/") {
                    Some(_) => format!("local://{}", env.test_jar.display()),
                    None => a.clone(),
                })
                .collect();
            cmd.args(["-Xmx512m", "-cp", &cp])
                .arg("org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint")
                .arg("--configDir")
                .arg(&conf_dir)
                .args(rest);
        }
        Some("jobmanager") => {
            cmd.args(["-Xmx512m", "-cp", &cp])
                .arg("org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint")
                .arg("--configDir")
                .arg(&conf_dir)
                .args(&args[1..]);
        }
        Some("taskmanager") => {
            let (jvm, dynamic) = super::flink::tm_params(&env.flink_home, &conf_dir);
            cmd.args(jvm)
                .args(["-cp", &cp])
                .arg("org.apache.flink.runtime.taskexecutor.TaskManagerRunner")
                .arg("--configDir")
                .arg(&conf_dir)
                .args(dynamic);
        }
        other => return Err(format!("unknown container args {other:?}")),
    }
    Ok(Started {
        name,
        component,
        job,
        ip,
        proc_: Proc::spawn(cmd, log),
    })
}

/// A kubeconfig with a token of service account `account` in `namespace` (what a pod
/// would find mounted), for the test cluster's API server, written into `dir`.
fn service_account_kubeconfig(
    env: &TestEnv,
    namespace: &str,
    account: &str,
    dir: &Path,
) -> Result<std::path::PathBuf, String> {
    let (code, token) = super::kubectl(
        env,
        &["create", "token", account, "-n", namespace, "--duration=2h"],
    );
    if code != 0 {
        return Err(format!(
            "a token for service account {namespace}/{account}: {token}"
        ));
    }
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&env.kubeconfig).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let cluster = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": cluster["server"].as_str(),
            "certificate-authority": cluster["certificate-authority"].as_str(),
        }}],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "pod", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
        "current-context": "pod",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, config.to_string()).map_err(|e| e.to_string())?;
    Ok(path)
}

/// `$(NAME)` replaced by the variable's value, as a kubelet expands container arguments
/// (an unknown name, or `$$`, is left as written).
fn expand(arg: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find("$(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find(')').map(|end| (&after[..end], end)) {
            Some((name, end)) if vars.contains_key(name) => {
                out.push_str(&vars[name]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The configuration a Pod was rendered from (its config-hash annotation).
fn config_hash(pod: &Pod) -> Option<String> {
    pod.metadata
        .annotations
        .as_ref()?
        .get("flinkops.io/config-hash")
        .cloned()
}

/// The rendered configuration with addresses made local: flat keys, Service names and
/// wildcard binds replaced by Pod IPs.
pub fn translate_config(text: &str, pod_ip: &str, jm_ip: &str) -> Result<String, String> {
    let mut flat = flinkops::engine::render::config::read_config_yaml(text)?;
    for (k, v) in [
        ("jobmanager.rpc.address", jm_ip),
        ("rest.address", jm_ip),
        ("jobmanager.bind-host", pod_ip),
        ("rest.bind-address", pod_ip),
        ("taskmanager.bind-host", pod_ip),
        ("taskmanager.host", pod_ip),
    ] {
        flat.insert(k.to_string(), v.to_string());
    }
    Ok(flat.iter().map(|(k, v)| format!("{k}: {v}\n")).collect())
}
