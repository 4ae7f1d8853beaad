//! Broken input never panics and every error points inside the file: each example file is
//! mutated thousands of ways (characters deleted, duplicated, replaced by YAML syntax) and
//! loaded beside an intact job, which must keep loading.

use flinkops::source::{Entry, Snapshot};
use flinkops::spec;
use std::path::Path;

const GOOD: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: intact
  namespace: streaming
spec:
  image: flink:2.0
";

fn example_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-repo");
    let mut out = Vec::new();
    for dir in ["jobs", "clusters", "legacy"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            out.push((
                format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// Deterministic mutations of `text` at character position `i`.
fn mutations(text: &str, i: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let at = i % chars.len();
    let mut out = Vec::new();
    let splice = |with: &str, skip: usize| {
        let mut s: String = chars[..at].iter().collect();
        s.push_str(with);
        s.extend(chars[(at + skip).min(chars.len())..].iter());
        s
    };
    out.push(splice("", 1));
    for junk in [
        ":", "- ", "{", "[", "\"", "'", "&a ", "*a", "\t", "\n  ", "---\n", "0", "-1", "~",
    ] {
        out.push(splice(junk, 0));
        out.push(splice(junk, 1));
    }
    out
}

#[test]
fn mutated_definitions_never_panic_and_errors_point_into_the_file() {
    let mut checked = 0;
    for (path, text) in example_files() {
        let step = (text.len() / 60).max(1);
        for i in (0..text.len()).step_by(step) {
            for mutated in mutations(&text, i) {
                let snap = Snapshot {
                    commit: "0".repeat(40),
                    files: [
                        (path.clone(), Entry::File(mutated.clone().into_bytes())),
                        (
                            "intact.yaml".to_string(),
                            Entry::File(GOOD.as_bytes().to_vec()),
                        ),
                    ]
                    .into(),
                };
                let catalog = spec::load(&snap);
                let lines = mutated.lines().count().max(1) + 1;
                for e in catalog.errors() {
                    assert!(
                        e.line >= 1 && e.line <= lines && e.column >= 1,
                        "{e} is outside {path} ({lines} lines)"
                    );
                    assert!(!e.message.is_empty());
                }
                assert!(
                    catalog.jobs.keys().any(|id| id.name == "intact"),
                    "a broken {path} blocked another file's job"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5_000, "only {checked} mutations checked");
}
