//! A job's lineage, as `flinkops history` shows it: every commit applied to it, when, by
//! which action, the savepoint or checkpoint its state came in from and the savepoint it
//! went out with, and the outcome; its savepoints; its removal. All of it is in the job's
//! ledger, which outlives the job's removal from Git (its tombstone). Pure: a ledger in,
//! a view out. Everything in a ledger is untrusted text (escaped in `text`).

use crate::engine::upgrade::SavepointRecord;
use crate::model::escape::{short_commit, terminal};
use crate::model::ledger::{Health, HistoryEntry, Ledger, Removal};
use crate::model::spec::JobId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// NAMESPACE/NAME.
    pub job: String,
    /// The commit applied now (the last one before removal, for a removed job).
    pub applied_commit: String,
    pub health: Health,
    /// What the running version started from.
    pub restore_from: Option<String>,
    pub removed: Option<Removal>,
    /// The ledger's history, oldest first (the newest `HISTORY_LIMIT` are kept).
    pub steps: Vec<HistoryEntry>,
    /// Oldest first.
    pub savepoints: Vec<SavepointRecord>,
}

pub fn lineage(id: &JobId, ledger: &Ledger) -> Lineage {
    Lineage {
        job: id.to_string(),
        applied_commit: ledger.applied_commit.clone(),
        health: ledger.health,
        restore_from: ledger.restore_from.clone(),
        removed: ledger.removed.clone(),
        steps: ledger.history.clone(),
        savepoints: ledger.savepoints.clone(),
    }
}

/// What a path is, from the savepoints recorded: "savepoint of <commit> (<reason>)", or a
/// checkpoint (Flink names them `chk-N`), or the path alone.
fn what(l: &Lineage, path: &str) -> String {
    let shown = terminal(path);
    match l.savepoints.iter().find(|s| s.path == path) {
        Some(s) => format!(
            "{shown}  (savepoint of {}, {})",
            terminal(short_commit(&s.commit)),
            terminal(&s.reason)
        ),
        None if path.contains("/chk-") => format!("{shown}  (checkpoint)"),
        None => shown.into_owned(),
    }
}

