//! Command line: parsing (clap) and the commands that read Git and print results.

pub mod status;

use crate::daemon::follow::Source;
use crate::daemon::webhook::Secret;
use crate::edge::git::remote::{Credentials, Location, Mirror};
use crate::edge::git::Repo;
use crate::engine::diff::{self, Side};
use crate::engine::render;
use crate::model::escape::terminal;
use crate::model::spec::{self, Catalog, JobId};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes, like `terraform plan -detailed-exitcode`.
pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
/// `sync --once`: every job synced, but some wait on something outside flinkops (a
/// session cluster whose JobManager does not answer); `run` or the next sync carries them on.
pub const EXIT_WAITING: i32 = 3;
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
    after_help = "Exit codes: 0 no changes / valid / live, 1 error (including invalid definitions \
and failed jobs), 2 changes (diff) or timed out (status --wait), 3 jobs waiting on something \
outside flinkops (sync --once), 64 bad command line."
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
    ///
    /// They are what sync applies to a job that is not deployed yet: a job with
    /// initialSavepointPath starts from it (execution.savepoint.path in its configuration).
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
        /// server-side dry-run apply so defaulted fields make no noise. The plan says what
        /// only the cluster knows, as with --live.
        #[arg(long)]
        cluster: bool,
        /// With --base: add what only the cluster knows about each job the change
        /// touches (read access to its ledgers, current kubeconfig): the age of its latest
        /// checkpoint (what a last-state restore replays), its last savepoint, how long its
        /// last restart took, and an upgrade in flight the change would wait for.
        #[arg(long, requires = "base")]
        live: bool,
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
        /// definition is invalid, 3 when none failed but some wait on something outside
        /// flinkops (see --external-wait).
        #[arg(long, required = true)]
        once: bool,
        /// Namespaces to manage (repeatable); default: the settings' `namespaces`, else all.
        #[arg(long = "namespace", value_name = "NS")]
        namespaces: Vec<String>,
        /// Jobs worked on at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
        /// How long to carry on savepoint upgrades, suspends and resumes before returning
        /// (one still in flight then counts as failed; the next sync or `run` finishes it
        /// from where it stopped).
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        upgrade_timeout: std::time::Duration,
        /// How long a job may wait on something outside flinkops (a JobManager that does
        /// not answer, a session cluster not running) before the sync stops waiting for it,
        /// reports it and exits with 3.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        external_wait: std::time::Duration,
        #[command(flatten)]
        jars: JarArgs,
    },
    /// Show the jobs flinkops manages in the cluster, from their ledgers: applied commit,
    /// health and last error.
    Status(StatusArgs),
    /// Take a savepoint of a running job now (the job keeps running) and record it in the
    /// job's savepoint history. Prints the savepoint's path.
    Savepoint {
        /// The job, as NAMESPACE/NAME.
        #[arg(value_parser = parse_job_id_arg)]
        job: JobId,
        /// How long to wait for the savepoint to complete.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Show a job's lineage from its ledger: every commit applied to it, when, by which
    /// action, the savepoint or checkpoint its state came in from and the savepoint it
    /// went out with, the outcome; and its savepoints. Works for a job removed from Git
    /// (its ledger stays as a tombstone).
    History {
        /// The job, as NAMESPACE/NAME.
        #[arg(value_parser = parse_job_id_arg)]
        job: JobId,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = ValidateFormat::Text)]
        output: ValidateFormat,
    },
    /// Print the JSON Schema of job definition files (or, with --settings, of
    /// flinkops.yaml), for editors and CI validators.
    ///
    /// Point yaml-language-server at it with a first line like
    /// `# yaml-language-server: $schema=../schema/jobs.schema.json`.
    Schema {
        /// The settings file's schema instead.
        #[arg(long)]
        settings: bool,
    },
    /// Print a shell completion script: `source <(flinkops completions bash)`.
    Completions { shell: clap_complete::Shell },
    /// Run the reconciler: keep the cluster in sync with a branch of a Git repository.
    ///
    /// A local repository is watched (a new commit is picked up within about a second); a
    /// remote one is cloned once into the cache directory and then fetched on each
    /// verified webhook push and every --interval. Drift and health come from watches.
    /// When the branch cannot be fetched or read, or its history was rewritten, the last
    /// applied state is kept, the condition is reported (log, metrics) and retried with
    /// backoff. Stops on SIGINT or SIGTERM.
    Run(Box<RunArgs>),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Branch to follow; default: HEAD of a local repository, the default branch of a
    /// remote one.
    #[arg(long)]
    pub branch: Option<String>,
    /// Namespaces to manage (repeatable); default: the settings' `namespaces`, else all.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Polling interval: how often a remote is fetched without a webhook, and the
    /// fallback trigger for everything else (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Jobs worked on at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Serve the status page (/, /status.json), /healthz, /readyz, /metrics (Prometheus)
    /// and POST /webhook here, e.g.
    /// 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The repository's web page (e.g. https://github.com/org/flink-jobs): commits on the
    /// status page link to `<URL>/commit/<sha>`.
    #[arg(long, value_name = "URL", value_parser = parse_web_url)]
    pub repo_web_url: Option<String>,
    /// File holding the webhook secret (GitHub: the HMAC secret; GitLab: the secret
    /// token); without it, the FLINKOPS_WEBHOOK_SECRET environment variable. Without
    /// either, /webhook is off.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// POST each event (an upgrade started, done, failed or rolled back, a savepoint taken,
    /// drift reverted, a job removed, Git unreachable, ...) as JSON to this URL
    /// (repeatable). Sending never slows reconciliation: a bounded queue, 10 s per try,
    /// three tries.
    #[arg(long = "notify", value_name = "URL", value_parser = parse_notify_url)]
    pub notify: Vec<String>,
    /// The same events as one line of text, to a Slack incoming webhook or a receiver that
    /// takes Slack's `{"text": ...}` (repeatable).
    #[arg(long = "notify-slack", value_name = "URL", value_parser = parse_notify_url)]
    pub notify_slack: Vec<String>,
    /// File holding the key JSON notifications are signed with: HMAC-SHA256 over the body,
    /// in the header X-Flinkops-Signature-256 as `sha256=<hex>`. Without it, the
    /// FLINKOPS_NOTIFY_SECRET environment variable; without either, unsigned.
    #[arg(long, value_name = "FILE")]
    pub notify_secret_file: Option<PathBuf>,
    /// Apply a branch head that does not contain the applied commit (a force-push).
    /// Without this, such a head is reported and not applied.
    #[arg(long)]
    pub accept_history_rewrite: bool,
    /// Elect a leader among replicas with a coordination.k8s.io Lease; only the leader
    /// writes. Needed when running more than one replica.
    #[arg(long)]
    pub leader_election: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub jars: JarArgs,
    #[command(flatten)]
    pub commit_status: CommitStatusArgs,
    /// Log format: text for people, json for log pipelines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Statuses on the commits the daemon applies, in the Git host.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Commit statuses")]
