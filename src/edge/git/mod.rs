//! Reading job definitions from a Git revision (never the working directory).

use crate::model::spec::limits::{MAX_FILES, MAX_FILE_BYTES};
use git2::{ObjectType, Repository};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod remote;

pub use crate::model::snapshot::{Entry, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0} is not a Git repository: flinkops reads committed revisions, not the working directory.\n  hint: point --repo at the repository root (the directory holding .git) and use --path for a subdirectory, or run `git init && git add -A && git commit -m init` there")]
    NotARepository(PathBuf),
    #[error("cannot open Git repository {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("revision `{rev}` not found in {path}: {message}")]
    BadRevision {
        rev: String,
        path: PathBuf,
        message: String,
    },
    #[error("--path `{0}` must be a relative path inside the repository")]
    BadSubdir(String),
    #[error("--path `{subdir}` is not a directory at {commit}")]
    MissingSubdir { subdir: String, commit: String },
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("git credentials: {message}")]
    Credentials { message: String },
    #[error("{commit} has more than {limit} YAML files and links under the definitions path; flinkops reads at most {limit} (see docs/security.md, Limits)")]
    TooManyFiles { commit: String, limit: usize },
    #[error("reading {path} at {commit}: {message}")]
    Read {
        path: String,
        commit: String,
        message: String,
    },
}

pub struct Repo {
    repo: Repository,
    path: PathBuf,
}

impl Repo {
    /// Opens the repository whose root (or bare directory) is `path`.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        match Repository::open(path) {
            Ok(repo) => Ok(Repo {
                repo,
                path: path.to_path_buf(),
            }),
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                Err(SourceError::NotARepository(path.to_path_buf()))
            }
            Err(e) => Err(SourceError::Open {
                path: path.to_path_buf(),
                message: e.message().to_string(),
            }),
        }
    }

    /// The .git directory (or the bare repository), where refs move on a new commit.
    pub fn git_dir(&self) -> PathBuf {
        self.repo.path().to_path_buf()
    }

    /// Resolves any rev-spec git understands (branch, tag, sha, `HEAD~1`) to a commit id.
    pub fn resolve(&self, rev: &str) -> Result<git2::Oid, SourceError> {
        let bad = |message: String| SourceError::BadRevision {
            rev: rev.to_string(),
            path: self.path.clone(),
            message,
        };
        let obj = self
            .repo
            .revparse_single(rev)
            .map_err(|e| bad(e.message().to_string()))?;
        let commit = obj.peel_to_commit().map_err(|_| {
            bad(format!(
                "it names a {}, not a commit",
                kind_name(obj.kind())
            ))
        })?;
        Ok(commit.id())
    }

    /// Whether commit `c` includes `ancestor` (is it or descends from it); `None` when `c`
    /// is not a commit in this repository.
    pub fn includes(&self, c: &str, ancestor: git2::Oid) -> Option<bool> {
        let oid = c.parse().ok()?;
        self.repo.find_commit(oid).ok()?;
        Some(self.is_fast_forward(ancestor, oid))
    }

    /// The first parent of a commit (`None` for a root commit).
    pub fn first_parent(&self, c: git2::Oid) -> Option<git2::Oid> {
        self.repo.find_commit(c).ok()?.parent_id(0).ok()
    }

    /// The definitions of `c`'s first parent: what `c` changes is measured against them.
    /// Empty for a root commit (everything in it is new).
    pub fn parent_snapshot(&self, c: git2::Oid, subdir: &str) -> Result<Snapshot, SourceError> {
        match self.first_parent(c) {
            Some(p) => self.snapshot(&p.to_string(), subdir),
            None => Ok(Snapshot::default()),
        }
    }

    /// Whether `new` has `old` in its history (a fast-forward from `old`), or is `old`.
    pub fn is_fast_forward(&self, old: git2::Oid, new: git2::Oid) -> bool {
        old == new || self.repo.graph_descendant_of(new, old).unwrap_or(false)
    }

    /// The YAML files and symbolic links under `subdir` at `rev`.
    pub fn snapshot(&self, rev: &str, subdir: &str) -> Result<Snapshot, SourceError> {
        let oid = self.resolve(rev)?;
        let commit_id = oid.to_string();
        let subdir = crate::model::spec::settings::normalize_repo_path(subdir)
            .map_err(|_| SourceError::BadSubdir(subdir.to_string()))?;
        let read_err = |path: &str, message: String| SourceError::Read {
            path: path.to_string(),
            commit: commit_id.clone(),
            message,
        };
        let commit = self
            .repo
            .find_commit(oid)
            .map_err(|e| read_err("", e.message().to_string()))?;
        let mut tree = commit
            .tree()
            .map_err(|e| read_err("", e.message().to_string()))?;
        if !subdir.is_empty() {
            let entry =
                tree.get_path(Path::new(&subdir))
                    .map_err(|_| SourceError::MissingSubdir {
                        subdir: subdir.clone(),
                        commit: commit_id.clone(),
                    })?;
            tree = entry
                .to_object(&self.repo)
                .and_then(|o| o.peel_to_tree())
                .map_err(|_| SourceError::MissingSubdir {
                    subdir: subdir.clone(),
                    commit: commit_id.clone(),
                })?;
        }
        let wanted = self
            .list(tree)
            .map_err(|e| read_err("", e.message().to_string()))?;
        if wanted.len() > MAX_FILES {
            return Err(SourceError::TooManyFiles {
                commit: commit_id,
                limit: MAX_FILES,
            });
        }
        let mut files = BTreeMap::new();
        for w in wanted {
            let entry = if !w.named {
                Entry::Unreadable {
                    reason: "the file name is not UTF-8 text; rename it".into(),
                    named: false,
                }
            } else {
                self.read_entry(w.id, w.is_link)
            };
            files.insert(w.path, entry);
        }
        Ok(Snapshot {
            commit: commit_id,
            files,
        })
    }
}

