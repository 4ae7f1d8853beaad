//! One sync cycle end to end: Git revision → catalog → cluster caches → reconcile →
//! execute. `flinkops sync --once` is this, once; the daemon loops over it.

use super::execute::{execute, Outcome};
use crate::cluster::cache::{self, Cache};
use crate::reconcile::{self, Options};
use crate::source::Repo;
use crate::spec::{self, Catalog};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub struct SyncReport {
    pub commit: String,
    pub catalog_errors: Vec<String>,
    pub outcomes: Vec<Outcome>,
    pub elapsed: Duration,
}

impl SyncReport {
    pub fn failed(&self) -> bool {
        !self.catalog_errors.is_empty() || self.outcomes.iter().any(|o| o.error.is_some())
    }
}

/// The namespaces to watch and write: the command line's, else the settings', else all.
pub fn scope(cli: &[String], catalog: &Catalog) -> Option<Vec<String>> {
    if !cli.is_empty() {
        return Some(cli.to_vec());
    }
    catalog.settings.namespaces.clone()
}

pub fn now_rfc3339() -> String {
    // Seconds precision is enough for history entries; no date crate needed.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// UTC RFC 3339 text of a Unix time (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub struct SyncOnce<'a> {
    pub repo: &'a Repo,
    pub rev: &'a str,
    pub path: &'a str,
    pub namespaces: &'a [String],
    pub concurrency: usize,
}

pub async fn sync_once(client: &kube::Client, s: SyncOnce<'_>) -> anyhow::Result<SyncReport> {
    let started = Instant::now();
    let snapshot = s.repo.snapshot(s.rev, s.path)?;
    let catalog = spec::load(&snapshot);
    let scope = scope(s.namespaces, &catalog);
    let cache = Cache::start(client, scope.as_deref());
    cache
        .ready(Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;
    let live = cache.objects();
    let (ledgers, problems) = cache::ledgers(&live);
    for p in problems {
        tracing::warn!("{p}");
    }
    let opts = Options {
        namespaces: scope.map(|v| v.into_iter().collect::<BTreeSet<_>>()),
        now: now_rfc3339(),
        // Savepoint-driven upgrades are not implemented yet (issue: upgrade).
        stateful_upgrades: false,
    };
    let work = reconcile::reconcile(&catalog, &snapshot.commit, &live, &ledgers, &opts);
    let outcomes = execute(
        client,
        &super::execute::recorder(client),
        work,
        s.concurrency,
    )
    .await;
    Ok(SyncReport {
        commit: snapshot.commit,
        catalog_errors: catalog.errors().iter().map(ToString::to_string).collect(),
        outcomes,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_398_245), "2026-11-23T01:44:05Z");
    }
}
