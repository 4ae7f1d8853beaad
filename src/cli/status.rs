//! `flinkops status`: the daemon's own status and every job's ledger, as a table or JSON;
//! and `status --wait COMMIT`, which follows the ledgers through watches until every job
//! the commit changes is live, or one failed, or time runs out.

use crate::cli::{EXIT_ERROR, EXIT_OK};
use crate::edge::git::Repo;
use crate::edge::kube::cache::{self, Cache};
use crate::edge::kube::daemon_status::{self, DaemonStatus};
use crate::engine::render;
use crate::engine::wait::{self, Verdict};
use crate::model::escape::{short_commit as short, terminal};
use crate::model::ledger::{Ledger, LEDGER_COMPONENT};
use crate::model::spec::{self, JobId};
use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

/// `status --wait` gave up waiting: the commit is not (yet) live.
pub const EXIT_TIMEOUT: i32 = 2;

pub struct Where<'a> {
    pub namespaces: &'a [String],
    pub state_namespace: &'a str,
    pub instance: &'a str,
}

type Row = (String, String, Result<Ledger, String>);

async fn rows(client: &kube::Client, namespaces: &[String]) -> Result<Vec<Row>> {
    let selector = format!(
        "{}={},{}={LEDGER_COMPONENT}",
        render::LABEL_MANAGED_BY,
        render::MANAGER,
        render::LABEL_COMPONENT
    );
    let lp = kube::api::ListParams::default().labels(&selector);
    let apis: Vec<kube::Api<ConfigMap>> = if namespaces.is_empty() {
        vec![kube::Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| kube::Api::namespaced(client.clone(), ns))
            .collect()
    };
    let mut rows = Vec::new();
    for api in apis {
        for cm in api.list(&lp).await.context("listing ledgers")? {
            let ns = cm.metadata.namespace.clone().unwrap_or_default();
            let job = cm
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(render::LABEL_JOB).cloned())
                .unwrap_or_default();
            let ledger = Ledger::from_data(&cm.data.clone().unwrap_or_default());
            rows.push((ns, job, ledger));
        }
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(rows)
}

/// The readable ledgers in `namespaces` (all when empty), by job; an unreadable one is
/// left out with a warning (`status` shows it as such).
pub async fn ledgers(
    client: &kube::Client,
    namespaces: &[String],
) -> Result<BTreeMap<JobId, Ledger>> {
    Ok(rows(client, namespaces)
        .await?
        .into_iter()
        .filter_map(|(namespace, name, l)| match l {
            Ok(l) => Some((JobId { namespace, name }, l)),
            Err(e) => {
                tracing::warn!(job = %format!("{namespace}/{name}"), error = %e, "unreadable ledger left out");
                None
            }
        })
        .collect())
}

