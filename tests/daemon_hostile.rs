//! A hostile commit on the followed branch (an alias bomb, a file nested past any stack,
//! a file name that is not UTF-8): `flinkops run` stays up, reports the errors, keeps the
//! other jobs synced and deletes nothing.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use std::time::Duration;
use support::daemon::Daemon;
use support::git::TestRepo;

/// A "billion laughs": a kilobyte that expands to gigabytes if aliases are copied freely.
fn alias_bomb() -> String {
    let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = (b'a' + i - 1) as char;
        let name = (b'a' + i) as char;
        s.push_str(&format!(
            "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    s
}

#[tokio::test]
async fn a_hostile_commit_neither_stops_nor_fools_the_daemon() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-hostile").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    repo.write(
        "beta.yaml",
        &support::app_job("beta", &ns.name, 2, "stateless"),
    );
    let c1 = repo.commit("alpha and beta");
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
        "both jobs applied",
        wait,
        || daemon.log(),
        || async {
            let a = support::kube::taskmanager(&deployments, "alpha").await?;
            let b = support::kube::taskmanager(&deployments, "beta").await?;
            (a.0 == c1 && b.0 == c1).then_some(())
        },
    )
    .await;

    // The hostile commit: a bomb, a file nested 300,000 deep (a stack overflow for any
    // recursive reader), a file whose name is not UTF-8, and a real change to beta.
    repo.write("jobs/bomb.yaml", &alias_bomb());
    repo.write("jobs/deep.yaml", &format!("{}x\n", "- ".repeat(300_000)));
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"jobs/bad-\xff.yaml");
        std::fs::write(repo.path().join(name), "kind: x\n").unwrap();
    }
    repo.write(
        "beta.yaml",
        &support::app_job("beta", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("hostile, and beta scaled");
    support::eventually_or(
        "beta applied at the hostile commit",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "beta").await? == (c2.clone(), 3))
                .then_some(())
        },
    )
    .await;
    // Up, and saying what is wrong.
    assert_eq!(daemon.get("/healthz").await.map(|r| r.0), Some(200));
    let errors = daemon
        .metric("flinkops_definition_errors")
        .await
        .expect("metrics answer");
    assert!(errors >= 3.0, "{errors}\n{}", daemon.log());
    // Nothing deleted: a file whose name cannot be read may hold any job.
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha")
            .await
            .map(|t| t.1),
        Some(2)
    );

    // Later commits still apply while the hostile files stay on the branch.
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c3 = repo.commit("alpha scaled");
    support::eventually_or(
        "alpha applied with the hostile files still there",
        wait,
        || daemon.log(),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c3.clone(), 3))
                .then_some(())
        },
    )
    .await;
    assert_eq!(daemon.get("/healthz").await.map(|r| r.0), Some(200));
}
