//! Teams in one repository, end to end through the CLI: `validate` and `diff` read the
//! ownership rules of flinkops.yaml from the commit itself, so a file of one team that
//! deploys into another team's namespace fails offline with its file:line:col.

mod support;

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

const SETTINGS: &str = "\
apiVersion: flinkops.io/v1alpha1
kind: Settings
teams:
  - name: orders
    paths: [\"teams/orders/**\"]
    namespaces: [orders-prod]
  - name: billing
    paths: [\"teams/billing/**\"]
    namespaces: [billing-prod]
";

fn job(namespace: &str) -> String {
    format!(
        "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: enrich
  namespace: {namespace}
spec:
  image: flink:2.0
  job:
    jarURI: local:///opt/flink/usrlib/enrich.jar
"
    )
}

#[test]
fn a_team_deploying_into_another_teams_namespace_fails_validate_and_diff() {
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", SETTINGS);
    repo.write("teams/orders/enrich.yaml", &job("orders-prod"));
    let good = repo.commit("orders' job");
    let p = repo.path().to_str().unwrap();
    let out = flinkops(&["validate", "--repo", p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Billing's folder, orders' namespace.
    repo.write(
        "teams/billing/steal.yaml",
        &job("orders-prod").replace("enrich", "steal"),
    );
    let bad = repo.commit("billing deploys into orders-prod");
    let out = flinkops(&["validate", "--repo", p]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("teams/billing/steal.yaml:5:14: metadata.namespace: namespace `orders-prod` is not one of team `billing`'s namespaces (allowed: billing-prod)"),
        "{text}"
    );

    // diff reads the same rules: the job is blocked, with the same error.
    let out = flinkops(&[
        "diff", "--repo", p, "--base", &good, "--head", &bad, "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{v}");
    let steal = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "steal")
        .unwrap_or_else(|| panic!("no job steal in {v}"));
    assert_eq!(steal["action"], "error", "{v}");
    let e = &steal["errors"][0];
    assert_eq!(
        (&e["file"], &e["line"], &e["column"], &e["field"]),
        (
            &"teams/billing/steal.yaml".into(),
            &5.into(),
            &14.into(),
            &"metadata.namespace".into()
        ),
        "{v}"
    );

    // A file outside every team's folder is an error too.
    repo.write("stray.yaml", &job("orders-prod").replace("enrich", "stray"));
    repo.commit("stray file");
    let out = flinkops(&["validate", "--repo", p]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("stray.yaml:1:1: no team owns this path"),
        "{text}"
    );
}
