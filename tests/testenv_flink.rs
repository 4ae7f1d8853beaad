//! Real Flink from scripts/testenv: the stateful test job runs on a session cluster, is
//! stopped with a savepoint, restored with a different parallelism, and its keyed
//! counters continue exactly where they stopped.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::flink::FlinkSession;

#[tokio::test]
async fn stop_with_savepoint_and_restore_with_new_parallelism_keeps_state() {
    let Some(env) = support::testenv() else {
        return;
    };
    let flink = FlinkSession::start(&env, 1, 4).await;
    let jar = flink.upload(&env.test_jar).await;
    let job = flink.run_counter(&jar, 2, None).await;
    flink.wait_running(&job).await;
    support::eventually(
        "counters past 20 for all 4 keys",
        Duration::from_secs(60),
        || async {
            let c = flink.counters();
            (c.len() == 4 && c.values().all(|v| *v >= 20)).then_some(())
        },
    )
    .await;

    let savepoint = flink.stop_with_savepoint(&job).await;
    assert!(savepoint.starts_with("file:"), "{savepoint}");
    support::eventually(
        "job FINISHED after stop",
        Duration::from_secs(30),
        || async {
            (flink.get(&format!("/jobs/{job}")).await["state"] == "FINISHED").then_some(())
        },
    )
    .await;
    let before = flink.counters();
    let printed_before = flink.counter_lines().len();

    let restored = flink.run_counter(&jar, 3, Some(&savepoint)).await;
    flink.wait_running(&restored).await;
    let details = flink.get(&format!("/jobs/{restored}")).await;
    let counter_vertex = details["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str().is_some_and(|n| n.contains("counter")))
        .cloned()
        .unwrap_or_else(|| panic!("no counter vertex: {details}"));
    assert_eq!(counter_vertex["parallelism"], 3);
    let checkpoints = flink.get(&format!("/jobs/{restored}/checkpoints")).await;
    assert_eq!(checkpoints["latest"]["restored"]["is_savepoint"], true);

    let after: BTreeMap<u64, u64> = support::eventually(
        "counts printed for all keys after restore",
        Duration::from_secs(60),
        || async {
            let mut first: BTreeMap<u64, u64> = BTreeMap::new();
            for (k, c) in flink.counter_lines().into_iter().skip(printed_before) {
                first.entry(k).or_insert(c);
            }
            (first.len() == 4).then_some(first)
        },
    )
    .await;
    for (k, c) in &after {
        // The first count after the restore is the next one: state continued, not reset.
        assert_eq!(
            *c,
            before[k] + 1,
            "key {k}: before {before:?}, first after restore {after:?}\n{}",
            flink.logs()
        );
    }
}
