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

/// Replica `n` of `flinkops run --leader-election` following `repo`.
fn replica(
    env: &support::TestEnv,
    repo: &TestRepo,
    namespace: &str,
    n: u32,
    envs: &[(&str, &str)],
) -> Daemon {
    let pod = format!("replica-{n}");
    let mut all = vec![("POD_NAME", pod.as_str())];
    all.extend_from_slice(envs);
    Daemon::start(
        env,
        repo.path().with_extension(format!("replica-{n}.log")),
        &[
            "--interval",
            "1h",
            "--repo",
            repo.path().to_str().unwrap(),
            "--leader-election",
            "--state-namespace",
            namespace,
            "--instance",
            "flinkops-test",
        ],
        &all,
    )
}

fn logs<'a>(replicas: impl IntoIterator<Item = &'a Daemon>) -> String {
    replicas
        .into_iter()
        .map(|d| d.log())
        .collect::<Vec<_>>()
        .join("\n----\n")
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
    let start = |n: u32| replica(&env, &repo, &ns.name, n, &[]);
    let mut replicas = vec![start(0), start(1)];
    let wait = Duration::from_secs(30);

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

/// A leader frozen (SIGSTOP, as a stalled node) in the middle of a sync, just before it
/// applies the new version, and resumed after the other replica took over, applied
/// that version and a newer commit: it writes nothing. Its write fence ran out
/// while it was stopped, before its elector could even notice.
#[tokio::test]
async fn a_deposed_leader_resumed_mid_sync_writes_nothing() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-depose").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    let alpha = |p| support::app_job("alpha", &ns.name, p, "stateless");
    repo.write("alpha.yaml", &alpha(2));
    let c1 = repo.commit("alpha");
    let taskmanager = |commit: String, p: i32| {
        let deployments = deployments.clone();
        move || {
            let (deployments, commit) = (deployments.clone(), commit.clone());
            async move {
                (support::kube::taskmanager(&deployments, "alpha").await? == (commit, p))
                    .then_some(())
            }
        }
    };
    let wait = Duration::from_secs(45);

    // c1 applied by `sync --once`; replica 0 then leads alone, and freezes the first time
    // it is about to apply objects: the next commit's, rendered.
    let (code, out) = support::sync_once(&env, repo.path());
    assert_eq!(code, 0, "{out}");
    support::eventually_or("alpha applied", wait, || out.clone(), taskmanager(c1, 2)).await;
    let frozen = replica(
        &env,
        &repo,
        &ns.name,
        0,
        &[(flinkops::runtime::fault::PAUSE_ENV, "before-sync-apply")],
    );
    support::eventually_or(
        "replica 0 leads",
        wait,
        || frozen.log(),
        || async { (frozen.metric("flinkops_sync_cycles_total").await? >= 1.0).then_some(()) },
    )
    .await;
    let other = replica(&env, &repo, &ns.name, 1, &[]);
    let both = || logs([&frozen, &other]);

    // A restart (parallelism 3; stateless, so applied at once): replica 0 freezes with the
    // new version unapplied.
    repo.write("alpha.yaml", &alpha(3));
    let c2 = repo.commit("parallelism 3");
    support::eventually_or("replica 0 frozen mid-sync", wait, both, || async {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", frozen.child.id())).ok()?;
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        (frozen.log().contains("pausing at before-sync-apply") && state == 'T').then_some(())
    })
    .await;

    // Replica 1 takes over once the lease runs out, applies that commit, then a newer one.
    support::eventually_or(
        "replica 1 applies the commit",
        wait,
        both,
        taskmanager(c2, 3),
    )
    .await;
    repo.write("alpha.yaml", &alpha(4));
    let c3 = repo.commit("parallelism 4");
    support::eventually_or(
        "replica 1 applies the next commit",
        wait,
        both,
        taskmanager(c3.clone(), 4),
    )
    .await;

    // Replica 0 resumes where it froze, holding the older version: refused.
    // SAFETY: resuming our own child process.
    unsafe {
        libc::kill(frozen.child.id() as i32, libc::SIGCONT);
    }
    support::eventually_or("replica 0 resumed and following", wait, both, || async {
        (frozen.log().contains("resumed at before-sync-apply")
            && frozen.metric("flinkops_leader").await? == 0.0)
            .then_some(())
    })
    .await;
    assert!(
        frozen.log().contains("does not hold a current lease"),
        "the resumed replica's apply was not refused:\n{}",
        both()
    );
    // What it would have written (parallelism 3 of c2) never reached the cluster, and the
    // lease stays with replica 1.
    assert_eq!(
        support::kube::taskmanager(&deployments, "alpha").await,
        Some((c3, 4)),
        "{}",
        both()
    );
    let lease = leases.get("flinkops-test").await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("replica-1")
    );
}
