//! A real Flink session cluster (Flink from the PyPI wheel, started with plain `java`) on
//! free loopback ports, with its own checkpoint and savepoint directories, and a small
//! REST client for driving the test job. Processes are killed on drop.

use super::TestEnv;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// JVM flags Flink needs on Java 17 (what Flink's own scripts pass).
pub const JAVA_OPENS: &[&str] = &[
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
];

/// A `java` command with the flags Flink needs on Java 17 and its temporary files (the
/// RPC jar it unpacks, 24 MB per process, blob and I/O directories) under `dir`, which the
/// test removes: a killed JVM never cleans up, and /tmp filled the disk across runs.
pub fn java_command(dir: &Path) -> Command {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("JVM temp directory");
    let mut cmd = Command::new("java");
    cmd.args(JAVA_OPENS)
        .arg(format!("-Djava.io.tmpdir={}", tmp.display()));
    cmd
}

const LOG4J: &str = "rootLogger.level = INFO
rootLogger.appenderRef.console.ref = C
appender.console.name = C
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d %-5p %c{1} - %m%n
";

/// A loopback address no other session of this machine uses: 127.33.0.0/16 by process
/// and session (Linux answers on all of 127/8).
fn own_loopback() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let k = (std::process::id().wrapping_mul(16) + n) % (254 * 256);
    format!("127.33.{}.{}", k / 254, k % 254 + 1)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn classpath(flink_home: &Path) -> String {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(flink_home.join("lib"))
        .expect("flink lib directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jar"))
        .collect();
    jars.sort();
    jars.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// A process in its own process group, killed (with its group) on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn java");
        Proc { child, log }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: plain libc call on a process group this test created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// TaskManager JVM flags and dynamic properties, as Flink's scripts compute them.
pub fn tm_params(flink_home: &Path, conf: &Path) -> (Vec<String>, Vec<String>) {
    let cp = format!(
        "{}:{}",
        flink_home.join("bin/bash-java-utils.jar").display(),
        classpath(flink_home)
    );
    let out = Command::new("java")
        .args([
            "-cp",
            &cp,
            "org.apache.flink.runtime.util.bash.BashJavaUtils",
        ])
        .args(["GET_TM_RESOURCE_PARAMS", "--configDir"])
        .arg(conf)
        .output()
        .expect("run BashJavaUtils");
    let text = String::from_utf8_lossy(&out.stdout);
    let results: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("BASH_JAVA_UTILS_EXEC_RESULT:"))
        .collect();
    assert!(
        results.len() >= 2,
        "BashJavaUtils printed no parameters:\n{text}"
    );
    let jvm = results[0].split_whitespace().map(String::from).collect();
    let dynamic = results[1].split_whitespace().map(String::from).collect();
    (jvm, dynamic)
}

pub struct FlinkSession {
    pub dir: TempDir,
    pub conf: PathBuf,
    pub rest: String,
    pub savepoints: PathBuf,
    pub checkpoints: PathBuf,
    flink_home: PathBuf,
    jm: Option<Proc>,
    tms: Vec<Proc>,
    http: reqwest::Client,
}

impl FlinkSession {
    /// Starts a JobManager and `taskmanagers` TaskManagers with `slots` slots each, and
    /// waits until they have registered.
    pub async fn start(env: &TestEnv, taskmanagers: usize, slots: u32) -> FlinkSession {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        let savepoints = dir.path().join("savepoints");
        let checkpoints = dir.path().join("checkpoints");
        for d in [&conf, &savepoints, &checkpoints] {
            std::fs::create_dir_all(d).unwrap();
        }
        // A loopback address of the session's own, with Flink's usual ports: ports picked
        // free on 127.0.0.1 could be taken by another socket before the JVM binds them.
        let ip = own_loopback();
        let config = format!(
            "jobmanager.rpc.address: {ip}
jobmanager.rpc.port: 6123
jobmanager.bind-host: {ip}
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: {ip}
taskmanager.host: {ip}
taskmanager.numberOfTaskSlots: {slots}
taskmanager.memory.process.size: 1024m
rest.address: {ip}
rest.bind-address: {ip}
rest.port: 8081
blob.server.port: 6124
execution.checkpointing.dir: file://{}
execution.checkpointing.savepoint-dir: file://{}
execution.checkpointing.interval: 1s
",
            checkpoints.display(),
            savepoints.display()
        );
        std::fs::write(conf.join("config.yaml"), config).unwrap();
        std::fs::write(conf.join("log4j-console.properties"), LOG4J).unwrap();
        let mut s = FlinkSession {
            rest: format!("http://{ip}:8081"),
            conf,
            savepoints,
            checkpoints,
            flink_home: env.flink_home.clone(),
            jm: None,
            tms: Vec::new(),
            http: super::http(),
            dir,
        };
        s.jm = Some(s.java(
            "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
            &["-Xmx512m".to_string()],
            &[],
            "jobmanager",
        ));
        for _ in 0..taskmanagers {
            s.add_taskmanager();
        }
        s.wait_taskmanagers(taskmanagers).await;
        s
    }

