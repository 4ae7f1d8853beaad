//! Test support for integration tests against the real environment of `scripts/testenv`:
//! a kube client for the local control plane, fresh namespaces, Flink session clusters
//! on free ports, the stateful test job, and temporary Git repositories. Everything it
//! starts is stopped on drop, also when a test panics.
//!
//! Integration tests never skip silently: without a running environment they fail with
//! the reason, unless FLINKOPS_UNIT_ONLY=1 asks for unit tests alone (then they say so).

#![allow(dead_code)]

pub mod daemon;
pub mod flink;
pub mod git;
pub mod git_http;
pub mod gitea;
pub mod kube;
pub mod pod_runner;
pub mod realnode;
pub mod recorder;
pub mod scale;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `scripts/testenv up` wrote to `.testenv/env`.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub flink_home: PathBuf,
    pub test_jar: PathBuf,
    pub gitea: gitea::Gitea,
    /// The real node, when the environment runs one (`support::realnode::realnode`).
    pub realnode: Option<realnode::RealNode>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The running test environment, or None (with a loud message) when the user asked for
/// unit tests only. Panics with the reason otherwise, and always under CI=true.
pub fn testenv() -> Option<TestEnv> {
    let path = repo_root().join(".testenv/env");
    match read_env(&path) {
        Ok(env) => Some(env),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            let unit_only = std::env::var("FLINKOPS_UNIT_ONLY").is_ok_and(|v| v == "1");
            if unit_only && !ci {
                eprintln!("\n*** SKIPPED integration test: FLINKOPS_UNIT_ONLY=1 and {why} ***\n");
                None
            } else {
                panic!(
                    "the test environment is not running: {why}.\n  start it with `scripts/testenv up` (or run `scripts/test`){}",
                    if ci { "; under CI=true integration tests never skip" } else { "; FLINKOPS_UNIT_ONLY=1 runs unit tests alone" }
                )
            }
        }
    }
}

fn read_env(path: &Path) -> Result<TestEnv, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let vars: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .map(PathBuf::from)
            .ok_or_else(|| format!("{} has no {k}", path.display()))
    };
    let env = TestEnv {
        kubeconfig: get("KUBECONFIG")?,
        kubectl: get("FLINKOPS_KUBECTL")?,
        helm: get("FLINKOPS_HELM")?,
        flink_home: get("FLINKOPS_FLINK_HOME")?,
        test_jar: get("FLINKOPS_TEST_JAR")?,
        gitea: gitea::Gitea {
            url: get("FLINKOPS_GITEA_URL")?.display().to_string(),
            user: get("FLINKOPS_GITEA_USER")?.display().to_string(),
            token: get("FLINKOPS_GITEA_TOKEN")?.display().to_string(),
        },
        realnode: realnode::RealNode::read(&vars),
    };
    if !env.kubeconfig.exists() {
        return Err(format!("{} does not exist", env.kubeconfig.display()));
    }
    Ok(env)
}

/// The `*.yaml`/`*.yml` files under `root` as a revision at `commit`, paths relative to
/// `root`: offline tests of a repository kept as plain files in this one (examples-repo,
/// tests/compat-repo), read from the working tree so that edits need no commit.
pub fn dir_snapshot(root: &Path, commit: &str) -> flinkops::edge::git::Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut flinkops::edge::git::Snapshot) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.files.insert(
                    rel,
                    flinkops::edge::git::Entry::File(std::fs::read(&path).unwrap()),
                );
            }
        }
    }
    let mut snap = flinkops::edge::git::Snapshot {
        commit: commit.into(),
        ..Default::default()
    };
    walk(root, root, &mut snap);
    snap
}

/// A minimal application job definition for cluster tests.
pub fn app_job(name: &str, ns: &str, parallelism: u32, upgrade_mode: &str) -> String {
    format!(
        "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  image: flink:2.0
  job:
    jarURI: local:///opt/flink/usrlib/job.jar
    parallelism: {parallelism}
    upgradeMode: {upgrade_mode}
"
    )
}