pub struct CommitStatusArgs {
    /// Post a status on each commit the daemon applies, through this Git host's API:
    /// pending when seen, success when every job the commit changes is live, failure with
    /// the reason (a blocked definition at file:line, an upgrade rolled back, naming the
    /// savepoint restored, or not live within --commit-status-deadline). A commit that
    /// changes no job gets success at once.
    #[arg(long = "commit-status", value_enum, value_name = "HOST")]
    pub host: Option<crate::engine::commit_status::Host>,
    /// The host's API base URL. Default: from the repository URL (https://api.github.com
    /// for github.com, https://HOST/api/v3 for GitHub Enterprise, https://HOST/api/v4 for
    /// GitLab, http(s)://HOST/api/v1 for Gitea).
    #[arg(long = "commit-status-api", value_name = "URL", value_parser = parse_notify_url, requires = "host")]
    pub api: Option<String>,
    /// The repository as OWNER/NAME (GitLab: the project's full path, e.g.
    /// group/subgroup/project). Default: from the repository URL.
    #[arg(
        long = "commit-status-repo",
        value_name = "OWNER/NAME",
        requires = "host"
    )]
    pub status_repo: Option<String>,
    /// File holding the API token (GitHub: commit statuses write; GitLab: the api scope;
    /// Gitea: write:repository); without it, the FLINKOPS_COMMIT_STATUS_TOKEN environment
    /// variable. Never logged.
    #[arg(
        long = "commit-status-token-file",
        value_name = "FILE",
        requires = "host"
    )]
    pub token_file: Option<PathBuf>,
    /// The status's name on the commit (GitHub's and Gitea's context, GitLab's name).
    #[arg(
        long = "commit-status-context",
        value_name = "NAME",
        default_value = "flinkops"
    )]
    pub context: String,
    /// How long a commit may stay pending before its status says failure.
    #[arg(long = "commit-status-deadline", value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub deadline: std::time::Duration,
    /// A page each status links to (e.g. the status page's public URL).
    #[arg(long = "commit-status-link", value_name = "URL", value_parser = parse_notify_url, requires = "host")]
    pub link: Option<String>,
}

