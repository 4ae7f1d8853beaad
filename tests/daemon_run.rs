//! `flinkops run` on the real control plane: it applies what is committed, picks up a new
//! commit by itself, heals a hand edit from its watches, and stops cleanly on SIGTERM.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use std::time::{Duration, Instant};
use support::daemon::Daemon;
use support::git::TestRepo;

/// `flinkops status --wait COMMIT`: exit code and everything printed.
async fn status_wait(
    env: &support::TestEnv,
    repo: &str,
    commit: &str,
    ns: &str,
    timeout: &str,
) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args([
            "status",
            "--wait",
            commit,
            "--timeout",
            timeout,
            "--repo",
            repo,
        ])
        .args(["--state-namespace", ns])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .await
        .unwrap();
    support::code_and_output(out)
}

#[tokio::test]
async fn run_follows_commits_heals_drift_and_stops_on_sigterm() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-run").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let repo_arg = repo.path().to_str().unwrap().to_string();
    let mut daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        repo.path().with_extension("daemon.log"),
        &[],
        &[],
    );
    let wait = Duration::from_secs(30);

    support::eventually_or(
        "alpha applied at the first commit",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c1.clone(), 2))
                .then_some(())
        },
    )
    .await;

    // A new commit is picked up without a trigger from outside (the interval is an hour).
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("scale alpha");
    let t0 = Instant::now();
    // A pipeline waits for its merge to be live: `status --wait` returns once it is.
    let waited = status_wait(&env, &repo_arg, &c2, &ns.name, "30s").await;
    assert_eq!(waited.0, 0, "{}\n{}", waited.1, daemon.log());
    assert!(
        waited.1.contains(&format!(
            "{}/alpha: live (Healthy at {})",
            ns.name,
            &c2[..12]
        )),
        "{}",
        waited.1
    );
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c2.clone(), 3))
    );
    eprintln!("commit → applied: {:?}", t0.elapsed());

    // A hand edit (kubectl scale) is reverted from the watch, not from the interval.
    let (code, out) = support::kubectl(
        &env,
        &[
            "-n",
            &ns.name,
            "scale",
            "deployment",
            "alpha-taskmanager",
            "--replicas=9",
        ],
    );
    assert_eq!(code, 0, "{out}");
    support::eventually_or(
        "the hand edit reverted",
        wait,
        || daemon.log(),
        || async {
            let (_, replicas) = support::kube::taskmanager(&deployments, "alpha").await?;
            (replicas == 3).then_some(())
        },
    )
    .await;

    // A real HorizontalPodAutoscaler takes the TaskManagers' replicas (its minimum is
    // above what Git says): flinkops leaves the field to it, also when the job changes.
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns.name);
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "alpha-taskmanager"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "alpha-taskmanager"},
            "minReplicas": 5,
            "maxReplicas": 6,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        }
    }))
    .unwrap();
    hpas.create(&Default::default(), &hpa).await.unwrap();
    support::eventually_or(
        "the HPA scales the TaskManagers to its minimum",
        Duration::from_secs(60),
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await?.1 == 5).then_some(())
        },
    )
    .await;
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 4, "stateless"),
    );
    let c3 = repo.commit("parallelism 4");
    let waited = status_wait(&env, &repo_arg, &c3, &ns.name, "30s").await;
    assert_eq!(waited.0, 0, "{}\n{}", waited.1, daemon.log());
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c3.clone(), 5)),
        "{}",
        daemon.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c3.clone(), 5)),
        "{}",
        daemon.log()
    );
    hpas.delete("alpha-taskmanager", &Default::default())
        .await
        .unwrap();

    // The HTTP endpoints report it.
    let get = |path: &'static str| daemon.get(path);
    assert_eq!(get("/healthz").await.unwrap().0, 200);
    assert_eq!(get("/readyz").await.unwrap().0, 200);
    let metrics = support::eventually_or(
        "alpha Healthy in /metrics",
        wait,
        || daemon.log(),
        || async {
            let (_, text) = get("/metrics").await?;
            text.contains(&format!(
                "flinkops_job_health{{namespace=\"{}\",name=\"alpha\",health=\"Healthy\"}} 1",
                ns.name
            ))
            .then_some(text)
        },
    )
    .await;
    assert!(
        metrics.contains(&format!("flinkops_git_commit_info{{commit=\"{c3}\"}} 1")),
        "{metrics}"
    );
    let applied: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flinkops_objects_applied_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        applied >= 11,
        "5 objects twice and the healed Deployment: {applied}"
    );

    // A commit whose definition is invalid fails the wait at once, naming the problem;
    // a commit nobody applies times out with exit code 2.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "statefull"),
    );
    let bad = repo.commit("typo");
    let waited = status_wait(&env, &repo_arg, &bad, &ns.name, "30s").await;
    assert_eq!(waited.0, 1, "{}", waited.1);
    assert!(waited.1.contains("upgradeMode"), "{}", waited.1);
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 4, "stateless"),
    );
    let fixed = repo.commit("fix");
    // SAFETY: pausing our own child process, so nothing applies the commit.
    unsafe {
        libc::kill(daemon.child.id() as i32, libc::SIGSTOP);
    }
    let waited = status_wait(&env, &repo_arg, &fixed, &ns.name, "2s").await;
    unsafe {
        libc::kill(daemon.child.id() as i32, libc::SIGCONT);
    }
    assert_eq!(waited.0, 2, "{}", waited.1);
    assert!(
        waited.1.contains("timed out: 0 live, 0 failed, 1 pending"),
        "{}",
        waited.1
    );
    // The daemon's own status names the repository and the commit it is at.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args([
            "status",
            "--namespace",
            &ns.name,
            "--state-namespace",
            &ns.name,
        ])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("daemon: ") && text.contains("git: ok"),
        "{text}"
    );

    // SIGTERM stops it cleanly.
    let status = daemon.signal_and_wait(libc::SIGTERM).await;
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    // JSON logs: one object per line, the job's span carrying namespace and name.
    let log = daemon.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["job"] == "alpha" && l["span"]["namespace"] == ns.name.as_str()),
        "{log}"
    );
}