/// Runs `flinkops sync --once` on a repository against the test cluster; returns the exit
/// code and everything it printed.
pub fn sync_once(env: &TestEnv, repo: &Path) -> (i32, String) {
    sync_once_with(env, repo, &[])
}

/// `sync_once` with extra environment variables (e.g. a fault injection point).
pub fn sync_once_with(env: &TestEnv, repo: &Path, vars: &[(&str, &str)]) -> (i32, String) {
    sync_once_full(env, repo, vars, &[])
}

/// `sync_once` with extra arguments (e.g. `--external-wait 2s`).
pub fn sync_once_args(env: &TestEnv, repo: &Path, args: &[&str]) -> (i32, String) {
    sync_once_full(env, repo, &[], args)
}

fn sync_once_full(
    env: &TestEnv,
    repo: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["sync", "--once"])
        .args(args)
        .arg("--repo")
        .arg(repo)
        // Session jobs' file:// jars are read from the test jar's directory only.
        .arg("--jar-dir")
        .arg(
            env.test_jar
                .parent()
                .expect("the test jar is in a directory"),
        )
        .env("KUBECONFIG", &env.kubeconfig)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    code_and_output(out)
}

/// A short random suffix for names (namespaces, directories).
pub fn suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:08x}", h.finish() as u32)
}

/// Polls `check` until it returns Some, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_or(what, timeout, String::new, check).await
}

/// Like `eventually`, with `context()` (logs, state) in the panic message.
pub async fn eventually_or<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    context: impl Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {:?} waiting for {what}\n{}",
                timeout,
                context()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// What a person would look at when a workload does not come up in `namespace`: the
/// node's conditions and taints, the namespace's Deployments, ReplicaSets, Pods and
/// Events (for timeout messages).
pub fn cluster_diagnostics(env: &TestEnv, namespace: &str) -> String {
    let mut out = String::new();
    for args in [
        vec![
            "get",
            "nodes",
            "-o",
            "custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=='Ready')].status,TAINTS:.spec.taints",
        ],
        vec!["get", "deploy,rs,pods", "-o", "wide", "-n", namespace],
        vec!["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"],
    ] {
        let (_, text) = kubectl(env, &args);
        out.push_str(&format!("$ kubectl {}\n{text}\n", args.join(" ")));
    }
    out
}

/// Runs `program args` in the repository with the test cluster's kubeconfig, `stdin`
/// piped in; returns the exit code and everything it printed.
pub fn run_tool(
    env: &TestEnv,
    program: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", &env.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    code_and_output(child.wait_with_output().unwrap())
}

/// Runs the test environment's kubectl; returns the exit code and everything it printed.
/// An HTTP client set up as flinkops sets up its own (its TLS crypto installed).
pub fn http() -> reqwest::Client {
    flinkops::edge::flink::rest::client_builder()
        .build()
        .unwrap()
}

pub fn kubectl(env: &TestEnv, args: &[&str]) -> (i32, String) {
    code_and_output(
        std::process::Command::new(&env.kubectl)
            .args(args)
            .env("KUBECONFIG", &env.kubeconfig)
            .output()
            .unwrap(),
    )
}

/// A finished command's exit code (-1 when killed) and its stdout followed by stderr.
pub fn code_and_output(out: std::process::Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// During a panic, copies `dir` (a test's logs, about to be removed with its temporary
/// directory) to `$TMPDIR/flinkops-failed-<name>` and says where.
pub fn keep_if_panicking(dir: &Path, what: &str) {
    if !std::thread::panicking() {
        return;
    }
    let kept = std::env::temp_dir().join(format!(
        "flinkops-failed-{}",
        dir.file_name().unwrap_or_default().to_string_lossy()
    ));
    let copied = std::process::Command::new("cp")
        .args(["-r", "--"])
        .arg(dir)
        .arg(&kept)
        .status()
        .is_ok_and(|s| s.success());
    if copied {
        eprintln!("{what} kept in {}", kept.display());
    }
}
