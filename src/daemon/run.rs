//! The long-running reconciler: one set of watch caches for the whole life of the process,
//! and a cycle whenever something may have changed: a new commit (file-system notification
//! on a local repository's .git directory; a verified webhook push or the polling interval
//! for a remote one), a change seen by the watches (drift, health), or leadership gained.
//! A cycle is the same decision and work as `sync --once`. Nothing here gives up: a failing
//! fetch or job keeps the last applied state and retries with backoff.

use super::follow::{Follower, Source};
use super::metrics::Metrics;
use super::webhook::Secret;
use crate::edge::kube::cache::{self, Cache};
use crate::edge::kube::daemon_status::{self, DaemonStatus, GitCondition};
use crate::edge::kube::lease::{self, LeaseConfig};
use crate::engine::reconcile;
use crate::runtime::clock;
use crate::runtime::flink_probe::FlinkProbe;
use crate::runtime::sync::{options_now, scope};
use notify::Watcher;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub struct RunConfig {
    pub source: Source,
    /// For a local repository: the rev-spec to follow.
    pub rev: String,
    pub path: String,
    pub accept_history_rewrite: bool,
    pub namespaces: Vec<String>,
    pub interval: Duration,
    pub concurrency: usize,
    /// Address for /healthz, /readyz, /metrics and /webhook.
    pub listen: Option<std::net::SocketAddr>,
    pub webhook: Option<Secret>,
    /// `None`: this process is the only writer (no election).
    pub leader_election: Option<LeaseConfig>,
    /// Where the daemon's status ConfigMap lives (next to the Lease), and its instance name.
    pub state_namespace: String,
    pub instance: String,
    pub identity: String,
    /// The repository as it may be shown.
    pub repo_display: String,
    /// The repository's web page (commit links on the status page).
    pub web_url: Option<String>,
    /// Session jobs' jars.
    pub jars: crate::runtime::jar::JarFetcher,
    /// Where to post each applied commit's status (`None`: nowhere).
    pub commit_status: Option<super::commit_status::Config>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The local repository changed, or a webhook announced a push.
    Git,
    /// Fetching or reading the branch failed: try again after a backoff.
    GitRetry,
    /// The watches saw a change, or leadership changed.
    Cluster,
    Interval,
}

/// How often running applications' JobManagers are asked for their job's state.
const FLINK_PROBE_EVERY: Duration = Duration::from_secs(10);

const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Exponential backoff with at most one pending wake-up.
struct Backoff {
    next: Duration,
    pending: bool,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            next: RETRY_MIN,
            pending: false,
        }
    }

    /// Schedules `trigger` after the current delay (unless one is pending); returns it.
    fn schedule(&mut self, tx: &mpsc::Sender<Trigger>, trigger: Trigger) -> Option<Duration> {
        if self.pending {
            return None;
        }
        self.pending = true;
        let (tx, wait) = (tx.clone(), self.next);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(trigger).await;
        });
        self.next = (self.next * 2).min(RETRY_MAX);
        Some(wait)
    }

    fn fired(&mut self) {
        self.pending = false;
    }

    fn reset(&mut self) {
        self.next = RETRY_MIN;
    }
}

