//! Fixtures for unit tests across modules: snapshots and catalogs from in-memory files.

use crate::model::snapshot::{Entry, Snapshot};

pub fn snapshot(files: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        commit: "c0ffee".repeat(6) + "c0ff",
        files: files
            .iter()
            .map(|(p, t)| (p.to_string(), Entry::File(t.as_bytes().to_vec())))
            .collect(),
    }
}

pub fn catalog(files: &[(&str, &str)]) -> super::Catalog {
    super::load(&snapshot(files))
}
