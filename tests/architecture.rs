//! The source tree's layers and the one direction of their dependencies (see `src/lib.rs`
//! and docs/architecture.md): a module may use its own layer and the layers below it,
//! never one above. Read from the source text, so a `use` that would turn the pure core
//! into something that needs a cluster fails here with the file and line.

use std::path::{Path, PathBuf};

/// Bottom first.
const LAYERS: [&str; 6] = ["model", "engine", "edge", "runtime", "daemon", "cli"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::<layer>` references in `text` that reach above `layer`, with their line
/// numbers. Comments are skipped (a doc may name what uses a module).
fn upward(layer: &str, text: &str) -> Vec<(usize, String)> {
    let own = rank(layer).expect("a known layer");
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let used: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if rank(&used).is_some_and(|r| r > own) {
                found.push((n + 1, line.trim().to_string()));
            }
        }
    }
    found
}

#[test]
fn every_module_lives_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".rs");
        assert!(
            matches!(module, "lib" | "main") || rank(module).is_some(),
            "src/{name} is outside the layers {LAYERS:?}: put it in the one it belongs to"
        );
    }
}

#[test]
fn dependencies_go_down_the_layers_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(layer) = rel.iter().next().and_then(|c| c.to_str()) else {
            continue;
        };
        if rank(layer).is_none() {
            continue; // lib.rs, main.rs
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (line, code) in upward(layer, &text) {
            wrong.push(format!("src/{}:{line}: {code}", rel.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "uses of a higher layer ({}):\n{}",
        LAYERS.join(" < "),
        wrong.join("\n")
    );
    assert!(files.len() > 50, "the walk found the source tree");
}

#[test]
fn the_check_sees_an_upward_use_and_ignores_comments() {
    let text = "use crate::model::spec::JobId;\n// crate::daemon::run in a comment\nfn f() { crate::edge::kube::client(); }\n";
    assert_eq!(
        upward("engine", text),
        vec![(3, "fn f() { crate::edge::kube::client(); }".to_string())]
    );
    assert!(upward("runtime", text).is_empty());
    assert_eq!(upward("model", text).len(), 1);
}