/// Runs until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    mut cfg: RunConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut reporter = cfg
        .commit_status
        .take()
        .map(super::commit_status::Reporter::start)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::new());
    let page = Arc::new(Mutex::new(super::status_page::Snapshot::default()));
    let (tx, mut rx) = mpsc::channel::<Trigger>(64);
    let http_task = match cfg.listen {
        Some(addr) => {
            let listener = super::http::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
            tracing::info!(%addr, webhook = cfg.webhook.is_some(), "serving / (status page), /healthz, /readyz, /metrics, /webhook");
            let push_tx = tx.clone();
            let endpoints = super::http::Endpoints {
                metrics: metrics.clone(),
                webhook: cfg.webhook.clone(),
                on_push: Box::new(move |_ref| {
                    let _ = push_tx.try_send(Trigger::Git);
                }),
                page: page.clone(),
                web_url: cfg.web_url.clone(),
            };
            Some(tokio::spawn(super::http::serve(
                listener,
                Arc::new(endpoints),
            )))
        }
        None => None,
    };

    // Leadership: without election this process always leads.
    let (lead_tx, lead_rx) = watch::channel(cfg.leader_election.is_none());
    let (stop_tx, stop_rx) = watch::channel(false);
    let elector = cfg.leader_election.clone().map(|lc| {
        tracing::info!(identity = %lc.identity, lease = %format!("{}/{}", lc.namespace, lc.name), "leader election: candidate");
        tokio::spawn(lease::elect(client.clone(), lc, lead_tx, stop_rx))
    });

    let mut follower = Follower {
        source: cfg.source,
        rev: cfg.rev.clone(),
        path: cfg.path.clone(),
        accept_history_rewrite: cfg.accept_history_rewrite,
        current: None,
        condition: None,
    };
    let local_git_dir = match &follower.source {
        Source::Local(path) => Some(crate::edge::git::Repo::open(path)?.git_dir()),
        Source::Remote { .. } => None,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let mut git_backoff = Backoff::new();
    let record_git = |f: &Follower, fetch_seconds: f64| {
        let condition = f.condition.as_ref().map(|c| c.reason());
        metrics.git_polled(fetch_seconds, condition, clock::now().unix());
        if let Some((commit, catalog)) = &f.current {
            metrics.commit(commit, catalog.errors().len());
        }
    };
    // A first revision is needed before anything else (it names the namespaces to watch).
    loop {
        let polled = follower.poll(true).await;
        record_git(&follower, polled.fetch_seconds);
        if follower.current.is_some() {
            break;
        }
        let wait = git_backoff.next;
        git_backoff.next = (wait * 2).min(RETRY_MAX);
        tokio::select! {
            _ = &mut shutdown => return stop(elector, stop_tx, http_task).await,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    git_backoff.reset();
    let catalog = &follower.current.as_ref().expect("loaded above").1;
    let mut current_scope = scope(&cfg.namespaces, catalog);
    let mut cache = Cache::start(&client, current_scope.as_deref());
    cache
        .ready(Duration::from_secs(60))
        .await
        .map_err(anyhow::Error::msg)?;
    tracing::info!(commit = %follower.current.as_ref().map_or("", |c| c.0.as_str()), "watches ready; reconciling");

    // New commits in a local repository: refs and HEAD live under .git.
    let mut fs_watcher = None;
    if let Some(git_dir) = local_git_dir {
        let git_tx = tx.clone();
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            // Only writes can move a ref; reading the repository (each cycle does) must
            // not trigger another cycle.
            if ev.is_ok_and(|e| e.kind.is_create() || e.kind.is_modify() || e.kind.is_remove()) {
                let _ = git_tx.try_send(Trigger::Git);
            }
        })?;
        w.watch(&git_dir, notify::RecursiveMode::Recursive)?;
        fs_watcher = Some(w);
    }
    // Changes seen by the watches (drift to heal, health to record) and leadership.
    // The Flink job state of running applications, for health.
    let probe = FlinkProbe::default();
    // Jobs found needing nothing, so a cycle renders and compares only what changed.
    let mut quiet = reconcile::Quiet::default();
    let probe_tx = tx.clone();
    let probe_task = probe.spawn(client.clone(), FLINK_PROBE_EVERY, move || {
        let _ = probe_tx.try_send(Trigger::Cluster);
    });
    // The current cache's change notifications (a new scope brings a new cache).
    let (changes_tx, mut changes_rx) = watch::channel(cache.changed.clone());
    let cluster_tx = tx.clone();
    let mut lead_changes = lead_rx.clone();
    let cluster_task = tokio::spawn(async move {
        // Without an election the sender is gone at once: stop listening to it.
        let mut election = true;
        loop {
            let changed = changes_rx.borrow().clone();
            tokio::select! {
                _ = changed.notified() => {}
                r = changes_rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    continue;
                }
                r = lead_changes.changed(), if election => if r.is_err() {
                    election = false;
                    continue;
                },
            }
            let _ = cluster_tx.try_send(Trigger::Cluster);
        }
    });

    let mut interval = tokio::time::interval(cfg.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // the first tick is immediate; the first cycle runs below anyway
    let mut opts_scope: Option<BTreeSet<String>> =
        current_scope.clone().map(|v| v.into_iter().collect());
    let recorder = crate::runtime::execute::recorder(&client);
    let mut workers = crate::runtime::workers::Workers::new(cfg.concurrency);
    // When a held job (backing off, requeued, waiting for the cache) is looked at again.
    let mut workers_wake: Option<tokio::time::Instant> = None;
    let mut periodic = crate::runtime::periodic::Periodic::new();
    // When the next periodic savepoint falls due.
    let mut periodic_wake: Option<tokio::time::Instant> = None;
    let mut status_writer = StatusWriter {
        namespace: cfg.state_namespace.clone(),
        instance: cfg.instance.clone(),
        identity: cfg.identity.clone(),
        repo: cfg.repo_display.clone(),
        written: None,
        since: None,
    };
    // Whether the elector has finished its first attempt (never marked seen, so it stays
    // "changed" once it sent).
    let lead_seen = lead_rx.clone();
    let mut leadership_known = cfg.leader_election.is_none();
    // The first cycle: the revision was just fetched, so no fetch.
    let mut trigger = Some(Trigger::Cluster);
    loop {
        // Coalesce a burst (a commit touches many files; an apply echoes back as events).
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut triggers: Vec<Trigger> = trigger.into_iter().collect();
        while let Ok(t) = rx.try_recv() {
            triggers.push(t);
        }
        if triggers.contains(&Trigger::GitRetry) {
            git_backoff.fired();
        }
        // The cycle itself gives way to SIGTERM too: every step in it is crash-safe.
        let cycle = async {
            let started_at = Instant::now();
            let fetch = triggers
                .iter()
                .any(|t| matches!(t, Trigger::Git | Trigger::GitRetry | Trigger::Interval));
            let polled = follower.poll(fetch).await;
            let git_seconds = started_at.elapsed().as_secs_f64();
            record_git(&follower, polled.fetch_seconds);
            if follower.condition.is_some() {
                if let Some(wait) = git_backoff.schedule(&tx, Trigger::GitRetry) {
                    tracing::debug!(retry_in_s = wait.as_secs(), "git: retrying");
                }
            } else {
                git_backoff.reset();
            }
            let leader = *lead_rx.borrow();
            metrics.set_leader(leader);
            metrics.git_resolved(git_seconds);
            // The namespaces to manage follow the settings: a namespace added to (or removed
            // from) flinkops.yaml is watched (or dropped) without a restart.
            if let Some((_, catalog)) = &follower.current {
                let want = scope(&cfg.namespaces, catalog);
                if normalized(&want) != normalized(&current_scope) {
                    tracing::info!(from = ?current_scope, to = ?want, "the namespaces to manage changed: starting watches for them");
                    let next = Cache::start(&client, want.as_deref());
                    match next.ready(Duration::from_secs(60)).await {
                        Ok(()) => {
                            cache = next;
                            let _ = changes_tx.send(cache.changed.clone());
                            opts_scope = want.clone().map(|v| v.into_iter().collect());
                            current_scope = want;
                            quiet = reconcile::Quiet::default();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "watching the new namespaces failed; the old ones stay, tried again next cycle")
                        }
                    }
                }
            }
            let daemon_status = status_writer.status(&follower);
            let live = cache.objects();
            let (mut ledgers, problems) = cache::ledgers(&live);
            if let Ok(mut p) = page.lock() {
                *p = super::status_page::Snapshot {
                    daemon: Some(daemon_status.clone()),
                    leader,
                    ledgers: ledgers.clone(),
                    at: clock::now(),
                };
            }
            if leader {
                status_writer.update(&client, daemon_status).await;
                let (commit, catalog) = follower.current.as_ref().expect("loaded before the loop");
                for p in problems {
                    tracing::warn!("{p}");
                }
                periodic.settle(&client, &mut ledgers, clock::now()).await;
                // Finished workers (their metrics are already counted): holds and backoffs.
                workers.finished(tokio::time::Instant::now());
                // Ask Flink about running jobs (applications and session jobs) that no upgrade is
                // working on.
                probe.set_targets(
                    catalog
                        .jobs
                        .values()
                        .filter(|s| crate::engine::upgrade::target_runs(s))
                        // Only where a JobManager can answer: Deployments Available.
                        .filter(|s| {
                            ledgers.get(&s.id).is_some_and(|l| {
                                l.upgrade.is_none()
                                    && matches!(
                                        l.health,
                                        crate::model::ledger::Health::Healthy
                                            | crate::model::ledger::Health::Degraded
                                    )
                            })
                        })
                        .map(|s| (s.id.clone(), crate::engine::session_job::rest_home(s)))
                        .collect(),
                );
                let mut opts = options_now(opts_scope.clone());
                opts.flink_states = probe.states();
                let work = reconcile::reconcile_quietly(
                    catalog, commit, &live, &ledgers, &opts, &mut quiet,
                );
                // Each job's work in its own worker: started unless one of it is in flight, it
                // is held (backoff, requeue, the cache behind its last write), or a periodic
                // savepoint of it is in flight (one thing at a time per job; its end wakes
                // the loop).
                let now = tokio::time::Instant::now();
                workers.forget_except(&work.iter().map(|w| &w.id).collect());
                let mut started = 0;
                for w in work {
                    if periodic.in_flight().contains(&w.id) {
                        tracing::info!(job = %w.id, action = w.action.as_str(), "waits for its periodic savepoint in flight");
                        continue;
                    }
                    let cached = ledgers
                        .get(&w.id)
                        .and_then(|l| l.resource_version.as_deref());
                    if !workers.may_start(&w, cached, now) {
                        continue;
                    }
                    let (wake_tx, metrics) = (tx.clone(), metrics.clone());
                    workers.start(&client, &recorder, &cfg.jars, w, move |out| {
                        // Counted as each job finishes, not at the next cycle.
                        metrics.record_outcomes(std::slice::from_ref(out));
                        let _ = wake_tx.try_send(Trigger::Cluster);
                    });
                    started += 1;
                }
                workers_wake = workers.next_wake(now);
                // The commit's status on the Git host, from the ledgers as this cycle read them.
                if let Some(r) = reporter.as_mut() {
                    r.observe(|| follower.repo(), &cfg.path, commit, catalog, &ledgers);
                }
                // Periodic savepoints for jobs no worker is busy with (one whose work just
                // began is not "no upgrade in flight" in the ledgers read before it).
                let wake_tx = tx.clone();
                let busy: BTreeSet<&crate::model::spec::JobId> = ledgers
                    .iter()
                    .filter(|(id, l)| workers.is_busy(id, l.resource_version.as_deref(), now))
                    .map(|(id, _)| id)
                    .collect();
                periodic_wake = periodic
                    .start_due(&client, &ledgers, &busy, clock::now(), move || {
                        let _ = wake_tx.try_send(Trigger::Cluster);
                    })
                    .map(|d| tokio::time::Instant::now() + d);
                // Health as the ledgers said at the start of the cycle; a change written
                // now comes back through the watch and is counted next cycle.
                metrics.cycle_done(
                    started_at.elapsed().as_secs_f64(),
                    workers.in_flight(),
                    ledgers.iter().map(|(id, l)| (id, l.health)),
                );
                tracing::debug!(?triggers, commit = %commit, workers_started = started, workers_in_flight = workers.in_flight(), elapsed_ms = started_at.elapsed().as_millis() as u64, "cycle");
            } else {
                if let Some(r) = reporter.as_mut() {
                    r.forget();
                }
                if workers.in_flight() > 0 {
                    // Leadership lost: stop every worker now (the write fence already
                    // refuses their writes); the new leader carries on from the ledgers.
                    tracing::info!(
                        workers = workers.in_flight(),
                        "not leading: stopping the job workers"
                    );
                    workers.abort_all();
                }
            }
            // Ready: a cycle (or, following, a look at the cluster) has completed and this
            // replica knows whether it leads.
            leadership_known = leadership_known || lead_seen.has_changed().unwrap_or(false);
            metrics.set_ready(leadership_known);
        };
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = cycle => {}
        }
        trigger = tokio::select! {
            _ = &mut shutdown => break,
            t = rx.recv() => t,
            _ = interval.tick() => Some(Trigger::Interval),
            _ = sleep_until(periodic_wake), if periodic_wake.is_some() => Some(Trigger::Cluster),
            _ = sleep_until(workers_wake), if workers_wake.is_some() => Some(Trigger::Cluster),
        };
    }
    // Every step is crash-safe: stopping mid-step is as if the process had died there.
    workers.abort_all();
    cluster_task.abort();
    probe_task.abort();
    drop(fs_watcher);
    stop(elector, stop_tx, http_task).await
}

