//! Savepoint-driven upgrades of an application-mode job, end to end: `flinkops sync`
//! drives the upgrade through the real Flink REST API while the pod runner plays the
//! kubelet for the real JobManager and TaskManagers. The test job counts per key in keyed
//! state and prints every count, so "the state was carried" is checked exactly: after each
//! restart, every key's first count is its last count before the stop, plus one.

mod support;

use flinkops::edge::flink::FlinkRest;
use flinkops::model::ledger::{Health, Ledger};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::Client;
use std::collections::BTreeSet;
use std::time::Duration;
use support::flink::{all_counted, assert_counts_continue, assert_counts_resume, counts_in};
use support::git::TestRepo;
use support::pod_runner::PodRunner;

// Tests run on a multi-threaded runtime: `sync` blocks its thread until the upgrade is
// done, while the pod runner (a task on another thread) starts the new pods.

/// One Flink application at a time on two cores.
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
    async fn new(env: support::TestEnv, prefix: &str) -> Scenario {
        let client = support::kube::client(&env).await;
        let ns = support::kube::TestNamespace::create(&env, &client, prefix).await;
        let runner = PodRunner::start(&env, &client, &ns.name);
        let repo = TestRepo::new();
        repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
        Scenario {
            env,
            client,
            ns,
            runner,
            state: tempfile::tempdir().unwrap(),
            repo,
        }
    }

    fn savepoints(&self) -> String {
        format!("file://{}/savepoints", self.state.path().display())
    }

    /// The counter job; `extra` goes under `job:` (upgradeMode, state, args ...).
    fn job(&self, parallelism: u32, conf: &str, job_extra: &str) -> String {
        format!(
            "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: counter
  namespace: {ns}
spec:
  image: flink:2.3
  flinkVersion: v2_3
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    kubernetes.operator.deployment.readiness.timeout: 90s
    execution.checkpointing.interval: 1s
    execution.checkpointing.dir: file://{state}/checkpoints
{conf}
  jobManager:
    resource: {{cpu: 0.5, memory: 1024m}}
  taskManager:
    resource: {{cpu: 0.5, memory: 1024m}}
  job:
    jarURI: local:///opt/flink/usrlib/counter.jar
    entryClass: flinkops.testjob.CounterJob
    parallelism: {parallelism}
{job_extra}",
            ns = self.ns.name,
            state = self.state.path().display(),
        )
    }

    fn savepoint_job(&self, parallelism: u32) -> String {
        self.job(
            parallelism,
            &format!(
                "    execution.checkpointing.savepoint-dir: {}",
                self.savepoints()
            ),
            "    upgradeMode: savepoint\n    args: [\"20\"]",
        )
    }

    fn commit(&self, file_text: &str, message: &str) -> String {
        self.repo.write("counter.yaml", file_text);
        self.repo.commit(message)
    }

    fn sync(&self) -> (i32, String) {
        support::sync_once(&self.env, self.repo.path())
    }

    fn sync_ok(&self) -> String {
        let (code, out) = self.sync();
        assert_eq!(
            code,
            0,
            "{out}\n{}\nrunning: {:?}\n{}",
            self.runner.logs(),
            self.runner.running(),
            support::cluster_diagnostics(&self.env, &self.ns.name)
        );
        out
    }

    async fn ledger(&self) -> Ledger {
        support::kube::ledger(&self.client, &self.ns.name, "counter")
            .await
            .expect("the job's ledger")
    }

    /// The REST API of the JobManager Pod that runs now.
    async fn rest(&self) -> FlinkRest {
        support::kube::jobmanager_rest(&self.client, &self.ns.name, "counter").await
    }

    /// The one job running in the JobManager, once all its tasks run: (id, parallelism).
    async fn running_job(&self) -> (String, u32) {
        let (client, ns) = (&self.client, &self.ns.name);
        support::kube::running_job(client, ns, "counter", Duration::from_secs(120), || {
            self.runner.logs()
        })
        .await
    }

    /// Waits until every key of the job counted at least `n` in the logs not in `old`.
    async fn counting(&self, old: &BTreeSet<String>, n: u64) {
        support::eventually_or(
            "the job counting",
            Duration::from_secs(90),
            || self.runner.logs(),
            || async { all_counted(&self.runner.counter_logs(), old, n).then_some(()) },
        )
        .await
    }

    fn log_names(&self) -> BTreeSet<String> {
        self.runner.counter_logs().into_keys().collect()
    }

    /// Asserts that the logs written since `before` continue the counts exactly.
    fn assert_counts_continue(&self, before: &BTreeSet<String>) {
        assert_counts_continue(self.runner.counter_logs_oldest_first(), before);
    }

    /// `flinkops run` following the scenario's repository.
    fn daemon(&self) -> support::daemon::Daemon {
        self.daemon_with(&[])
    }

    fn daemon_with(&self, envs: &[(&str, &str)]) -> support::daemon::Daemon {
        support::daemon::Daemon::following(
            &self.env,
            self.repo.path(),
            &self.ns.name,
            self.state.path().join("daemon.log"),
            &[],
            envs,
        )
    }

    /// The job's ledger once it passes `check` (the daemon's log and the pods' if never).
    async fn ledger_when(
        &self,
        daemon: &support::daemon::Daemon,
        what: &str,
        check: impl Fn(&Ledger) -> bool,
    ) -> Ledger {
        // The last ledger seen goes into the failure message: what it waited on.
        let seen = std::sync::Mutex::new(None::<Ledger>);
        support::eventually_or(
            what,
            Duration::from_secs(150),
            || {
                let last = seen.lock().unwrap().clone();
                format!(
                    "{}\n{}\n{}\nlast ledger: {last:#?}",
                    daemon.log(),
                    self.runner.logs(),
                    support::cluster_diagnostics(&self.env, &self.ns.name)
                )
            },
            || async {
                let l = support::kube::ledger(&self.client, &self.ns.name, "counter").await?;
                *seen.lock().unwrap() = Some(l.clone());
                check(&l).then_some(l)
            },
        )
        .await
    }

    /// The counts since `before` resume from a checkpoint (support::flink).
    fn assert_counts_resume_from_a_checkpoint(&self, before: &BTreeSet<String>) {
        assert_counts_resume(&self.runner.counter_logs(), before);
    }

    async fn deployment_commit(&self) -> String {
        let d: Api<Deployment> = Api::namespaced(self.client.clone(), &self.ns.name);
        let jm = d.get("counter-jobmanager").await.unwrap();
        jm.metadata.annotations.unwrap()["flinkops.io/commit"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallelism_change_and_its_revert_carry_the_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-upg").await;
    let c1 = s.commit(&s.savepoint_job(2), "counter at parallelism 2");
    s.sync_ok();
    let (first_job, p) = s.running_job().await;
    assert_eq!(p, 2);
    s.counting(&BTreeSet::new(), 20).await;

    // A commit that changes parallelism: stop-with-savepoint, redeploy, restore.
    let before = s.log_names();
    let c2 = s.commit(&s.savepoint_job(3), "parallelism 3");
    let (code, out) = support::sync_once_with(&s.env, s.repo.path(), &[("FLINKOPS_LOG", "info")]);
    assert_eq!(code, 0, "{out}");
    // The phase timings in the log (run with --nocapture to see them).
    println!("{out}");
    assert!(out.contains("savepoint-upgrade"), "{out}");
    let (job, p) = s.running_job().await;
    assert_eq!(p, 3);
    assert_ne!(job, first_job);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c2);
    assert!(l.upgrade.is_none(), "{:?}", l.upgrade);
    assert_eq!(l.savepoints.len(), 1, "{:?}", l.savepoints);
    let sp = &l.savepoints[0];
    assert_eq!(
        (sp.commit.as_str(), sp.reason.as_str()),
        (c1.as_str(), "upgrade")
    );
    // Flink writes file:/path for file:///path.
    let dir = format!("{}/savepoints/", s.state.path().display());
    assert!(sp.path.starts_with(&format!("file:{dir}")), "{sp:?}");
    assert_eq!(l.restore_from.as_deref(), Some(sp.path.as_str()));
    assert_eq!(s.deployment_commit().await, c2);
    // The restored job says where it came from.
    let restored = s
        .rest()
        .await
        .checkpoints(&job)
        .await
        .unwrap()
        .restored
        .unwrap();
    assert_eq!(restored.path, sp.path);
    // Exactly one JobManager and the TaskManagers for parallelism 3 run.
    let jms = s
        .runner
        .running()
        .into_iter()
        .filter(|(_, c)| c == "jobmanager")
        .count();
    assert_eq!(jms, 1);

    // The next sync has nothing to do: no restart from the recorded path either.
    let out = s.sync_ok();
    assert!(out.contains("0 jobs with work"), "{out}");

    // A revert is an ordinary upgrade back to the old spec, carrying the latest state
    // (the new savepoint, not the first one).
    let before = s.log_names();
    let c3 = s.repo.revert(&c2);
    s.sync_ok();
    let (_, p) = s.running_job().await;
    assert_eq!(p, 2);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c3);
    assert_eq!(l.savepoints.len(), 2);
    assert_eq!(l.savepoints[1].commit, c2);
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints[1].path.as_str())
    );
    assert_eq!(l.health, Health::Healthy);

    // What a person sees: status with the last savepoint, and an Event per upgrade.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["status", "-o", "json", "--namespace", &s.ns.name])
        .env("KUBECONFIG", &s.env.kubeconfig)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let row = &status["jobs"][0];
    assert_eq!(
        row["lastSavepoint"]["path"],
        l.savepoints[1].path.as_str(),
        "{row}"
    );
    assert_eq!(row["upgrade"], serde_json::Value::Null, "{row}");
    let (_, events) = support::kubectl(&s.env, &["get", "events", "-n", &s.ns.name]);
    assert_eq!(events.matches("Upgraded").count(), 2, "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_then_resume_continues_the_counts() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-susp").await;
    let running = s.savepoint_job(2);
    s.commit(&running, "counter");
    s.sync_ok();
    s.running_job().await;
    s.counting(&BTreeSet::new(), 10).await;

    // A savepoint by hand: the job keeps running, the savepoint is in its history.
    let (job, _) = s.running_job().await;
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
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(path.contains("/savepoints/savepoint-"), "{path}");
    let l = s.ledger().await;
    let manual = l.savepoints.last().unwrap();
    assert_eq!(
        (manual.path.as_str(), manual.reason.as_str()),
        (path.as_str(), "manual")
    );
    assert_eq!(s.running_job().await.0, job);

    let before = s.log_names();
    s.commit(
        &running.replace(
            "upgradeMode: savepoint",
            "upgradeMode: savepoint\n    state: suspended",
        ),
        "suspend",
    );
    s.sync_ok();
    support::eventually("no Flink processes", Duration::from_secs(60), || async {
        s.runner.running().is_empty().then_some(())
    })
    .await;
    let l = s.ledger().await;
    assert_eq!(l.health, Health::Suspended);
    assert_eq!(l.savepoints.last().unwrap().reason, "suspend");
    // The Deployments stay (scaled to zero), and the configuration with them.
    let d: Api<Deployment> = Api::namespaced(s.client.clone(), &s.ns.name);
    assert_eq!(
        d.get("counter-jobmanager")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(0)
    );

    s.commit(&running, "resume");
    s.sync_ok();
    s.running_job().await;
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let l = s.ledger().await;
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints.last().unwrap().path.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_savepoint_directory_leaves_the_job_running_until_a_commit_fixes_it() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-spfail").await;
    s.commit(&s.savepoint_job(2), "counter");
    s.sync_ok();
    let (job, _) = s.running_job().await;
    s.counting(&BTreeSet::new(), 5).await;

    // The new commit points savepoints below a regular file: Flink cannot write there.
    let blocked = s.state.path().join("blocked");
    std::fs::write(&blocked, "a file, not a directory").unwrap();
    let bad = s.savepoint_job(3).replace(
        &s.savepoints(),
        &format!("file://{}/savepoints", blocked.display()),
    );
    s.commit(&bad, "parallelism 3, savepoints to an unwritable place");
    let (code, out) = s.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("attempt 1 of 3 failed: stop-with-savepoint failed"),
        "{out}"
    );
    // The old job still runs, untouched, and keeps counting.
    let (still, p) = s.running_job().await;
    assert_eq!((still.as_str(), p), (job.as_str(), 2));
    let l = s.ledger().await;
    assert_eq!(l.health, Health::Degraded);
    assert!(
        l.last_error
            .as_deref()
            .unwrap()
            .contains("stop-with-savepoint failed"),
        "{:?}",
        l.last_error
    );
    assert!(l.savepoints.is_empty());

    // A commit that fixes the directory replaces the failed attempt.
    let before = s.log_names();
    s.commit(&s.savepoint_job(3), "savepoints back to a writable place");
    s.sync_ok();
    let (_, p) = s.running_job().await;
    assert_eq!(p, 3);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let l = s.ledger().await;
    assert!(l.last_error.is_none() && l.failed.is_none(), "{l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_at_start_is_rolled_back_with_its_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-rollb").await;
    let good = s.savepoint_job(2);
    let c1 = s.commit(&good, "counter");
    s.sync_ok();
    s.running_job().await;
    s.counting(&BTreeSet::new(), 5).await;

    // A version whose main() throws (its argument is not a number) never submits a job;
    // it gets 20 s to run before it counts as failed.
    let before = s.log_names();
    let bad = good
        .replace("args: [\"20\"]", "args: [\"twenty\"]")
        .replace(
            "kubernetes.operator.deployment.readiness.timeout: 90s",
            "kubernetes.operator.deployment.readiness.timeout: 20s",
        );
    assert_ne!(bad, good);
    let c2 = s.commit(&bad, "a version that fails");
    let (code, out) = s.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolling back"), "{out}");
    // Killed during the rollback (as by kill -9, before it applies the old version): the
    // next sync finishes it and the state continues.
    let (code, out) = support::sync_once_with(
        &s.env,
        s.repo.path(),
        &[(flinkops::runtime::fault::ENV, "before-apply")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("dying at before-apply"), "{out}");
    assert!(s
        .ledger()
        .await
        .upgrade
        .is_some_and(|u| u.rollback_of.as_deref() == Some(c2.as_str())));
    s.sync_ok();
    let (_, p) = s.running_job().await;
    assert_eq!(p, 2);
    s.counting(&before, 1).await;
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c1);
    let f = l.failed.as_ref().expect("the head is marked failed");
    assert_eq!((f.commit.as_str(), f.rolled_back), (c2.as_str(), true));
    assert!(
        l.history
            .last()
            .unwrap()
            .result
            .starts_with("rolled back from"),
        "{:?}",
        l.history
    );
    // The restarted job continues from the upgrade's savepoint: the bad version processed
    // nothing, so the counts go on exactly.
    s.assert_counts_continue(&before);
    // The failed head is not retried until Git changes.
    let (code, out) = s.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("waiting for a new commit"), "{out}");
    assert_eq!(s.ledger().await.applied_commit, c1);

    // Removed from Git, then added again. `flinkops history` shows each step with its
    // commit and what carried the state: created from nothing; the failed version
    // started from the upgrade's savepoint and the rollback from it again; the removal
    // stopped the job with a savepoint; the job added again resumes from that.
    s.repo.remove("counter.yaml");
    let c3 = s.repo.commit("counter removed");
    s.sync_ok();
    let c4 = s.commit(&good, "counter added again");
    s.sync_ok();
    s.running_job().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["history", &format!("{}/counter", s.ns.name), "-o", "json"])
        .env("KUBECONFIG", &s.env.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let h: flinkops::engine::history::Lineage = serde_json::from_slice(&out.stdout).unwrap();
    let savepoint = |reason: &str, commit: &str| {
        h.savepoints
            .iter()
            .find(|s| s.reason == reason && s.commit == commit)
            .map(|s| Some(s.path.clone()))
            .unwrap_or_else(|| panic!("a {reason} savepoint of {commit}: {h:#?}"))
    };
    let upgrade_sp = savepoint("upgrade", &c1);
    let removal_sp = savepoint("removal", &c1);
    let [create, failed, rollback, delete, removed, again] = h.steps.as_slice() else {
        panic!("{h:#?}");
    };
    assert_eq!((&removed.commit, removed.action.as_str()), (&c3, "removed"));
    assert_eq!(
        (&create.commit, create.action.as_str(), &create.state_in),
        (&c1, "create", &None)
    );
    assert_eq!((&failed.commit, &failed.state_in), (&c2, &upgrade_sp));
    assert!(
        failed.result.starts_with("failed, rolling back"),
        "{failed:?}"
    );
    assert_eq!(
        (
            &rollback.commit,
            rollback.action.as_str(),
            &rollback.state_in
        ),
        (&c1, "rollback", &upgrade_sp)
    );
    assert_eq!(
        (delete.action.as_str(), &delete.state_out),
        ("delete", &removal_sp)
    );
    assert_eq!(
        (&again.commit, again.action.as_str(), &again.state_in),
        (&c4, "resume", &removal_sp)
    );
    assert!(h.removed.is_none(), "added again: {h:#?}");
    // The text view says the same for people.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["history", &format!("{}/counter", s.ns.name)])
        .env("KUBECONFIG", &s.env.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "state in:  {}  (savepoint of ",
            removal_sp.unwrap()
        )),
        "{text}"
    );
}