impl CommitStatusArgs {
    /// The daemon's commit status settings (`None` without --commit-status); `repo_url`
    /// is the repository followed, which the API and repository default from.
    pub fn config(&self, repo_url: &str) -> Result<Option<crate::daemon::commit_status::Config>> {
        use crate::engine::commit_status::Host;
        let Some(host) = self.host else {
            return Ok(None);
        };
        let (api, repo) = match (&self.api, &self.status_repo) {
            (Some(api), Some(repo)) => (api.clone(), repo.clone()),
            (api, repo) => {
                let (a, r) = crate::engine::commit_status::infer(host, repo_url)
                    .map_err(|e| anyhow::anyhow!("--commit-status: {e}"))?;
                (api.clone().unwrap_or(a), repo.clone().unwrap_or(r))
            }
        };
        let parts: Vec<&str> = repo.split('/').collect();
        let fits = parts
            .iter()
            .all(|p| !p.is_empty() && !matches!(*p, "." | ".."))
            && match host {
                Host::GitLab => parts.len() >= 2,
                Host::GitHub | Host::Gitea => parts.len() == 2,
            };
        if !fits {
            bail!(
                "--commit-status-repo `{}` is not OWNER/NAME{}",
                terminal(&repo),
                if host == Host::GitLab {
                    " (or GROUP/.../PROJECT)"
                } else {
                    ""
                }
            );
        }
        let token = read_secret(
            self.token_file.as_deref(),
            "FLINKOPS_COMMIT_STATUS_TOKEN",
            "commit status token",
        )?
        .context(
            "--commit-status needs a token: --commit-status-token-file FILE or FLINKOPS_COMMIT_STATUS_TOKEN",
        )?;
        Ok(Some(crate::daemon::commit_status::Config {
            target: crate::engine::commit_status::Target {
                host,
                api: api.trim_end_matches('/').to_string(),
                repo,
                context: self.context.clone(),
                target_url: self.link.clone(),
            },
            token,
            deadline: self.deadline,
        }))
    }
}

/// Where session jobs' jars may come from: the operator's choice, not the repository's.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Session job jars")]
pub struct JarArgs {
    /// Directory a session job's file:// jarURI must point into (after resolving
    /// symbolic links and `..`); without it, file:// jars are refused.
    #[arg(long, value_name = "DIR")]
    pub jar_dir: Option<PathBuf>,
    /// Host an http(s):// jarURI may download from (repeatable; an exact name or IP
    /// address); without one, downloads are refused. Redirects are not followed.
    #[arg(long = "jar-host", value_name = "HOST")]
    pub jar_hosts: Vec<String>,
    /// Let those hosts be at loopback, private, link-local or other internal addresses
    /// (an artifact repository inside the cluster); without it such addresses are
    /// refused, whatever the name resolves to.
    #[arg(long)]
    pub jar_allow_internal_addresses: bool,
    /// Largest jar read or downloaded, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub jar_max_size_mib: u64,
    /// How long one jar download may take, from connecting to the last byte.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    pub jar_download_timeout: std::time::Duration,
}

