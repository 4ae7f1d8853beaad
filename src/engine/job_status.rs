//! A job's status as people read it: the JSON of `status -o json` and `/status.json`, and
//! an upgrade in flight in a few words.

use crate::model::escape::short_commit as short;
use crate::model::ledger::Ledger;

/// One job's status as JSON (`status -o json`, the daemon's `/status.json`).
pub fn job_json(namespace: &str, name: &str, l: &Ledger) -> serde_json::Value {
    serde_json::json!({
        "namespace": namespace,
        "name": name,
        // A job on its way to its first deployment has only its upgrade's target.
        "kind": l
            .spec
            .as_ref()
            .or(l.upgrade.as_ref().map(|u| &u.target_spec))
            .map(|s| s.kind.as_str()),
        "commit": l.applied_commit,
        "source": l.source,
        "health": l.health,
        "healthReason": l.health_reason,
        "flinkState": l.flink_state,
        "lastError": l.last_error,
        "lastSavepoint": l.savepoints.last(),
        "restoreFrom": l.restore_from,
        "upgrade": l.upgrade.as_ref().map(|u| serde_json::json!({
            "action": u.action,
            "phase": u.phase,
            "targetCommit": u.target_commit,
            "restoreFrom": u.restore_from,
            "failures": u.failures,
            "startedAt": u.started_at,
        })),
        "failed": l.failed,
        // A tombstone: removed from Git, its savepoint lineage kept.
        "removed": l.removed,
    })
}

/// An upgrade in flight, in a few words: `savepoint-upgrade to 1a2b3c4d5e6f (Stopping)`.
pub fn upgrade_text(u: &crate::model::upgrade::Upgrade) -> String {
    format!(
        "{} to {} ({:?})",
        u.action,
        short(&u.target_commit),
        u.phase
    )
}
