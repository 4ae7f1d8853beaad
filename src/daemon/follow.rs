//! Following a branch: fetch (remote repositories), resolve, refuse history rewrites, and
//! load the definitions of each new commit once. Any failure keeps the last good commit
//! and catalog and is reported as a condition, so the cluster keeps its last applied state.

use crate::edge::git::remote::Mirror;
use crate::edge::git::{Repo, SourceError};
use crate::model::spec::{self, Catalog};
use std::path::PathBuf;
use std::time::Instant;

/// Why the branch head is not the commit being applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The remote could not be fetched (network, authentication, missing repository).
    Unreachable(String),
    /// The branch or revision does not resolve to a commit.
    BadRevision(String),
    /// The new head does not contain the commit being applied (force-push).
    HistoryRewritten { applied: String, head: String },
}

impl Condition {
    pub fn reason(&self) -> &'static str {
        match self {
            Condition::Unreachable(_) => "Unreachable",
            Condition::BadRevision(_) => "BadRevision",
            Condition::HistoryRewritten { .. } => "HistoryRewritten",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Condition::Unreachable(m) | Condition::BadRevision(m) => m.clone(),
            Condition::HistoryRewritten { applied, head } => format!(
                "the branch was rewritten: its head {} does not contain the applied commit {}; \
                 keeping {} applied (restore the history, or restart flinkops with \
                 --accept-history-rewrite to apply the new head)",
                short(head),
                short(applied),
                short(applied)
            ),
        }
    }
}

use crate::model::escape::short_commit as short;

pub enum Source {
    Local(PathBuf),
    /// `branch: None` until the first fetch learns the remote's default branch.
    Remote {
        mirror: Mirror,
        branch: Option<String>,
    },
}

pub struct Follower {
    pub source: Source,
    /// For a local repository: the rev-spec to follow (`HEAD` or `refs/heads/B`).
    pub rev: String,
    pub path: String,
    pub accept_history_rewrite: bool,
    /// The commit being applied and its definitions.
    pub current: Option<(String, Catalog)>,
    pub condition: Option<Condition>,
}

pub struct Polled {
    /// A new commit was loaded into `current`.
    pub changed: bool,
    pub fetch_seconds: f64,
}

impl Follower {
    /// The branch followed, when known.
    pub fn branch(&self) -> Option<String> {
        match &self.source {
            Source::Remote { branch, .. } => branch.clone(),
            Source::Local(_) => self.rev.strip_prefix("refs/heads/").map(str::to_string),
        }
    }

    /// Fetches (when `fetch` and the repository is remote), resolves the followed branch,
    /// and loads it if it is a new commit that may be applied.
    pub async fn poll(&mut self, fetch: bool) -> Polled {
        let mut fetch_seconds = 0.0;
        let mut condition = None;
        if let Source::Remote { mirror, branch } = &mut self.source {
            if fetch || branch.is_none() {
                let started = Instant::now();
                let (m, b) = (mirror.clone(), branch.clone());
                let fetched = tokio::task::spawn_blocking(move || m.fetch(b.as_deref()))
                    .await
                    .unwrap_or_else(|e| {
                        Err(SourceError::Fetch {
                            url: mirror.display_url(),
                            message: format!("fetch task failed: {e}"),
                        })
                    });
                fetch_seconds = started.elapsed().as_secs_f64();
                match fetched {
                    Ok(head) => {
                        if branch.is_none() {
                            *branch = head.strip_prefix("refs/heads/").map(str::to_string);
                        }
                    }
                    // Keep going with what the mirror already holds (from before, or from
                    // an earlier run): it is the last state we know.
                    Err(e) => condition = Some(Condition::Unreachable(e.to_string())),
                }
            }
        }
        let changed = match self.load() {
            Ok(changed) => changed,
            Err(c) => {
                // A fetch failure explains a missing ref better than the ref error does.
                condition = condition.or(Some(c));
                false
            }
        };
        self.set_condition(condition);
        Polled {
            changed,
            fetch_seconds,
        }
    }

    /// The repository followed (a remote one's local mirror).
    pub fn repo(&self) -> Result<Repo, SourceError> {
        match &self.source {
            Source::Local(path) => Repo::open(path),
            Source::Remote { mirror, .. } => mirror.open(),
        }
    }

    fn load(&mut self) -> Result<bool, Condition> {
        let rev = match &self.source {
            Source::Local(_) => self.rev.clone(),
            Source::Remote { branch, .. } => branch
                .as_ref()
                .map_or("HEAD".into(), |b| format!("refs/heads/{b}")),
        };
        let repo = self
            .repo()
            .map_err(|e| Condition::BadRevision(e.to_string()))?;
        let head = repo
            .resolve(&rev)
            .map_err(|e| Condition::BadRevision(e.to_string()))?;
        if let Some((applied, _)) = &self.current {
            if *applied == head.to_string() {
                return Ok(false);
            }
            let fast_forward = applied
                .parse()
                .is_ok_and(|old| repo.is_fast_forward(old, head));
            if !fast_forward && !self.accept_history_rewrite {
                return Err(Condition::HistoryRewritten {
                    applied: applied.clone(),
                    head: head.to_string(),
                });
            }
        }
        let snapshot = repo
            .snapshot(&head.to_string(), &self.path)
            .map_err(|e| Condition::BadRevision(e.to_string()))?;
        let catalog = spec::load(&snapshot);
        tracing::info!(commit = %snapshot.commit, jobs = catalog.jobs.len(), errors = catalog.errors().len(), "new revision");
        self.current = Some((snapshot.commit, catalog));
        Ok(true)
    }

    fn set_condition(&mut self, condition: Option<Condition>) {
        if condition == self.condition {
            return;
        }
        use crate::runtime::notify::{notify, Notification};
        match &condition {
            Some(c) => {
                tracing::warn!(
                    reason = c.reason(),
                    "git: {}; keeping the last applied state",
                    c.message()
                );
                notify(Notification::new(
                    "GitUnreachable",
                    true,
                    &format!("{}: {}", c.reason(), c.message()),
                ));
            }
            None => {
                tracing::info!("git: the followed branch is readable again");
                notify(Notification::new(
                    "GitReadable",
                    false,
                    "the followed branch is readable again",
                ));
            }
        }
        self.condition = condition;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_rewritten_message_takes_any_commit_string() {
        let c = Condition::HistoryRewritten {
            applied: "0123456789aé€".into(),
            head: "fedcba9876543210".into(),
        };
        assert!(c.message().contains("the applied commit 0123456789aé;"));
    }
}