impl JarArgs {
    pub fn fetcher(&self) -> Result<crate::runtime::jar::JarFetcher> {
        crate::runtime::jar::JarFetcher::new(crate::runtime::jar::JarPolicy {
            dir: self.jar_dir.clone(),
            hosts: self.jar_hosts.clone(),
            allow_internal: self.jar_allow_internal_addresses,
            max_bytes: self.jar_max_size_mib << 20,
            timeout: self.jar_download_timeout,
        })
        .map_err(anyhow::Error::msg)
    }
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a daemon keeps its Lease and status ConfigMap.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    /// Namespace of the daemon's Lease and status ConfigMap (`<instance>-status`).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        hide_env_values = true,
        default_value = "default",
        value_name = "NS"
    )]
    pub state_namespace: String,
    /// Name of this flinkops installation: the Lease's name, and the prefix of the status
    /// ConfigMap. Replicas of one installation share it.
    #[arg(long, default_value = "flinkops", value_name = "NAME")]
    pub instance: String,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Namespaces to read (repeatable); default: all.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ValidateFormat::Text)]
    pub output: ValidateFormat,
    /// Block until every job changed by COMMIT (its plan against its first parent) is
    /// applied and healthy, deleted, or failed; for a pipeline to wait for its merge to be
    /// live. Exit code 0: live; 1: a job failed (its error is printed); 2: timed out.
    /// Reads COMMIT from --repo.
    #[arg(long, value_name = "COMMIT")]
    pub wait: Option<String>,
    /// With --wait: how long to wait.
    #[arg(long, default_value = "10m", value_parser = parse_duration, requires = "wait")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Args, Debug)]
pub struct RepoArgs {
    /// The Git repository: a local directory (its root), or a URL to clone and fetch
    /// (https://, ssh://, git@host:path, file://).
    #[arg(
        long,
        default_value = ".",
        env = "FLINKOPS_REPO",
        hide_env_values = true
    )]
    pub repo: String,
    /// Subdirectory of the repository holding flinkops.yaml and the definitions.
    #[arg(
        long,
        default_value = "",
        env = "FLINKOPS_PATH",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub path: String,
    #[command(flatten)]
    pub git: GitArgs,
}

#[derive(Args, Debug)]
#[command(next_help_heading = "Remote repositories")]
pub struct GitArgs {
    /// Where remote repositories are cloned (one bare mirror per URL, fetched
    /// incrementally); default $XDG_CACHE_HOME/flinkops or ~/.cache/flinkops.
    #[arg(
        long,
        env = "FLINKOPS_CACHE_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub cache_dir: Option<PathBuf>,
    /// File holding an HTTPS access token; without it the token is read from the
    /// FLINKOPS_GIT_TOKEN environment variable. The user name sent with it is
    /// FLINKOPS_GIT_USERNAME, else the URL's, else x-access-token. Never logged.
    #[arg(long, value_name = "FILE")]
    pub git_token_file: Option<PathBuf>,
    /// Private key for SSH URLs (no passphrase); host keys are checked against
    /// ~/.ssh/known_hosts.
    #[arg(
        long,
        env = "FLINKOPS_GIT_SSH_KEY_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub ssh_key_file: Option<PathBuf>,
}

impl RepoArgs {
    pub fn location(&self) -> Location {
        Location::parse(&self.repo)
    }

    fn mirror(&self, url: &str) -> Result<Mirror> {
        let creds = Credentials::load(
            self.git.git_token_file.as_deref(),
            self.git.ssh_key_file.as_deref(),
        )?;
        let cache = self.git.cache_dir.clone().unwrap_or_else(default_cache_dir);
        Ok(Mirror::new(url, &cache, creds)?)
    }

    /// The repository to read: a local one as it is, a remote one fetched (all branches
    /// and tags; HEAD is the remote's default branch).
    pub fn open(&self) -> Result<Repo> {
        match self.location() {
            Location::Local(path) => Ok(Repo::open(&path)?),
            Location::Remote(url) => {
                let mirror = self.mirror(&url)?;
                mirror.fetch(None)?;
                Ok(mirror.open()?)
            }
        }
    }

