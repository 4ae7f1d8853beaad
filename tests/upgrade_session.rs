//! Session jobs end to end: a session cluster (a FlinkDeployment without job) runs as real
//! Flink processes under the pod runner, and flinkops submits, upgrades, suspends and
//! resumes a FlinkSessionJob in it through the real REST API. The test job counts per key
//! in keyed state and prints every count; a TaskManager of a session cluster outlives its
//! jobs, so "the state was carried" is checked as: over everything printed, every key's
//! counts are exactly 1, 2, ..., n (a restart without state would print 1 again, a lost
//! savepoint would skip or repeat).

mod support;

use flinkops::edge::flink::FlinkRest;
use flinkops::engine::session_job;
use flinkops::model::ledger::{Health, Ledger};
use flinkops::model::spec::JobId;
use kube::Client;
use std::collections::BTreeMap;
use std::time::Duration;
use support::git::TestRepo;
use support::pod_runner::PodRunner;

/// One Flink session cluster at a time on two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Scenario {
    env: support::TestEnv,
    client: Client,
    ns: support::kube::TestNamespace,
    runner: PodRunner,
    state: tempfile::TempDir,
    repo: TestRepo,
}

impl Scenario {
    async fn new(env: support::TestEnv, slots: u32) -> Scenario {
        let client = support::kube::client(&env).await;
        let ns = support::kube::TestNamespace::create(&env, &client, "t-sess").await;
        let runner = PodRunner::start(&env, &client, &ns.name);
        let repo = TestRepo::new();
        repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
        let s = Scenario {
            env,
            client,
            ns,
            runner,
            state: tempfile::tempdir().unwrap(),
            repo,
        };
        s.repo.write("shared.yaml", &s.cluster(slots));
        s
    }