/// The daemon follows a repository on the test environment's Git host (Gitea) and posts
/// each commit's status there: a version that fails at start is rolled back, and its
/// commit's status says so, naming the commit and the savepoint the job went back to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_upgrade_fails_its_commit_status_on_the_git_host_naming_the_savepoint() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-rbst").await;
    let hosted = s.env.gitea.create_repo("counter").await;
    let good = s.savepoint_job(2);
    let c1 = s.commit(&good, "counter");
    hosted.push(s.repo.path());
    let token = s.state.path().join("gitea-token");
    std::fs::write(&token, &s.env.gitea.token).unwrap();
    let cache = s.state.path().join("git-cache");
    let daemon = support::daemon::Daemon::start(
        &s.env,
        s.state.path().join("daemon.log"),
        &[
            "--interval",
            "2s",
            "--repo",
            &hosted.clone_url(),
            "--git-token-file",
            token.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--state-namespace",
            &s.ns.name,
            "--commit-status",
            "gitea",
            "--commit-status-token-file",
            token.to_str().unwrap(),
        ],
        &[],
    );
    let status_of = |commit: String, state: &'static str| {
        let (hosted, daemon, s) = (&hosted, &daemon, &s);
        async move {
            let log = || format!("{}\n{}", daemon.log(), s.runner.logs());
            hosted
                .statuses_until(&commit, state, Duration::from_secs(180), log)
                .await
        }
    };
    status_of(c1.clone(), "success").await;
    s.counting(&BTreeSet::new(), 5).await;

    // A version whose main() throws never submits a job; it gets 20 s to run.
    let bad = good
        .replace("args: [\"20\"]", "args: [\"twenty\"]")
        .replace(
            "kubernetes.operator.deployment.readiness.timeout: 90s",
            "kubernetes.operator.deployment.readiness.timeout: 20s",
        );
    let c2 = s.commit(&bad, "a version that fails");
    hosted.push(s.repo.path());
    let all = status_of(c2.clone(), "failure").await;
    assert_eq!(
        all.first().map(|s| s.1.as_str()),
        Some("pending"),
        "{all:#?}"
    );
    let why = &all.last().unwrap().2;
    let l = s
        .ledger_when(&daemon, "the rollback done", |l| {
            l.upgrade.is_none() && l.applied_commit == c1
        })
        .await;
    let restored = l
        .restore_from
        .clone()
        .expect("the rollback restored a savepoint");
    assert!(
        why.starts_with(&format!(
            "{}/counter: {} failed and was rolled back to {}, restoring {restored}: ",
            s.ns.name,
            &c2[..12],
            &c1[..12]
        )),
        "{why}"
    );
    assert_eq!(
        l.savepoints.last().map(|sp| sp.path.as_str()),
        Some(restored.as_str()),
        "the savepoint restored is the upgrade's"
    );

    // The next change's plan, with what only the cluster knows (`diff --live`, as CI
    // runs it on a pull request): the running job's latest checkpoint is seconds old, its
    // last savepoint is the one restored, and its restart was measured.
    let c3 = s.commit(&s.savepoint_job(3), "parallelism 3, not pushed");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["diff", "--repo"])
        .arg(s.repo.path())
        .args(["--base", &c2, "--head", &c3, "--live", "--format", "json"])
        .env("KUBECONFIG", &s.env.kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = &plan["jobs"][0];
    assert_eq!(job["action"], "savepoint-upgrade", "{plan:#}");
    let live = &job["live"];
    let age = live["checkpointAgeSeconds"]
        .as_u64()
        .expect("a checkpoint age");
    assert!(age < 60, "checkpoints every second: {live:#}");
    assert_eq!(live["lastSavepoint"], restored.as_str(), "{live:#}");
    let took = live["lastRestartSeconds"]
        .as_u64()
        .expect("a measured restart");
    // The rollback's own step: from its start to the old version RUNNING again.
    let rollback = l
        .history
        .iter()
        .rev()
        .find(|h| h.result.starts_with("rolled back from"))
        .expect("the rollback in the history");
    assert_eq!(Some(took), rollback.seconds, "{:?}", l.history);
    assert!(took > 0 && took < 300, "{took}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_point_of_an_upgrade_the_next_sync_finishes_it_from_the_right_savepoint() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-crash").await;
    s.commit(&s.savepoint_job(2), "counter");
    s.sync_ok();
    s.running_job().await;
    s.counting(&BTreeSet::new(), 5).await;
    let mut parallelism = 2;
    for point in [
        "before-stop",
        "after-stop-request",
        "after-savepoint",
        "before-apply",
        "before-done",
    ] {
        parallelism = if parallelism == 2 { 3 } else { 2 };
        let before = s.log_names();
        let savepoints = s.ledger().await.savepoints.len();
        s.commit(
            &s.savepoint_job(parallelism),
            &format!("parallelism {parallelism}"),
        );
        let (code, out) = support::sync_once_with(
            &s.env,
            s.repo.path(),
            &[(flinkops::runtime::fault::ENV, point)],
        );
        assert_ne!(code, 0, "{point}: {out}");
        assert!(out.contains(&format!("dying at {point}")), "{point}: {out}");
        // The next run finishes the upgrade: one job, the new parallelism, the counts
        // continue from the one savepoint this upgrade took.
        s.sync_ok();
        let (_, p) = s.running_job().await;
        assert_eq!(p, parallelism, "{point}");
        s.counting(&before, 1).await;
        s.assert_counts_continue(&before);
        let l = s.ledger().await;
        assert!(l.upgrade.is_none(), "{point}: {:?}", l.upgrade);
        assert_eq!(
            l.savepoints.len(),
            savepoints + 1,
            "{point}: {:?}",
            l.savepoints
        );
        assert_eq!(
            l.restore_from.as_deref(),
            Some(l.savepoints.last().unwrap().path.as_str()),
            "{point}: restored from the newest savepoint"
        );
        let jms = s
            .runner
            .running()
            .into_iter()
            .filter(|(_, c)| c == "jobmanager")
            .count();
        assert_eq!(jms, 1, "{point}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_state_restores_the_latest_checkpoint_and_stateless_starts_fresh() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-modes").await;
    let last_state = |p| s.job(p, "", "    upgradeMode: last-state\n    args: [\"20\"]");
    s.commit(&last_state(2), "counter, last-state");
    s.sync_ok();
    s.running_job().await;
    s.counting(&BTreeSet::new(), 30).await;

    // last-state: cancelled without a savepoint, restored from its latest checkpoint.
    let before = s.log_names();
    s.commit(&last_state(3), "parallelism 3");
    s.sync_ok();
    let (job, p) = s.running_job().await;
    assert_eq!(p, 3);
    s.counting(&before, 1).await;
    s.assert_counts_resume_from_a_checkpoint(&before);
    let l = s.ledger().await;
    assert!(
        l.savepoints.is_empty(),
        "no savepoint is taken: {:?}",
        l.savepoints
    );
    let restored = l.restore_from.clone().expect("restored from a checkpoint");
    assert!(
        restored.contains("/checkpoints/") && restored.contains("chk-"),
        "{restored}"
    );
    let from = s
        .rest()
        .await
        .checkpoints(&job)
        .await
        .unwrap()
        .restored
        .unwrap();
    // (Flink calls a checkpoint restored through execution.savepoint.path a savepoint.)
    assert_eq!(from.path, restored);

    // stateless: redeployed, the counts start over, and one job runs.
    let before = s.log_names();
    let stateless = |p| s.job(p, "", "    upgradeMode: stateless\n    args: [\"20\"]");
    s.commit(&stateless(3), "stateless");
    s.sync_ok();
    s.commit(&stateless(2), "stateless, parallelism 2");
    s.sync_ok();
    let (_, p) = s.running_job().await;
    assert_eq!(p, 2);
    s.counting(&before, 1).await;
    let new = counts_in(&s.runner.counter_logs(), |n| !before.contains(n));
    assert!(new.values().all(|(first, _)| *first == 1), "{new:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_upgrades_and_reports_the_flink_job_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-run").await;
    s.commit(&s.savepoint_job(2), "counter");
    // Each periodic savepoint's report is held back 8 s: one is in flight long enough for
    // a commit to meet it.
    let daemon = s.daemon_with(&[(
        flinkops::runtime::fault::DELAY_ENV,
        "periodic-savepoint-taken:8",
    )]);
    // Deployed by the daemon; health includes what Flink says about the job.
    s.ledger_when(&daemon, "Healthy with the Flink job RUNNING", |l| {
        l.health == Health::Healthy && l.flink_state.as_ref().map(|s| s.as_str()) == Some("RUNNING")
    })
    .await;
    s.counting(&BTreeSet::new(), 5).await;

    // A commit: the daemon carries the state across.
    let before = s.log_names();
    let c2 = s.commit(&s.savepoint_job(3), "parallelism 3");
    let l = s
        .ledger_when(&daemon, "the upgrade done", |l| {
            l.upgrade.is_none() && l.savepoints.len() == 1 && l.health == Health::Healthy
        })
        .await;
    assert_eq!(l.applied_commit, c2);
    let (job, p) = s.running_job().await;
    assert_eq!(p, 3);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    // Metrics follow the ledger (the job's worker counts it as it finishes).
    support::eventually_or(
        "the upgrade counted as done",
        Duration::from_secs(10),
        || daemon.log(),
        || async {
            (daemon
                .metric("flinkops_upgrades_total{result=\"done\"}")
                .await?
                == 1.0)
                .then_some(())
        },
    )
    .await;

    // New savepointTriggerNonce and checkpointTriggerNonce values: one savepoint and one
    // checkpoint of the running job, recorded with the commit; nothing restarts.
    let nonce = s.savepoint_job(3).replace(
        "    upgradeMode: savepoint",
        "    upgradeMode: savepoint\n    savepointTriggerNonce: 1\n    checkpointTriggerNonce: 1",
    );
    let c_nonce = s.commit(&nonce, "trigger nonces 1");
    let l = s
        .ledger_when(
            &daemon,
            "the nonces' savepoint and checkpoint recorded",
            |l| l.savepoint_nonce == Some(1) && l.checkpoint_nonce == Some(1),
        )
        .await;
    let checkpoint = l
        .history
        .iter()
        .find(|h| h.action == "checkpoint")
        .expect("the checkpoint in the history");
    assert_eq!(checkpoint.commit, c_nonce);
    assert!(
        checkpoint.result.starts_with("checkpoint ")
            && checkpoint
                .result
                .ends_with("taken (checkpointTriggerNonce 1)"),
        "{checkpoint:?}"
    );
    assert_eq!(l.applied_commit, c_nonce);
    let taken: Vec<_> = l
        .savepoints
        .iter()
        .filter(|s| s.reason == "savepointTriggerNonce 1")
        .collect();
    assert_eq!(taken.len(), 1, "{:?}", l.savepoints);
    assert_eq!(taken[0].commit, c_nonce);
    assert_eq!(s.running_job().await.0, job, "not restarted by the nonce");
    assert!(l
        .history
        .iter()
        .all(|h| h.action != "savepoint-upgrade" || h.commit != c_nonce));

    // Periodic savepoints are a flinkops setting: the commit restarts nothing, the daemon
    // takes them on time and the history keeps the configured count.
    let periodic = |p| {
        s.savepoint_job(p).replace(
            "    execution.checkpointing.savepoint-dir",
            "    kubernetes.operator.periodic.savepoint.interval: 3s\n    \
             kubernetes.operator.savepoint.history.max.count: 2\n    \
             execution.checkpointing.savepoint-dir",
        )
    };
    let c3 = s.commit(&periodic(3), "periodic savepoints");
    let l = s
        .ledger_when(
            &daemon,
            "two periodic savepoints, the upgrade's one dropped",
            |l| l.savepoints.len() == 2 && l.savepoints.iter().all(|s| s.reason == "periodic"),
        )
        .await;
    assert_eq!(l.applied_commit, c3);
    assert_ne!(l.savepoints[0].path, l.savepoints[1].path);
    assert!(
        l.savepoints[1].at.seconds_since(l.savepoints[0].at) >= 3,
        "{:?}",
        l.savepoints
    );
    assert_eq!(
        s.running_job().await.0,
        job,
        "the same Flink job: not restarted"
    );

    // A commit while a periodic savepoint is in flight: the upgrade waits for it to be
    // recorded, then stops the job with its own savepoint; the lineage stays in the order
    // the savepoints were taken and the counts continue.
    let held = |log: &str| log.matches("fault injection: waiting").count();
    let seen = held(&daemon.log());
    support::eventually_or(
        "a periodic savepoint in flight",
        Duration::from_secs(60),
        || daemon.log(),
        || async { (held(&daemon.log()) > seen).then_some(()) },
    )
    .await;
    let before = s.log_names();
    let c4 = s.commit(&periodic(2), "parallelism 2 during a periodic savepoint");
    let l = s
        .ledger_when(&daemon, "the upgrade after the periodic savepoint", |l| {
            l.applied_commit == c4 && l.upgrade.is_none() && l.health == Health::Healthy
        })
        .await;
    assert!(
        daemon
            .log()
            .contains("waits for its periodic savepoint in flight"),
        "{}",
        daemon.log()
    );
    let upgrade = l
        .savepoints
        .iter()
        .find(|s| s.reason == "upgrade")
        .expect("the upgrade's savepoint");
    assert_eq!(l.restore_from.as_deref(), Some(upgrade.path.as_str()));
    assert!(
        l.savepoints
            .iter()
            .any(|s| s.reason == "periodic" && s.at <= upgrade.at),
        "{:?}",
        l.savepoints
    );
    assert!(
        l.savepoints.windows(2).all(|w| w[0].at <= w[1].at),
        "{:?}",
        l.savepoints
    );
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let (job, _) = s.running_job().await;

    // The job is cancelled behind flinkops' back: its Deployments stay Available, but
    // health says what Flink says (CANCELLING first when a probe falls in between).
    s.rest().await.cancel(&job).await.unwrap();
    let l = s
        .ledger_when(&daemon, "Degraded by the Flink job's state", |l| {
            l.health == Health::Degraded
                && l.flink_state.as_ref().map(|s| s.as_str()) == Some("CANCELED")
        })
        .await;
    assert_eq!(
        l.health_reason.as_deref(),
        Some("the Flink job is CANCELED")
    );
}

/// Changes that used to replace the pods without a savepoint, a move, and a removal from
/// Git followed by adding the job back: through the daemon, on real Flink, every key's
/// count continues exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_change_in_git_costs_the_job_its_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-safe").await;
    let base = s.savepoint_job(2);
    s.commit(&base, "counter");
    let daemon = s.daemon();
    s.ledger_when(&daemon, "deployed and Healthy", |l| {
        l.health == Health::Healthy && l.flink_state.as_ref().map(|s| s.as_str()) == Some("RUNNING")
    })
    .await;
    s.counting(&BTreeSet::new(), 5).await;

    // Each alone replaced the pods "in place" before: now a savepoint upgrade each.
    let with_log = base.replace(
        "  jobManager:",
        "  logConfiguration:\n    log4j-extra.properties: 'x = y'\n  jobManager:",
    );
    let steps: [(&str, String); 3] = [
        (
            "allowNonRestoredState alone",
            base.replace(
                "    upgradeMode: savepoint",
                "    upgradeMode: savepoint\n    allowNonRestoredState: true",
            ),
        ),
        ("a new log file alone", with_log.clone()),
        (
            "upgradeMode savepoint to last-state alone",
            with_log.replace("upgradeMode: savepoint", "upgradeMode: last-state"),
        ),
    ];
    let mut last = with_log.clone();
    for (i, (what, text)) in steps.into_iter().enumerate() {
        let before = s.log_names();
        let commit = s.commit(&text, what);
        let l = s
            .ledger_when(
                &daemon,
                &format!("{what}: upgraded with a savepoint"),
                |l| {
                    l.applied_commit == commit && l.upgrade.is_none() && l.health == Health::Healthy
                },
            )
            .await;
        assert_eq!(l.savepoints.len(), i + 1, "{what}: {:?}", l.savepoints);
        assert_eq!(
            l.history.last().map(|h| h.action.as_str()),
            Some("savepoint-upgrade"),
            "{what}"
        );
        s.counting(&before, 1).await;
        s.assert_counts_continue(&before);
        last = text;
    }

    // Moved within the roots: nothing restarts.
    let (job, _) = s.running_job().await;
    s.repo.remove("counter.yaml");
    s.repo.write("jobs/counter.yaml", &last);
    let moved = s.repo.commit("move");
    s.ledger_when(&daemon, "the move recorded", |l| {
        l.source == "jobs/counter.yaml" && l.applied_commit == moved
    })
    .await;
    assert_eq!(s.running_job().await.0, job, "a move restarts nothing");

    // Removed from Git: stopped with a savepoint, objects pruned, lineage kept.
    let before = s.log_names();
    s.repo.remove("jobs/counter.yaml");
    let removal = s.repo.commit("remove the job");
    let l = s
        .ledger_when(&daemon, "removed with a tombstone", |l| {
            l.removed.as_ref().is_some_and(|r| r.commit == removal)
        })
        .await;
    let kept = l.savepoints.last().expect("the removal savepoint").clone();
    assert_eq!(kept.reason, "removal");
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), &s.ns.name);
    support::eventually_or(
        "the Deployments pruned",
        Duration::from_secs(60),
        || daemon.log(),
        || async {
            let list = deployments.list(&Default::default()).await.ok()?;
            list.items.is_empty().then_some(())
        },
    )
    .await;

    // Two commits later the job comes back: it resumes from the removal savepoint.
    s.repo.write("README.md", "unrelated\n");
    s.repo.commit("unrelated");
    s.repo.write("jobs/counter.yaml", &last);
    let back = s.repo.commit("add the job again");
    let l = s
        .ledger_when(&daemon, "resumed", |l| {
            l.applied_commit == back && l.upgrade.is_none() && l.health == Health::Healthy
        })
        .await;
    assert_eq!(l.removed, None);
    assert_eq!(l.restore_from.as_deref(), Some(kept.path.as_str()));
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
}

