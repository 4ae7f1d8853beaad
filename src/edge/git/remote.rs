//! Remote repositories: a private bare mirror under the cache directory, cloned once and
//! then fetched incrementally. Credentials come from a file or the environment and are
//! handed to libgit2 only: never written to the mirror's config, logged, or printed (the
//! URL is fetched as an anonymous remote and shown with any user-info removed).

use super::{Repo, SourceError};
use git2::{Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Where `--repo` points: a directory on this machine or a URL to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(String),
}

impl Location {
    /// URLs (`https://…`, `ssh://…`, `file://…`) and scp-style `user@host:path` are remote;
    /// anything else is a path.
    pub fn parse(s: &str) -> Location {
        let scp_like = match (s.find('@'), s.find(':')) {
            (Some(at), Some(colon)) => at < colon && !s[..colon].contains('/'),
            _ => false,
        };
        if s.contains("://") || scp_like {
            Location::Remote(s.to_string())
        } else {
            Location::Local(PathBuf::from(s))
        }
    }
}

pub use crate::engine::redact::redact_url;

/// How to authenticate. `Debug` never shows the token.
#[derive(Clone, Default)]
pub struct Credentials {
    /// HTTPS user name sent with the token (GitHub and GitLab accept any with a token).
    pub username: Option<String>,
    /// HTTPS password or access token.
    pub token: Option<String>,
    /// Private key for SSH URLs (host keys are checked against ~/.ssh/known_hosts).
    pub ssh_key: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ssh_key", &self.ssh_key)
            .finish()
    }
}

/// Environment variables read for credentials (documented in `--help`).
pub const ENV_TOKEN: &str = "FLINKOPS_GIT_TOKEN";
pub const ENV_USERNAME: &str = "FLINKOPS_GIT_USERNAME";

impl Credentials {
    /// The token from `token_file` (trailing newline ignored) or else `FLINKOPS_GIT_TOKEN`;
    /// the SSH key path as given.
    pub fn load(token_file: Option<&Path>, ssh_key: Option<&Path>) -> Result<Self, SourceError> {
        let token = match token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SourceError::Credentials {
                    message: format!("reading token file {}: {e}", path.display()),
                })?;
                let token = text.trim().to_string();
                if token.is_empty() {
                    return Err(SourceError::Credentials {
                        message: format!("token file {} is empty", path.display()),
                    });
                }
                Some(token)
            }
            None => std::env::var(ENV_TOKEN)
                .ok()
                .filter(|t| !t.trim().is_empty()),
        };
        if let Some(key) = ssh_key {
            if !key.is_file() {
                return Err(SourceError::Credentials {
                    message: format!("SSH key {} is not a readable file", key.display()),
                });
            }
        }
        Ok(Credentials {
            username: std::env::var(ENV_USERNAME).ok(),
            token: token.map(|t| t.trim().to_string()),
            ssh_key: ssh_key.map(Path::to_path_buf),
        })
    }

    /// Every secret this holds, to scrub from error messages.
    fn scrub(&self, mut message: String) -> String {
        if let Some(t) = &self.token {
            message = message.replace(t.as_str(), "<redacted>");
        }
        message
    }
}

/// A bare mirror of a remote repository in the cache directory.
#[derive(Debug, Clone)]
pub struct Mirror {
    url: String,
    dir: PathBuf,
    creds: Credentials,
}

/// Timeouts for talking to the remote: an unreachable host must not hang a cycle.
const CONNECT_TIMEOUT_MS: i32 = 15_000;
const IO_TIMEOUT_MS: i32 = 60_000;