    /// The session cluster: one TaskManager with room for the job at parallelism 2.
    fn cluster(&self, slots: u32) -> String {
        format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: shared
  namespace: {ns}
spec:
  image: flink:2.3
  flinkVersion: v2_3
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: {slots}
    execution.checkpointing.dir: file://{state}/checkpoints
    execution.checkpointing.savepoint-dir: file://{state}/savepoints
  jobManager:
    resource: {{cpu: 0.5, memory: 1024m}}
  taskManager:
    replicas: 1
    resource: {{cpu: 0.5, memory: 1024m}}
",
            ns = self.ns.name,
            state = self.state.path().display(),
        )
    }

    fn job(&self, parallelism: u32, state: &str) -> String {
        format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata:
  name: counter
  namespace: {ns}
spec:
  deploymentName: shared
  flinkConfiguration:
    execution.checkpointing.interval: 1s
    kubernetes.operator.deployment.readiness.timeout: 90s
  job:
    jarURI: file://{jar}
    entryClass: flinkops.testjob.CounterJob
    args: [\"20\"]
    parallelism: {parallelism}
    upgradeMode: savepoint
    state: {state}
",
            ns = self.ns.name,
            jar = self.env.test_jar.display(),
        )
    }

    fn commit(&self, text: &str, message: &str) -> String {
        self.repo.write("counter.yaml", text);
        self.repo.commit(message)
    }

    fn sync_ok(&self) -> String {
        let (code, out) =
            support::sync_once_with(&self.env, self.repo.path(), &[("FLINKOPS_LOG", "info")]);
        assert_eq!(code, 0, "{out}\n{}", self.runner.logs());
        out
    }

    fn id(&self) -> JobId {
        JobId {
            namespace: self.ns.name.clone(),
            name: "counter".into(),
        }
    }

    async fn ledger_opt(&self) -> Option<Ledger> {
        support::kube::ledger(&self.client, &self.ns.name, "counter").await
    }

    async fn ledger(&self) -> Ledger {
        support::kube::ledger(&self.client, &self.ns.name, "counter")
            .await
            .expect("the job's ledger")
    }

    /// The REST API of the session cluster's JobManager Pod that runs now.
    async fn rest(&self) -> FlinkRest {
        support::kube::jobmanager_rest(&self.client, &self.ns.name, "shared").await
    }

    /// The session job's Flink jobs that have not ended: (id, state).
    async fn our_live_jobs(&self) -> Vec<(String, String)> {
        let rest = self.rest().await;
        rest.jobs()
            .await
            .unwrap()
            .into_iter()
            .filter(|j| session_job::is_job_of(&self.id(), &j.id))
            .filter(|j| !j.state.is_terminal())
            .map(|j| (j.id, j.state.to_string()))
            .collect()
    }

    /// Waits until exactly one Flink job of the session job runs, fully; its (id,
    /// parallelism).
    async fn running_job(&self) -> (String, u32) {
        let rest = self.rest().await;
        support::eventually_or(
            "exactly one Flink job of the session job, fully RUNNING",
            Duration::from_secs(120),
            || self.runner.logs(),
            || async {
                let live = self.our_live_jobs().await;
                assert!(
                    live.len() <= 1,
                    "two jobs of the session job at once: {live:?}"
                );
                let d = rest.job(&live.first()?.0).await.ok()?;
                d.fully_running().then(|| {
                    (
                        d.id.clone(),
                        d.vertices.iter().map(|v| v.parallelism).max().unwrap_or(0),
                    )
                })
            },
        )
        .await
    }

    /// Every count printed so far, per key, in order of value.
    fn counts(&self) -> BTreeMap<u64, Vec<u64>> {
        let mut out: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for lines in self.runner.counter_logs().into_values() {
            for (k, c) in lines {
                out.entry(k).or_default().push(c);
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
        }
        out
    }

    /// Waits until every key counted `more` past `since` (the highest counts before).
    async fn counting_past(&self, since: &BTreeMap<u64, Vec<u64>>, more: u64) {
        support::eventually_or(
            "the job counting on",
            Duration::from_secs(90),
            || self.runner.logs(),
            || async {
                let now = self.counts();
                let grew = now.len() == 4
                    && now.iter().all(|(k, v)| {
                        let before = since.get(k).and_then(|b| b.last()).copied().unwrap_or(0);
                        v.last().copied().unwrap_or(0) >= before + more
                    });
                grew.then_some(())
            },
        )
        .await
    }

    /// Every key's counts are 1..=n, each once: the state went along every restart.
    fn assert_counts_continuous(&self) {
        let counts = self.counts();
        assert_eq!(counts.len(), 4, "{counts:?}");
        for (k, v) in &counts {
            let want: Vec<u64> = (1..=v.len() as u64).collect();
            assert!(
                *v == want,
                "key {k}: counts are not 1..{}: first differences at {:?}",
                v.len(),
                v.iter().zip(&want).find(|(a, b)| a != b)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_job_is_submitted_upgraded_suspended_and_resumed_with_its_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, 4).await;

    // First deployment: the cluster's objects are applied, then the job is submitted to
    // it under an id that names it.
    s.commit(&s.job(1, "running"), "cluster and counter at parallelism 1");
    s.sync_ok();
    let (first, p) = s.running_job().await;
    assert_eq!(p, 1);
    assert!(session_job::is_job_of(&s.id(), &first));
    s.counting_past(&BTreeMap::new(), 20).await;
    let l = s.ledger().await;
    assert_eq!(l.health, Health::Healthy, "{l:?}");
    assert!(l.upgrade.is_none());

    // A parallelism change, with flinkops killed right after it submitted the new
    // version: the next run finds that submission by its recorded id and does not submit
    // again; the counts carry on from the savepoint.
    let before = s.counts();
    let c2 = s.commit(&s.job(2, "running"), "parallelism 2");
    let (code, out) = support::sync_once_with(
        &s.env,
        s.repo.path(),
        &[(flinkops::runtime::fault::ENV, "after-submit")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("dying at after-submit"), "{out}");
    let out = s.sync_ok();
    // The phase timings in the log (run with --nocapture to see them).
    println!("{out}");
    assert!(out.contains("already submitted"), "{out}");
    let (second, p) = s.running_job().await;
    assert_eq!(p, 2);
    assert_ne!(second, first);
    s.counting_past(&before, 5).await;
    s.assert_counts_continuous();
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c2);
    assert!(l.upgrade.is_none(), "{:?}", l.upgrade);
    assert_eq!(l.savepoints.len(), 1, "{:?}", l.savepoints);
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints[0].path.as_str())
    );
    let restored = s
        .rest()
        .await
        .checkpoints(&second)
        .await
        .unwrap()
        .restored
        .unwrap();
    assert_eq!(restored.path, l.savepoints[0].path);
    // The session cluster itself was not touched: one JobManager, one TaskManager.
    assert_eq!(s.runner.running().len(), 2, "{:?}", s.runner.running());

    // Suspend: stopped with a savepoint, nothing of it runs; the cluster stays.
    s.commit(&s.job(2, "suspended"), "suspend");
    s.sync_ok();
    assert!(s.our_live_jobs().await.is_empty());
    let l = s.ledger().await;
    assert_eq!(l.health, Health::Suspended, "{l:?}");
    assert_eq!(l.savepoints.len(), 2);
    assert_eq!(l.savepoints[1].reason, "suspend");
    let suspended_at = s.counts();

    // Resume, with flinkops killed just before it submits: nothing was submitted, and the
    // next run submits once, from the suspend savepoint.
    s.commit(&s.job(2, "running"), "resume");
    let (code, out) = support::sync_once_with(
        &s.env,
        s.repo.path(),
        &[(flinkops::runtime::fault::ENV, "before-submit")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("dying at before-submit"), "{out}");
    assert!(s.our_live_jobs().await.is_empty());
    println!("{}", s.sync_ok());
    s.running_job().await;
    s.counting_past(&suspended_at, 5).await;
    s.assert_counts_continuous();
    let l = s.ledger().await;
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints[1].path.as_str())
    );

    // A savepoint by hand, of this job only, from its session cluster.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["savepoint", &format!("{}/counter", s.ns.name)])
        .env("KUBECONFIG", &s.env.kubeconfig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = s.ledger().await;
    assert_eq!(l.savepoints.len(), 3, "{:?}", l.savepoints);
    assert_eq!(l.savepoints[2].reason, "manual");

    // Nothing more to do.
    let out = s.sync_ok();
    assert!(out.contains("0 jobs with work"), "{out}");

    // Removed from Git: its Flink job is stopped with a savepoint; its ledger stays as a
    // tombstone (the savepoint lineage, and when it was removed); the session cluster
    // runs on.
    s.repo.remove("counter.yaml");
    let removal = s.repo.commit("counter retired");
    let out = s.sync_ok();
    assert!(
        out.contains("is kept: adding the job again resumes from it"),
        "{out}"
    );
    assert!(s.our_live_jobs().await.is_empty());
    let l = s.ledger().await;
    assert_eq!(
        l.removed.as_ref().map(|r| r.commit.as_str()),
        Some(removal.as_str())
    );
    assert_eq!(
        l.savepoints.last().map(|s| s.reason.as_str()),
        Some("removal")
    );
    assert_eq!(s.runner.running().len(), 2, "{:?}", s.runner.running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cluster_restart_carries_its_session_job_s_state_to_the_new_pods() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, 4).await;
    s.commit(&s.job(2, "running"), "cluster and counter");
    s.sync_ok();
    let (first, _) = s.running_job().await;
    s.counting_past(&BTreeMap::new(), 10).await;
    let old_pods = s.runner.running();

    // A change to the cluster's configuration replaces its pods: the session job stops
    // with a savepoint first, and is submitted to the new pods from it.
    let before = s.counts();
    s.repo.write("shared.yaml", &s.cluster(3));
    let c2 = s.repo.commit("three slots per TaskManager");
    let out = s.sync_ok();
    println!("{out}");
    let (second, p) = s.running_job().await;
    assert_eq!(p, 2);
    assert_ne!(second, first);
    let new_pods = s.runner.running();
    assert_eq!(new_pods.len(), 2, "{new_pods:?}");
    assert!(
        new_pods.iter().all(|p| !old_pods.contains(p)),
        "the cluster's pods were replaced: {old_pods:?} -> {new_pods:?}"
    );
    s.counting_past(&before, 5).await;
    s.assert_counts_continuous();
    let l = s.ledger().await;
    assert!(l.upgrade.is_none(), "{:?}", l.upgrade);
    assert_eq!(l.applied_commit, c2);
    assert_eq!(l.savepoints.len(), 1, "{:?}", l.savepoints);
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints[0].path.as_str())
    );
    let out = s.sync_ok();
    assert!(out.contains("0 jobs with work"), "{out}");
}

