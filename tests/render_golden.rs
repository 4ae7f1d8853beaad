//! Rendering golden files: examples-repo rendered at a fixed commit, compared byte for
//! byte. The files were reviewed by hand; regenerate with UPDATE_GOLDEN=1 after an
//! intended change and review the diff.

use flinkops::render::{self, Context};
use flinkops::source::{Entry, Snapshot};
use flinkops::spec;
use std::path::{Path, PathBuf};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn read_dir(root: &Path, dir: &Path, out: &mut Snapshot) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_dir(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.files
                .insert(rel, Entry::File(std::fs::read(&path).unwrap()));
        }
    }
}

fn examples() -> Snapshot {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples-repo");
    let mut snap = Snapshot {
        commit: COMMIT.into(),
        ..Default::default()
    };
    read_dir(&root, &root, &mut snap);
    snap
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
