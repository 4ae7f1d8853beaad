//! The impact summary of `flinkops diff` over a history of examples-repo, as a team would
//! make it: each commit's summary lines (what the change costs in state) exactly, in text
//! and in the Markdown a pull request gets, a removal included. No cluster: the base
//! revision stands for what runs.

mod support;

use support::git::TestRepo;

/// `flinkops diff --base B --head H --format F`: exit code and stdout.
fn diff(repo: &TestRepo, base: &str, head: &str, format: &str) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["diff", "--repo"])
        .arg(repo.path())
        .args(["--base", base, "--head", head, "--format", format])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// The text plan's summary: the `Plan:` line and the impact lines under it.
fn summary(repo: &TestRepo, base: &str, head: &str) -> Vec<String> {
    let (code, out) = diff(repo, base, head, "text");
    assert_eq!(code, 2, "{out}");
    out.lines()
        .skip_while(|l| !l.starts_with("Plan: "))
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn edit(repo: &TestRepo, file: &str, from: &str, to: &str) {
    let path = repo.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    repo.write(file, &text.replacen(from, to, 1));
}

#[test]
fn the_impact_summary_is_exact_over_a_history_of_examples_repo() {
    let repo = TestRepo::examples();
    let c0 = repo.commit("examples-repo");

    // Scaling three jobs, one of each upgrade mode.
    edit(
        &repo,
        "jobs/orders-enrichment.yaml",
        "parallelism: 4",
        "parallelism: 6",
    );
    edit(
        &repo,
        "jobs/clickstream-sessionizer.yaml",
        "parallelism: 2",
        "parallelism: 3",
    );
    edit(
        &repo,
        "jobs/metrics-forwarder.yaml",
        "parallelism: 1",
        "parallelism: 2",
    );
    let c1 = repo.commit("scale three jobs");
    assert_eq!(
        summary(&repo, &c0, &c1),
        [
            "Plan: 1 savepoint-upgrade, 1 last-state-upgrade, 1 stateless-upgrade; 5 unchanged.",
            "STATE LOST by 1: streaming/metrics-forwarder",
            "restored from their latest checkpoint (what came after it is processed again): streaming/clickstream-sessionizer",
            "restarted with a savepoint (their state carried): streaming/orders-enrichment",
        ]
    );
    // The same at the top of the pull-request comment.
    let (_, md) = diff(&repo, &c0, &c1, "markdown");
    assert!(
        md.contains("\n⚠️ **STATE LOST by 1**: `streaming/metrics-forwarder`\n- restored from their latest checkpoint (what came after it is processed again): `streaming/clickstream-sessionizer`\n- restarted with a savepoint (their state carried): `streaming/orders-enrichment`\n"),
        "{md}"
    );

    // A change that restarts nothing (a flinkops setting): no impact line.
    edit(
        &repo,
        "jobs/orders-enrichment.yaml",
        "    pipeline.max-parallelism: 128\n",
        "    pipeline.max-parallelism: 128\n    kubernetes.operator.periodic.savepoint.interval: 1h\n",
    );
    let c2 = repo.commit("periodic savepoints");
    let lines = summary(&repo, &c1, &c2);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("Plan: 1 update;"), "{lines:?}");

    // Removing a stateful job and a stateless one: the first stops with a savepoint and
    // keeps its lineage, the second's state is lost (Git says so: stateless).
    repo.remove("jobs/orders-enrichment.yaml");
    repo.remove("jobs/metrics-forwarder.yaml");
    let c3 = repo.commit("remove two jobs");
    assert_eq!(
        summary(&repo, &c2, &c3),
        [
            "Plan: 2 delete; 6 unchanged.",
            "STATE LOST by 1: streaming/metrics-forwarder",
            "stopped with a savepoint (removed or suspended; their lineage kept): streaming/orders-enrichment",
        ]
    );

    // Suspending a savepoint job: stopped with a savepoint too.
    edit(
        &repo,
        "jobs/analytics-jobs.yaml",
        "upgradeMode: savepoint",
        "upgradeMode: savepoint\n    state: suspended",
    );
    let c4 = repo.commit("suspend top-products");
    let lines = summary(&repo, &c3, &c4);
    assert_eq!(
        lines[1..],
        ["stopped with a savepoint (removed or suspended; their lineage kept): analytics/top-products"],
        "{lines:?}"
    );
}
