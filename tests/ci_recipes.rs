//! The CI recipes in examples-repo/ci/ do what they say: their validate and plan commands,
//! run as the CI runner would run them (bash, in a checkout of a pull request whose base
//! branch was fetched from origin), validate the repository and write the Markdown plan.
//! Only the steps that install flinkops and post to GitHub/GitLab are left out.

mod support;

use std::path::Path;
use std::process::Command;
use support::git::TestRepo;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A clone of a repository holding examples-repo on `main`, checked out at a pull request
/// that scales orders-enrichment: (checkout dir, its tempdir guards).
fn pull_request_checkout() -> (tempfile::TempDir, TestRepo) {
    let origin = TestRepo::examples();
    origin.commit("examples");
    git(origin.path(), &["branch", "-M", "main"]);
    let work = tempfile::tempdir().unwrap();
    git(
        work.path(),
        &["clone", "-q", origin.path().to_str().unwrap(), "checkout"],
    );
    let co = work.path().join("checkout");
    git(&co, &["checkout", "-q", "-b", "scale-orders"]);
    let file = co.join("jobs/orders-enrichment.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("parallelism: 4"));
    std::fs::write(&file, text.replacen("parallelism: 4", "parallelism: 8", 1)).unwrap();
    git(
        &co,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qam",
            "scale orders",
        ],
    );
    (work, origin)
}

/// Runs a CI script with bash in `dir`, with flinkops on PATH and `vars` set.
fn bash(script: &str, dir: &Path, vars: &[(&str, &str)]) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_flinkops")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    support::code_and_output(out)
}

fn recipe(name: &str) -> serde_yaml::Value {
    let path = support::repo_root().join("examples-repo/ci").join(name);
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_plan(dir: &Path) {
    let plan = std::fs::read_to_string(dir.join("plan.md")).unwrap();
    assert!(
        plan.contains("| `streaming/orders-enrichment` | **savepoint-upgrade** |"),
        "{plan}"
    );
    assert!(plan.contains("parallelism 4 → 8"), "{plan}");
}

#[test]
fn the_github_actions_workflow_validates_and_plans_a_pull_request() {
    let (work, _origin) = pull_request_checkout();
    let co = work.path().join("checkout");
    let wf = recipe("github-actions.yml");
    let steps = wf["jobs"]["plan"]["steps"].as_sequence().unwrap();
    let mut ran = Vec::new();
    for step in steps {
        let (Some(name), Some(run)) = (step["name"].as_str(), step["run"].as_str()) else {
            continue; // `uses:` steps (checkout)
        };
        if name == "Install flinkops" || name == "Comment the plan" {
            continue;
        }
        let script = run.replace("${{ github.base_ref }}", "main");
        assert!(
            !script.contains("${{"),
            "unexpanded expression in {name}: {script}"
        );
        let (code, out) = bash(&script, &co, &[]);
        assert_eq!(code, 0, "step {name}:\n{out}");
        ran.push(name.to_string());
    }
    assert_eq!(ran, ["Validate", "Plan"]);
    assert_plan(&co);

    // A broken definition fails the Validate step, naming the file and line.
    let run = steps
        .iter()
        .find(|s| s["name"] == "Validate")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    let file = co.join("jobs/metrics-forwarder.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("upgradeMode:", "upgradeMod:", 1)).unwrap();
    git(
        &co,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qam",
            "typo",
        ],
    );
    let (code, out) = bash(run, &co, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("jobs/metrics-forwarder.yaml:") && out.contains("did you mean `upgradeMode`?"),
        "{out}"
    );
}

#[test]
fn the_gitlab_job_validates_and_plans_a_merge_request() {
    let (work, _origin) = pull_request_checkout();
    let co = work.path().join("checkout");
    let job = &recipe("gitlab-ci.yml")["flinkops-plan"];
    let mut ran = 0;
    for line in job["script"].as_sequence().unwrap() {
        let line = line.as_str().unwrap();
        if line.contains("curl") {
            continue; // posts the note
        }
        let (code, out) = bash(
            line,
            &co,
            &[("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")],
        );
        assert_eq!(code, 0, "{line}:\n{out}");
        ran += 1;
    }
    assert_eq!(ran, 3);
    assert_plan(&co);
}
