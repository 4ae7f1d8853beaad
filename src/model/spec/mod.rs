//! Job definitions: reading every definition file of a snapshot into validated `JobSpec`s,
//! with every error found, each naming file, line, column and field. Pure: a snapshot in,
//! a catalog out.

pub mod decode;
pub mod definition;
pub mod error;
pub mod ingress;
pub mod jar_uri;
pub mod kubernetes_keys;
pub mod limits;
pub mod model;
pub mod names;
pub mod operator_keys;
pub mod pod_policy;
pub mod pod_template;
pub mod quantity;
pub mod resource;
pub mod schema;
pub mod settings;
pub mod tenancy;
pub mod yaml;

pub use error::SpecError;
pub use model::*;
pub use settings::{Settings, SETTINGS_FILE};

use crate::model::snapshot::{Entry, Snapshot};
use decode::Cx;
use std::collections::{BTreeMap, BTreeSet};

/// Everything read from one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub settings: Settings,
    /// Errors in the settings file: the repository as a whole did not load, so nothing
    /// may be pruned on its account.
    pub settings_errors: Vec<SpecError>,
    /// Valid jobs.
    pub jobs: BTreeMap<JobId, JobSpec>,
    /// Jobs whose definition is invalid: they keep whatever runs now.
    pub blocked: BTreeMap<JobId, Vec<SpecError>>,
    /// Errors that name no job (a file that is not YAML, a document without a name).
    /// Jobs last seen in these files are treated as blocked, not deleted.
    pub file_errors: BTreeMap<String, Vec<SpecError>>,
    /// Definition files read.
    pub files: Vec<String>,
    /// Files whose path could not even be read (not UTF-8): which jobs they held cannot
    /// be known, so no job's absence is certain while one exists.
    pub unnamed_files: BTreeSet<String>,
}

