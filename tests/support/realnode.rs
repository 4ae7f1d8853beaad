//! The real node of scripts/testenv (testenv/realnode/node.sh): a kubelet running real
//! containers from images built locally. Pods land there when they ask for it
//! (`pod_placement`); their logs are followed from the kubelet's log files, which go when
//! the Pod goes, so a test keeps copies (`PodLogs`).

use super::flink::parse_counters;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What `scripts/testenv up` wrote about the real node.
#[derive(Debug, Clone)]
pub struct RealNode {
    pub node: String,
    /// The Flink image with the test job in /opt/flink/usrlib/counter.jar.
    pub job_image: String,
    pub containerd: PathBuf,
    pub crictl: PathBuf,
    /// The host's address, which Pods reach (the apiserver, a Git server of the test).
    pub host_ip: String,
    /// CoreDNS' log: every query Pods made (the `log` plugin).
    pub dns_log: PathBuf,
    /// flinkops' image, once `scripts/testenv flinkops-image` made it.
    pub flinkops_image: Option<String>,
}

impl RealNode {
    pub fn read(vars: &BTreeMap<&str, &str>) -> Option<RealNode> {
        Some(RealNode {
            node: vars.get("FLINKOPS_REALNODE_NODE")?.to_string(),
            job_image: vars.get("FLINKOPS_REALNODE_JOB_IMAGE")?.to_string(),
            containerd: vars.get("FLINKOPS_REALNODE_CONTAINERD")?.into(),
            crictl: vars.get("FLINKOPS_CRICTL")?.into(),
            host_ip: vars.get("FLINKOPS_REALNODE_HOST_IP")?.to_string(),
            dns_log: vars.get("FLINKOPS_REALNODE_DNS_LOG")?.into(),
            flinkops_image: vars
                .get("FLINKOPS_REALNODE_FLINKOPS_IMAGE")
                .map(|s| s.to_string()),
        })
    }
}

/// The real node of the running test environment; None (loudly) when it was started
/// without one (FLINKOPS_REALNODE=0), which CI never does: there it panics.
pub fn realnode(env: &super::TestEnv) -> Option<RealNode> {
    if let Some(r) = &env.realnode {
        return Some(r.clone());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the test environment has no real node (.testenv/env names none); under CI=true the real-node tests never skip");
    }
    eprintln!("\n*** SKIPPED real-node test: the test environment runs without a real node (FLINKOPS_REALNODE=0) ***\n");
    None
}

/// A FlinkDeployment's `podTemplate` that puts its Pods on the real node, with `volumes`
/// (YAML list items, indented for `spec:`) mounted as `mounts` in Flink's container.
pub fn pod_placement(mounts: &str, volumes: &str) -> String {
    format!(
        "  podTemplate:
    spec:
      nodeSelector: {{flinkops.io/real-node: \"true\"}}
      tolerations: [{{key: flinkops.io/real-node, operator: Exists, effect: NoSchedule}}]
      containers:
      - name: flink-main-container
        volumeMounts:
{mounts}
      volumes:
{volumes}"
    )
}

/// Copies of a namespace's container logs (the kubelet's files under /var/log/pods),
/// kept after their Pods are gone: one file per container run, named
/// `<pod>_<container>_<restart>.log`, appended to as the container writes.
pub struct PodLogs {
    pub dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const KUBELET_LOGS: &str = "/var/log/pods";

impl PodLogs {
    pub fn follow(namespace: &str) -> PodLogs {
        let dir = tempfile::tempdir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (out, ns, s) = (
            dir.path().to_path_buf(),
            namespace.to_string(),
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut copied: HashMap<PathBuf, u64> = HashMap::new();
            while !s.load(Ordering::Relaxed) {
                copy_new(&ns, &out, &mut copied);
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            copy_new(&ns, &out, &mut copied);
        });
        PodLogs {
            dir,
            stop,
            thread: Some(thread),
        }
    }

    /// Per TaskManager container run, the counts it printed.
    pub fn counter_logs(&self) -> BTreeMap<String, Vec<(u64, u64)>> {
        self.counter_logs_oldest_first().into_iter().collect()
    }

    /// `counter_logs`, oldest first: by when each copy last grew (a TaskManager's log stops
    /// growing when its container goes).
    pub fn counter_logs_oldest_first(&self) -> Vec<(String, Vec<(u64, u64)>)> {
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.contains("-taskmanager-").then(|| {
                    let modified = e.metadata().and_then(|m| m.modified()).ok();
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    (modified, name, parse_counters(&text))
                })
            })
            .collect();
        logs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        logs.into_iter().map(|(_, n, c)| (n, c)).collect()
    }

    /// The last 30 lines of every copy, for failure messages.
    pub fn tails(&self) -> String {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        let mut s = String::new();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s.push_str(&format!("==> {} <==\n", p.display()));
            for l in &lines[lines.len().saturating_sub(30)..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for PodLogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        super::keep_if_panicking(self.dir.path(), "pod logs");
    }
}

/// Appends what each of the namespace's container log files gained since the last call.
fn copy_new(namespace: &str, out: &Path, copied: &mut HashMap<PathBuf, u64>) {
    let Ok(pods) = std::fs::read_dir(KUBELET_LOGS) else {
        return;
    };
    let prefix = format!("{namespace}_");
    for pod in pods.flatten() {
        let pod_dir = pod.file_name().to_string_lossy().into_owned();
        let Some(rest) = pod_dir.strip_prefix(&prefix) else {
            continue;
        };
        // <namespace>_<pod>_<uid>: Pod names have no underscore.
        let pod_name = rest.split('_').next().unwrap_or(rest);
        let Ok(containers) = std::fs::read_dir(pod.path()) else {
            continue;
        };
        for c in containers.flatten() {
            let container = c.file_name().to_string_lossy().into_owned();
            let Ok(runs) = std::fs::read_dir(c.path()) else {
                continue;
            };
            for run in runs.flatten() {
                let file = run.file_name().to_string_lossy().into_owned();
                let Some(n) = file.strip_suffix(".log") else {
                    continue;
                };
                let src = run.path();
                let mut done = copied.get(&src).copied().unwrap_or(0);
                // Rotated by the kubelet (10 MiB): the file starts over.
                if std::fs::metadata(&src).is_ok_and(|m| m.len() < done) {
                    done = 0;
                }
                let Ok(mut f) = std::fs::File::open(&src) else {
                    continue;
                };
                let mut new = Vec::new();
                if f.seek(SeekFrom::Start(done)).is_err() || f.read_to_end(&mut new).is_err() {
                    continue;
                }
                if new.is_empty() {
                    continue;
                }
                let dst = out.join(format!("{pod_name}_{container}_{n}.log"));
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&dst)
                    .and_then(|mut d| std::io::Write::write_all(&mut d, &new));
                if appended.is_ok() {
                    copied.insert(src, done + new.len() as u64);
                }
            }
        }
    }
}
