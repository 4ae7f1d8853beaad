//! The CLI's outputs on a repository that tries to attack its readers: a file name with
//! terminal escape sequences and a forged GitHub Actions `::error` line, a configuration
//! holding credentials under nested keys and over several lines, a Markdown plan that
//! tries HTML and mentions; and a status page URL that is not http(s). No cluster needed.

mod support;

use std::process::{Command, Output};
use support::git::TestRepo;

fn flinkops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(args)
        .env_remove("FLINKOPS_REPO")
        .env_remove("FLINKOPS_PATH")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

const JOB: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming}
spec:
  image: flink:2.0
  flinkConfiguration:
    fs.s3a.secret.key: S3A-SECRET-VALUE
    fs.azure.account.key.acct.blob.core.windows.net: AZURE-KEY-VALUE
    properties.sasl.jaas.config: |
      org.apache.kafka.common.security.plain.PlainLoginModule required
      password=\"JAAS-PASSWORD-VALUE\";
  job: {jarURI: 'local:///opt/flink/usrlib/orders.jar', parallelism: 2}
";

const HOSTILE_NAME: &str =
    "jobs/x\x1b]0;pwned\x07\x1b[2J\n::error file=ci.yml,line=1::forged <img src=x> @octocat.yaml";

/// A first commit with a job, a second that changes it and adds a broken file whose name
/// is the attack.
fn repo() -> (TestRepo, String, String) {
    let r = TestRepo::new();
    r.write("jobs/orders.yaml", JOB);
    let base = r.commit("base");
    r.write(
        "jobs/orders.yaml",
        &JOB.replace("parallelism: 2", "parallelism: 3")
            .replace("-VALUE", "-VALUE-2"),
    );
    r.write(HOSTILE_NAME, "kind: [\n");
    let head = r.commit("head");
    (r, base, head)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_inert(what: &str, s: &str) {
    assert!(
        !s.contains('\x1b'),
        "{what}: an escape sequence passed: {s:?}"
    );
    assert!(!s.contains('\r'), "{what}: a carriage return passed: {s:?}");
    assert!(
        !s.lines().any(|l| l.starts_with("::")),
        "{what}: a forged workflow command:\n{s}"
    );
    for secret in ["S3A-SECRET", "AZURE-KEY", "JAAS-PASSWORD"] {
        assert!(!s.contains(secret), "{what}: {secret} shown:\n{s}");
    }
}

#[test]
fn text_outputs_escape_file_names_and_hide_credentials() {
    let (r, base, head) = repo();
    let p = r.path().to_str().unwrap();
    let out = flinkops(&["validate", "--repo", p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_inert("validate", &text(&out));
    assert!(
        text(&out).contains("x\\x1b]0;pwned\\x07\\x1b[2J\\n::error"),
        "{}",
        text(&out)
    );
    for color in ["never", "always"] {
        let out = flinkops(&[
            "diff", "--repo", p, "--base", &base, "--head", &head, "--color", color,
        ]);
        let t = text(&out);
        // flinkops' own colours are the only escape sequences.
        let own = t
            .replace("\x1b[0m", "")
            .replace("\x1b[1m", "")
            .replace("\x1b[31;1m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[35m", "")
            .replace("\x1b[36m", "");
        assert_inert(&format!("diff --color {color}"), &own);
        assert!(t.contains("<redacted>"), "{t}");
    }
    let out = flinkops(&["render", "--repo", p]);
    assert_inert("render's errors", &String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_markdown_plan_is_inert() {
    let (r, base, head) = repo();
    let p = r.path().to_str().unwrap();
    let out = flinkops(&[
        "diff", "--repo", p, "--base", &base, "--head", &head, "--format", "markdown",
    ]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert_inert("markdown", &md);
    assert!(!md.contains("<img") && !md.contains("@octocat"), "{md}");
}

#[test]
fn repo_web_url_must_be_http_or_https() {
    let out = flinkops(&["run", "--repo-web-url", "javascript:alert(1)"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not an http(s) URL"), "{err}");
}