/// A namespace added to flinkops.yaml is watched and written from the next commit on,
/// without restarting the daemon.
#[tokio::test]
async fn a_namespace_added_to_the_settings_is_managed_without_a_restart() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let first = support::kube::TestNamespace::create(&env, &client, "t-scope").await;
    let second = support::kube::TestNamespace::create(&env, &client, "t-scope").await;
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", first.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &first.name, 1, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &first.name,
        repo.path().with_extension("daemon.log"),
        &[],
        &[],
    );
    let wait = Duration::from_secs(30);
    let in_first: Api<Deployment> = Api::namespaced(client.clone(), &first.name);
    let in_second: Api<Deployment> = Api::namespaced(client.clone(), &second.name);
    support::eventually_or(
        "alpha applied",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&in_first, "alpha").await? == (c1.clone(), 1)).then_some(())
        },
    )
    .await;

    repo.write(
        "flinkops.yaml",
        &format!("namespaces: [{}, {}]\n", first.name, second.name),
    );
    repo.write(
        "beta.yaml",
        &support::app_job("beta", &second.name, 2, "stateless"),
    );
    let c2 = repo.commit("a second namespace, and beta in it");
    support::eventually_or(
        "beta applied in the new namespace",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&in_second, "beta").await? == (c2.clone(), 2)).then_some(())
        },
    )
    .await;
    // And the daemon sees what happens there: a hand edit is healed.
    let patch = serde_json::json!({"spec": {"replicas": 5}});
    in_second
        .patch(
            "beta-taskmanager",
            // A person's edit: another field manager than flinkops.
            &kube::api::PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    support::eventually_or(
        "the hand edit in the new namespace healed",
        wait,
        || daemon.log(),
        || async {
            let d = in_second.get("beta-taskmanager").await.ok()?;
            (d.spec?.replicas == Some(2)).then_some(())
        },
    )
    .await;
    assert!(
        daemon.log().contains("the namespaces to manage changed"),
        "{}",
        daemon.log()
    );
}

/// Notifications: every event reaches a JSON receiver, signed, and a Slack receiver as a
/// line of text; a receiver that accepts the connection and never answers holds up
/// neither reconciliation nor the other receivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_notification_receivers_and_a_hanging_one_holds_up_nothing() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-notify").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let hang = support::recorder::hanging().await;
    let rec = support::recorder::Recorder::start().await;
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "notify-key-1\n").unwrap();
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 1, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let (json_url, slack_url) = (format!("{}/json", rec.url), format!("{}/slack", rec.url));
    let daemon = Daemon::following(
        &env,
        repo.path(),
        &ns.name,
        repo.path().with_extension("daemon.log"),
        &[
            "--notify",
            &format!("{hang}/never"),
            "--notify",
            &json_url,
            "--notify-slack",
            &slack_url,
            "--notify-secret-file",
            secret.path().to_str().unwrap(),
        ],
        &[],
    );
    let synced = |commit: String| {
        let rec = &rec;
        move || {
            let commit = commit.clone();
            async move {
                rec.requests().into_iter().find(|r| {
                    r.path == "/json"
                        && serde_json::from_slice::<serde_json::Value>(&r.body)
                            .is_ok_and(|v| v["event"] == "Synced" && v["commit"] == commit.as_str())
                })
            }
        }
    };
    let first = support::eventually_or(
        "a Synced notification of the first commit",
        Duration::from_secs(60),
        || daemon.log(),
        synced(c1.clone()),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(v["job"], format!("{}/alpha", ns.name));
    assert_eq!(v["type"], "Normal");
    // Signed over exactly the body, with the key from the file.
    assert_eq!(
        first.headers.get("x-flinkops-signature-256"),
        Some(&flinkops::daemon::webhook::github_signature(
            "notify-key-1",
            &first.body
        ))
    );
    // The hanging receiver is tried all along; meanwhile a new commit is applied and
    // notified within seconds, as before.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c2 = repo.commit("alpha at 2");
    let started = Instant::now();
    support::eventually_or(
        "the second commit applied",
        Duration::from_secs(30),
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c2.clone(), 2))
                .then_some(())
        },
    )
    .await;
    support::eventually_or(
        "a Synced notification of the second commit",
        Duration::from_secs(30),
        || daemon.log(),
        synced(c2.clone()),
    )
    .await;
    println!(
        "second commit applied and notified in {:?}",
        started.elapsed()
    );
    // Slack gets the same events as one line, with no signature (Slack checks none).
    let slack: Vec<String> = rec
        .requests()
        .into_iter()
        .filter(|r| r.path == "/slack")
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        slack
            .iter()
            .any(|t| t.starts_with("flinkops: *Synced* `") && t.contains(&c2[..12])),
        "{slack:?}"
    );
    assert!(rec
        .requests()
        .iter()
        .filter(|r| r.path == "/slack")
        .all(|r| !r.headers.contains_key("x-flinkops-signature-256")));
    drop(daemon);
}
