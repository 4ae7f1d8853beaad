//! The Flink REST client against a real Flink session cluster (scripts/testenv): every
//! call the upgrade needs, the failure shapes it must survive, and errors that carry
//! Flink's own text.

mod support;

use flinkops::edge::flink::{FlinkError, FlinkRest, RunJar};
use std::time::Duration;
use support::flink::FlinkSession;

async fn wait_state(client: &FlinkRest, job: &str, state: &str) {
    support::eventually(
        &format!("job {job} {state}"),
        Duration::from_secs(60),
        || async { (client.job(job).await.ok()?.state.as_str() == state).then_some(()) },
    )
    .await
}

async fn wait_fully_running(client: &FlinkRest, job: &str) {
    support::eventually(
        &format!("job {job} RUNNING"),
        Duration::from_secs(90),
        || async { client.job(job).await.ok()?.fully_running().then_some(()) },
    )
    .await
}

fn counter(parallelism: u32, savepoint: Option<&str>) -> RunJar {
    RunJar {
        entry_class: Some("flinkops.testjob.CounterJob".into()),
        parallelism: Some(parallelism),
        program_args_list: vec!["20".into()],
        savepoint_path: savepoint.map(str::to_string),
        ..Default::default()
    }
}

#[tokio::test]
async fn rest_client_on_a_real_session_cluster() {
    let Some(env) = support::testenv() else {
        return;
    };
    let session = FlinkSession::start(&env, 1, 4).await;
    let client = FlinkRest::new(&session.rest);
    let savepoints = format!("file://{}", session.savepoints.display());

    // A TaskManager registers before its slots are reported.
    let overview = support::eventually("4 slots reported", Duration::from_secs(30), || async {
        let o = client.overview().await.ok()?;
        (o.slots_total == 4).then_some(o)
    })
    .await;
    assert_eq!(overview.taskmanagers, 1);
    assert!(overview.flink_version.starts_with("2."), "{overview:?}");

    let jar = client.upload_jar(&env.test_jar).await.unwrap();
    let job = client.run_jar(&jar, &counter(2, None)).await.unwrap();
    assert!(client.jobs().await.unwrap().iter().any(|j| j.id == job));
    wait_fully_running(&client, &job).await;
    let details = client.job(&job).await.unwrap();
    assert!(
        details.vertices.iter().all(|v| v.parallelism == 2),
        "{details:?}"
    );

    // A savepoint while running; checkpoints are reported.
    let trigger = client
        .trigger_savepoint(&job, Some(&savepoints), None)
        .await
        .unwrap();
    let sp = client
        .await_savepoint(&job, &trigger, Duration::from_secs(60))
        .await
        .unwrap();
    // Flink writes the URI as file:/path.
    assert!(sp.contains(&*session.savepoints.to_string_lossy()), "{sp}");
    let cps = support::eventually(
        "a completed checkpoint",
        Duration::from_secs(30),
        || async {
            let c = client.checkpoints(&job).await.ok()?;
            (c.completed >= 1 && c.latest_completed.is_some()).then_some(c)
        },
    )
    .await;
    assert_eq!(cps.restored, None);

    // A checkpoint on request (checkpointTriggerNonce): numbered after those before it.
    let trigger = client.trigger_checkpoint(&job, None).await.unwrap();
    let taken = client
        .await_checkpoint(&job, &trigger, Duration::from_secs(60))
        .await
        .unwrap();
    let n: u64 = taken
        .strip_prefix("checkpoint ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{taken}"));
    assert!(n > cps.completed.saturating_sub(1), "{taken} after {cps:?}");

    // Stop-with-savepoint into a directory that cannot be created (a file is in the way,
    // which stops root too): the operation fails with Flink's reason, the job runs on.
    let blocker = session.dir.path().join("not-a-directory");
    std::fs::write(&blocker, "x").unwrap();
    let bad_target = format!("file://{}/savepoints", blocker.display());
    let trigger = client
        .stop_with_savepoint(&job, Some(&bad_target), None)
        .await
        .unwrap();
    let err = client
        .await_savepoint(&job, &trigger, Duration::from_secs(60))
        .await
        .unwrap_err();
    match &err {
        FlinkError::OperationFailed { cause, .. } => {
            assert!(cause.contains("not-a-directory"), "{err}")
        }
        other => panic!("expected OperationFailed, got {other}"),
    }
    eprintln!("failed stop-with-savepoint: {err}");
    wait_fully_running(&client, &job).await;

    // Running from a savepoint that does not exist: Flink's error text comes through.
    let err = client
        .run_jar(&jar, &counter(2, Some("file:///nonexistent/savepoint-0")))
        .await
        .unwrap_err();
    match &err {
        FlinkError::Http { status, errors, .. } => {
            assert!(*status >= 400, "{err}");
            assert!(
                errors[0].contains("Cannot find checkpoint or savepoint"),
                "{err}"
            );
        }
        other => panic!("expected an HTTP error, got {other}"),
    }
    eprintln!("run from a missing savepoint: {err}");

    // Stop-with-savepoint, then restore from it at another parallelism.
    let trigger = client
        .stop_with_savepoint(&job, Some(&savepoints), None)
        .await
        .unwrap();
    let stopped_at = client
        .await_savepoint(&job, &trigger, Duration::from_secs(60))
        .await
        .unwrap();
    wait_state(&client, &job, "FINISHED").await;
    let restored_job = client
        .run_jar(&jar, &counter(3, Some(&stopped_at)))
        .await
        .unwrap();
    wait_fully_running(&client, &restored_job).await;
    let restored = client
        .checkpoints(&restored_job)
        .await
        .unwrap()
        .restored
        .expect("restored from the savepoint");
    assert!(restored.is_savepoint);
    assert_eq!(restored.path, stopped_at);
    let details = client.job(&restored_job).await.unwrap();
    assert!(
        details.vertices.iter().all(|v| v.parallelism == 3),
        "{details:?}"
    );

    // Cancel; asking about an unknown job is a 404.
    client.cancel(&restored_job).await.unwrap();
    wait_state(&client, &restored_job, "CANCELED").await;
    let err = client
        .job("00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // Nobody listening: Unreachable, naming the request.
    let port = support::flink::free_port();
    let err = FlinkRest::new(&format!("http://127.0.0.1:{port}"))
        .overview()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FlinkError::Unreachable { request, .. } if request.contains("/overview")),
        "{err}"
    );
}