/// Killed (as by kill -9) during a last-state cancel, during a removal's stop and before
/// its prune: the next sync finishes each from the right state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_cancel_or_a_removal_the_next_sync_keeps_the_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-crash2").await;
    let last_state = |p| {
        s.job(
            p,
            &format!(
                "    execution.checkpointing.savepoint-dir: {}",
                s.savepoints()
            ),
            "    upgradeMode: last-state\n    args: [\"20\"]",
        )
    };
    s.commit(&last_state(2), "counter, last-state");
    s.sync_ok();
    s.running_job().await;
    s.counting(&BTreeSet::new(), 30).await;
    let dies_at = |point: &str| {
        let (code, out) = support::sync_once_with(
            &s.env,
            s.repo.path(),
            &[(flinkops::runtime::fault::ENV, point)],
        );
        assert_ne!(code, 0, "{point}: {out}");
        assert!(out.contains(&format!("dying at {point}")), "{point}: {out}");
    };

    // The job is cancelled, flinkops dies before recording it: the next run restores the
    // latest checkpoint all the same (the counts do not start over).
    let before = s.log_names();
    s.commit(&last_state(3), "parallelism 3");
    dies_at("after-cancel-request");
    s.sync_ok();
    let (_, p) = s.running_job().await;
    assert_eq!(p, 3);
    s.counting(&before, 1).await;
    s.assert_counts_resume_from_a_checkpoint(&before);
    let restored = s.ledger().await.restore_from.expect("a checkpoint");
    assert!(restored.contains("chk-"), "{restored}");

    // Removed, killed while stopping and again before the prune: the next run finishes
    // with the one removal savepoint, and the job added back resumes from it exactly.
    let before = s.log_names();
    s.repo.remove("counter.yaml");
    s.repo.commit("remove");
    dies_at("after-stop-request");
    dies_at("before-prune");
    s.sync_ok();
    let l = s.ledger().await;
    assert!(l.removed.is_some(), "{l:?}");
    let removal: Vec<_> = l
        .savepoints
        .iter()
        .filter(|s| s.reason == "removal")
        .collect();
    assert_eq!(removal.len(), 1, "{:?}", l.savepoints);
    let kept = removal[0].path.clone();
    support::eventually_or(
        "the job's pods gone",
        Duration::from_secs(60),
        || s.runner.logs(),
        || async { s.runner.running().is_empty().then_some(()) },
    )
    .await;
    s.commit(&last_state(3), "back");
    s.sync_ok();
    s.running_job().await;
    assert_eq!(
        s.ledger().await.restore_from.as_deref(),
        Some(kept.as_str())
    );
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
}