    fn java(&self, class: &str, jvm: &[String], args: &[String], name: &str) -> Proc {
        let mut cmd = java_command(self.dir.path());
        cmd.args(jvm)
            .arg(format!(
                "-Dlog4j.configurationFile=file:{}",
                self.conf.join("log4j-console.properties").display()
            ))
            .args(["-cp", &classpath(&self.flink_home), class, "--configDir"])
            .arg(&self.conf)
            .args(args);
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        Proc::spawn(cmd, self.dir.path().join(format!("{name}-{n}.log")))
    }

    pub fn add_taskmanager(&mut self) {
        let (jvm, dynamic) = tm_params(&self.flink_home, &self.conf);
        let tm = self.java(
            "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
            &jvm,
            &dynamic,
            "taskmanager",
        );
        self.tms.push(tm);
    }

    pub async fn wait_taskmanagers(&self, n: usize) {
        let url = format!("{}/overview", self.rest);
        let http = self.http.clone();
        super::eventually_or(
            &format!("{n} TaskManagers registered at {url}"),
            Duration::from_secs(90),
            || self.logs(),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
                    (v["taskmanagers"].as_u64()? as usize >= n).then_some(())
                }
            },
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.rest))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        resp.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.rest))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    /// Uploads a jar; returns its id for /jars/<id>/run.
    pub async fn upload(&self, jar: &Path) -> String {
        let bytes = std::fs::read(jar).unwrap();
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("job.jar")
            .mime_str("application/x-java-archive")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        let v: Value = self
            .http
            .post(format!("{}/jars/upload", self.rest))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let file = v["filename"]
            .as_str()
            .unwrap_or_else(|| panic!("upload: {v}"));
        file.rsplit('/').next().unwrap().to_string()
    }

    /// Runs the test job; returns the Flink job id.
    pub async fn run_counter(
        &self,
        jar_id: &str,
        parallelism: u32,
        savepoint: Option<&str>,
    ) -> String {
        let mut body = json!({
            "entryClass": "flinkops.testjob.CounterJob",
            "parallelism": parallelism,
            "programArgsList": ["20"],
        });
        if let Some(sp) = savepoint {
            body["savepointPath"] = json!(sp);
        }
        let v = self.post(&format!("/jars/{jar_id}/run"), body).await;
        v["jobid"].as_str().unwrap().to_string()
    }

    /// Waits until every vertex of the job is RUNNING.
    pub async fn wait_running(&self, job: &str) {
        let path = format!("/jobs/{job}");
        super::eventually(
            &format!("job {job} RUNNING"),
            Duration::from_secs(90),
            || async {
                let v = self.get(&path).await;
                let vertices = v["vertices"].as_array()?;
                (v["state"] == "RUNNING"
                    && !vertices.is_empty()
                    && vertices.iter().all(|x| x["status"] == "RUNNING"))
                .then_some(())
            },
        )
        .await
    }

    /// Stop-with-savepoint (no drain); returns the savepoint path.
    pub async fn stop_with_savepoint(&self, job: &str) -> String {
        let target = format!("file://{}", self.savepoints.display());
        let v = self
            .post(
                &format!("/jobs/{job}/stop"),
                json!({"drain": false, "targetDirectory": target}),
            )
            .await;
        let request = v["request-id"].as_str().unwrap().to_string();
        let path = format!("/jobs/{job}/savepoints/{request}");
        super::eventually("savepoint completed", Duration::from_secs(60), || async {
            let v = self.get(&path).await;
            if v["status"]["id"] != "COMPLETED" {
                return None;
            }
            match v["operation"]["location"].as_str() {
                Some(l) => Some(l.to_string()),
                None => panic!("savepoint failed: {}", v["operation"]),
            }
        })
        .await
    }

    /// The highest count printed per key by the test job, over all TaskManager output.
    pub fn counters(&self) -> BTreeMap<u64, u64> {
        let mut out = BTreeMap::new();
        for tm in &self.tms {
            let text = std::fs::read_to_string(&tm.log).unwrap_or_default();
            for (k, c) in parse_counters(&text) {
                let e = out.entry(k).or_insert(0);
                *e = (*e).max(c);
            }
        }
        out
    }

    /// Counts printed so far, per TaskManager log, in order (for "continued" checks).
    pub fn counter_lines(&self) -> Vec<(u64, u64)> {
        self.tms
            .iter()
            .flat_map(|tm| parse_counters(&std::fs::read_to_string(&tm.log).unwrap_or_default()))
            .collect()
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in self.jm.iter().chain(self.tms.iter()) {
            s.push_str(&format!("==> {} <==\n", p.log.display()));
            let t = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(40).collect();
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

/// Parses "... flinkops-counter key=K count=C" lines.
pub fn parse_counters(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find("flinkops-counter key=")? + "flinkops-counter key=".len()..];
            let (k, c) = rest.split_once(" count=")?;
            Some((k.trim().parse().ok()?, c.trim().parse().ok()?))
        })
        .collect()
}

