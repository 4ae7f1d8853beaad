//! The kube-apiserver frozen (SIGSTOP) in the middle of the daemon's work, for longer than
//! any request or watch may take: the daemon stays alive and answers /healthz, and once
//! the apiserver resumes it applies the commit made meanwhile. Its own test binary: the
//! whole control plane stops for every test while it is frozen.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use std::time::Duration;
use support::daemon::Daemon;
use support::git::TestRepo;

/// Sends `signal` to the test environment's kube-apiserver (its process group).
fn signal_apiserver(signal: i32) {
    let pid_file = support::repo_root().join(".testenv/pids/kube-apiserver");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signalling the test environment's own process group.
    let rc = unsafe { libc::kill(-pid, signal) };
    assert_eq!(rc, 0, "kill -{signal} -{pid}");
}

/// Resumes the apiserver even if the test fails while it is frozen.
struct Resume;

impl Drop for Resume {
    fn drop(&mut self) {
        signal_apiserver(libc::SIGCONT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_apiserver_stalls_nothing_for_good() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-apifreeze").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 1, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        repo.path().with_extension("daemon.log"),
        &[],
        &[],
    );
    let wait = Duration::from_secs(60);
    support::eventually_or(
        "alpha applied",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c1.clone(), 1))
                .then_some(())
        },
    )
    .await;

    // Frozen, then a commit: the daemon's cycle meets an apiserver that does not answer.
    let resume = Resume;
    signal_apiserver(libc::SIGSTOP);
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c2 = repo.commit("parallelism 2");
    // Longer than a request (30 s) or a watch (25 s) may take.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(
        daemon.get("/healthz").await.map(|r| r.0),
        Some(200),
        "{}",
        daemon.log()
    );
    drop(resume);

    support::eventually_or(
        "the commit applied after the apiserver resumed",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c2.clone(), 2))
                .then_some(())
        },
    )
    .await;
    assert_eq!(daemon.get("/readyz").await.map(|r| r.0), Some(200));
}