/// A blob found by `Repo::list`.
struct Listed {
    path: String,
    id: git2::Oid,
    is_link: bool,
    /// Every part of the path is UTF-8 (else `path` is a lossy rendering).
    named: bool,
}

impl Repo {
    /// The YAML files and symbolic links of a tree, with their repository paths. Walked
    /// by hand (not `Tree::walk`, which stops at a directory name that is not UTF-8) so
    /// that a name flinkops cannot read is listed as such rather than skipped or failing
    /// the whole revision.
    fn list(&self, tree: git2::Tree<'_>) -> Result<Vec<Listed>, git2::Error> {
        let mut out = Vec::new();
        let mut pending = vec![(String::new(), true, tree)];
        while let Some((dir, dir_named, tree)) = pending.pop() {
            for entry in tree.iter() {
                let (name, named) = match entry.name() {
                    Ok(n) => (n.to_string(), dir_named),
                    Err(_) => (
                        String::from_utf8_lossy(entry.name_bytes()).into_owned(),
                        false,
                    ),
                };
                let path = format!("{dir}{name}");
                match entry.kind() {
                    Some(ObjectType::Tree) => {
                        let sub = entry.to_object(&self.repo)?.peel_to_tree()?;
                        pending.push((format!("{path}/"), named, sub));
                    }
                    Some(ObjectType::Blob) => {
                        let bytes = entry.name_bytes();
                        let is_link = entry.filemode() == 0o120000;
                        if is_link || bytes.ends_with(b".yaml") || bytes.ends_with(b".yml") {
                            out.push(Listed {
                                path,
                                id: entry.id(),
                                is_link,
                                named,
                            });
                        }
                    }
                    // Submodules: not part of this repository's content.
                    _ => {}
                }
                if out.len() > MAX_FILES {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// A blob's content, its size checked from the object header before it is read.
    fn read_entry(&self, id: git2::Oid, is_link: bool) -> Entry {
        let unreadable = |reason: String| Entry::Unreadable {
            reason,
            named: true,
        };
        let size = match self.repo.odb().and_then(|odb| odb.read_header(id)) {
            Ok((size, _)) => size,
            Err(e) => return unreadable(format!("cannot read the file: {}", e.message())),
        };
        if size > MAX_FILE_BYTES {
            return unreadable(crate::model::spec::limits::too_large(size));
        }
        match self.repo.find_blob(id) {
            Ok(blob) if is_link => match std::str::from_utf8(blob.content()) {
                Ok(target) => Entry::Symlink(target.to_string()),
                Err(_) => unreadable("the symbolic link's target is not UTF-8 text".into()),
            },
            Ok(blob) => Entry::File(blob.content().to_vec()),
            Err(e) => unreadable(format!("cannot read the file: {}", e.message())),
        }
    }
}

fn kind_name(kind: Option<ObjectType>) -> &'static str {
    match kind {
        Some(ObjectType::Tree) => "tree",
        Some(ObjectType::Blob) => "blob",
        Some(ObjectType::Tag) => "tag",
        _ => "object",
    }
}
