//! Temporary Git repositories with a history of commits.

use git2::{IndexAddOption, Repository, Signature};
use std::path::Path;
use tempfile::TempDir;

pub struct TestRepo {
    pub dir: TempDir,
    pub repo: Repository,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        TestRepo { dir, repo }
    }

    /// A new repository holding a copy of examples-repo (not committed).
    pub fn examples() -> TestRepo {
        fn copy(repo: &TestRepo, dir: &Path, rel: &str) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let rel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if e.path().is_dir() {
                    copy(repo, &e.path(), &rel);
                } else {
                    repo.write(&rel, &std::fs::read_to_string(e.path()).unwrap());
                }
            }
        }
        let repo = TestRepo::new();
        copy(&repo, &super::repo_root().join("examples-repo"), "");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.path().join(rel)).unwrap();
    }

    /// Commits everything in the work tree; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"].iter(), None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("flinkops-test", "test@flinkops.invalid").unwrap();
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &refs)
            .unwrap()
            .to_string()
    }
}

impl TestRepo {
    /// Replaces the current branch with a new root commit of the work tree: what the
    /// followers of a force-pushed branch see. Returns the commit id.
    pub fn commit_rewriting_history(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("flinkops-test", "test@flinkops.invalid").unwrap();
        let oid = self
            .repo
            .commit(None, &sig, &sig, message, &tree, &[])
            .unwrap();
        let branch = self.repo.head().unwrap().name().unwrap().to_string();
        self.repo
            .reference(&branch, oid, true, "rewrite history")
            .unwrap();
        oid.to_string()
    }
}

impl TestRepo {
    /// `git revert --no-edit COMMIT` with the git command line; returns the new commit id.
    pub fn revert(&self, commit: &str) -> String {
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(self.path())
                .env("GIT_AUTHOR_NAME", "flinkops-test")
                .env("GIT_AUTHOR_EMAIL", "test@flinkops.invalid")
                .env("GIT_COMMITTER_NAME", "flinkops-test")
                .env("GIT_COMMITTER_EMAIL", "test@flinkops.invalid")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["revert", "--no-edit", commit]);
        git(&["rev-parse", "HEAD"])
    }
}