    /// What `run` follows.
    pub fn source(&self, branch: Option<String>) -> Result<Source> {
        Ok(match self.location() {
            Location::Local(path) => Source::Local(path),
            Location::Remote(url) => Source::Remote {
                mirror: self.mirror(&url)?,
                branch,
            },
        })
    }
}

fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("flinkops");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/flinkops"),
        None => std::env::temp_dir().join("flinkops-cache"),
    }
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
            live,
            namespaces,
            format,
            color,
        } => {
            let mut report = match (cluster, base) {
                (true, _) => tokio::runtime::Runtime::new()?.block_on(async {
                    let client = crate::edge::kube::client().await?;
                    let r = repo.open()?;
                    crate::runtime::cluster_diff::cluster_diff(
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
            if live {
                tokio::runtime::Runtime::new()?.block_on(async {
                    let client = crate::edge::kube::client().await?;
                    let namespaces: Vec<String> = (report.plan.jobs.iter())
                        .filter(|j| j.action != crate::engine::plan::Action::None)
                        .map(|j| j.namespace.clone())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    if namespaces.is_empty() {
                        return anyhow::Ok(());
                    }
                    let ledgers = crate::cli::status::ledgers(&client, &namespaces).await?;
                    let reach = crate::runtime::upgrade::Reach::detect();
                    crate::runtime::live_impact::add(&client, &mut report.plan, &ledgers, reach)
                        .await;
                    Ok(())
                })?;
            }
            print_report(&report, format, color)
        }
        Command::Sync {
            repo,
            rev,
            once: _,
            namespaces,
            concurrency,
            upgrade_timeout,
            external_wait,
            jars,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(sync_cmd(
                &repo,
                &rev,
                &namespaces,
                concurrency as usize,
                (upgrade_timeout, external_wait),
                &jars,
            ))
        }
        Command::Status(args) => tokio::runtime::Runtime::new()?.block_on(status_cmd(&args)),
        Command::Savepoint { job, timeout } => tokio::runtime::Runtime::new()?.block_on(async {
            let client = crate::edge::kube::client().await?;
            let record = crate::runtime::savepoint::take(&client, &job, timeout).await?;
            writeln!(std::io::stdout().lock(), "{}", record.path)?;
            Ok(EXIT_OK)
        }),
        Command::History { job, output } => tokio::runtime::Runtime::new()?.block_on(async {
            let client = crate::edge::kube::client().await?;
            let ledger = crate::edge::kube::ops::read_ledger(&client, &job)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{job} has no ledger: flinkops has not deployed it in this cluster"
                    )
                })?;
            let lineage = crate::engine::history::lineage(&job, &ledger);
            let text = match output {
                ValidateFormat::Text => crate::engine::history::text(&lineage),
                ValidateFormat::Json => format!("{}\n", serde_json::to_string_pretty(&lineage)?),
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(EXIT_OK)
        }),
        Command::Schema { settings } => {
            let schema = if settings {
                crate::model::spec::schema::settings()
            } else {
                crate::model::spec::schema::jobs()
            };
            writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&schema)?
            )?;
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "flinkops",
                &mut std::io::stdout().lock(),
            );
            Ok(EXIT_OK)
        }
        Command::Run(args) => {
            tokio::runtime::Runtime::new()?.block_on(run_cmd(*args))?;
            Ok(EXIT_OK)
        }
    }
}