/// The JobManager frozen (SIGSTOP, as a stalled node) when an upgrade begins: the upgrade
/// waits and says why, without using up its attempts; a commit to another job is applied
/// meanwhile; once the JobManager resumes, the upgrade finishes with the state carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_job_manager_holds_up_only_its_own_job() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env.clone(), "t-freeze").await;
    // Another job, on fake nodes only (no pod runner in its namespace).
    let other_ns = support::kube::TestNamespace::create(&env, &s.client, "t-other").await;
    s.repo.write(
        "flinkops.yaml",
        &format!("namespaces: [{}, {}]\n", s.ns.name, other_ns.name),
    );
    let other = |p| support::app_job("other", &other_ns.name, p, "stateless");
    s.repo.write("other.yaml", &other(1));
    // Flink's own failure detection must not act on the freeze (its default 50 s
    // heartbeat timeout, reached under load, fails the job over to its last checkpoint,
    // and then the counts go back for Flink's reasons, not flinkops').
    let job = |p| {
        s.job(
            p,
            &format!(
                "    execution.checkpointing.savepoint-dir: {}\n    heartbeat.timeout: '300000'",
                s.savepoints()
            ),
            "    upgradeMode: savepoint\n    args: [\"20\"]",
        )
    };
    s.commit(&job(2), "counter and another job");
    let daemon = s.daemon();
    s.ledger_when(&daemon, "deployed and Healthy", |l| {
        l.health == Health::Healthy && l.flink_state.as_ref().map(|s| s.as_str()) == Some("RUNNING")
    })
    .await;
    s.counting(&BTreeSet::new(), 5).await;

    assert_eq!(s.runner.signal("jobmanager", libc::SIGSTOP), 1);
    let before = s.log_names();
    let upgrade = s.commit(&job(3), "parallelism 3");
    let l = s
        .ledger_when(&daemon, "the upgrade waiting for its JobManager", |l| {
            l.upgrade.is_some()
                && l.health_reason
                    .as_deref()
                    .is_some_and(|r| r.contains("Flink REST unreachable"))
        })
        .await;
    assert!(l.failed.is_none(), "{l:?}");

    // Meanwhile another job's commit is applied.
    s.repo.write("other.yaml", &other(2));
    let next = s.repo.commit("other: parallelism 2");
    let others: Api<Deployment> = Api::namespaced(s.client.clone(), &other_ns.name);
    support::eventually_or(
        "the other job applied while the JobManager is frozen",
        Duration::from_secs(30),
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&others, "other").await? == (next.clone(), 2)).then_some(())
        },
    )
    .await;
    let l = s.ledger().await;
    assert!(l.upgrade.is_some() && l.failed.is_none(), "{l:?}");

    // The JobManager resumes: the upgrade carries the state across.
    assert_eq!(s.runner.signal("jobmanager", libc::SIGCONT), 1);
    let l = s
        .ledger_when(&daemon, "the upgrade done", |l| {
            l.upgrade.is_none() && l.health == Health::Healthy && l.savepoints.len() == 1
        })
        .await;
    assert_eq!(l.applied_commit, upgrade);
    assert_eq!(s.running_job().await.1, 3);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
}

