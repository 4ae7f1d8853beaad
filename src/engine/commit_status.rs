//! Commit statuses: what the daemon tells the Git host about each commit it applies
//! (pending when seen, success when every job the commit changes is live, failure with
//! the reason), and the request each host's API takes for one. Pure: `status --wait`'s
//! verdicts in, a status out; a status in, a request out. `daemon::commit_status` judges
//! and posts.

use crate::engine::wait::{Expect, Verdict};
use crate::model::spec::JobId;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the hosts show; each host spells them its own way (`Host::state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    Failure,
    /// Given up on for a reason that is not the commit's fault (a newer commit took over
    /// before this one went live).
    Error,
}

impl State {
    pub fn is_final(self) -> bool {
        self != State::Pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// One line; each host's request cuts it to that host's limit (`Host::description_max`).
    pub description: String,
}

impl Status {
    /// A status whose description comes from Git and the cluster: one line of text, its
    /// hazards visible (`escape::terminal`), no longer than any host takes.
    pub fn new(state: State, description: &str) -> Status {
        let line = crate::model::escape::terminal(description);
        Status {
            state,
            description: crate::model::escape::truncate(&line, 254).into_owned(),
        }
    }
}

/// The commit's status from what it changes (`wait::expectations`) and each job's verdict
/// now (`wait::judge`); `overdue`: how long it has been pending, when past the deadline.
pub fn summarize(
    expect: &BTreeMap<JobId, Expect>,
    errors: &[String],
    verdicts: &BTreeMap<JobId, Verdict>,
    overdue: Option<Duration>,
) -> Status {
    let more = |n: usize| {
        if n > 1 {
            format!(" (and {} more)", n - 1)
        } else {
            String::new()
        }
    };
    if let Some(first) = errors.first() {
        return Status::new(
            State::Failure,
            &format!("blocked: {first}{}", more(errors.len())),
        );
    }
    let failed: Vec<_> = verdicts
        .iter()
        .filter_map(|(id, v)| match v {
            Verdict::Failed(why) => Some((id, why)),
            _ => None,
        })
        .collect();
    if let Some((id, why)) = failed.first() {
        return Status::new(
            State::Failure,
            &format!("{id}: {why}{}", more(failed.len())),
        );
    }
    let pending: Vec<_> = expect
        .keys()
        .filter_map(|id| match verdicts.get(id) {
            Some(Verdict::Live(_)) => None,
            Some(Verdict::Pending(why)) => Some((id, why.as_str())),
            Some(Verdict::Failed(_)) | None => Some((id, "not judged yet")),
        })
        .collect();
    let live = expect.len() - pending.len();
    match (pending.first(), overdue) {
        (None, _) if expect.is_empty() => Status::new(State::Success, "changes no job"),
        (None, _) => Status::new(
            State::Success,
            &format!(
                "live: {}",
                if live == 1 {
                    expect
                        .keys()
                        .next()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                } else {
                    format!("{live} jobs")
                }
            ),
        ),
        (Some((id, why)), Some(after)) => Status::new(
            State::Failure,
            &format!(
                "not live after {}: {id}: {why}{}",
                crate::model::duration::format(after),
                more(pending.len())
            ),
        ),
        // Without the reason, which changes as an upgrade moves on: a host gets a new
        // pending status only when a job goes live.
        (Some((id, _)), None) => Status::new(
            State::Pending,
            &format!("{live} of {} live; waiting for {id}", expect.len()),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Host {
    /// GitHub and GitHub Enterprise: the commit statuses API.
    #[value(name = "github")]
    GitHub,
    /// GitLab: the commit status API.
    #[value(name = "gitlab")]
    GitLab,
    /// Gitea and Forgejo: the commit statuses API (GitHub's shape).
    #[value(name = "gitea")]
    Gitea,
}

impl Host {
    /// The state as this host's API spells it.
    pub fn state(self, s: State) -> &'static str {
        match (self, s) {
            (_, State::Pending) => "pending",
            (_, State::Success) => "success",
            (Host::GitLab, State::Failure) => "failed",
            (_, State::Failure) => "failure",
            (Host::GitLab, State::Error) => "canceled",
            (_, State::Error) => "error",
        }
    }

    /// The longest description the host takes, in characters (GitHub refuses more than
    /// 140; GitLab keeps 255).
    pub fn description_max(self) -> usize {
        match self {
            Host::GitHub => 140,
            Host::GitLab | Host::Gitea => 255,
        }
    }

    /// The header that carries the token, and its value.
    pub fn auth_header(self, token: &str) -> (&'static str, String) {
        match self {
            Host::GitHub => ("authorization", format!("Bearer {token}")),
            Host::GitLab => ("private-token", token.to_string()),
            Host::Gitea => ("authorization", format!("token {token}")),
        }
    }
}

/// Where statuses go: the host's API and the repository in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    /// The API's base URL, without a trailing `/` (e.g. https://api.github.com,
    /// https://gitlab.example.com/api/v4, http://gitea:3000/api/v1).
    pub api: String,
    /// OWNER/NAME (GitLab: the project's full path, e.g. group/subgroup/project).
    pub repo: String,
    /// The name the status goes by on the commit (GitHub's `context`, GitLab's `name`).
    pub context: String,
    /// A page to link the status to (e.g. the daemon's status page).
    pub target_url: Option<String>,
}

/// One request to post a status, without its token (added by `Host::auth_header` when
/// sent, so no `Debug` of a request can show it).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: serde_json::Value,
}

/// The request that sets `status` on `commit` at `t`.
pub fn request(t: &Target, commit: &str, status: &Status) -> Request {
    let seg = crate::model::escape::url_path_segment;
    let sha = seg(commit);
    let owner_name = || {
        let (owner, name) = t.repo.split_once('/').unwrap_or((&t.repo, ""));
        format!("{}/{}", seg(owner), seg(name))
    };
    let state = t.host.state(status.state);
    let mut body = serde_json::Map::new();
    body.insert("state".into(), state.into());
    let description =
        crate::model::escape::truncate(&status.description, t.host.description_max() - 1);
    body.insert("description".into(), description.into_owned().into());
    let name_key = if t.host == Host::GitLab {
        "name"
    } else {
        "context"
    };
    body.insert(name_key.into(), t.context.clone().into());
    if let Some(u) = &t.target_url {
        body.insert("target_url".into(), u.clone().into());
    }
    let (url, headers) = match t.host {
        Host::GitHub => (
            format!("{}/repos/{}/statuses/{sha}", t.api, owner_name()),
            vec![
                ("accept", "application/vnd.github+json".to_string()),
                ("x-github-api-version", "2022-11-28".to_string()),
            ],
        ),
        // The project by its path, one segment with its slashes encoded (GitLab's form).
        Host::GitLab => (
            format!("{}/projects/{}/statuses/{sha}", t.api, seg(&t.repo)),
            vec![],
        ),
        Host::Gitea => (
            format!("{}/repos/{}/statuses/{sha}", t.api, owner_name()),
            vec![("accept", "application/json".to_string())],
        ),
    };
    Request {
        url,
        headers,
        body: serde_json::Value::Object(body),
    }
}

/// The API base and repository path a repository URL implies for `host`
/// (`https://github.com/org/jobs.git` → `https://api.github.com`, `org/jobs`; SSH forms
/// `git@host:org/jobs.git` and `ssh://git@host/org/jobs` too). An error says what to give
/// instead.
pub fn infer(host: Host, repo_url: &str) -> Result<(String, String), String> {
    let (scheme, authority, path) = if let Some((scheme, rest)) = repo_url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let scheme = if matches!(scheme, "http" | "https") {
            scheme
        } else {
            "https"
        };
        // Credentials in the URL stay out of the API base; an SSH port is not the web's.
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host_port = if scheme == "https" && !repo_url.starts_with("https://") {
            host_port.split(':').next().unwrap_or(host_port)
        } else {
            host_port
        };
        (scheme, host_port.to_string(), path)
    } else if let Some((user_host, path)) = repo_url.split_once(':') {
        let host = user_host.rsplit('@').next().unwrap_or(user_host);
        ("https", host.to_string(), path)
    } else {
        return Err(format!(
            "`{}` is not a URL: give --commit-status-api and --commit-status-repo",
            crate::model::escape::terminal(repo_url)
        ));
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if authority.is_empty() || !path.contains('/') {
        return Err(format!(
            "cannot tell the repository's OWNER/NAME from `{}`: give --commit-status-repo",
            crate::model::escape::terminal(&crate::engine::redact::redact_url(repo_url))
        ));
    }
    let api = match host {
        Host::GitHub if authority.eq_ignore_ascii_case("github.com") => {
            "https://api.github.com".to_string()
        }
        Host::GitHub => format!("{scheme}://{authority}/api/v3"),
        Host::GitLab => format!("{scheme}://{authority}/api/v4"),
        Host::Gitea => format!("{scheme}://{authority}/api/v1"),
    };
    Ok((api, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> JobId {
        JobId {
            namespace: "ns".into(),
            name: n.into(),
        }
    }

    fn applied() -> Expect {
        Expect::Applied { suspended: false }
    }

    #[test]
    fn a_commit_that_changes_no_job_succeeds_at_once() {
        let s = summarize(&BTreeMap::new(), &[], &BTreeMap::new(), None);
        assert_eq!(s, Status::new(State::Success, "changes no job"));
    }

    #[test]
    fn pending_until_every_job_is_live_then_success() {
        let expect = BTreeMap::from([(id("a"), applied()), (id("b"), Expect::Deleted)]);
        let mut v = BTreeMap::from([
            (id("a"), Verdict::Live("Healthy at abc".into())),
            (id("b"), Verdict::Pending("waiting to be pruned".into())),
        ]);
        let s = summarize(&expect, &[], &v, None);
        assert_eq!(s.state, State::Pending);
        assert_eq!(s.description, "1 of 2 live; waiting for ns/b");
        v.insert(id("b"), Verdict::Live("deleted".into()));
        assert_eq!(
            summarize(&expect, &[], &v, None),
            Status::new(State::Success, "live: 2 jobs")
        );
        let one = BTreeMap::from([(id("a"), applied())]);
        assert_eq!(summarize(&one, &[], &v, None).description, "live: ns/a");
    }

    #[test]
    fn one_failure_or_a_blocked_file_fails_the_commit() {
        let expect = BTreeMap::from([(id("a"), applied()), (id("b"), applied())]);
        let v = BTreeMap::from([
            (id("a"), Verdict::Pending("applied".into())),
            (
                id("b"),
                Verdict::Failed("abc failed and was rolled back: not RUNNING".into()),
            ),
        ]);
        let s = summarize(&expect, &[], &v, None);
        assert_eq!(s.state, State::Failure);
        assert_eq!(
            s.description,
            "ns/b: abc failed and was rolled back: not RUNNING"
        );
        let errors = vec![
            "jobs/a.yaml:3:5: spec.job.parallelism: expected an integer".to_string(),
            "flinkops.yaml:1:1: unknown field".to_string(),
        ];
        let s = summarize(&expect, &errors, &v, None);
        assert_eq!(s.state, State::Failure);
        assert_eq!(
            s.description,
            "blocked: jobs/a.yaml:3:5: spec.job.parallelism: expected an integer (and 1 more)"
        );
    }

    #[test]
    fn pending_past_the_deadline_fails_naming_what_it_waits_for() {
        let expect = BTreeMap::from([(id("a"), applied())]);
        let v = BTreeMap::from([(id("a"), Verdict::Pending("applied, Progressing".into()))]);
        let s = summarize(&expect, &[], &v, Some(Duration::from_secs(1800)));
        assert_eq!(s.state, State::Failure);
        assert_eq!(
            s.description,
            "not live after 30m: ns/a: applied, Progressing"
        );
        // Not judged at all (no verdict) is pending, never success.
        assert_eq!(
            summarize(&expect, &[], &BTreeMap::new(), None).state,
            State::Pending
        );
    }

    #[test]
    fn descriptions_are_one_line_and_fit_every_host() {
        let expect = BTreeMap::from([(id("a"), applied())]);
        let v = BTreeMap::from([(
            id("a"),
            Verdict::Failed(format!("line one\nline two \u{202e} {}", "x".repeat(300))),
        )]);
        let s = summarize(&expect, &[], &v, None);
        assert!(!s.description.contains('\n'), "{}", s.description);
        assert!(!s.description.contains('\u{202e}'), "{}", s.description);
        for host in [Host::GitHub, Host::GitLab, Host::Gitea] {
            let r = request(&target(host, "https://h", "o/r"), SHA, &s);
            let d = r.body["description"].as_str().unwrap();
            assert_eq!(d.chars().count(), host.description_max(), "{host:?}");
            assert!(d.ends_with('…'), "{d}");
        }
    }

    fn target(host: Host, api: &str, repo: &str) -> Target {
        Target {
            host,
            api: api.into(),
            repo: repo.into(),
            context: "flinkops".into(),
            target_url: None,
        }
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn github_gitea_and_gitlab_requests_have_their_own_shapes() {
        let failure = Status::new(State::Failure, "ns/a: rolled back");
        let gh = request(
            &target(Host::GitHub, "https://api.github.com", "org/jobs"),
            SHA,
            &failure,
        );
        assert_eq!(
            gh.url,
            format!("https://api.github.com/repos/org/jobs/statuses/{SHA}")
        );
        assert_eq!(
            gh.body,
            serde_json::json!({"state": "failure", "description": "ns/a: rolled back", "context": "flinkops"})
        );
        assert!(gh
            .headers
            .contains(&("accept", "application/vnd.github+json".into())));
        let mut gl_target = target(Host::GitLab, "https://gl.example/api/v4", "grp/sub/jobs");
        gl_target.target_url = Some("https://flinkops.example/".into());
        let gl = request(&gl_target, SHA, &failure);
        assert_eq!(
            gl.url,
            format!("https://gl.example/api/v4/projects/grp%2Fsub%2Fjobs/statuses/{SHA}")
        );
        assert_eq!(
            gl.body,
            serde_json::json!({"state": "failed", "description": "ns/a: rolled back", "name": "flinkops", "target_url": "https://flinkops.example/"})
        );
        let gt = request(
            &target(Host::Gitea, "http://127.0.0.1:3000/api/v1", "me/jobs"),
            SHA,
            &Status::new(State::Error, "superseded"),
        );
        assert_eq!(
            gt.url,
            format!("http://127.0.0.1:3000/api/v1/repos/me/jobs/statuses/{SHA}")
        );
        assert_eq!(gt.body["state"], "error");
        assert_eq!(gt.body["context"], "flinkops");
        assert_eq!(Host::GitLab.state(State::Error), "canceled");
        assert_eq!(
            Host::GitHub.auth_header("t0k"),
            ("authorization", "Bearer t0k".to_string())
        );
        assert_eq!(
            Host::GitLab.auth_header("t0k"),
            ("private-token", "t0k".to_string())
        );
        assert_eq!(
            Host::Gitea.auth_header("t0k"),
            ("authorization", "token t0k".to_string())
        );
    }

    #[test]
    fn repository_names_cannot_leave_their_path_segment() {
        let r = request(
            &target(Host::GitHub, "https://api.github.com", "o/../../x?y#z"),
            "../abc",
            &Status::new(State::Pending, "p"),
        );
        assert_eq!(
            r.url,
            "https://api.github.com/repos/o/..%2F..%2Fx%3Fy%23z/statuses/..%2Fabc"
        );
    }

    #[test]
    fn the_api_and_repository_follow_from_the_repository_url() {
        let gh = |u| infer(Host::GitHub, u);
        assert_eq!(
            gh("https://github.com/org/jobs.git"),
            Ok(("https://api.github.com".into(), "org/jobs".into()))
        );
        assert_eq!(
            gh("git@github.com:org/jobs.git"),
            Ok(("https://api.github.com".into(), "org/jobs".into()))
        );
        assert_eq!(
            gh("https://x-access-token:secret@ghe.example/org/jobs"),
            Ok(("https://ghe.example/api/v3".into(), "org/jobs".into()))
        );
        assert_eq!(
            infer(
                Host::GitLab,
                "ssh://git@gitlab.example:2222/grp/sub/jobs.git"
            ),
            Ok((
                "https://gitlab.example/api/v4".into(),
                "grp/sub/jobs".into()
            ))
        );
        assert_eq!(
            infer(Host::Gitea, "http://127.0.0.1:3000/me/jobs.git"),
            Ok(("http://127.0.0.1:3000/api/v1".into(), "me/jobs".into()))
        );
        let e = gh("https://tok@github.com/jobs").unwrap_err();
        assert!(
            e.contains("--commit-status-repo") && !e.contains("tok@"),
            "{e}"
        );
        assert!(gh("/srv/git/jobs").is_err());
    }
}