/// The seed format's example: a FlinkApplication on a FlinkCluster whose jar is in the
/// cluster's image (`local://`). The pod runner's image is this machine, so a path here is
/// the path in the image. flinkops uploads a jar whose manifest's class path names it, and
/// Flink loads the job from there on the JobManager and the TaskManager: first with the
/// entry class the definition names, then with none (the image jar's manifest names it,
/// as a jar built by Maven or Gradle does). Upgraded with a savepoint, the counts go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_runs_a_jar_from_the_cluster_image_and_carries_its_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, 4).await;
    // The image's jar: the test job with its entry class in its manifest.
    let image = s.state.path().join("image");
    std::fs::create_dir_all(&image).unwrap();
    let image_jar = image.join("counter-app.jar");
    std::fs::copy(&s.env.test_jar, &image_jar).unwrap();
    let out = std::process::Command::new("jar")
        .args([
            "--update",
            "--main-class",
            "flinkops.testjob.CounterJob",
            "--file",
        ])
        .arg(&image_jar)
        .output()
        .expect("the JDK's jar tool");
    assert!(out.status.success(), "{out:?}");
    let in_image = format!("local://{}", image_jar.display());
    let test_jar = format!("file://{}", s.env.test_jar.display());
    let seed = |text: String| {
        text.replace(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment",
            "apiVersion: flink.apache.org/v1\nkind: FlinkCluster",
        )
        .replace(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob",
            "apiVersion: flink.apache.org/v1\nkind: FlinkApplication",
        )
        .replace("deploymentName: shared", "flinkCluster: {name: shared}")
        .replace(&test_jar, &in_image)
    };
    s.repo.write("shared.yaml", &seed(s.cluster(4)));
    let application = seed(s.job(1, "running"));
    assert!(application.contains("kind: FlinkApplication") && application.contains("local:///"));
    s.commit(
        &application,
        "seed cluster and application, jar in the image",
    );
    s.sync_ok();
    let (first, p) = s.running_job().await;
    assert_eq!(p, 1);
    s.counting_past(&BTreeMap::new(), 10).await;
    let before = s.counts();
    let without_class =
        seed(s.job(2, "running")).replace("    entryClass: flinkops.testjob.CounterJob\n", "");
    assert!(!without_class.contains("entryClass"));
    let c2 = s.commit(
        &without_class,
        "parallelism 2, the entry class from the jar",
    );
    println!("{}", s.sync_ok());
    let (second, p) = s.running_job().await;
    assert_eq!(p, 2);
    assert_ne!(second, first);
    s.counting_past(&before, 5).await;
    s.assert_counts_continuous();
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c2);
    assert_eq!(l.savepoints.len(), 1, "{:?}", l.savepoints);
    let restored = s.rest().await.checkpoints(&second).await.unwrap().restored;
    assert_eq!(restored.map(|r| r.path), Some(l.savepoints[0].path.clone()));
}