impl Catalog {
    /// All errors, in file and line order.
    pub fn errors(&self) -> Vec<&SpecError> {
        let mut all: Vec<&SpecError> = self
            .settings_errors
            .iter()
            .chain(self.blocked.values().flatten())
            .chain(self.file_errors.values().flatten())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The errors that name no job (the settings', files that did not load), in the
    /// order a plan lists them.
    pub fn errors_naming_no_job(&self) -> impl Iterator<Item = &SpecError> {
        self.settings_errors
            .iter()
            .chain(self.file_errors.values().flatten())
    }

    pub fn is_valid(&self) -> bool {
        self.settings_errors.is_empty() && self.blocked.is_empty() && self.file_errors.is_empty()
    }

    /// Whether a job that is absent here may really be gone (rather than hidden by a
    /// broken file or settings).
    pub fn absence_is_certain(&self, last_seen_in: &str) -> bool {
        self.settings_errors.is_empty()
            && self.unnamed_files.is_empty()
            && !self.file_errors.contains_key(last_seen_in)
    }

    /// The errors that keep a job absent from this catalog from being deleted (empty when
    /// its absence is certain).
    pub fn absence_errors(&self, last_seen_in: &str) -> Vec<SpecError> {
        if !self.settings_errors.is_empty() {
            return self.settings_errors.clone();
        }
        if let Some(errors) = self.file_errors.get(last_seen_in) {
            return errors.clone();
        }
        self.unnamed_files
            .iter()
            .filter_map(|f| self.file_errors.get(f))
            .flatten()
            .cloned()
            .collect()
    }

    pub fn broken_files(&self) -> BTreeSet<&str> {
        self.file_errors.keys().map(String::as_str).collect()
    }
}

/// Reads the settings file and every definition under its roots.
pub fn load(snapshot: &Snapshot) -> Catalog {
    let mut catalog = Catalog::default();
    if let Some(entry) = snapshot.files.get(SETTINGS_FILE) {
        let mut cx = Cx::new(SETTINGS_FILE);
        match text_of(snapshot, SETTINGS_FILE, entry) {
            Ok(text) => match yaml::parse_documents(&text) {
                Ok(docs) if docs.len() > 1 => cx.error(
                    yaml::Pos { line: 1, col: 1 },
                    "",
                    "the settings file holds one document",
                ),
                Ok(docs) => {
                    if let Some(doc) = docs.first() {
                        catalog.settings = settings::decode_settings(&mut cx, &doc.root);
                    }
                }
                Err(e) => cx.error(e.pos, "", yaml_message(&e)),
            },
            Err(e) => cx.error(yaml::Pos { line: 1, col: 1 }, "", e),
        }
        catalog.settings_errors = cx.errors;
    }

    let mut seen: BTreeMap<JobId, Vec<(String, yaml::Pos)>> = BTreeMap::new();
    // Every document that decoded without errors, a second definition of a job included:
    // the checks across files still run on each, so that being defined twice does not
    // hide a document's other errors.
    let mut valid: Vec<JobSpec> = Vec::new();
    let paths: Vec<&String> = snapshot
        .files
        .keys()
        .filter(|p| is_definition_path(p, &catalog.settings.roots))
        .collect();
    for path in paths {
        catalog.files.push(path.clone());
        if let Entry::Unreadable { named: false, .. } = &snapshot.files[path] {
            catalog.unnamed_files.insert(path.clone());
        }
        let mut cx = Cx::new(path);
        let text = match text_of(snapshot, path, &snapshot.files[path]) {
            Ok(t) => t,
            Err(e) => {
                cx.error(yaml::Pos { line: 1, col: 1 }, "", e);
                catalog.file_errors.insert(path.clone(), cx.errors);
                continue;
            }
        };
        let docs = match yaml::parse_documents(&text) {
            Ok(d) => d,
            Err(e) => {
                cx.error(e.pos, "", yaml_message(&e));
                catalog.file_errors.insert(path.clone(), cx.errors);
                continue;
            }
        };
        let owner = tenancy::ownership(catalog.settings.teams.as_deref(), path);
        for doc in &docs {
            let before = cx.errors.len();
            let decoded =
                definition::decode_document(&mut cx, &doc.root, &catalog.settings, &owner);
            let errors: Vec<SpecError> = cx.errors.drain(before..).collect();
            match decoded.id {
                Some(id) => {
                    seen.entry(id.clone())
                        .or_default()
                        .push((path.clone(), decoded.pos));
                    if let Some(spec) = decoded.spec {
                        valid.push(spec);
                    } else {
                        catalog.blocked.entry(id).or_default().extend(errors);
                    }
                }
                None => catalog
                    .file_errors
                    .entry(path.clone())
                    .or_default()
                    .extend(errors),
            }
        }
    }
    check_duplicates(&mut catalog, &seen);
    let mut duplicates = Vec::new();
    for spec in valid {
        if seen.get(&spec.id).is_some_and(|places| places.len() > 1) {
            duplicates.push(spec);
        } else {
            catalog.jobs.insert(spec.id.clone(), spec);
        }
    }
    check_session_clusters(&mut catalog, &duplicates);
    catalog
}

fn yaml_message(e: &yaml::YamlError) -> String {
    if e.syntax {
        format!("YAML syntax: {}", e.message)
    } else {
        e.message.clone()
    }
}

fn text_of(snapshot: &Snapshot, path: &str, entry: &Entry) -> Result<String, String> {
    let bytes = match entry {
        Entry::File(b) => b,
        Entry::Unreadable { reason, named } => {
            return Err(if *named {
                reason.clone()
            } else {
                format!("{reason}; until it can be read, no job is deleted (flinkops cannot tell which jobs it holds)")
            })
        }
        Entry::Symlink(target) => {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            let joined = if dir.is_empty() {
                target.clone()
            } else {
                format!("{dir}/{target}")
            };
            let resolved = settings::normalize_repo_path(&joined)
                .map_err(|_| format!("symbolic link to `{target}` escapes the repository"))?;
            match snapshot.files.get(&resolved) {
                Some(Entry::File(b)) => b,
                Some(Entry::Unreadable { reason, .. }) => {
                    return Err(format!("symbolic link to `{target}`: {reason}"))
                }
                _ => {
                    return Err(format!(
                        "symbolic link to `{target}` does not point to a file in this revision"
                    ))
                }
            }
        }
    };
    if bytes.len() > limits::MAX_FILE_BYTES {
        return Err(limits::too_large(bytes.len()));
    }
    String::from_utf8(bytes.clone()).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// YAML files under a root, skipping hidden files and folders (CI configuration and the
/// like) and the settings file itself.
pub fn is_definition_path(path: &str, roots: &[String]) -> bool {
    if path == SETTINGS_FILE || !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return false;
    }
    if path.split('/').any(|part| part.starts_with('.')) {
        return false;
    }
    roots.iter().any(|root| {
        root.is_empty()
            || path
                .strip_prefix(root.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// A job defined more than once is blocked, with an error at each definition's name.
fn check_duplicates(catalog: &mut Catalog, seen: &BTreeMap<JobId, Vec<(String, yaml::Pos)>>) {
    for (id, places) in seen {
        if places.len() < 2 {
            continue;
        }
        let list: Vec<String> = places
            .iter()
            .map(|(f, p)| format!("{f}:{}", p.line))
            .collect();
        let errors = catalog.blocked.entry(id.clone()).or_default();
        for (file, pos) in places {
            errors.push(SpecError {
                file: file.clone(),
                line: pos.line,
                column: pos.col,
                field: "metadata.name".into(),
                message: format!("{id} is defined more than once: {}", list.join(", ")),
            });
        }
    }
}

/// Each session job's cluster must be a session cluster defined in its namespace: checked
/// for every valid job and for each definition of a job defined more than once
/// (`duplicates`), whose errors are reported with the duplicate's.
fn check_session_clusters(catalog: &mut Catalog, duplicates: &[JobSpec]) {
    let mut bad: Vec<(JobId, SpecError)> = Vec::new();
    for spec in catalog.jobs.values().chain(duplicates) {
        let Some(cluster) = &spec.session_cluster else {
            continue;
        };
        let target = JobId {
            namespace: spec.id.namespace.clone(),
            name: cluster.clone(),
        };
        let problem = match catalog.jobs.get(&target) {
            Some(t) if t.kind == JobKind::SessionCluster => None,
            Some(_) => Some(format!(
                "{target} is an application deployment (it has a job), not a session cluster"
            )),
            // A cluster whose own definition is broken still exists; its jobs plan as usual.
            None if catalog.blocked.contains_key(&target) => None,
            None => Some(format!(
                "session cluster {target} is not defined (a FlinkDeployment without job, or a FlinkCluster, in namespace {})",
                target.namespace
            )),
        };
        if let Some(message) = problem {
            bad.push((
                spec.id.clone(),
                SpecError {
                    file: spec.source.file.clone(),
                    line: spec.source.cluster_ref.map_or(spec.source.line, |r| r.0),
                    column: spec.source.cluster_ref.map_or(1, |r| r.1),
                    field: if spec.written_as.ends_with("FlinkApplication") {
                        "spec.flinkCluster.name".into()
                    } else {
                        "spec.deploymentName".into()
                    },
                    message,
                },
            ));
        }
    }
    for (id, err) in bad {
        catalog.jobs.remove(&id);
        catalog.blocked.entry(id).or_default().push(err);
    }
}

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;