/// Keeps the status ConfigMap in step with the follower, writing only on change.
struct StatusWriter {
    namespace: String,
    instance: String,
    identity: String,
    repo: String,
    written: Option<DaemonStatus>,
    /// The current condition's reason and when it began.
    since: Option<(&'static str, String)>,
}

impl StatusWriter {
    /// The daemon's status now (a Git condition keeps the time it began).
    fn status(&mut self, f: &Follower) -> DaemonStatus {
        let condition = f.condition.as_ref().map(|c| {
            if self.since.as_ref().is_none_or(|(r, _)| *r != c.reason()) {
                self.since = Some((c.reason(), clock::now().to_string()));
            }
            GitCondition {
                reason: c.reason().into(),
                message: c.message(),
                since: self.since.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
            }
        });
        if condition.is_none() {
            self.since = None;
        }
        DaemonStatus {
            repo: self.repo.clone(),
            branch: f.branch(),
            commit: f.current.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
            condition,
            writer: self.identity.clone(),
        }
    }

    /// Writes `status` to its ConfigMap when it changed.
    async fn update(&mut self, client: &kube::Client, status: DaemonStatus) {
        if self.written.as_ref() == Some(&status) {
            return;
        }
        match daemon_status::write(client, &self.namespace, &self.instance, &status).await {
            Ok(()) => self.written = Some(status),
            // Not fatal: the status is for people; the next change tries again.
            Err(e) => {
                tracing::warn!(error = %e, namespace = %self.namespace, "writing the daemon status failed")
            }
        }
    }
}

async fn stop(
    elector: Option<tokio::task::JoinHandle<()>>,
    stop_tx: watch::Sender<bool>,
    http_task: Option<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<()> {
    // Release the lease so a successor takes over at once, not after it expires.
    let _ = stop_tx.send(true);
    if let Some(e) = elector {
        let _ = tokio::time::timeout(Duration::from_secs(5), e).await;
    }
    if let Some(t) = http_task {
        t.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// A scope in a comparable form (order and repeats do not matter).
fn normalized(scope: &Option<Vec<String>>) -> Option<BTreeSet<&str>> {
    scope
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
