//! What happens to a job: the plan's verdict, and what an upgrade in flight carries out.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    None,
    Create,
    Delete,
    /// Kubernetes-only change: the running job is not restarted.
    Update,
    SavepointUpgrade,
    LastStateUpgrade,
    StatelessUpgrade,
    /// `savepointRedeployNonce` changed: restart from `initialSavepointPath`, discarding
    /// the current state.
    Redeploy,
    /// A session cluster whose pods are replaced (its session jobs are upgraded too).
    Restart,
    Suspend,
    Resume,
    /// Back to the last stable spec after the new one failed to run (automatic).
    Rollback,
    /// The definition is invalid: whatever runs is left as it is.
    Error,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Update => "update",
            Action::SavepointUpgrade => "savepoint-upgrade",
            Action::LastStateUpgrade => "last-state-upgrade",
            Action::StatelessUpgrade => "stateless-upgrade",
            Action::Redeploy => "redeploy",
            Action::Restart => "restart",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Rollback => "rollback",
            Action::Error => "error",
        }
    }

    pub const ALL: [Action; 13] = [
        Action::None,
        Action::Create,
        Action::Delete,
        Action::Update,
        Action::SavepointUpgrade,
        Action::LastStateUpgrade,
        Action::StatelessUpgrade,
        Action::Redeploy,
        Action::Restart,
        Action::Suspend,
        Action::Resume,
        Action::Rollback,
        Action::Error,
    ];

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the running Flink job stops and starts again.
    pub fn restarts_job(self) -> bool {
        matches!(
            self,
            Action::SavepointUpgrade
                | Action::LastStateUpgrade
                | Action::StatelessUpgrade
                | Action::Redeploy
                | Action::Restart
                | Action::Rollback
        )
    }
}
