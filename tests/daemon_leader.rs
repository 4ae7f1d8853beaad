//! Two `flinkops run --leader-election` replicas on the real control plane: exactly one
//! leads and writes; when the leader dies without releasing the lease (SIGKILL), the other
//! takes over within the lease duration and applies the next commit; a leader stopped
//! with SIGTERM releases the lease and a successor takes over at once.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use std::time::{Duration, Instant};
use support::daemon::Daemon;
use support::git::TestRepo;

async fn leader_of(replicas: &[&Daemon]) -> Option<usize> {
    let mut leaders = Vec::new();
    for (i, d) in replicas.iter().enumerate() {
        if d.metric("flinkops_leader").await? == 1.0 {
            leaders.push(i);
        }
    }
    // Exactly one, and it has run a cycle.
    match leaders[..] {
        [i] => (replicas[i].metric("flinkops_sync_cycles_total").await? >= 1.0).then_some(i),
        _ => None,
    }
}

#[tokio::test]
async fn two_replicas_one_writer_and_failover() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-lead").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let repo_arg = repo.path().to_str().unwrap().to_string();
    let start = |n: u32| {
        Daemon::start(
            &env,
            repo.path().with_extension(format!("replica-{n}.log")),
            &[
                "--interval",
                "1h",
                "--repo",
                &repo_arg,
                "--leader-election",
                "--state-namespace",
                &ns.name,
                "--instance",
                "flinkops-test",
            ],
            &[("POD_NAME", &format!("replica-{n}"))],
        )
    };
    let mut replicas = vec![start(0), start(1)];
    let wait = Duration::from_secs(30);
    let logs = |r: &[Daemon]| {
        r.iter()
            .map(|d| d.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };

    let leader = support::eventually_or(
        "exactly one leader",
        wait,
        || logs(&replicas),
        || async { leader_of(&[&replicas[0], &replicas[1]]).await },
    )
    .await;
    let follower = 1 - leader;
    support::eventually_or(
        "alpha applied",
        wait,
        || logs(&replicas),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c1.clone(), 2))
                .then_some(())
        },
    )
    .await;
    let lease = leases.get("flinkops-test").await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(format!("replica-{leader}").as_str())
    );
    // The follower watched the same changes and wrote nothing.
    assert_eq!(
        replicas[follower]
            .metric("flinkops_sync_cycles_total")
            .await,
        Some(0.0),
        "{}",
        logs(&replicas)
    );
    assert_eq!(
        replicas[follower]
            .metric("flinkops_objects_applied_total")
            .await,
        Some(0.0)
    );
    assert_eq!(
        replicas[follower].get("/readyz").await.map(|r| r.0),
        Some(200)
    );

    // The leader dies without releasing the lease: the follower takes over once the
    // lease has gone unrenewed for its duration (15 s), and applies the next commit.
    replicas[leader].signal_and_wait(libc::SIGKILL).await;
    let killed = Instant::now();
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("scale alpha");
    support::eventually_or(
        "the follower applies the next commit",
        Duration::from_secs(45),
        || logs(&replicas),
        || async {
            (support::kube::taskmanager(&deployments, "alpha").await? == (c2.clone(), 3))
                .then_some(())
        },
    )
    .await;
    let takeover = killed.elapsed();
    eprintln!("takeover after SIGKILL: {takeover:?}");
    assert!(
        takeover >= Duration::from_secs(10),
        "took over before the lease could expire: {takeover:?}"
    );
    assert_eq!(
        replicas[follower].metric("flinkops_leader").await,
        Some(1.0)
    );

    // A new replica joins and follows; the leader stops with SIGTERM and releases the
    // lease, so the newcomer leads well before the lease duration.
    replicas[leader] = start(2);
    support::eventually_or(
        "the new replica follows",
        wait,
        || logs(&replicas),
        || async { (replicas[leader].metric("flinkops_leader").await? == 0.0).then_some(()) },
    )
    .await;
    let status = replicas[follower].signal_and_wait(libc::SIGTERM).await;
    assert!(status.success());
    let released = Instant::now();
    support::eventually_or(
        "the new replica leads",
        wait,
        || logs(&replicas),
        || async { (replicas[leader].metric("flinkops_leader").await? == 1.0).then_some(()) },
    )
    .await;
    let handover = released.elapsed();
    eprintln!("handover after SIGTERM: {handover:?}");
    assert!(handover < Duration::from_secs(10), "{handover:?}");
}