/// Flink's high-availability ConfigMaps of the job (leader, job graph, checkpoints).
async fn ha_configmaps(s: &Scenario) -> Vec<String> {
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(s.client.clone(), &s.ns.name);
    let lp = kube::api::ListParams::default()
        .labels(&flinkops::engine::render::config::ha_selector("counter"));
    let mut names: Vec<String> = cms
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| flinkops::engine::render::config::is_ha_configmap("counter", n))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_high_availability_a_lost_job_manager_resumes_the_job_from_its_checkpoint() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-ha").await;
    let ha = format!(
        "    execution.checkpointing.savepoint-dir: {}\n    high-availability.type: kubernetes\n    high-availability.storageDir: file://{}/ha",
        s.savepoints(),
        s.state.path().display()
    );
    // The service account Flink runs as, with the rights deploy/ gives it.
    let rbac =
        std::fs::read_to_string(support::repo_root().join("deploy/manifests/rbac-flink.yaml"))
            .unwrap()
            .replace("namespace: streaming", &format!("namespace: {}", s.ns.name));
    let (code, out) = support::run_tool(&s.env, &s.env.kubectl, &["apply", "-f", "-"], Some(&rbac));
    assert_eq!(code, 0, "{out}");
    s.commit(
        &s.job(2, &ha, "    upgradeMode: savepoint\n    args: [\"20\"]")
            .replace(
                "  jobManager:\n",
                "  serviceAccount: flink\n  jobManager:\n",
            ),
        "counter with high availability",
    );
    s.sync_ok();
    let (job, _) = s.running_job().await;
    s.counting(&BTreeSet::new(), 10).await;
    // The JobManager, elected leader through Flink's Kubernetes HA services, keeps the
    // job's graph and checkpoints in ConfigMaps named after the job.
    let ha_maps = support::eventually_or(
        "the job's checkpoints in an HA ConfigMap",
        Duration::from_secs(60),
        || {
            let (_, cms) = support::kubectl(
                &s.env,
                &["get", "configmaps", "--show-labels", "-n", &s.ns.name],
            );
            format!("job {job}\n{cms}")
        },
        || async {
            let names = ha_configmaps(&s).await;
            names.iter().any(|n| n.contains(&job)).then_some(names)
        },
    )
    .await;
    assert!(
        ha_maps.iter().any(|n| n == "counter-cluster-config-map"),
        "{ha_maps:?}"
    );

    // Checkpoints completed (their pointers in the job's HA ConfigMap).
    let rest = s.rest().await;
    support::eventually(
        "two completed checkpoints",
        Duration::from_secs(60),
        || async { (rest.checkpoints(&job).await.ok()?.completed >= 2).then_some(()) },
    )
    .await;

    // The JobManager's pod is lost (deleted: its process dies at once). Its Deployment
    // starts another, which recovers the same job from the HA ConfigMaps and resumes it
    // from its latest checkpoint on the TaskManager that stayed.
    let before = s.runner.counters();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(s.client.clone(), &s.ns.name);
    let lp = kube::api::ListParams::default()
        .labels("flinkops.io/job=counter,app.kubernetes.io/component=jobmanager");
    let old = pods.list(&lp).await.unwrap().items;
    assert_eq!(old.len(), 1);
    let old_name = old[0].metadata.name.clone().unwrap();
    pods.delete(
        &old_name,
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .unwrap();
    support::eventually_or(
        "a new JobManager running",
        Duration::from_secs(60),
        || s.runner.logs(),
        || async {
            let running = s.runner.running();
            let jms: Vec<_> = running.iter().filter(|(_, c)| c == "jobmanager").collect();
            (jms.len() == 1 && jms[0].0 != old_name).then_some(())
        },
    )
    .await;
    let (recovered, _) = s.running_job().await;
    assert_eq!(recovered, job, "the same Flink job, recovered");
    let restored = s
        .rest()
        .await
        .checkpoints(&job)
        .await
        .unwrap()
        .restored
        .expect("restored from a checkpoint");
    assert!(
        !restored.is_savepoint && restored.path.contains("/chk-"),
        "{restored:?}"
    );
    support::eventually_or(
        "the counts going on past where they were",
        Duration::from_secs(90),
        || s.runner.logs(),
        || async {
            let now = s.runner.counters();
            before
                .iter()
                .all(|(k, c)| now.get(k).is_some_and(|n| *n > c + 5))
                .then_some(())
        },
    )
    .await;
    // Resumed, not started over: each key counted 1 once, at the first start.
    support::flink::assert_no_key_started_over(&s.runner.counter_logs());
    // flinkops took no part: no upgrade, no savepoint.
    let l = s.ledger().await;
    assert!(l.upgrade.is_none() && l.savepoints.is_empty(), "{l:?}");

    // Removed from Git: stopped with a savepoint, and Flink's HA ConfigMaps go with the
    // job's pods (Flink leaves them behind).
    s.repo.remove("counter.yaml");
    s.repo.commit("remove the job");
    s.sync_ok();
    let l = s.ledger().await;
    assert!(l.removed.is_some(), "{l:?}");
    support::eventually_or(
        "the job's pods gone",
        Duration::from_secs(30),
        || s.runner.logs(),
        || async { s.runner.running().is_empty().then_some(()) },
    )
    .await;
    assert_eq!(ha_configmaps(&s).await, Vec::<String>::new());
}