/// The daemon's status, if one is written and readable by us (RBAC may say no).
async fn daemon(client: &kube::Client, w: &Where<'_>) -> Option<Result<DaemonStatus, String>> {
    match daemon_status::read(client, w.state_namespace, w.instance).await {
        Ok(s) => s,
        Err(kube::Error::Api(e)) if e.code == 403 => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

pub use crate::engine::job_status::{job_json, upgrade_text};

/// The daemon's status in two lines; what it holds is read from the cluster, so each
/// field goes through `escape::terminal`.
fn daemon_line(d: &Result<DaemonStatus, String>) -> String {
    match d {
        Err(e) => format!("daemon: unreadable status: {}", terminal(e)),
        Ok(d) => {
            let mut line = format!(
                "daemon: {}{} at {} (written by {})",
                terminal(&d.repo),
                d.branch
                    .as_deref()
                    .map(|b| format!(" {}", terminal(b)))
                    .unwrap_or_default(),
                terminal(short(&d.commit)),
                terminal(&d.writer)
            );
            match &d.condition {
                Some(c) => line.push_str(&format!(
                    "\n  git: {} since {}: {}",
                    terminal(&c.reason),
                    terminal(&c.since),
                    terminal(&c.message)
                )),
                None => line.push_str("\n  git: ok"),
            }
            line
        }
    }
}

pub async fn show(client: &kube::Client, w: &Where<'_>, json: bool) -> Result<i32> {
    let rows = rows(client, w.namespaces).await?;
    let daemon = daemon(client, w).await;
    let mut out = std::io::stdout().lock();
    if json {
        let jobs: Vec<serde_json::Value> = rows
            .iter()
            .map(|(ns, job, l)| match l {
                Ok(l) => job_json(ns, job, l),
                Err(e) => serde_json::json!({"namespace": ns, "name": job, "error": e}),
            })
            .collect();
        let daemon = match daemon {
            Some(Ok(d)) => serde_json::to_value(d)?,
            Some(Err(e)) => serde_json::json!({ "error": e }),
            None => serde_json::Value::Null,
        };
        let v = serde_json::json!({ "daemon": daemon, "jobs": jobs });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(EXIT_OK);
    }
    write!(out, "{}", table(&rows, daemon.as_ref()))?;
    Ok(EXIT_OK)
}

/// `flinkops status` as a table: the daemon's line, then one row per job. Every field
/// comes from a ConfigMap in the cluster and is shown through `escape::terminal`.
fn table(rows: &[Row], daemon: Option<&Result<DaemonStatus, String>>) -> String {
    let mut out = String::new();
    if let Some(d) = daemon {
        out.push_str(&format!("{}\n\n", daemon_line(d)));
    }
    let width = rows
        .iter()
        .map(|(ns, job, _)| terminal(&format!("{ns}/{job}")).chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    out.push_str(&format!(
        "{:<width$}  {:<15}  {:<12}  {:<11}  {:<11}  {:<20}  DETAIL\n",
        "JOB", "KIND", "COMMIT", "HEALTH", "FLINK", "LAST SAVEPOINT"
    ));
    for (ns, job, l) in rows {
        let id = terminal(&format!("{ns}/{job}")).into_owned();
        match l {
            Ok(l) => {
                let upgrading = l.upgrade.as_ref().map(|u| format!("{}; ", upgrade_text(u)));
                let removed = l.removed.as_ref().map(|r| {
                    format!(
                        "removed from Git at {} ({}); adding it again resumes from its last savepoint",
                        short(&r.commit),
                        r.at
                    )
                });
                let detail = format!(
                    "{}{}",
                    upgrading.unwrap_or_default(),
                    removed
                        .as_deref()
                        .or(l.last_error.as_deref())
                        .or(l.health_reason.as_deref())
                        .unwrap_or("")
                );
                let health = if l.removed.is_some() {
                    "Removed".to_string()
                } else {
                    format!("{:?}", l.health)
                };
                out.push_str(&format!(
                    "{id:<width$}  {:<15}  {:<12}  {:<11}  {:<11}  {:<20}  {}\n",
                    // A job not yet applied: the kind it is becoming.
                    l.spec
                        .as_ref()
                        .or(l.upgrade.as_ref().map(|u| &u.target_spec))
                        .map_or("?", |s| s.kind.as_str()),
                    terminal(short(&l.applied_commit)),
                    health,
                    terminal(l.flink_state.as_ref().map_or("-", |s| s.as_str())),
                    l.savepoints
                        .last()
                        .map_or("-".to_string(), |s| s.at.to_string()),
                    terminal(detail.trim_end_matches("; ")),
                ));
            }
            Err(e) => out.push_str(&format!(
                "{id:<width$}  unreadable ledger: {}\n",
                terminal(e)
            )),
        }
    }
    out
}

/// Blocks until every job changed by `rev` is live (exit 0), one failed (1), or
/// `timeout` passes (2).
pub async fn wait(
    client: &kube::Client,
    w: &Where<'_>,
    repo: &Repo,
    path: &str,
    rev: &str,
    timeout: Duration,
) -> Result<i32> {
    let oid = repo.resolve(rev)?;
    let commit = oid.to_string();
    let head = spec::load(&repo.snapshot(&commit, path)?);
    let parent = spec::load(&repo.parent_snapshot(oid, path)?);
    let (expect, errors) = wait::expectations(&parent, &head);
    // Not locked: this waits across awaits while the cache's tasks may log to stderr.
    let mut err = std::io::stderr();
    if !errors.is_empty() {
        for e in &errors {
            writeln!(err, "error: {}", terminal(&e.to_string()))?;
        }
        writeln!(
            err,
            "{}: the repository has errors at this commit",
            short(&commit)
        )?;
        return Ok(EXIT_ERROR);
    }
    if expect.is_empty() {
        println!("{}: changes no job; nothing to wait for", short(&commit));
        return Ok(EXIT_OK);
    }
    writeln!(
        err,
        "waiting up to {}s for {} job(s) changed by {}",
        timeout.as_secs(),
        expect.len(),
        short(&commit)
    )?;
    let namespaces: Vec<String> = expect
        .keys()
        .map(|id| id.namespace.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cache = Cache::start(client, Some(&namespaces));
    cache
        .ready(Duration::from_secs(60))
        .await
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut shown: BTreeMap<JobId, Verdict> = BTreeMap::new();
    let mut shown_condition: Option<String> = None;
    let timed_out = loop {
        let daemon = daemon(client, w).await.and_then(Result::ok);
        if let Some(d) = &daemon {
            let c = d
                .condition
                .as_ref()
                .map(|c| format!("{}: {}", c.reason, c.message));
            if c != shown_condition {
                if let Some(c) = &c {
                    writeln!(err, "  note: flinkops reports {}", terminal(c))?;
                }
                shown_condition = c;
            }
        }
        let daemon_past = daemon.map(|d| repo.includes(&d.commit, oid).unwrap_or(false));
        let (ledgers, _) = cache::ledgers(&cache.objects());
        let (mut pending, mut failed) = (false, false);
        for (id, e) in &expect {
            let v = wait::judge(e, ledgers.get(id), |c| repo.includes(c, oid), daemon_past);
            pending |= v.is_pending();
            failed |= matches!(v, Verdict::Failed(_));
            if shown.get(id) != Some(&v) {
                writeln!(
                    err,
                    "  [{:>4}s] {}: {}",
                    started.elapsed().as_secs(),
                    terminal(&id.to_string()),
                    wait::describe(&v)
                )?;
                shown.insert(id.clone(), v);
            }
        }
        // One failure decides it: a pipeline should not wait out the others.
        if !pending || failed {
            break false;
        }
        tokio::select! {
            _ = cache.changed.notified() => {}
            // The daemon's status is read, not watched: look again now and then.
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = tokio::time::sleep_until(deadline) => break true,
        }
    };
    let failed = shown
        .values()
        .filter(|v| matches!(v, Verdict::Failed(_)))
        .count();
    let live = shown
        .values()
        .filter(|v| matches!(v, Verdict::Live(_)))
        .count();
    let mut out = std::io::stdout().lock();
    for (id, v) in &shown {
        writeln!(out, "{}: {}", terminal(&id.to_string()), wait::describe(v))?;
    }
    let (summary, code) = if failed > 0 {
        ("failed", EXIT_ERROR)
    } else if timed_out {
        ("timed out", EXIT_TIMEOUT)
    } else {
        ("live", EXIT_OK)
    };
    writeln!(
        out,
        "{}: {summary}: {live} live, {failed} failed, {} pending, after {}s",
        short(&commit),
        shown.len() - live - failed,
        started.elapsed().as_secs()
    )?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::kube::daemon_status::GitCondition;
    use crate::model::ledger::Health;

    #[test]
    fn tombstones_are_listed_as_removed_with_their_lineage() {
        let tomb = Ledger {
            applied_commit: "1".repeat(40),
            health: Health::Suspended,
            removed: Some(crate::model::ledger::Removal {
                commit: "2".repeat(40),
                at: crate::model::time::Timestamp::parse("2026-11-26T00:00:00Z").unwrap(),
            }),
            ..Default::default()
        };
        let json = job_json("ns", "orders", &tomb);
        assert_eq!(json["removed"]["commit"], "2".repeat(40));
        let text = table(&[("ns".into(), "orders".into(), Ok(tomb))], None);
        let row = text.lines().nth(1).unwrap();
        assert!(row.contains("Removed"), "{row}");
        assert!(
            row.contains("removed from Git at 222222222222 (2026-11-26T00:00:00Z)"),
            "{row}"
        );
    }

    #[test]
    fn the_table_shows_hostile_fields_escaped_and_never_panics() {
        // Everything here is read from the cluster: anyone who can write a ConfigMap
        // there chooses it.
        let ledger = Ledger {
            applied_commit: "0123456789aé€".into(),
            health: Health::Degraded,
            last_error: Some("boom\x1b]0;title\x07\n::error file=x::forged".into()),
            flink_state: Some(crate::model::flink::JobState::parse("RUN\rNING")),
            ..Default::default()
        };
        let daemon = Ok(DaemonStatus {
            repo: "repo\x1b[2J".into(),
            branch: Some("main\n::warning::x".into()),
            commit: "ééééééééééééé".into(),
            condition: Some(GitCondition {
                reason: "Unreachable".into(),
                message: "no\x1b[31m".into(),
                since: "now".into(),
            }),
            writer: "w".into(),
        });
        let rows = vec![
            ("ns".to_string(), "job\nx".to_string(), Ok(ledger)),
            (
                "ns".to_string(),
                "bad".to_string(),
                Err("bad\x1b[2J".to_string()),
            ),
        ];
        let text = table(&rows, Some(&daemon));
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
        assert!(!text.contains("\n::"), "{text}");
        assert!(text.contains("0123456789aé"), "{text}");
        assert!(
            text.contains("éééééééééééé at") || text.contains("éééééééééééé"),
            "{text}"
        );
        assert!(text.contains("boom\\x1b]0;title\\x07\\n::error"), "{text}");
        assert!(text.contains("ns/job\\nx"), "{text}");
        // One line per job, after the daemon's two lines, a blank one and the header.
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}
