//! The daemon's status page as a person sees it: headless Chromium loads `/` from a
//! daemon reconciling jobs on the real control plane; the rendered DOM shows each job with
//! its commit, health and error, and a screenshot goes to target/test-output/.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::git::TestRepo;

fn chromium() -> PathBuf {
    let path = std::env::var_os("FLINKOPS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium (.ci/run does) or set FLINKOPS_CHROMIUM",
        path.display()
    );
    path
}

/// Headless Chromium on `url` with `extra` arguments (--dump-dom, --screenshot=...);
/// returns stdout. Flags as this machine needs them: no sandbox as root, no background
/// networking on a closed network.
fn chromium_run(url: &str, extra: &[&str], profile: &Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,700",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text a person reads in the DOM: tags dropped, entities decoded, spaces collapsed.
fn visible_text(dom: &str) -> String {
    let body = dom.split("<body").nth(1).unwrap_or(dom);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_sees_every_job_on_the_status_page() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-page").await;
    let repo = TestRepo::new();
    repo.write(
        "jobs/orders.yaml",
        &support::app_job("orders", &ns.name, 2, "stateless"),
    );
    repo.write(
        "jobs/clicks.yaml",
        &support::app_job("clicks", &ns.name, 1, "stateless"),
    );
    let c1 = repo.commit("two jobs");
    let dir = tempfile::tempdir().unwrap();
    let repo_path = repo.path().to_str().unwrap().to_string();
    let daemon = support::daemon::Daemon::start(
        &env,
        dir.path().join("daemon.log"),
        &[
            "--repo",
            &repo_path,
            "--namespace",
            &ns.name,
            "--state-namespace",
            &ns.name,
            "--repo-web-url",
            "https://git.example.com/team/flink-jobs",
        ],
        &[],
    );
    // Both jobs applied and their Deployments Available (KWOK runs the pods).
    support::eventually_or(
        "both jobs Healthy in /status.json",
        Duration::from_secs(120),
        || daemon.log(),
        || async {
            let (_, body) = daemon.get("/status.json").await?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let jobs = v["jobs"].as_array()?;
            (jobs.len() == 2 && jobs.iter().all(|j| j["health"] == "Healthy")).then_some(())
        },
    )
    .await;
    // A broken commit: clicks is blocked, its objects stay, the page says why.
    repo.write(
        "jobs/clicks.yaml",
        &support::app_job("clicks", &ns.name, 0, "stateless"),
    );
    let c2 = repo.commit("break clicks");
    support::eventually_or(
        "clicks Blocked in /status.json",
        Duration::from_secs(60),
        || daemon.log(),
        || async {
            let (_, body) = daemon.get("/status.json").await?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let ok = v["daemon"]["commit"] == c2.as_str()
                && v["jobs"]
                    .as_array()?
                    .iter()
                    .any(|j| j["name"] == "clicks" && j["health"] == "Blocked");
            ok.then_some(())
        },
    )
    .await;

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium_run(&daemon.url("/"), &["--dump-dom"], profile.path());
    let seen = visible_text(&dom);
    let orders = format!("{}/orders application {} Healthy", ns.name, &c1[..12]);
    assert!(seen.contains(&orders), "{orders:?} not in: {seen}");
    let clicks = format!("{}/clicks application {} Blocked", ns.name, &c1[..12]);
    assert!(seen.contains(&clicks), "{clicks:?} not in: {seen}");
    assert!(
        seen.contains("spec.job.parallelism: must be at least 1, got 0"),
        "the blocking error is shown: {seen}"
    );
    assert!(seen.contains("git: ok"), "{seen}");
    assert!(seen.contains("this replica leads · 2 jobs"), "{seen}");
    assert!(
        dom.contains(&format!(
            "href=\"https://git.example.com/team/flink-jobs/commit/{c1}\""
        )),
        "commits link to the repository"
    );
    // Each job links to its history, a page of its own in the same browser.
    let link = format!("history/{}/orders", ns.name);
    assert!(dom.contains(&format!("href=\"{link}\"")), "{dom}");
    let history = chromium_run(
        &daemon.url(&format!("/{link}")),
        &["--dump-dom"],
        profile.path(),
    );
    let seen = visible_text(&history);
    assert!(seen.contains(&format!("{}/orders", ns.name)), "{seen}");
    assert!(seen.contains(&format!("{} create", &c1[..12])), "{seen}");
    let (status, body) = daemon.get(&format!("/{link}.json")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let lineage: flinkops::engine::history::Lineage = serde_json::from_str(&body).unwrap();
    assert_eq!(lineage.steps[0].commit, c1);
    assert_eq!(daemon.get("/history/nope/nothing").await.unwrap().0, 404);

    let shots = support::repo_root().join("target/test-output");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("status-page.png");
    let _ = std::fs::remove_file(&png);
    chromium_run(
        &daemon.url("/"),
        &[&format!("--screenshot={}", png.display())],
        profile.path(),
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
}