/// A JobManager that serves its REST API over TLS only (`security.ssl.rest.enabled`), with
/// a keystore and truststore made by Java's keytool and mounted from a Secret
/// (`kubernetes.secrets`): Flink reads the mounted keystore, and flinkops trusts the
/// JobManager through the mounted truststore, read from the Secret, checking the
/// certificate's name (the Service's) while connecting to the Pod's IP. A savepoint
/// upgrade over it carries the counts on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_manager_serving_rest_over_tls_is_upgraded_through_it_with_its_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let _one = SERIAL.lock().await;
    let s = Scenario::new(env, "t-tls").await;
    let keys = tempfile::tempdir().unwrap();
    let service = format!("counter-rest.{}.svc", s.ns.name);
    let keytool = |args: &[&str]| {
        let out = std::process::Command::new("keytool")
            .args(args)
            .current_dir(keys.path())
            .output()
            .expect("keytool (from the JDK)");
        assert!(out.status.success(), "keytool {args:?}: {out:?}");
    };
    keytool(&[
        "-genkeypair",
        "-alias",
        "rest",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-dname",
        "CN=counter-rest",
        "-ext",
        &format!("SAN=dns:{service}"),
        "-validity",
        "2",
        "-storetype",
        "pkcs12",
        "-keystore",
        "keystore.p12",
        "-storepass",
        "ks-secret-1",
    ]);
    keytool(&[
        "-exportcert",
        "-rfc",
        "-alias",
        "rest",
        "-keystore",
        "keystore.p12",
        "-storepass",
        "ks-secret-1",
        "-file",
        "rest.pem",
    ]);
    keytool(&[
        "-importcert",
        "-noprompt",
        "-alias",
        "rest",
        "-file",
        "rest.pem",
        "-storetype",
        "pkcs12",
        "-keystore",
        "truststore.p12",
        "-storepass",
        "ts-secret-2",
    ]);
    let from = |name: &str| format!("--from-file={name}={}", keys.path().join(name).display());
    let (code, out) = support::kubectl(
        &s.env,
        &[
            "create",
            "secret",
            "generic",
            "rest-tls",
            "-n",
            &s.ns.name,
            &from("keystore.p12"),
            &from("truststore.p12"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let tls_job = |parallelism: u32| {
        s.job(
            parallelism,
            &format!(
                "    execution.checkpointing.savepoint-dir: {}
    kubernetes.secrets: rest-tls:/opt/flink/tls
    security.ssl.rest.enabled: true
    security.ssl.rest.keystore: /opt/flink/tls/keystore.p12
    security.ssl.rest.keystore-password: ks-secret-1
    security.ssl.rest.key-password: ks-secret-1
    security.ssl.rest.truststore: /opt/flink/tls/truststore.p12
    security.ssl.rest.truststore-password: ts-secret-2",
                s.savepoints()
            ),
            "    upgradeMode: savepoint\n    args: [\"20\"]",
        )
    };
    let c1 = s.commit(&tls_job(1), "counter over TLS");
    let out = s.sync_ok();
    assert!(!out.contains("ts-secret-2"), "a password printed: {out}");
    let (first, p) = s.running_job().await;
    assert_eq!(p, 1);
    s.counting(&BTreeSet::new(), 10).await;
    // Plain HTTP is refused: what flinkops did, it did over TLS.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(s.client.clone(), &s.ns.name);
    let jm = pods
        .list(
            &kube::api::ListParams::default()
                .labels("flinkops.io/job=counter,app.kubernetes.io/component=jobmanager"),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find_map(|p| p.status?.pod_ip)
        .unwrap();
    assert!(FlinkRest::new(&format!("http://{jm}:8081"))
        .overview()
        .await
        .is_err());

    // A savepoint upgrade through the TLS endpoint.
    let before = s.log_names();
    let c2 = s.commit(&tls_job(2), "parallelism 2");
    println!("{}", s.sync_ok());
    let (job, p) = s.running_job().await;
    assert_eq!(p, 2);
    assert_ne!(job, first);
    s.counting(&before, 1).await;
    s.assert_counts_continue(&before);
    let l = s.ledger().await;
    assert_eq!(l.applied_commit, c2);
    assert_eq!(l.savepoints.len(), 1, "{:?}", l.savepoints);
    assert_eq!(l.savepoints[0].commit, c1);
    assert_eq!(
        l.restore_from.as_deref(),
        Some(l.savepoints[0].path.as_str())
    );
}