async fn run_cmd(args: RunArgs) -> Result<()> {
    use crate::edge::kube::lease::{default_identity, LeaseConfig};
    let webhook = read_secret(
        args.webhook_secret_file.as_deref(),
        "FLINKOPS_WEBHOOK_SECRET",
        "webhook",
    )?;
    let jars = args.jars.fetcher()?;
    let commit_status = args.commit_status.config(&args.repo.repo)?;
    let receivers: Vec<crate::runtime::notify::Receiver> = (args.notify.iter())
        .map(|u| (u, crate::runtime::notify::Format::Json))
        .chain(
            args.notify_slack
                .iter()
                .map(|u| (u, crate::runtime::notify::Format::Slack)),
        )
        .map(|(url, format)| crate::runtime::notify::Receiver {
            url: url.clone(),
            format,
        })
        .collect();
    if !receivers.is_empty() {
        let secret = read_secret(
            args.notify_secret_file.as_deref(),
            "FLINKOPS_NOTIFY_SECRET",
            "notification",
        )?;
        let notifier = crate::runtime::notify::Notifier::start(receivers, secret)
            .map_err(anyhow::Error::msg)?;
        crate::runtime::notify::install(notifier);
    }
    let client = crate::edge::kube::client().await?;
    let identity = default_identity();
    let cfg = crate::daemon::run::RunConfig {
        source: args.repo.source(args.branch.clone())?,
        rev: args
            .branch
            .as_ref()
            .map_or("HEAD".into(), |b| format!("refs/heads/{b}")),
        path: args.repo.path.clone(),
        accept_history_rewrite: args.accept_history_rewrite,
        namespaces: args.namespaces,
        interval: args.interval,
        concurrency: args.concurrency as usize,
        listen: args.listen,
        web_url: args.repo_web_url.clone(),
        webhook,
        leader_election: args.leader_election.then(|| {
            LeaseConfig::new(
                args.state.state_namespace.clone(),
                args.state.instance.clone(),
                identity.clone(),
            )
        }),
        state_namespace: args.state.state_namespace.clone(),
        instance: args.state.instance.clone(),
        identity,
        repo_display: crate::engine::redact::redact_url(&args.repo.repo),
        jars,
        commit_status,
    };
    crate::daemon::run::run(client, cfg, shutdown_signal()).await
}

async fn status_cmd(args: &StatusArgs) -> Result<i32> {
    let client = crate::edge::kube::client().await?;
    let w = crate::cli::status::Where {
        namespaces: &args.namespaces,
        state_namespace: &args.state.state_namespace,
        instance: &args.state.instance,
    };
    match &args.wait {
        Some(rev) => {
            let repo = args.repo.open()?;
            crate::cli::status::wait(&client, &w, &repo, &args.repo.path, rev, args.timeout).await
        }
        None => crate::cli::status::show(&client, &w, args.output == ValidateFormat::Json).await,
    }
}

async fn sync_cmd(
    args: &RepoArgs,
    rev: &str,
    namespaces: &[String],
    concurrency: usize,
    (upgrade_timeout, external_wait): (std::time::Duration, std::time::Duration),
    jars: &JarArgs,
) -> Result<i32> {
    use crate::runtime::sync::{sync_once, SyncOnce};
    let jars = jars.fetcher()?;
    let repo = args.open()?;
    let client = crate::edge::kube::client().await?;
    let report = sync_once(
        &client,
        SyncOnce {
            repo: &repo,
            rev,
            path: &args.path,
            namespaces,
            concurrency,
            upgrade_timeout,
            external_wait,
            jars: &jars,
        },
    )
    .await?;
    let mut out = std::io::stdout().lock();
    // Job names, file names, errors from the cluster and Flink: one line each, escaped.
    let t = |s: &dyn std::fmt::Display| terminal(&s.to_string()).into_owned();
    for e in &report.catalog_errors {
        writeln!(out, "error: {}", t(e))?;
    }
    for o in &report.outcomes {
        let mut line = format!(
            "{} {}: {} (applied {}, deleted {})",
            t(&o.id),
            o.action.as_str(),
            if o.error.is_some() { "failed" } else { "ok" },
            o.applied,
            o.deleted
        );
        for d in &o.drift {
            line.push_str(&format!("\n    drift reverted: {}", t(d)));
        }
        if let (Some(n), None) = (&o.note, &o.error) {
            let waits = if o.waiting.is_some() { "waiting: " } else { "" };
            line.push_str(&format!("\n    {waits}{}", t(n)));
        }
        if let Some(e) = &o.error {
            line.push_str(&format!("\n    {}", t(e)));
        }
        writeln!(out, "{line}")?;
    }
    let waiting = report.waiting().count();
    writeln!(
        out,
        "synced {} in {} ms: {} jobs with work, {} failed, {} waiting",
        crate::model::escape::short_commit(&report.commit),
        report.elapsed.as_millis(),
        report.outcomes.len(),
        report.outcomes.iter().filter(|o| o.error.is_some()).count(),
        waiting,
    )?;
    if waiting > 0 {
        writeln!(
            out,
            "{waiting} jobs wait on something outside flinkops (above); `flinkops run` or the next sync carries them on"
        )?;
    }
    Ok(if report.failed() {
        EXIT_ERROR
    } else if waiting > 0 {
        EXIT_WAITING
    } else {
        EXIT_OK
    })
}