/// A session job whose jar server accepts the connection and never answers: the download
/// hangs until `--jar-download-timeout`, and meanwhile the daemon applies a commit to
/// another job. Then the session job says why it is not running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jar_server_that_never_answers_holds_up_only_its_own_job() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env.clone(), 2).await;
    let other_ns = support::kube::TestNamespace::create(&env, &s.client, "t-other").await;
    s.repo.write(
        "flinkops.yaml",
        &format!("namespaces: [{}, {}]\n", s.ns.name, other_ns.name),
    );
    let other = |p| support::app_job("other", &other_ns.name, p, "stateless");
    s.repo.write("other.yaml", &other(1));
    s.repo.commit("the session cluster and another job");
    s.sync_ok();
    // A jar server that takes connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept() {
            open.push(conn);
        }
    });
    let daemon = support::daemon::Daemon::following(
        &env,
        s.repo.path(),
        &s.ns.name,
        s.state.path().join("daemon.log"),
        &[
            "--jar-host",
            "127.0.0.1",
            "--jar-allow-internal-addresses",
            "--jar-download-timeout",
            "40s",
        ],
        &[],
    );
    let job = s.job(1, "running").replace(
        &format!("file://{}", s.env.test_jar.display()),
        &format!("http://127.0.0.1:{port}/counter.jar"),
    );
    assert!(job.contains("http://127.0.0.1"), "{job}");
    s.commit(&job, "a session job whose jar never comes");
    // The submission waits on the download; another job's commit goes through meanwhile.
    support::eventually_or(
        "the download under way",
        Duration::from_secs(30),
        || daemon.log(),
        || async { s.ledger_opt().await?.upgrade.is_some().then_some(()) },
    )
    .await;
    s.repo.write("other.yaml", &other(2));
    let next = s.repo.commit("other: parallelism 2");
    let others: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(s.client.clone(), &other_ns.name);
    support::eventually_or(
        "the other job applied while the jar download hangs",
        Duration::from_secs(30),
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&others, "other").await? == (next.clone(), 2)).then_some(())
        },
    )
    .await;
    let why = |l: &Ledger| {
        format!(
            "{} {}",
            l.last_error.clone().unwrap_or_default(),
            l.health_reason.clone().unwrap_or_default()
        )
    };
    let l = s.ledger().await;
    assert!(
        !why(&l).contains("--jar-download-timeout"),
        "applied only after the timeout: {l:?}"
    );
    // Then the download times out and the session job says so.
    support::eventually_or(
        "the session job reports the jar download's timeout",
        Duration::from_secs(90),
        || daemon.log(),
        || async {
            let l = s.ledger_opt().await?;
            why(&l).contains("--jar-download-timeout").then_some(())
        },
    )
    .await;
    assert!(s.our_live_jobs().await.is_empty());
}