/// Per key: (first count, last count) over the logs whose names pass `pick`.
pub fn counts_in(
    logs: &BTreeMap<String, Vec<(u64, u64)>>,
    pick: impl Fn(&str) -> bool,
) -> BTreeMap<u64, (u64, u64)> {
    let mut out: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (_, lines) in logs.iter().filter(|(n, _)| pick(n)) {
        for &(k, c) in lines {
            let e = out.entry(k).or_insert((c, c));
            e.0 = e.0.min(c);
            e.1 = e.1.max(c);
        }
    }
    out
}

/// Per key, the last count printed over the logs whose names pass `pick`, given oldest
/// first: where the job stopped. Not the highest: after a last-state restore an older log
/// may have counted further than the newest got before it stopped.
pub fn last_counts(
    logs: &[(String, Vec<(u64, u64)>)],
    pick: impl Fn(&str) -> bool,
) -> BTreeMap<u64, u64> {
    // Collecting keeps the last value written for each key.
    logs.iter()
        .filter(|(n, _)| pick(n))
        .flat_map(|(_, lines)| lines.iter().copied())
        .collect()
}

/// Whether each of the test job's 4 keys counted at least `n` in the logs not in `old`.
pub fn all_counted(
    logs: &BTreeMap<String, Vec<(u64, u64)>>,
    old: &BTreeSet<String>,
    n: u64,
) -> bool {
    let c = counts_in(logs, |name| !old.contains(name));
    c.len() == 4 && c.values().all(|(_, last)| *last >= n)
}

/// Asserts that the logs written since `before` continue the counts of the logs in
/// `before` exactly (`logs` oldest first): first new count = last old count + 1, per key.
pub fn assert_counts_continue(logs: Vec<(String, Vec<(u64, u64)>)>, before: &BTreeSet<String>) {
    // Where the old job stopped: a failover of its own (Flink restoring its last
    // checkpoint), or an earlier last-state upgrade, may have rewound it below the
    // highest count any of its logs printed.
    let old = last_counts(&logs, |n| before.contains(n));
    let new = counts_in(&logs.into_iter().collect(), |n| !before.contains(n));
    assert_eq!(old.len(), 4, "old counts: {old:?}");
    assert_eq!(new.len(), 4, "new counts: {new:?}");
    for (k, old_last) in &old {
        let (new_first, _) = new[k];
        assert_eq!(
            new_first,
            old_last + 1,
            "key {k}: counted {old_last} before the upgrade, restarted at {new_first}"
        );
    }
}

/// Like `assert_counts_continue`, for a restore from a checkpoint: what was counted after
/// the checkpoint is counted again (at-least-once replay), but the state is there: the
/// counts do not start over.
pub fn assert_counts_resume(logs: &BTreeMap<String, Vec<(u64, u64)>>, before: &BTreeSet<String>) {
    let old = counts_in(logs, |n| before.contains(n));
    let new = counts_in(logs, |n| !before.contains(n));
    assert_eq!(new.len(), old.len(), "new counts: {new:?}");
    for (k, (_, old_last)) in &old {
        let (new_first, _) = new[k];
        assert!(
            new_first > 1 && new_first <= old_last + 1,
            "key {k}: counted {old_last} before, restarted at {new_first}"
        );
    }
}

/// Per key, the highest count in any log.
pub fn max_counts(logs: &BTreeMap<String, Vec<(u64, u64)>>) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for &(k, c) in logs.values().flatten() {
        let e = out.entry(k).or_insert(0);
        *e = c.max(*e);
    }
    out
}

/// Asserts that within each log every key counted 1 at most once: a job resumed from its
/// state never starts a key over.
pub fn assert_no_key_started_over(logs: &BTreeMap<String, Vec<(u64, u64)>>) {
    for (name, lines) in logs {
        let mut ones: BTreeMap<u64, usize> = BTreeMap::new();
        for (k, _) in lines.iter().filter(|(_, c)| *c == 1) {
            *ones.entry(*k).or_default() += 1;
        }
        assert!(
            ones.values().all(|n| *n == 1),
            "{name}: a key started over: {ones:?}"
        );
    }
}
