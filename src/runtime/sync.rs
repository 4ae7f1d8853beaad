//! One sync cycle end to end: Git revision → catalog → cluster caches → reconcile →
//! execute. `flinkops sync --once` is this, once; the daemon loops over it.

use super::execute::{execute, Outcome};
use crate::edge::git::Repo;
use crate::edge::kube::cache::{self, Cache};
use crate::engine::reconcile::{self, Options};
use crate::model::spec::{self, Catalog};
use std::collections::{BTreeMap, BTreeSet};
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

    /// Jobs left waiting on something outside flinkops' control.
    pub fn waiting(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.error.is_none() && o.waiting.is_some())
    }
}

/// The namespaces to watch and write: the command line's, else the settings', else all.
pub fn scope(cli: &[String], catalog: &Catalog) -> Option<Vec<String>> {
    if !cli.is_empty() {
        return Some(cli.to_vec());
    }
    catalog.settings.namespaces.clone()
}

/// Reconcile options for a cycle starting now.
pub fn options_now(namespaces: Option<BTreeSet<String>>) -> Options {
    Options {
        namespaces,
        now: super::clock::now(),
        flink_states: BTreeMap::new(),
    }
}

pub struct SyncOnce<'a> {
    pub repo: &'a Repo,
    pub rev: &'a str,
    pub path: &'a str,
    pub namespaces: &'a [String],
    pub concurrency: usize,
    /// How long to carry on upgrades in flight before returning.
    pub upgrade_timeout: Duration,
    /// How long a job may wait on something outside flinkops (a JobManager that does not
    /// answer) before it is reported as waiting instead of waited for.
    pub external_wait: Duration,
    /// Session jobs' jars.
    pub jars: &'a super::jar::JarFetcher,
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
    let recorder = super::execute::recorder(client);
    let namespaces = scope.map(|v| v.into_iter().collect::<BTreeSet<_>>());
    // One cycle, then more while upgrades are in flight, so that `--once` returns with
    // every savepoint upgrade finished (or failed), as a pipeline expects.
    let mut last: BTreeMap<crate::model::spec::JobId, Outcome> = BTreeMap::new();
    let deadline = Instant::now() + s.upgrade_timeout;
    let mut waiting_since: BTreeMap<crate::model::spec::JobId, Instant> = BTreeMap::new();
    loop {
        let live = cache.objects();
        let (ledgers, problems) = cache::ledgers(&live);
        for p in problems {
            tracing::warn!("{p}");
        }
        let opts = options_now(namespaces.clone());
        let work = reconcile::reconcile(&catalog, &snapshot.commit, &live, &ledgers, &opts);
        let outcomes = execute(client, &recorder, s.jars, work, s.concurrency).await;
        let now = Instant::now();
        for o in &outcomes {
            if o.waiting.is_some() {
                waiting_since.entry(o.id.clone()).or_insert(now);
            } else {
                waiting_since.remove(&o.id);
            }
        }
        // Carried on while flinkops itself makes progress; a job waiting on something
        // outside it for longer than `external_wait` is reported, not waited for.
        let in_flight: Vec<String> = outcomes
            .iter()
            .filter(|o| o.in_progress)
            .filter(|o| {
                waiting_since
                    .get(&o.id)
                    .is_none_or(|since| now.duration_since(*since) < s.external_wait)
            })
            .map(|o| format!("{}/{}", o.id.namespace, o.id.name))
            .collect();
        for o in outcomes {
            // A job's last word counts, but an error on the way is kept if it ends there.
            last.insert(o.id.clone(), o);
        }
        if in_flight.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for id in &in_flight {
                if let Some(o) = last
                    .values_mut()
                    .find(|o| &format!("{}/{}", o.id.namespace, o.id.name) == id)
                {
                    o.error.get_or_insert_with(|| {
                        format!("upgrade still in progress after {}s (flinkops run or the next sync carries it on)", s.upgrade_timeout.as_secs())
                    });
                }
            }
            break;
        }
        // Give Flink and the controllers a moment, and the caches time to see our writes.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(SyncReport {
        commit: snapshot.commit,
        catalog_errors: catalog.errors().iter().map(ToString::to_string).collect(),
        outcomes: last.into_values().collect(),
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {}