fn load(repo: &Repo, args: &RepoArgs, rev: &str) -> Result<(String, Catalog)> {
    let snapshot = repo.snapshot(rev, &args.path)?;
    let catalog = spec::load(&snapshot);
    Ok((snapshot.commit, catalog))
}

fn validate(args: &RepoArgs, rev: &str, format: ValidateFormat) -> Result<i32> {
    let repo = args.open()?;
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
                writeln!(out, "{}", terminal(&e.to_string()))?;
            }
            let short = crate::model::escape::short_commit(&commit);
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
    let repo = args.open()?;
    let (commit, catalog) = load(&repo, args, rev)?;
    let wanted = job.map(parse_job_id).transpose()?;
    if let Some(id) = &wanted {
        if !catalog.jobs.contains_key(id) && !catalog.blocked.contains_key(id) {
            bail!("no job {id} at {rev}");
        }
    }
    // Without its settings the repository did not load: rendering with default settings
    // would show objects that are not what flinkops would apply.
    if !catalog.settings_errors.is_empty() {
        for e in &catalog.settings_errors {
            eprintln!("error: {e}");
        }
        return Ok(EXIT_ERROR);
    }
    // Each job as sync applies it when it is first deployed: restoring from its
    // initialSavepointPath, if any.
    let objects: Vec<render::Object> = catalog
        .jobs
        .values()
        .filter(|s| wanted.as_ref().is_none_or(|w| *w == s.id))
        .flat_map(|s| {
            let cx = render::Context {
                commit: &commit,
                restore_from: render::first_restore(s),
            };
            render::render(s, &cx).objects
        })
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
        eprintln!("error: {}", terminal(&e.to_string()));
    }
    Ok(if relevant.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn offline_report(args: &RepoArgs, base: &str, head: &str) -> Result<diff::Report> {
    let repo = args.open()?;
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

pub use crate::model::duration::parse as parse_duration;

/// `--repo-web-url`: an http(s) URL and nothing else, as it becomes the start of every
/// commit link on the status page (`javascript:` or `data:` would run in the reader's
/// browser). No query or fragment, which would swallow the `/commit/<sha>` after it.
/// A secret from `file` (an error when it cannot be read or is empty), else from the
/// environment variable `env` (unset or empty: none).
fn read_secret(file: Option<&std::path::Path>, env: &str, what: &str) -> Result<Option<Secret>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {what} secret file {}", path.display()))?;
            Ok(Some(
                Secret::new(text).with_context(|| format!("{} is empty", path.display()))?,
            ))
        }
        None => Ok(std::env::var(env).ok().and_then(Secret::new)),
    }
}

/// A notification receiver: an http(s) URL with a host (it may carry a token; it is never
/// shown with one).
fn parse_notify_url(s: &str) -> std::result::Result<String, String> {
    let shown = || terminal(&crate::engine::redact::redact_url(s)).into_owned();
    let url = reqwest::Url::parse(s).map_err(|e| format!("`{}`: {e}", shown()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{}` is not an http(s) URL with a host", shown()));
    }
    Ok(s.to_string())
}

fn parse_web_url(s: &str) -> std::result::Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("`{}` is not an http(s) URL", terminal(s)))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{}` has no host", terminal(s)));
    }
    if let Some(c) = s.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '"' | '<' | '>' | '\\' | '`')
    }) {
        return Err(format!(
            "`{}` holds {:?}: give the repository's page, e.g. https://github.com/org/flink-jobs",
            terminal(s),
            c
        ));
    }
    Ok(s.to_string())
}

