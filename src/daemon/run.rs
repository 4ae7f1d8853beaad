//! The long-running reconciler: one set of watch caches for the whole life of the process,
//! and a cycle whenever something may have changed: a new commit in the local repository
//! (file-system notification on its .git directory), a change seen by the watches (drift,
//! health), or the polling interval as a fallback. A cycle is the same decision and work as
//! `sync --once`; a failing cycle keeps the last applied state and retries on the next
//! trigger.

use super::execute::execute;
use super::metrics::Metrics;
use super::sync::{now_rfc3339, scope};
use crate::cluster::cache::{self, Cache};
use crate::reconcile::{self, Options};
use crate::source::Repo;
use crate::spec::{self, Catalog};
use notify::Watcher;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub struct RunConfig {
    pub repo: PathBuf,
    pub rev: String,
    pub path: String,
    pub namespaces: Vec<String>,
    pub interval: Duration,
    pub concurrency: usize,
    /// Address for /healthz, /readyz and /metrics.
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Git,
    Cluster,
    /// A cycle had failures: try again after a backoff.
    Retry,
}

const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Runs until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    cfg: RunConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let http_task = match cfg.listen {
        Some(addr) => {
            let listener = super::http::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
            tracing::info!(%addr, "serving /healthz, /readyz, /metrics");
            Some(tokio::spawn(super::http::serve(listener, metrics.clone())))
        }
        None => None,
    };
    let repo = Repo::open(&cfg.repo)?;
    let first = repo.snapshot(&cfg.rev, &cfg.path)?;
    let mut catalog: Catalog = spec::load(&first);
    let mut commit = first.commit;
    let scope = scope(&cfg.namespaces, &catalog);
    let cache = Cache::start(&client, scope.as_deref());
    cache
        .ready(Duration::from_secs(60))
        .await
        .map_err(anyhow::Error::msg)?;
    tracing::info!(commit = %commit, jobs = catalog.jobs.len(), "watches ready; reconciling");

    let (tx, mut rx) = mpsc::channel::<Trigger>(64);
    // New commits: refs and HEAD live under .git; any write there may move the revision.
    let git_tx = tx.clone();
    let mut fs_watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Only writes can move a ref; reading the repository (each cycle does) must not
        // trigger another cycle.
        if ev.is_ok_and(|e| e.kind.is_create() || e.kind.is_modify() || e.kind.is_remove()) {
            let _ = git_tx.try_send(Trigger::Git);
        }
    })?;
    let git_dir = repo.git_dir();
    fs_watcher.watch(&git_dir, notify::RecursiveMode::Recursive)?;
    // Changes seen by the watches: drift to heal, health to record.
    let changed = cache.changed.clone();
    let cluster_tx = tx.clone();
    let cluster_task = tokio::spawn(async move {
        loop {
            changed.notified().await;
            let _ = cluster_tx.try_send(Trigger::Cluster);
        }
    });

    let mut interval = tokio::time::interval(cfg.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    let opts_scope: Option<BTreeSet<String>> = scope.map(|v| v.into_iter().collect());
    let recorder = super::execute::recorder(&client);
    let mut backoff = RETRY_MIN;
    let mut retry_pending = false;
    loop {
        let trigger = tokio::select! {
            _ = &mut shutdown => break,
            t = rx.recv() => t,
            _ = interval.tick() => None,
        };
        if matches!(trigger, Some(Trigger::Retry)) {
            retry_pending = false;
        }
        // Coalesce a burst (a commit touches many files; an apply echoes back as events).
        tokio::time::sleep(Duration::from_millis(150)).await;
        while rx.try_recv().is_ok() {}
        let started = Instant::now();
        let resolved = repo.resolve(&cfg.rev);
        let git_seconds = started.elapsed().as_secs_f64();
        let git_failed = resolved.is_err();
        match resolved {
            Ok(oid) if oid.to_string() != commit => {
                match repo.snapshot(&oid.to_string(), &cfg.path) {
                    Ok(snap) => {
                        catalog = spec::load(&snap);
                        commit = snap.commit;
                        tracing::info!(commit = %commit, jobs = catalog.jobs.len(), errors = catalog.errors().len(), "new revision");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the new revision failed; keeping the last one")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "resolving the revision failed; keeping the last one")
            }
        }
        let live = cache.objects();
        let (ledgers, problems) = cache::ledgers(&live);
        for p in problems {
            tracing::warn!("{p}");
        }
        let opts = Options {
            namespaces: opts_scope.clone(),
            now: now_rfc3339(),
            stateful_upgrades: false,
        };
        let work = reconcile::reconcile(&catalog, &commit, &live, &ledgers, &opts);
        let outcomes = execute(&client, &recorder, work, cfg.concurrency).await;
        if let Ok(mut m) = metrics.lock() {
            m.cycles += 1;
            m.last_cycle_seconds = started.elapsed().as_secs_f64();
            m.git_resolve_seconds = git_seconds;
            m.git_errors += u64::from(git_failed);
            m.commit = commit.clone();
            m.definition_errors = catalog.errors().len();
            m.objects_applied += outcomes.iter().map(|o| o.applied as u64).sum::<u64>();
            m.objects_deleted += outcomes.iter().map(|o| o.deleted as u64).sum::<u64>();
            m.job_errors += outcomes.iter().filter(|o| o.error.is_some()).count() as u64;
            // Health as the ledgers said at the start of the cycle; a change written now
            // comes back through the watch and is counted next cycle.
            m.health = ledgers
                .iter()
                .map(|(id, l)| (id.clone(), l.health))
                .collect();
            m.ready = true;
        }
        tracing::debug!(?trigger, commit = %commit, jobs_with_work = outcomes.len(), elapsed_ms = started.elapsed().as_millis() as u64, "cycle");
        // Failed jobs are retried with exponential backoff, one pending retry at a time.
        if outcomes
            .iter()
            .any(|o| o.error.is_some() && o.action != crate::plan::Action::Error)
        {
            if !retry_pending {
                retry_pending = true;
                let (tx, wait) = (tx.clone(), backoff);
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = tx.send(Trigger::Retry).await;
                });
                tracing::info!(retry_in_s = wait.as_secs(), "some jobs failed; retrying");
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        } else {
            backoff = RETRY_MIN;
        }
    }
    cluster_task.abort();
    if let Some(t) = http_task {
        t.abort();
    }
    drop(fs_watcher);
    tracing::info!("stopped");
    Ok(())
}
