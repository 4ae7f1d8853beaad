//! What only the cluster knows about a job a plan changes (`diff --live`, `diff
//! --cluster`): the age of its latest checkpoint (what a last-state restore replays), its
//! last savepoint, how long its last restart took (the downtime to expect), and an upgrade
//! in flight that the change would queue behind. Pure: a ledger and a checkpoint's time in,
//! facts and their text out.

use crate::model::ledger::Ledger;
use crate::model::time::Timestamp;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    /// Seconds since the latest completed checkpoint (as its JobManager says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_age_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<String>,
    /// When it was taken (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_savepoint_at: Option<Timestamp>,
    /// Seconds its last restart took, from the step's start to RUNNING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_restart_seconds: Option<u64>,
    /// The upgrade in flight this change waits for: action, target commit, phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_in_flight: Option<String>,
}

impl Live {
    pub fn is_empty(&self) -> bool {
        *self == Live::default()
    }
}

/// The facts of a job from its ledger and, when its JobManager told, the time of its
/// latest completed checkpoint (`checkpoint_ms`, Unix milliseconds) at `now_ms`.
pub fn facts(ledger: &Ledger, checkpoint_ms: Option<u64>, now_ms: u64) -> Live {
    let last = ledger.savepoints.last();
    Live {
        checkpoint_age_seconds: checkpoint_ms.map(|at| now_ms.saturating_sub(at) / 1000),
        last_savepoint: last.map(|s| s.path.clone()),
        last_savepoint_at: last.map(|s| s.at),
        last_restart_seconds: ledger.history.iter().rev().find_map(|h| h.seconds),
        upgrade_in_flight: ledger.upgrade.as_ref().map(|u| {
            format!(
                "{} to {} ({:?})",
                u.action,
                crate::model::escape::short_commit(&u.target_commit),
                u.phase
            )
        }),
    }
}

/// One line for people (unescaped: each output escapes it as it needs).
pub fn text(l: &Live) -> String {
    let mut parts = Vec::new();
    if let Some(age) = l.checkpoint_age_seconds {
        parts.push(format!("latest checkpoint {age} s old"));
    }
    if let Some(s) = &l.last_savepoint {
        parts.push(match &l.last_savepoint_at {
            Some(at) => format!("last savepoint {s} at {at}"),
            None => format!("last savepoint {s}"),
        });
    }
    if let Some(secs) = l.last_restart_seconds {
        parts.push(format!("its last restart took {secs} s"));
    }
    if let Some(u) = &l.upgrade_in_flight {
        parts.push(format!("waits for the {u} in flight"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::upgrade::SavepointRecord;
    use crate::model::ledger::HistoryEntry;

    #[test]
    fn facts_come_from_the_ledger_and_the_checkpoint_time() {
        let mut l = Ledger::default();
        assert!(facts(&l, None, 0).is_empty());
        assert_eq!(text(&facts(&l, None, 0)), "");
        l.savepoints.push(SavepointRecord {
            path: "s3://b/sp-1".into(),
            commit: "c1".into(),
            reason: "upgrade".into(),
            at: crate::model::time::Timestamp::parse("2026-11-26T10:00:00Z").unwrap(),
        });
        for seconds in [Some(42), None, Some(7), None] {
            l.history.push(HistoryEntry {
                seconds,
                ..Default::default()
            });
        }
        let f = facts(&l, Some(1_000), 9_500);
        assert_eq!(f.checkpoint_age_seconds, Some(8));
        assert_eq!(
            f.last_restart_seconds,
            Some(7),
            "the latest measured restart"
        );
        assert_eq!(
            text(&f),
            "latest checkpoint 8 s old; last savepoint s3://b/sp-1 at 2026-11-26T10:00:00Z; its last restart took 7 s"
        );
        // A clock behind the JobManager's is no negative age.
        assert_eq!(
            facts(&l, Some(10_000), 9_000).checkpoint_age_seconds,
            Some(0)
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["checkpointAgeSeconds"], 8);
        assert!(v.get("upgradeInFlight").is_none());
    }
}