impl Mirror {
    /// The mirror for `url` under `cache_dir` (created empty if new; `fetch` fills it).
    pub fn new(url: &str, cache_dir: &Path, creds: Credentials) -> Result<Self, SourceError> {
        static TIMEOUTS: Once = Once::new();
        TIMEOUTS.call_once(|| {
            // SAFETY: process-wide libgit2 options, set once before any network use.
            unsafe {
                let _ = git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS);
                let _ = git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS);
            }
        });
        let shown = redact_url(url);
        // One directory per repository (credentials excluded), so a changed token reuses it.
        let digest = Sha256::digest(shown.as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let dir = cache_dir.join("git").join(name);
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| SourceError::Open {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            Repository::init_bare(&dir).map_err(|e| SourceError::Open {
                path: dir.clone(),
                message: e.message().to_string(),
            })?;
        }
        Ok(Mirror {
            url: url.to_string(),
            dir,
            creds,
        })
    }

    /// The URL as it may be shown.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn open(&self) -> Result<Repo, SourceError> {
        Repo::open(&self.dir)
    }

    /// Fetches `branch` (or, with `None`, every branch and tag) and points the mirror's HEAD
    /// at it (`None`: at the remote's default branch). Returns the branch's ref name.
    /// Blocking: call from a blocking thread in async code.
    pub fn fetch(&self, branch: Option<&str>) -> Result<String, SourceError> {
        let fail = |message: String| SourceError::Fetch {
            url: self.display_url(),
            message: self.creds.scrub(message),
        };
        let repo = Repository::open_bare(&self.dir).map_err(|e| fail(e.message().to_string()))?;
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| fail(e.message().to_string()))?;
        let refspecs: Vec<String> = match branch {
            Some(b) => vec![format!("+refs/heads/{b}:refs/heads/{b}")],
            None => vec![
                "+refs/heads/*:refs/heads/*".into(),
                "+refs/tags/*:refs/tags/*".into(),
            ],
        };
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks());
        if branch.is_none() {
            // Branches deleted upstream disappear here too.
            options.prune(git2::FetchPrune::On);
        }
        remote
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| fail(e.message().to_string()))?;
        let head = match branch {
            Some(b) => format!("refs/heads/{b}"),
            None => {
                let buf = remote.default_branch().map_err(|e| {
                    fail(format!(
                        "the remote names no default branch: {}",
                        e.message()
                    ))
                })?;
                buf.as_str()
                    .map_err(|_| fail("the default branch name is not UTF-8".into()))?
                    .to_string()
            }
        };
        if repo.find_reference(&head).is_err() {
            return Err(fail(format!("the remote has no branch {head}")));
        }
        repo.set_head(&head)
            .map_err(|e| fail(e.message().to_string()))?;
        Ok(head)
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut attempts = 0;
        callbacks.credentials(move |_url, user_from_url, allowed| {
            // libgit2 asks again after a rejection; answer once per kind, then give up
            // with a message that says what to provide.
            attempts += 1;
            if attempts > 2 {
                return Err(git2::Error::from_str(
                    "authentication failed: check the token (--git-token-file or FLINKOPS_GIT_TOKEN) or SSH key (--ssh-key-file)",
                ));
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                if let Some(key) = &self.creds.ssh_key {
                    return Cred::ssh_key(user_from_url.unwrap_or("git"), None, key, None);
                }
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                if let Some(token) = &self.creds.token {
                    let user = self
                        .creds
                        .username
                        .as_deref()
                        .or(user_from_url)
                        .unwrap_or("x-access-token");
                    return Cred::userpass_plaintext(user, token);
                }
            }
            Err(git2::Error::from_str(
                "the remote asks for credentials and none were given: use --git-token-file or FLINKOPS_GIT_TOKEN (HTTPS), or --ssh-key-file (SSH)",
            ))
        });
        callbacks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        for remote in [
            "https://github.com/acme/jobs.git",
            "ssh://git@example.com/acme/jobs",
            "git@github.com:acme/jobs.git",
            "file:///srv/git/jobs",
        ] {
            assert_eq!(Location::parse(remote), Location::Remote(remote.into()));
        }
        for local in [".", "/srv/jobs", "jobs", "./a:b", "dir/user@host:x"] {
            assert_eq!(
                Location::parse(local),
                Location::Local(local.into()),
                "{local}"
            );
        }
    }

    #[test]
    fn urls_lose_their_user_info() {
        assert_eq!(
            redact_url("https://bot:s3cret@git.example.com/acme/jobs.git"),
            "https://git.example.com/acme/jobs.git"
        );
        assert_eq!(
            redact_url("https://s3cret@git.example.com"),
            "https://git.example.com"
        );
        assert_eq!(
            redact_url("https://git.example.com/a@b"),
            "https://git.example.com/a@b"
        );
        assert_eq!(
            redact_url("git@github.com:acme/jobs.git"),
            "git@github.com:acme/jobs.git"
        );
    }

    #[test]
    fn credentials_debug_hides_the_token() {
        let c = Credentials {
            username: Some("bot".into()),
            token: Some("s3cret".into()),
            ssh_key: None,
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(c.scrub("bad token s3cret".into()), "bad token <redacted>");
    }

    #[test]
    fn token_file_is_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc123\n").unwrap();
        let c = Credentials::load(Some(&f), None).unwrap();
        assert_eq!(c.token.as_deref(), Some("abc123"));
        std::fs::write(&f, "\n").unwrap();
        let e = Credentials::load(Some(&f), None).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        let e = Credentials::load(None, Some(&dir.path().join("missing")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable file"), "{e}");
    }
}
