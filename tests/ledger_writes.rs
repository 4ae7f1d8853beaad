//! Who may write a ledger, against the real kube-apiserver: a write is conditional on the
//! resourceVersion it was read at (a stale writer gets a conflict, never overwrites), a
//! ledger read as absent is only created, and a replica whose lease is not current
//! writes nothing at all. (Its own process: the write fence is process-wide.)

mod support;

use flinkops::edge::kube::fence;
use flinkops::edge::kube::ops::{self, OpError};
use flinkops::model::ledger::Ledger;
use flinkops::model::spec::JobId;
use std::time::{Duration, Instant};

#[tokio::test]
async fn stale_writers_and_deposed_leaders_cannot_overwrite_a_ledger() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-ledger").await;
    let id = JobId {
        namespace: ns.name.clone(),
        name: "orders".into(),
    };
    let read = || async { ops::read_ledger(&client, &id).await.unwrap() };
    let record = |commit: &str, from: Option<&Ledger>| {
        let mut l = from.cloned().unwrap_or_default();
        l.applied_commit = commit.into();
        l
    };

    // Created once: a second writer that also saw no ledger does not overwrite it.
    ops::write_ledger(&client, &id, &record("c1", None))
        .await
        .unwrap();
    let err = ops::write_ledger(&client, &id, &record("c1-other", None))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(read().await.unwrap().applied_commit, "c1");

    // Two writers read the same version: the first wins, the second must read again.
    let seen = read().await.unwrap();
    let written = ops::write_ledger(&client, &id, &record("c2", Some(&seen)))
        .await
        .unwrap();
    let err = ops::write_ledger(&client, &id, &record("c2-stale", Some(&seen)))
        .await
        .unwrap_err();
    assert!(matches!(err, OpError::Conflict(_)), "{err}");
    let now = read().await.unwrap();
    assert_eq!(now.applied_commit, "c2");
    assert_eq!(now.resource_version.as_deref(), Some(written.as_str()));
    // Reading again and deciding again works.
    ops::write_ledger(&client, &id, &record("c3", Some(&now)))
        .await
        .unwrap();

    // A leader whose lease is past its renew deadline (frozen, partitioned) writes
    // nothing, whatever its view.
    fence::lead_until(Instant::now() + Duration::from_secs(30));
    let current = read().await.unwrap();
    ops::write_ledger(&client, &id, &record("c4", Some(&current)))
        .await
        .unwrap();
    let current = read().await.unwrap();
    fence::lead_until(Instant::now());
    let err = ops::write_ledger(&client, &id, &record("c5", Some(&current)))
        .await
        .unwrap_err();
    assert!(matches!(err, OpError::Fenced(_)), "{err}");
    let err = ops::delete_ledger(&client, &id).await.unwrap_err();
    assert!(matches!(err, OpError::Fenced(_)), "{err}");
    let after = read().await.unwrap();
    assert_eq!(after.applied_commit, "c4");
    assert_eq!(after.resource_version, current.resource_version);
}
