//! Command line: parsing (clap) and the commands that read Git and print results.

use crate::diff::{self, Side};
use crate::render;
use crate::source::Repo;
use crate::spec::{self, Catalog, JobId};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes, like `terraform plan -detailed-exitcode`.
pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
/// Bad command line (clap's own default, 2, would read as "changes").
pub const EXIT_USAGE: i32 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "flinkops",
    version,
    about = "Git-driven reconciler for Apache Flink on Kubernetes",
    long_about = "flinkops reads Flink job definitions (FlinkDeployment, FlinkSessionJob) from a Git \
repository, renders the Kubernetes objects that run them, and plans changes between revisions: \
which jobs would be created, updated, savepointed and restarted, suspended or deleted.\n\n\
Definitions are read from committed revisions, never from the working directory.",
    after_help = "Exit codes: 0 no changes / valid, 1 error (including invalid definitions), \
2 changes (diff only), 64 bad command line."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check every definition at a revision; print all errors with file:line:column.
    Validate {
        #[command(flatten)]
        repo: RepoArgs,
        /// Revision to read (branch, tag, sha, HEAD~1 ...).
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
    },
    /// Print the Kubernetes objects rendered for each valid job at a revision.
    Render {
        #[command(flatten)]
        repo: RepoArgs,
        /// Revision to read (branch, tag, sha, HEAD~1 ...).
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Only this job (NAMESPACE/NAME).
        #[arg(long, value_name = "NAMESPACE/NAME")]
        job: Option<String>,
        /// Output format: YAML documents or a JSON list.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = RenderFormat::Yaml)]
        output: RenderFormat,
    },
    /// Plan the change from one revision to another: per job the action (create, update,
    /// savepoint-upgrade, suspend, delete ...) with reasons, then a diff per object.
    ///
    /// No cluster is needed: "observed" is the base revision. Exit code 0 means no
    /// changes, 2 changes, 1 errors (invalid definitions included).
    Diff {
        #[command(flatten)]
        repo: RepoArgs,
        /// The revision that is live now (e.g. origin/main).
        #[arg(long, required_unless_present = "cluster", conflicts_with = "cluster")]
        base: Option<String>,
        /// The revision to plan towards.
        #[arg(long, visible_alias = "rev", default_value = "HEAD")]
        head: String,
        /// Compare with the live cluster instead of a base revision (current kubeconfig):
        /// what `sync` would do now, drift included; objects are diffed against a
        /// server-side dry-run apply so defaulted fields make no noise.
        #[arg(long)]
        cluster: bool,
        /// With --cluster: namespaces to read (repeatable); default: the settings', else all.
        #[arg(long = "namespace", value_name = "NS", requires = "cluster")]
        namespaces: Vec<String>,
        /// Output format; markdown suits a pull-request comment.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Colour the text output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// Apply the definitions at a revision to the cluster: server-side apply (field
    /// manager flinkops), prune of jobs removed from Git, self-heal of hand edits, and a
    /// ledger ConfigMap per job. Uses the current kubeconfig (KUBECONFIG) or the
    /// in-cluster service account.
    Sync {
        #[command(flatten)]
        repo: RepoArgs,
        /// Revision to apply.
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Run one cycle and exit: 0 when every job synced, 1 when any failed or a
        /// definition is invalid.
        #[arg(long, required = true)]
        once: bool,
        /// Namespaces to manage (repeatable); default: the settings' `namespaces`, else all.
        #[arg(long = "namespace", value_name = "NS")]
        namespaces: Vec<String>,
        /// Jobs worked on at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Show the jobs flinkops manages in the cluster, from their ledgers: applied commit,
    /// health and last error.
    Status(StatusArgs),
    /// Run the reconciler: keep the cluster in sync with a branch of a local Git
    /// repository. A new commit is picked up from file-system notification of the
    /// repository within about a second; drift and health from the watches; the interval
    /// is the fallback. Stops on SIGINT or SIGTERM.
    Run {
        #[command(flatten)]
        repo: RepoArgs,
        /// Branch to follow; default: whatever HEAD points to.
        #[arg(long)]
        branch: Option<String>,
        /// Namespaces to manage (repeatable); default: the settings' `namespaces`, else all.
        #[arg(long = "namespace", value_name = "NS")]
        namespaces: Vec<String>,
        /// Polling interval, the fallback trigger (e.g. 30s, 5m, 1h).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// Jobs worked on at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        /// Serve /healthz, /readyz and /metrics (Prometheus) here, e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Log format: text for people, json for log pipelines.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Namespaces to read (repeatable); default: all.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ValidateFormat::Text)]
    pub output: ValidateFormat,
}

#[derive(Args, Debug)]
pub struct RepoArgs {
    /// The Git repository (its root directory).
    #[arg(long, default_value = ".", env = "FLINKOPS_REPO")]
    pub repo: PathBuf,
    /// Subdirectory of the repository holding flinkops.yaml and the definitions.
    #[arg(
        long,
        default_value = "",
        env = "FLINKOPS_PATH",
        hide_default_value = true
    )]
    pub path: String,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum ValidateFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum RenderFormat {
    Yaml,
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Runs a parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Validate { repo, rev, format } => validate(&repo, &rev, format),
        Command::Render {
            repo,
            rev,
            job,
            output,
        } => render_cmd(&repo, &rev, job.as_deref(), output),
        Command::Diff {
            repo,
            base,
            head,
            cluster,
            namespaces,
            format,
            color,
        } => {
            let report = match (cluster, base) {
                (true, _) => tokio::runtime::Runtime::new()?.block_on(async {
                    let client = kube::Client::try_default()
                        .await
                        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
                    let r = Repo::open(&repo.repo)?;
                    crate::daemon::cluster_diff::cluster_diff(
                        &client,
                        &r,
                        &head,
                        &repo.path,
                        &namespaces,
                    )
                    .await
                })?,
                (false, Some(base)) => offline_report(&repo, &base, &head)?,
                (false, None) => bail!("--base or --cluster is required"),
            };
            print_report(&report, format, color)
        }
        Command::Sync {
            repo,
            rev,
            once: _,
            namespaces,
            concurrency,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(sync_cmd(&repo, &rev, &namespaces, concurrency as usize))
        }
        Command::Status(args) => tokio::runtime::Runtime::new()?.block_on(status_cmd(&args)),
        Command::Run {
            repo,
            branch,
            namespaces,
            interval,
            concurrency,
            listen,
            log_format: _,
        } => tokio::runtime::Runtime::new()?.block_on(async move {
            let client = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
            let cfg = crate::daemon::run::RunConfig {
                repo: repo.repo,
                rev: branch.map_or("HEAD".into(), |b| format!("refs/heads/{b}")),
                path: repo.path,
                namespaces,
                interval,
                concurrency: concurrency as usize,
                listen,
            };
            crate::daemon::run::run(client, cfg, shutdown_signal()).await?;
            Ok(EXIT_OK)
        }),
    }
}

