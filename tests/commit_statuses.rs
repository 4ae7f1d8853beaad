//! Commit statuses from `flinkops run`: on the test environment's real Git host (Gitea),
//! a push reaches the daemon through the host's own signed webhook and the commit's status
//! moves pending → success, or to failure for a blocked definition, as the host's API
//! shows. GitHub's and GitLab's request shapes (paths, headers, JSON) are checked against a
//! local recorder, and a status API that hangs holds up no sync.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use std::time::{Duration, Instant};
use support::daemon::Daemon;
use support::git::TestRepo;
use support::recorder::Recorder;

const TOKEN: &str = "status-token-1";

fn token_file(dir: &std::path::Path, token: &str) -> String {
    let path = dir.join("status-token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.to_str().unwrap().to_string()
}

/// The JSON bodies of the statuses posted to `path`, in order.
fn posted(rec: &Recorder, path: &str) -> Vec<serde_json::Value> {
    rec.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits until the statuses posted to `path` end in `state`; returns all of them.
async fn statuses_until(
    rec: &Recorder,
    daemon: &Daemon,
    path: &str,
    state: &str,
) -> Vec<serde_json::Value> {
    support::eventually_or(
        &format!("a `{state}` status at {path}"),
        Duration::from_secs(60),
        || format!("{:#?}\n{}", rec.requests(), daemon.log()),
        || async {
            let all = posted(rec, path);
            (all.last()?["state"] == state).then_some(all)
        },
    )
    .await
}

fn states(all: &[serde_json::Value]) -> Vec<&str> {
    all.iter().map(|v| v["state"].as_str().unwrap()).collect()
}

/// A repository managing namespace `ns` with the stateless job `alpha` (its text changed
/// by `edit`), committed; the commit.
fn repo_with_alpha(ns: &str, edit: impl Fn(String) -> String) -> (TestRepo, String) {
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{ns}]\n"));
    repo.write(
        "alpha.yaml",
        &edit(support::app_job("alpha", ns, 1, "stateless")),
    );
    let c1 = repo.commit("alpha");
    (repo, c1)
}

#[tokio::test]
async fn github_and_gitlab_get_statuses_in_their_own_shapes() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path(), TOKEN);

    // GitHub (Enterprise: the API under /api/v3).
    let ns = support::kube::TestNamespace::create(&env, &client, "t-ghs").await;
    let (repo, c1) = repo_with_alpha(&ns.name, |t| t);
    let api = format!("{}/api/v3", rec.url);
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        dir.path().join("github.log"),
        &[
            "--commit-status",
            "github",
            "--commit-status-api",
            &api,
            "--commit-status-repo",
            "org/jobs",
            "--commit-status-token-file",
            &token,
        ],
        &[],
    );
    let path = |c: &str| format!("/api/v3/repos/org/jobs/statuses/{c}");
    let all = statuses_until(&rec, &daemon, &path(&c1), "success").await;
    assert_eq!(states(&all), ["pending", "success"], "{all:#?}");
    assert_eq!(
        all[1],
        serde_json::json!({"state": "success", "context": "flinkops",
            "description": format!("live: {}/alpha", ns.name)})
    );
    let req = rec
        .requests()
        .into_iter()
        .find(|r| r.path == path(&c1))
        .unwrap();
    assert_eq!(req.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(req.headers["accept"], "application/vnd.github+json");
    assert_eq!(req.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(
        req.headers["user-agent"].starts_with("flinkops/"),
        "{req:?}"
    );
    // The token is never logged.
    assert!(!daemon.log().contains(TOKEN), "{}", daemon.log());

    // A commit that touches no job: success at once, no pending.
    repo.write("README.md", "jobs\n");
    let c2 = repo.commit("docs");
    let all = statuses_until(&rec, &daemon, &path(&c2), "success").await;
    assert_eq!(states(&all), ["success"]);
    assert_eq!(all[0]["description"], "changes no job");

    // A blocked definition: failure naming the file, line and field.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 1, "stateless")
            .replace("parallelism: 1", "parallelism: one"),
    );
    let c3 = repo.commit("a typo");
    let all = statuses_until(&rec, &daemon, &path(&c3), "failure").await;
    let why = all.last().unwrap()["description"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "{}/alpha: invalid at this commit: alpha.yaml:",
            ns.name
        )) && why.contains("parallelism"),
        "{why}"
    );
    drop(daemon);

    // GitLab: the project by its full path, PRIVATE-TOKEN, `name`, and `failed`.
    let ns = support::kube::TestNamespace::create(&env, &client, "t-gls").await;
    let (repo, c1) = repo_with_alpha(&ns.name, |t| {
        t.replace("parallelism: 1", "parallelism: one")
    });
    let api = format!("{}/api/v4", rec.url);
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        dir.path().join("gitlab.log"),
        &[
            "--commit-status",
            "gitlab",
            "--commit-status-api",
            &api,
            "--commit-status-repo",
            "grp/sub/jobs",
            "--commit-status-token-file",
            &token,
            "--commit-status-context",
            "deploy/flink",
        ],
        &[],
    );
    let path = format!("/api/v4/projects/grp%2Fsub%2Fjobs/statuses/{c1}");
    let all = statuses_until(&rec, &daemon, &path, "failed").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["name"], "deploy/flink");
    assert!(all[0].get("context").is_none(), "{all:#?}");
    let req = rec.requests().into_iter().find(|r| r.path == path).unwrap();
    assert_eq!(req.headers["private-token"], TOKEN);
    assert!(!req.headers.contains_key("authorization"), "{req:?}");
}