/// For the terminal: one block per step, newest last, then the savepoints.
pub fn text(l: &Lineage) -> String {
    let mut out = format!("{}\n", terminal(&l.job));
    match &l.removed {
        Some(r) => out.push_str(&format!(
            "  removed from Git at {} ({}); its last state stays below\n",
            r.at,
            terminal(short_commit(&r.commit))
        )),
        None => out.push_str(&format!(
            "  at {} ({:?})\n",
            terminal(short_commit(&l.applied_commit)),
            l.health
        )),
    }
    if l.steps.is_empty() {
        out.push_str("\nno steps recorded\n");
    }
    for s in &l.steps {
        out.push_str(&format!(
            "\n{}  {}  {}\n",
            s.at,
            terminal(short_commit(&s.commit)),
            terminal(&s.action)
        ));
        if let Some(p) = &s.state_out {
            out.push_str(&format!("  state out: {}\n", what(l, p)));
        }
        if let Some(p) = &s.state_in {
            out.push_str(&format!("  state in:  {}\n", what(l, p)));
        }
        out.push_str(&format!("  {}\n", terminal(&s.result)));
        if let Some(secs) = s.seconds {
            out.push_str(&format!("  took {secs} s from its start to RUNNING\n"));
        }
    }
    if !l.savepoints.is_empty() {
        out.push_str("\nsavepoints (oldest first):\n");
        for s in &l.savepoints {
            out.push_str(&format!(
                "  {}  {}  {:<8}  {}\n",
                s.at,
                terminal(short_commit(&s.commit)),
                terminal(&s.reason),
                terminal(&s.path)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        commit: &str,
        action: &str,
        state_in: Option<&str>,
        state_out: Option<&str>,
    ) -> HistoryEntry {
        HistoryEntry {
            commit: commit.into(),
            spec_hash: "h".into(),
            action: action.into(),
            at: crate::model::time::Timestamp::from_unix(1_795_600_800 + commit.len() as u64 % 10),
            result: format!("{action} done"),
            state_in: state_in.map(str::to_string),
            state_out: state_out.map(str::to_string),
            seconds: None,
        }
    }

    fn savepoint(path: &str, commit: &str, reason: &str) -> SavepointRecord {
        SavepointRecord {
            path: path.into(),
            commit: commit.into(),
            reason: reason.into(),
            at: crate::model::time::Timestamp::parse("2026-11-26T10:00:05Z").unwrap(),
        }
    }

    fn id() -> JobId {
        JobId {
            namespace: "streaming".into(),
            name: "orders".into(),
        }
    }

    #[test]
    fn each_step_says_what_carried_the_state_in_and_out() {
        let sp = "s3://b/savepoints/savepoint-aaaa";
        let ledger = Ledger {
            applied_commit: "c2c2c2c2c2c2".into(),
            health: Health::Healthy,
            restore_from: Some(sp.into()),
            history: vec![
                step("c1c1c1c1c1c1", "create", None, None),
                HistoryEntry {
                    seconds: Some(37),
                    ..step("c2c2c2c2c2c2", "savepoint-upgrade", Some(sp), Some(sp))
                },
                step(
                    "c3c3c3c3c3c3",
                    "last-state-upgrade",
                    Some("s3://b/chk/x/chk-7"),
                    None,
                ),
            ],
            savepoints: vec![savepoint(sp, "c1c1c1c1c1c1", "upgrade")],
            ..Default::default()
        };
        let l = lineage(&id(), &ledger);
        assert_eq!(l.steps.len(), 3);
        let text = text(&l);
        assert!(
            text.starts_with("streaming/orders\n  at c2c2c2c2c2c2 (Healthy)\n"),
            "{text}"
        );
        assert!(
            text.contains("savepoint-upgrade\n  state out: s3://b/savepoints/savepoint-aaaa  (savepoint of c1c1c1c1c1c1, upgrade)\n  state in:  s3://b/savepoints/savepoint-aaaa  (savepoint of c1c1c1c1c1c1, upgrade)\n"),
            "{text}"
        );
        assert!(
            text.contains("savepoint-upgrade done\n  took 37 s from its start to RUNNING\n"),
            "{text}"
        );
        assert_eq!(text.matches("took ").count(), 1, "{text}");
        assert!(
            text.contains("state in:  s3://b/chk/x/chk-7  (checkpoint)"),
            "{text}"
        );
        // The create step carried nothing.
        let create = text.split("\n\n").find(|b| b.contains("create")).unwrap();
        assert!(!create.contains("state"), "{create}");
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["steps"][1]["stateOut"], sp);
        assert_eq!(json["steps"][0]["stateIn"], serde_json::Value::Null);
        assert_eq!(json["savepoints"][0]["reason"], "upgrade");
    }

    #[test]
    fn a_removed_job_shows_its_removal_and_keeps_its_lineage() {
        let ledger = Ledger {
            applied_commit: "c1".into(),
            history: vec![step("c1", "create", None, None)],
            savepoints: vec![savepoint("file:/sp/1", "c1", "removal")],
            removed: Some(Removal {
                commit: "c9c9c9c9c9".into(),
                at: crate::model::time::Timestamp::parse("2026-11-26T11:00:00Z").unwrap(),
            }),
            ..Default::default()
        };
        let text = text(&lineage(&id(), &ledger));
        assert!(
            text.contains("removed from Git at 2026-11-26T11:00:00Z (c9c9c9c9c9)"),
            "{text}"
        );
        assert!(
            text.contains(
                "savepoints (oldest first):\n  2026-11-26T10:00:05Z  c1  removal   file:/sp/1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn ledger_text_cannot_forge_lines_or_colour_the_terminal() {
        let evil = "x\n\nfake  0000000  create\n\u{1b}[31mred";
        let ledger = Ledger {
            history: vec![HistoryEntry {
                result: evil.into(),
                action: evil.into(),
                ..step("c1", "create", Some(evil), Some(evil))
            }],
            savepoints: vec![savepoint(evil, evil, evil)],
            ..Default::default()
        };
        let text = text(&lineage(&id(), &ledger));
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(!text.contains("\nfake"), "{text:?}");
    }
}