async fn status_cmd(args: &StatusArgs) -> Result<i32> {
    use crate::cluster::ledger::{Ledger, LEDGER_COMPONENT};
    use k8s_openapi::api::core::v1::ConfigMap;
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let selector = format!(
        "{}={},{}={LEDGER_COMPONENT}",
        render::LABEL_MANAGED_BY,
        render::MANAGER,
        render::LABEL_COMPONENT
    );
    let lp = kube::api::ListParams::default().labels(&selector);
    let apis: Vec<kube::Api<ConfigMap>> = if args.namespaces.is_empty() {
        vec![kube::Api::all(client.clone())]
    } else {
        args.namespaces
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
    let mut out = std::io::stdout().lock();
    match args.output {
        ValidateFormat::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(ns, job, l)| match l {
                    Ok(l) => serde_json::json!({
                        "namespace": ns,
                        "name": job,
                        "kind": l.spec.as_ref().map(|s| s.kind.as_str()),
                        "commit": l.applied_commit,
                        "source": l.source,
                        "health": l.health,
                        "healthReason": l.health_reason,
                        "lastError": l.last_error,
                    }),
                    Err(e) => serde_json::json!({"namespace": ns, "name": job, "error": e}),
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        ValidateFormat::Text => {
            let width = rows
                .iter()
                .map(|(ns, job, _)| ns.len() + job.len() + 1)
                .max()
                .unwrap_or(3)
                .max(3);
            writeln!(
                out,
                "{:<width$}  {:<15}  {:<12}  {:<11}  DETAIL",
                "JOB", "KIND", "COMMIT", "HEALTH"
            )?;
            for (ns, job, l) in &rows {
                let id = format!("{ns}/{job}");
                match l {
                    Ok(l) => {
                        let detail = l
                            .last_error
                            .as_deref()
                            .or(l.health_reason.as_deref())
                            .unwrap_or("");
                        writeln!(
                            out,
                            "{id:<width$}  {:<15}  {:<12}  {:<11}  {detail}",
                            l.spec.as_ref().map_or("?", |s| s.kind.as_str()),
                            &l.applied_commit[..12.min(l.applied_commit.len())],
                            format!("{:?}", l.health),
                        )?;
                    }
                    Err(e) => writeln!(out, "{id:<width$}  unreadable ledger: {e}")?,
                }
            }
        }
    }
    Ok(EXIT_OK)
}

async fn sync_cmd(
    args: &RepoArgs,
    rev: &str,
    namespaces: &[String],
    concurrency: usize,
) -> Result<i32> {
    use crate::daemon::sync::{sync_once, SyncOnce};
    let repo = Repo::open(&args.repo)?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let report = sync_once(
        &client,
        SyncOnce {
            repo: &repo,
            rev,
            path: &args.path,
            namespaces,
            concurrency,
        },
    )
    .await?;
    let mut out = std::io::stdout().lock();
    for e in &report.catalog_errors {
        writeln!(out, "error: {e}")?;
    }
    for o in &report.outcomes {
        let mut line = format!(
            "{} {}: {} (applied {}, deleted {})",
            o.id,
            o.action.as_str(),
            if o.error.is_some() { "failed" } else { "ok" },
            o.applied,
            o.deleted
        );
        for d in &o.drift {
            line.push_str(&format!("\n    drift reverted: {d}"));
        }
        if let Some(e) = &o.error {
            line.push_str(&format!("\n    {e}"));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "synced {} in {} ms: {} jobs with work, {} failed",
        &report.commit[..12.min(report.commit.len())],
        report.elapsed.as_millis(),
        report.outcomes.len(),
        report.outcomes.iter().filter(|o| o.error.is_some()).count()
    )?;
    Ok(if report.failed() { EXIT_ERROR } else { EXIT_OK })
}

fn load(repo: &Repo, args: &RepoArgs, rev: &str) -> Result<(String, Catalog)> {
    let snapshot = repo.snapshot(rev, &args.path)?;
    let catalog = spec::load(&snapshot);
    Ok((snapshot.commit, catalog))
}

fn validate(args: &RepoArgs, rev: &str, format: ValidateFormat) -> Result<i32> {
    let repo = Repo::open(&args.repo)?;
    let (commit, catalog) = load(&repo, args, rev)?;
    let errors = catalog.errors();
    let mut out = std::io::stdout().lock();
    match format {
        ValidateFormat::Json => {
            let v = serde_json::json!({
                "commit": commit,
                "valid": errors.is_empty(),
                "files": catalog.files.len(),
                "jobs": catalog.jobs.keys().map(ToString::to_string).collect::<Vec<_>>(),
                "errors": errors,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ValidateFormat::Text => {
            for e in &errors {
                writeln!(out, "{e}")?;
            }
            let short = &commit[..12.min(commit.len())];
            if errors.is_empty() {
                writeln!(
                    out,
                    "ok: {} jobs in {} files at {short}",
                    catalog.jobs.len(),
                    catalog.files.len()
                )?;
            } else {
                writeln!(
                    out,
                    "{} errors; {} of {} jobs valid at {short}",
                    errors.len(),
                    catalog.jobs.len(),
                    catalog.jobs.len() + catalog.blocked.len()
                )?;
            }
        }
    }
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn render_cmd(args: &RepoArgs, rev: &str, job: Option<&str>, output: RenderFormat) -> Result<i32> {
    let repo = Repo::open(&args.repo)?;
    let (commit, catalog) = load(&repo, args, rev)?;
    let wanted = job.map(parse_job_id).transpose()?;
    if let Some(id) = &wanted {
        if !catalog.jobs.contains_key(id) && !catalog.blocked.contains_key(id) {
            bail!("no job {id} at {rev}");
        }
    }
    let cx = render::Context {
        commit: &commit,
        restore_from: None,
    };
    let objects: Vec<render::Object> = catalog
        .jobs
        .values()
        .filter(|s| wanted.as_ref().is_none_or(|w| *w == s.id))
        .flat_map(|s| render::render(s, &cx).objects)
        .collect();
    let mut out = std::io::stdout().lock();
    match output {
        RenderFormat::Yaml => {
            for o in &objects {
                write!(out, "---\n{}", o.to_yaml())?;
            }
        }
        RenderFormat::Json => {
            let bodies: Vec<&serde_json::Value> = objects.iter().map(|o| &o.body).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&bodies)?)?;
        }
    }
    let relevant: Vec<_> = catalog
        .errors()
        .into_iter()
        .filter(|e| {
            wanted.is_none()
                || catalog
                    .blocked
                    .get(wanted.as_ref().unwrap())
                    .is_some_and(|v| v.contains(e))
        })
        .collect();
    for e in &relevant {
        eprintln!("error: {e}");
    }
    Ok(if relevant.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn offline_report(args: &RepoArgs, base: &str, head: &str) -> Result<diff::Report> {
    let repo = Repo::open(&args.repo)?;
    let (base_commit, base_catalog) =
        load(&repo, args, base).with_context(|| format!("reading base {base}"))?;
    let (head_commit, head_catalog) =
        load(&repo, args, head).with_context(|| format!("reading head {head}"))?;
    Ok(diff::report(
        Side {
            commit: &base_commit,
            catalog: &base_catalog,
        },
        Side {
            commit: &head_commit,
            catalog: &head_catalog,
        },
    ))
}

fn print_report(report: &diff::Report, format: DiffFormat, color: Color) -> Result<i32> {
    let text = match format {
        DiffFormat::Json => diff::to_json(report),
        DiffFormat::Markdown => diff::to_markdown(report),
        DiffFormat::Text => {
            let on = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            diff::to_text(report, on)
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if report.plan.has_errors() {
        EXIT_ERROR
    } else if report.plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `90s`, `5m`, `1h`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h)"))?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("`{s}` has unknown unit `{unit}` (ms, s, m, h)")),
    };
    if ms == 0 {
        return Err("the interval must be greater than zero".into());
    }
    Ok(std::time::Duration::from_millis(ms))
}

pub fn parse_job_id(s: &str) -> Result<JobId> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(JobId {
                namespace: ns.to_string(),
                name: name.to_string(),
            })
        }
        _ => bail!("`{s}` is not NAMESPACE/NAME"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }
}
