//! The CLI on a temporary Git repository with a history: create, change parallelism,
//! change image, suspend, delete, revert, break a file. Exit codes, JSON shape, actions
//! and reasons as a CI pipeline would consume them.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::git::TestRepo;

fn flinkops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(args)
        .env_remove("FLINKOPS_REPO")
        .env_remove("FLINKOPS_PATH")
        .output()
        .unwrap()
}

fn diff_json(repo: &Path, base: &str, head: &str) -> (i32, Value) {
    let out = flinkops(&[
        "diff",
        "--repo",
        repo.to_str().unwrap(),
        "--base",
        base,
        "--head",
        head,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn job<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("no job {name} in {v}"))
}

fn reasons(j: &Value) -> Vec<String> {
    j["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn examples() -> TestRepo {
    TestRepo::examples()
}

fn edit(repo: &TestRepo, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.path().join(rel)).unwrap();
    assert!(text.contains(from), "{rel} lacks {from:?}");
    repo.write(rel, &text.replacen(from, to, 1));
}

/// examples-repo committed, then the edits committed on top: (repo, first, second).
fn examples_then(edits: &[(&str, &str, &str)]) -> (TestRepo, String, String) {
    let repo = examples();
    let c1 = repo.commit("create");
    for (rel, from, to) in edits {
        edit(&repo, rel, from, to);
    }
    let c2 = repo.commit("edit");
    (repo, c1, c2)
}

#[test]
fn a_history_of_changes_plans_as_a_flink_engineer_expects() {
    let repo = examples();
    let c1 = repo.commit("create");
    edit(
        &repo,
        "jobs/orders-enrichment.yaml",
        "parallelism: 4",
        "parallelism: 8",
    );
    let c2 = repo.commit("scale orders");
    edit(
        &repo,
        "jobs/clickstream-sessionizer.yaml",
        "clickstream:2.0.1",
        "clickstream:2.1.0",
    );
    let c3 = repo.commit("new clickstream image");
    edit(
        &repo,
        "jobs/metrics-forwarder.yaml",
        "upgradeMode: stateless",
        "upgradeMode: stateless\n    state: suspended",
    );
    let c4 = repo.commit("suspend metrics");
    repo.remove("jobs/analytics-jobs.yaml");
    let c5 = repo.commit("remove analytics session jobs");
    // A revert of c2.
    edit(
        &repo,
        "jobs/orders-enrichment.yaml",
        "parallelism: 8",
        "parallelism: 4",
    );
    let c6 = repo.commit("Revert \"scale orders\"");
    let path = repo.path();

    let (code, v) = diff_json(path, &c1, &c1);
    assert_eq!(code, 0);
    assert!(v["objects"].as_array().unwrap().is_empty());

    let (code, v) = diff_json(path, &c1, &c2);
    assert_eq!(code, 2);
    assert_eq!(
        (v["base"].as_str(), v["head"].as_str()),
        (Some(c1.as_str()), Some(c2.as_str()))
    );
    let orders = job(&v, "orders-enrichment");
    assert_eq!(orders["action"], "savepoint-upgrade");
    assert_eq!(orders["namespace"], "streaming");
    assert_eq!(orders["source"], "jobs/orders-enrichment.yaml");
    assert!(reasons(orders).contains(&"parallelism 4 → 8".to_string()));
    assert_eq!(job(&v, "clickstream-sessionizer")["action"], "none");
    let objects: Vec<(String, String)> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().into(),
                o["change"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(objects.contains(&("orders-enrichment-taskmanager".into(), "update".into())));
    assert!(objects
        .iter()
        .all(|(n, _)| n.starts_with("orders-enrichment")));

    let (_, v) = diff_json(path, &c2, &c3);
    let click = job(&v, "clickstream-sessionizer");
    assert_eq!(click["action"], "last-state-upgrade");
    assert_eq!(
        reasons(click),
        vec!["image registry.example.com/streaming/clickstream:2.0.1 → registry.example.com/streaming/clickstream:2.1.0"]
    );

    let (_, v) = diff_json(path, &c3, &c4);
    assert_eq!(job(&v, "metrics-forwarder")["action"], "suspend");
    let tm = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "metrics-forwarder-taskmanager")
        .unwrap();
    assert!(tm["diff"].as_str().unwrap().contains("+  replicas: 0\n"));

    let (_, v) = diff_json(path, &c4, &c5);
    assert_eq!(job(&v, "top-products")["action"], "delete");
    assert_eq!(job(&v, "fraud-rules")["action"], "delete");

    // The revert is an ordinary upgrade back to the old parallelism.
    let (code, v) = diff_json(path, &c5, &c6);
    assert_eq!(code, 2);
    let orders = job(&v, "orders-enrichment");
    assert_eq!(orders["action"], "savepoint-upgrade");
    assert!(reasons(orders).contains(&"parallelism 8 → 4".to_string()));
    // Over the whole history, only what changed net shows.
    let (_, v) = diff_json(path, &c1, &c6);
    assert_eq!(job(&v, "orders-enrichment")["action"], "none");
}

#[test]
fn a_broken_file_blocks_only_its_job_and_exits_1() {
    let (repo, c1, c2) = examples_then(&[
        (
            "jobs/orders-enrichment.yaml",
            "parallelism: 4",
            "parallelism: 0",
        ),
        (
            "jobs/metrics-forwarder.yaml",
            "parallelism: 1",
            "parallelism: 2",
        ),
    ]);
    let (code, v) = diff_json(repo.path(), &c1, &c2);
    assert_eq!(code, 1);
    let orders = job(&v, "orders-enrichment");
    assert_eq!(orders["action"], "error");
    let e = &orders["errors"][0];
    assert_eq!(e["file"], "jobs/orders-enrichment.yaml");
    assert_eq!(e["field"], "spec.job.parallelism");
    assert!(e["line"].as_u64().unwrap() > 1 && e["column"].as_u64().unwrap() > 1);
    assert_eq!(job(&v, "metrics-forwarder")["action"], "stateless-upgrade");

    let out = flinkops(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "jobs/orders-enrichment.yaml:31:18: spec.job.parallelism: must be at least 1, got 0"
        ),
        "{text}"
    );
    let out = flinkops(&[
        "validate",
        "--repo",
        repo.path().to_str().unwrap(),
        "--rev",
        &c1,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn formats_colour_and_render() {
    let (repo, c1, c2) = examples_then(&[(
        "jobs/orders-enrichment.yaml",
        "parallelism: 4",
        "parallelism: 8",
    )]);
    let p = repo.path().to_str().unwrap();
    let text = |args: &[&str]| String::from_utf8(flinkops(args).stdout).unwrap();
    let plain = text(&[
        "diff", "--repo", p, "--base", &c1, "--head", &c2, "--color", "never",
    ]);
    assert!(
        plain.contains("\nPlan: 1 savepoint-upgrade; 7 unchanged.\n"),
        "{plain}"
    );
    assert!(!plain.contains('\x1b'));
    let coloured = text(&[
        "diff", "--repo", p, "--base", &c1, "--head", &c2, "--color", "always",
    ]);
    assert!(coloured.contains("\x1b["));
    let md = text(&[
        "diff", "--repo", p, "--base", &c1, "--head", &c2, "--format", "markdown",
    ]);
    assert!(
        md.contains("| `streaming/orders-enrichment` | **savepoint-upgrade** |"),
        "{md}"
    );

    let render = || {
        text(&[
            "render",
            "--repo",
            p,
            "--job",
            "streaming/orders-enrichment",
            "-o",
            "json",
        ])
    };
    let first = render();
    assert_eq!(first, render(), "render is deterministic");
    let objects: Value = serde_json::from_str(&first).unwrap();
    let kinds: Vec<String> = objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "ConfigMap/orders-enrichment-config",
            "Deployment/orders-enrichment-jobmanager",
            "Deployment/orders-enrichment-taskmanager",
            "Service/orders-enrichment-jobmanager",
            "Service/orders-enrichment-rest",
        ]
    );
}

#[test]
fn render_shows_a_first_deployment_restoring_from_its_initial_savepoint() {
    // What sync applies to a job not deployed yet starts from initialSavepointPath;
    // render shows that, not a job started empty.
    let (repo, _, _) = examples_then(&[(
        "jobs/orders-enrichment.yaml",
        "upgradeMode: savepoint",
        "upgradeMode: savepoint\n    initialSavepointPath: s3://flink/savepoints/orders/savepoint-1",
    )]);
    let p = repo.path().to_str().unwrap();
    // The job's Flink configuration (config.yaml of its ConfigMap), as Flink reads it.
    let config = |job: &str| -> serde_yaml::Value {
        let out = flinkops(&["render", "--repo", p, "--job", job, "-o", "json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let objects: Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = objects
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "ConfigMap")
            .and_then(|cm| cm["data"]["config.yaml"].as_str())
            .expect("a ConfigMap with config.yaml")
            .to_string();
        serde_yaml::from_str(&text).unwrap()
    };
    let orders = config("streaming/orders-enrichment");
    assert_eq!(
        orders["execution"]["savepoint"]["path"].as_str(),
        Some("s3://flink/savepoints/orders/savepoint-1"),
        "{orders:?}"
    );
    // A job without initialSavepointPath starts empty.
    let clicks = config("streaming/clickstream-sessionizer");
    assert_eq!(
        clicks["execution"]["shutdown-on-application-finish"].as_bool(),
        Some(false)
    );
    assert!(
        clicks["execution"]["savepoint"]["path"].is_null(),
        "{clicks:?}"
    );
}

#[test]
fn command_line_errors_are_clear_and_never_exit_2() {
    let plain = tempfile::tempdir().unwrap();
    let out = flinkops(&["validate", "--repo", plain.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a Git repository") && err.contains("--path"),
        "{err}"
    );

    let repo = examples();
    repo.commit("create");
    let out = flinkops(&[
        "diff",
        "--repo",
        repo.path().to_str().unwrap(),
        "--base",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revision `nope` not found"));

    let out = flinkops(&["diff", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "a usage error is not 'changes'"
    );
    let out = flinkops(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn a_thousand_jobs_plan_exactly_the_changed_ones() {
    let repo = TestRepo::new();
    let write = |changed: &dyn Fn(usize) -> bool| {
        for (path, text) in support::scale::files(1000, changed) {
            repo.write(&path, &text);
        }
    };
    write(&|_| false);
    let c1 = repo.commit("1000 jobs");
    write(&|i| i % 10 == 3);
    let c2 = repo.commit("change 10%");
    let (code, v) = diff_json(repo.path(), &c1, &c2);
    assert_eq!(code, 2);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1000);
    for j in jobs {
        let i: usize = j["name"].as_str().unwrap()[4..].parse().unwrap();
        let want = if i % 10 != 3 {
            "none"
        } else {
            [
                "savepoint-upgrade",
                "last-state-upgrade",
                "stateless-upgrade",
            ][i % 3]
        };
        assert_eq!(j["action"], want, "{j}");
    }
}
