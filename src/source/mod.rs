//! Reading job definitions from a Git revision (never the working directory).

use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod remote;

/// A file at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>),
    /// A symbolic link and its target as stored in Git.
    Symlink(String),
}

/// The definition files of one commit, relative to the definitions directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Full commit id.
    pub commit: String,
    pub files: BTreeMap<String, Entry>,
}

impl Snapshot {
    pub fn short_commit(&self) -> &str {
        crate::escape::short_commit(&self.commit)
    }
}

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

    /// Whether `new` has `old` in its history (a fast-forward from `old`), or is `old`.
    pub fn is_fast_forward(&self, old: git2::Oid, new: git2::Oid) -> bool {
        old == new || self.repo.graph_descendant_of(new, old).unwrap_or(false)
    }

    /// The YAML files and symbolic links under `subdir` at `rev`.
    pub fn snapshot(&self, rev: &str, subdir: &str) -> Result<Snapshot, SourceError> {
        let oid = self.resolve(rev)?;
        let commit_id = oid.to_string();
        let subdir = crate::spec::settings::normalize_repo_path(subdir)
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
        let mut wanted: Vec<(String, git2::Oid, bool)> = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(ObjectType::Blob) {
                return TreeWalkResult::Ok;
            }
            let Ok(name) = entry.name() else {
                return TreeWalkResult::Ok;
            };
            let is_link = entry.filemode() == 0o120000;
            if is_link || name.ends_with(".yaml") || name.ends_with(".yml") {
                wanted.push((format!("{dir}{name}"), entry.id(), is_link));
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| read_err("", e.message().to_string()))?;
        let mut files = BTreeMap::new();
        for (path, id, is_link) in wanted {
            let blob = self
                .repo
                .find_blob(id)
                .map_err(|e| read_err(&path, e.message().to_string()))?;
            let entry = if is_link {
                Entry::Symlink(String::from_utf8_lossy(blob.content()).into_owned())
            } else {
                Entry::File(blob.content().to_vec())
            };
            files.insert(path, entry);
        }
        Ok(Snapshot {
            commit: commit_id,
            files,
        })
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
