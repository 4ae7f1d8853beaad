//! `flinkops run` following a remote repository (a file:// URL: the same mirror and fetch
//! path as https): a webhook push with a bad signature is rejected with 401 and changes
//! nothing, a good one fetches at once (the interval is an hour); a remote that is gone,
//! and a force-push that rewrites history, keep the last applied state and are reported.

mod support;

use hmac::{Hmac, Mac};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use sha2::Sha256;
use std::time::Duration;
use support::daemon::Daemon;
use support::git::TestRepo;

const SECRET: &str = "webhook-s3cret-for-tests";

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn push(daemon: &Daemon, signature: &str) -> u16 {
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    support::http()
        .post(daemon.url("/webhook"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn remote_webhook_unreachable_and_rewritten_history() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-git").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let cache = tempfile::tempdir().unwrap();
    let secret_file = cache.path().join("webhook-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let url = format!("file://{}", repo.path().display());
    let daemon = Daemon::start(
        &env,
        repo.path().with_extension("daemon.log"),
        &[
            "--interval",
            "1h",
            "--repo",
            &url,
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "--webhook-secret-file",
            secret_file.to_str().unwrap(),
            "--state-namespace",
            &ns.name,
        ],
        &[],
    );
    let wait = Duration::from_secs(30);
    let log = || daemon.log();
    support::eventually_or("alpha applied at the first commit", wait, log, || async {
        (support::kube::taskmanager(&deployments, "alpha").await? == (c1.clone(), 2)).then_some(())
    })
    .await;

    // A push announced with a bad signature: 401, and nothing is fetched.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("scale alpha");
    let forged = signature(b"another body");
    assert_eq!(push(&daemon, &forged).await, 401);
    assert_eq!(push(&daemon, "sha256=00").await, 401);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c1.clone(), 2)),
        "{}",
        log()
    );
    assert_eq!(
        daemon
            .metric("flinkops_webhook_requests_total{result=\"rejected\"}")
            .await,
        Some(2.0)
    );

    // A verified push: fetched and applied at once.
    let good = signature(br#"{"ref":"refs/heads/main"}"#);
    assert_eq!(push(&daemon, &good).await, 202);
    support::eventually_or("the pushed commit applied", wait, log, || async {
        (support::kube::taskmanager(&deployments, "alpha").await? == (c2.clone(), 3)).then_some(())
    })
    .await;

    // The remote is gone: reported, the last applied state kept, the daemon still ready.
    let away = repo.path().with_extension("away");
    std::fs::rename(repo.path(), &away).unwrap();
    assert_eq!(push(&daemon, &good).await, 202);
    support::eventually_or("the Unreachable condition", wait, log, || async {
        let v = daemon
            .metric("flinkops_git_condition{reason=\"Unreachable\"}")
            .await?;
        (v == 1.0).then_some(())
    })
    .await;
    assert_eq!(daemon.get("/readyz").await.map(|r| r.0), Some(200));
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c2.clone(), 3))
    );
    assert!(log().contains("Unreachable"), "{}", log());
    std::fs::rename(&away, repo.path()).unwrap();
    assert_eq!(push(&daemon, &good).await, 202);
    support::eventually_or("the condition cleared", wait, log, || async {
        let v = daemon
            .metric("flinkops_git_condition{reason=\"Ok\"}")
            .await?;
        (v == 1.0).then_some(())
    })
    .await;

    // A force-push replacing the history: reported, not applied.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 5, "stateless"),
    );
    let rewritten = repo.commit_rewriting_history("rewritten");
    assert_eq!(push(&daemon, &good).await, 202);
    support::eventually_or("the HistoryRewritten condition", wait, log, || async {
        let v = daemon
            .metric("flinkops_git_condition{reason=\"HistoryRewritten\"}")
            .await?;
        (v == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c2.clone(), 3)),
        "{}",
        log()
    );
    let text = log();
    assert!(
        text.contains(&rewritten[..12]) && text.contains("--accept-history-rewrite"),
        "{text}"
    );
    // `flinkops status` shows the condition from the daemon's status ConfigMap.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
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
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("daemon: file://{}", repo.path().display()))
            && text.contains("git: HistoryRewritten since"),
        "{text}"
    );
}