fn parse_job_id_arg(s: &str) -> std::result::Result<JobId, String> {
    parse_job_id(s).map_err(|e| e.to_string())
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
    use super::*;

    fn run_args(args: &[&str]) -> std::result::Result<Box<RunArgs>, String> {
        let argv = ["flinkops", "run"].iter().chain(args).copied();
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Run(r) => Ok(r),
            _ => unreachable!(),
        }
    }

    #[test]
    fn commit_statuses_take_the_api_and_repository_from_the_repository_url() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "s3cret\n").unwrap();
        let token = token.to_str().unwrap();
        let url = "http://127.0.0.1:3000/me/jobs.git";
        let r = run_args(&[
            "--repo",
            url,
            "--commit-status",
            "gitea",
            "--commit-status-token-file",
            token,
        ])
        .unwrap();
        let cfg = r.commit_status.config(url).unwrap().unwrap();
        assert_eq!(cfg.target.api, "http://127.0.0.1:3000/api/v1");
        assert_eq!(cfg.target.repo, "me/jobs");
        assert_eq!(cfg.target.context, "flinkops");
        assert_eq!(cfg.token.expose(), "s3cret");
        assert_eq!(cfg.deadline, std::time::Duration::from_secs(1800));
        assert!(!format!("{:?}", cfg.token).contains("s3cret"));
        // Given explicitly (a local repository implies nothing); the API's `/` trimmed.
        let r = run_args(&[
            "--repo",
            "/srv/jobs",
            "--commit-status",
            "gitlab",
            "--commit-status-api",
            "https://gl.example/api/v4/",
            "--commit-status-repo",
            "grp/sub/jobs",
            "--commit-status-token-file",
            token,
        ])
        .unwrap();
        let cfg = r.commit_status.config("/srv/jobs").unwrap().unwrap();
        assert_eq!(
            (cfg.target.api.as_str(), cfg.target.repo.as_str()),
            ("https://gl.example/api/v4", "grp/sub/jobs")
        );
        // What cannot work is refused at start, saying what to give.
        let err = |args: &[&str], repo: &str| {
            run_args(args)
                .unwrap()
                .commit_status
                .config(repo)
                .unwrap_err()
                .to_string()
        };
        let e = err(
            &[
                "--repo",
                "/srv/jobs",
                "--commit-status",
                "github",
                "--commit-status-token-file",
                token,
            ],
            "/srv/jobs",
        );
        assert!(e.contains("--commit-status-api"), "{e}");
        let e = err(
            &[
                "--repo",
                url,
                "--commit-status",
                "github",
                "--commit-status-repo",
                "a/b/c",
                "--commit-status-token-file",
                token,
            ],
            url,
        );
        assert!(e.contains("not OWNER/NAME"), "{e}");
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty = dir.path().join("empty");
        let e = err(
            &[
                "--repo",
                url,
                "--commit-status",
                "gitea",
                "--commit-status-token-file",
                empty.to_str().unwrap(),
            ],
            url,
        );
        assert!(e.contains("is empty"), "{e}");
        // The options need --commit-status.
        assert!(run_args(&["--repo", url, "--commit-status-repo", "a/b"]).is_err());
        assert!(run_args(&["--repo", url])
            .unwrap()
            .commit_status
            .config(url)
            .unwrap()
            .is_none());
    }

    #[test]
    fn repo_web_url_is_http_or_https_only() {
        for ok in [
            "https://github.com/org/flink-jobs",
            "http://git.internal:8080/org/jobs/",
            "HTTPS://GitLab.example.com/a/b",
        ] {
            assert_eq!(parse_web_url(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<script>",
            "//evil.example.com",
            "ftp://x/y",
            "https://",
            "https:///path",
            "https://x/y?q=1",
            "https://x/y#f",
            "https://x/\"onmouseover=\"",
            "https://x/a b",
            "https://x/\x1b[2J",
        ] {
            assert!(parse_web_url(bad).is_err(), "{bad}");
        }
        assert!(parse_web_url("javascript:alert(1)")
            .unwrap_err()
            .contains("is not an http(s) URL"));
    }
}
