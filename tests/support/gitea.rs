//! The test environment's Git host (a real Gitea, started by `scripts/testenv up`): a
//! repository per test, pushed to over HTTP with the admin's token, its push webhooks,
//! and the commit statuses it holds, read through its own API.

use std::path::Path;

#[derive(Debug, Clone)]
pub struct Gitea {
    pub url: String,
    pub user: String,
    pub token: String,
}

/// One repository in Gitea, named uniquely for the test.
pub struct HostedRepo {
    pub gitea: Gitea,
    pub name: String,
}

impl Gitea {
    fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> serde_json::Value {
        let resp = req
            .header("authorization", format!("token {}", self.token))
            .send()
            .await
            .expect("gitea answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "gitea: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// A new, empty private repository `<prefix>-<suffix>` owned by the admin.
    pub async fn create_repo(&self, prefix: &str) -> HostedRepo {
        let name = format!("{prefix}-{}", super::suffix());
        self.send(
            super::http().post(self.api("/user/repos")).json(
                &serde_json::json!({"name": name, "private": true, "default_branch": "main"}),
            ),
        )
        .await;
        HostedRepo {
            gitea: self.clone(),
            name,
        }
    }
}

impl HostedRepo {
    /// The clone URL, without credentials (flinkops gets the token from a file).
    pub fn clone_url(&self) -> String {
        format!("{}/{}/{}.git", self.gitea.url, self.gitea.user, self.name)
    }

    /// Pushes the local repository's HEAD to `main` with the real `git` over HTTP.
    pub fn push(&self, local: &Path) {
        let authed = self.clone_url().replacen(
            "://",
            &format!("://{}:{}@", self.gitea.user, self.gitea.token),
            1,
        );
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(local)
            .args([
                "push",
                "--quiet",
                "--force",
                &authed,
                "HEAD:refs/heads/main",
            ])
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git push to gitea: {}",
            String::from_utf8_lossy(&out.stderr).replace(&self.gitea.token, "<token>")
        );
    }

    /// A push webhook to `url` signed with `secret`, as a user sets it up in the settings.
    pub async fn add_push_webhook(&self, url: &str, secret: &str) {
        self.gitea
            .send(
                super::http()
                    .post(
                        self.gitea
                            .api(&format!("/repos/{}/{}/hooks", self.gitea.user, self.name)),
                    )
                    .json(&serde_json::json!({
                        "type": "gitea",
                        "config": {"url": url, "content_type": "json", "secret": secret},
                        "events": ["push"],
                        "active": true,
                    })),
            )
            .await;
    }

    /// The statuses of `commit` once the newest is `state` (else a panic after `timeout`
    /// with `log()`), in the order they were posted.
    pub async fn statuses_until(
        &self,
        commit: &str,
        state: &str,
        timeout: std::time::Duration,
        log: impl Fn() -> String,
    ) -> Vec<(String, String, String)> {
        super::eventually_or(
            &format!("a `{state}` status on {commit} in gitea"),
            timeout,
            log,
            || async {
                let all = self.statuses(commit).await;
                (all.last()?.1 == state).then_some(all)
            },
        )
        .await
    }

    /// The statuses of `commit` in the order they were posted: (context, state,
    /// description).
    pub async fn statuses(&self, commit: &str) -> Vec<(String, String, String)> {
        let v = self
            .gitea
            .send(super::http().get(self.gitea.api(&format!(
                "/repos/{}/{}/commits/{commit}/statuses?limit=50",
                self.gitea.user, self.name
            ))))
            .await;
        let mut rows: Vec<(i64, (String, String, String))> = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                (
                    s["id"].as_i64().unwrap_or_default(),
                    (text("context"), text("status"), text("description")),
                )
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        rows.into_iter().map(|r| r.1).collect()
    }
}