#[tokio::test]
async fn a_status_api_that_hangs_holds_up_no_sync() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-hangs").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let hang = support::recorder::hanging().await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path(), TOKEN);
    let (repo, c1) = repo_with_alpha(&ns.name, |t| t);
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        dir.path().join("daemon.log"),
        &[
            "--commit-status",
            "github",
            "--commit-status-api",
            &hang,
            "--commit-status-repo",
            "org/jobs",
            "--commit-status-token-file",
            &token,
        ],
        &[],
    );
    let log = || daemon.log();
    let limit = Duration::from_secs(30);
    support::kube::wait_taskmanager(&deployments, "alpha", (&c1, 1), limit, log).await;
    // Statuses of the first commit are stuck in tries at the hanging API; the next
    // commit is applied within seconds all the same.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c2 = repo.commit("alpha at 2");
    let started = Instant::now();
    support::kube::wait_taskmanager(&deployments, "alpha", (&c2, 2), limit, log).await;
    println!(
        "applied in {:?} with the status API hanging",
        started.elapsed()
    );
}

#[tokio::test]
async fn on_gitea_a_push_reaches_the_daemon_by_webhook_and_its_status_follows() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-gitea").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let hosted = env.gitea.create_repo("jobs").await;
    let (repo, c1) = repo_with_alpha(&ns.name, |t| t);
    hosted.push(repo.path());

    // As a user sets it up: the daemon follows the hosted repository with a token (the API
    // and the repository follow from its URL), polls once an hour, and learns of pushes
    // from the host's webhook, signed with a shared secret.
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path(), &env.gitea.token);
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, "hook-secret-1\n").unwrap();
    let cache = dir.path().join("cache");
    let daemon = Daemon::start(
        &env,
        dir.path().join("daemon.log"),
        &[
            "--interval",
            "1h",
            "--repo",
            &hosted.clone_url(),
            "--git-token-file",
            &token,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--webhook-secret-file",
            secret.to_str().unwrap(),
            "--state-namespace",
            &ns.name,
            "--commit-status",
            "gitea",
            "--commit-status-token-file",
            &token,
        ],
        &[],
    );
    hosted
        .add_push_webhook(&daemon.url("/webhook"), "hook-secret-1")
        .await;
    let wait = Duration::from_secs(60);
    let statuses_until = |commit: String, state: &'static str| {
        let (hosted, daemon) = (&hosted, &daemon);
        async move {
            hosted
                .statuses_until(&commit, state, wait, || daemon.log())
                .await
        }
    };
    let all = statuses_until(c1.clone(), "success").await;
    assert_eq!(
        all.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["pending", "success"],
        "{all:#?}"
    );
    assert_eq!(all[1].0, "flinkops");
    assert_eq!(all[1].2, format!("live: {}/alpha", ns.name));

    // A push: only the webhook can bring it this soon (the interval is an hour).
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c2 = repo.commit("alpha at 2");
    let started = Instant::now();
    hosted.push(repo.path());
    // Within 30 s: only the webhook can bring it this soon (the interval is an hour).
    let log = || daemon.log();
    support::kube::wait_taskmanager(
        &deployments,
        "alpha",
        (&c2, 2),
        Duration::from_secs(30),
        log,
    )
    .await;
    println!(
        "push → applied through gitea's webhook in {:?}",
        started.elapsed()
    );
    let all = statuses_until(c2.clone(), "success").await;
    assert_eq!(
        all.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["pending", "success"]
    );
    assert!(
        daemon.log().contains("webhook: push; fetching"),
        "the daemon says the push came by webhook:\n{}",
        daemon.log()
    );

    // A blocked definition: failure, naming the file.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless")
            .replace("parallelism: 2", "parallelism: two"),
    );
    let c3 = repo.commit("a typo");
    hosted.push(repo.path());
    let all = statuses_until(c3, "failure").await;
    let why = &all.last().unwrap().2;
    assert!(
        why.contains("invalid at this commit: alpha.yaml:") && why.contains("parallelism"),
        "{why}"
    );
    // What runs is left alone.
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c2, 2))
    );
}
