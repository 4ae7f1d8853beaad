//! Rendering golden files: examples-repo rendered at a fixed commit, compared byte for
//! byte. The files were reviewed by hand; regenerate with UPDATE_GOLDEN=1 after an
//! intended change and review the diff.

mod support;

use flinkops::edge::git::Snapshot;
use flinkops::engine::render::{self, Context};
use flinkops::model::spec;
use std::path::PathBuf;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn examples() -> Snapshot {
    support::dir_snapshot(&support::repo_root().join("examples-repo"), COMMIT)
}

fn render_all(snap: &Snapshot) -> String {
    let catalog = spec::load(snap);
    assert!(catalog.is_valid(), "{:?}", catalog.errors());
    let cx = Context {
        commit: COMMIT,
        restore_from: None,
    };
    let mut out = String::new();
    for s in catalog.jobs.values() {
        for o in render::render(s, &cx).objects {
            out.push_str("---\n");
            out.push_str(&o.to_yaml());
        }
    }
    out
}

#[test]
fn examples_repo_renders_as_reviewed() {
    let got = render_all(&examples());
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/examples-repo.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).expect("golden file exists (UPDATE_GOLDEN=1 creates it)");
    if got != want {
        let diff = similar::TextDiff::from_lines(&want, &got)
            .unified_diff()
            .header("golden", "rendered")
            .to_string();
        panic!("rendering changed:\n{diff}");
    }
}

#[test]
fn rendering_is_deterministic() {
    let snap = examples();
    assert_eq!(render_all(&snap), render_all(&snap));
}
