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
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

#[derive(Default)]
struct Running {
    /// Pod uid → (pod name, component, process).
    procs: HashMap<String, (String, String, Proc)>,
}

pub struct PodRunner {
    pub dir: Arc<TempDir>,
    running: Arc<Mutex<Running>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(mut r) = self.running.lock() {
            r.procs.clear();
        }
    }
}

impl PodRunner {
    pub fn start(env: &TestEnv, client: &Client, namespace: &str) -> PodRunner {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let running = Arc::new(Mutex::new(Running::default()));
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let cfg = watcher::Config::default().labels("app.kubernetes.io/managed-by=flinkops");
        let (env, r, d) = (env.clone(), running.clone(), dir.clone());
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher(pods.clone(), cfg));
            while let Some(event) = stream.next().await {
                let pod = match event {
                    Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => p,
                    Ok(watcher::Event::Delete(p)) => {
                        let uid = p.metadata.uid.unwrap_or_default();
                        r.lock().unwrap().procs.remove(&uid);
                        continue;
                    }
                    _ => continue,
                };
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let gone = pod.metadata.deletion_timestamp.is_some();
                if gone {
                    r.lock().unwrap().procs.remove(&uid);
                    continue;
                }
                let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
                let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
                if ip.is_none() || phase.as_deref() != Some("Running") {
                    continue;
                }
                if r.lock().unwrap().procs.contains_key(&uid) {
                    continue;
                }
                match start_pod(&env, &pods, &cms, &pod, d.path()).await {
                    Ok((component, proc_)) => {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        r.lock()
                            .unwrap()
                            .procs
                            .insert(uid, (name, component, proc_));
                    }
                    Err(e) => {
                        eprintln!("pod runner: {}: {e}", pod.metadata.name.unwrap_or_default())
                    }
                }
            }
        });
        PodRunner { dir, running, task }
    }

    /// Sends `signal` to the Flink processes of `component` (jobmanager, taskmanager);
    /// returns how many got it. SIGSTOP freezes one as a stalled node would.
    pub fn signal(&self, component: &str, signal: i32) -> usize {
        let r = self.running.lock().unwrap();
        let mut n = 0;
        for (_, c, p) in r.procs.values() {
            if c == component {
                // SAFETY: signalling our own child's process group.
                unsafe {
                    libc::kill(-(p.child.id() as i32), signal);
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
            .map(|(n, c, _)| (n.clone(), c.clone()))
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

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                s.push_str(&format!("==> {} <==\n", entry.path().display()));
                for l in tail.into_iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }
}

async fn start_pod(
    env: &TestEnv,
    pods: &Api<Pod>,
    cms: &Api<ConfigMap>,
    pod: &Pod,
    dir: &Path,
) -> Result<(String, Proc), String> {
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
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
    let spec = pod.spec.as_ref().ok_or("no spec")?;
    let container = spec
        .containers
        .iter()
        .find(|c| c.name == "flink-main-container")
        .ok_or("no flink-main-container")?;
    let args = container.args.clone().unwrap_or_default();
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
    // The JobManager's address: the JobManager Pod of the same job.
    let jm_ip = if component == "jobmanager" {
        ip.clone()
    } else {
        let lp = kube::api::ListParams::default().labels(&format!(
            "flinkops.io/job={job},app.kubernetes.io/component=jobmanager"
        ));
        // A TaskManager may start before its JobManager Pod has an IP (a kubelet would
        // start it anyway and let it retry the connection): wait for the address.
        let mut found = None;
        for _ in 0..120 {
            found = pods
                .list(&lp)
                .await
                .map_err(|e| e.to_string())?
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .find_map(|p| p.status.as_ref()?.pod_ip.clone());
            if found.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        found.ok_or("the JobManager Pod got no IP within 60 s")?
    };
    let conf_dir = dir.join(format!("{name}-conf"));
    std::fs::create_dir_all(&conf_dir).map_err(|e| e.to_string())?;
    let config = translate_config(
        data.get("config.yaml").map(String::as_str).unwrap_or(""),
        &ip,
        &jm_ip,
    )?;
    std::fs::write(conf_dir.join("config.yaml"), config).map_err(|e| e.to_string())?;
    for (k, v) in &data {
        if k != "config.yaml" {
            std::fs::write(conf_dir.join(k), v).map_err(|e| e.to_string())?;
        }
    }
    let log = dir.join(format!("{name}-{component}.log"));
    let mut cmd = java_command(dir);
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
                .arg(&conf_dir);
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
    Ok((component, Proc::spawn(cmd, log)))
}

/// The rendered configuration with addresses made local: flat keys, Service names and
/// wildcard binds replaced by Pod IPs.
pub fn translate_config(text: &str, pod_ip: &str, jm_ip: &str) -> Result<String, String> {
    let root: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut flat = BTreeMap::new();
    flatten("", &root, &mut flat);
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

fn flatten(prefix: &str, v: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or_default();
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_yaml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_yaml::Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        serde_yaml::Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        _ => {}
    }
}
