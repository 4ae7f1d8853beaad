//! `flinkops run` on the real control plane: it applies what is committed, picks up a new
//! commit by itself, heals a hand edit from its watches, and stops cleanly on SIGTERM.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::git::TestRepo;

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tm(deployments: &Api<Deployment>) -> Option<(String, i32)> {
    let d = deployments.get("alpha-taskmanager").await.ok()?;
    let commit = d.metadata.annotations?.get("flinkops.io/commit")?.clone();
    Some((commit, d.spec?.replicas?))
}

#[tokio::test]
async fn run_follows_commits_heals_drift_and_stops_on_sigterm() {
    let Some(env) = support::testenv() else {
        return;
    };
    let client = support::kube::client(&env).await;
    let ns = support::kube::TestNamespace::create(&env, &client, "t-run").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", &format!("namespaces: [{}]\n", ns.name));
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 2, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let log = repo.path().with_extension("daemon.log");
    let port = support::flink::free_port();
    let mut daemon = Daemon {
        child: Command::new(env!("CARGO_BIN_EXE_flinkops"))
            .args([
                "run",
                "--interval",
                "1h",
                "--log-format",
                "json",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--repo",
            ])
            .arg(repo.path())
            .env("KUBECONFIG", &env.kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };
    let wait = Duration::from_secs(30);

    support::eventually_or(
        "alpha applied at the first commit",
        wait,
        || daemon.log(),
        || async { (tm(&deployments).await? == (c1.clone(), 2)).then_some(()) },
    )
    .await;

    // A new commit is picked up without a trigger from outside (the interval is an hour).
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", &ns.name, 3, "stateless"),
    );
    let c2 = repo.commit("scale alpha");
    let t0 = Instant::now();
    support::eventually_or(
        "alpha applied at the new commit",
        wait,
        || daemon.log(),
        || async { (tm(&deployments).await? == (c2.clone(), 3)).then_some(()) },
    )
    .await;
    eprintln!("commit → applied: {:?}", t0.elapsed());

    // A hand edit is reverted from the watch, not from the interval.
    deployments
        .patch(
            "alpha-taskmanager",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    support::eventually_or(
        "the hand edit reverted",
        wait,
        || daemon.log(),
        || async {
            let (_, replicas) = tm(&deployments).await?;
            (replicas == 3).then_some(())
        },
    )
    .await;

    // The HTTP endpoints report it.
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("http://127.0.0.1:{port}{path}"));
        async move {
            let r = http.get(url).send().await.ok()?;
            Some((r.status().as_u16(), r.text().await.ok()?))
        }
    };
    assert_eq!(get("/healthz").await.unwrap().0, 200);
    assert_eq!(get("/readyz").await.unwrap().0, 200);
    let metrics = support::eventually_or(
        "alpha Healthy in /metrics",
        wait,
        || daemon.log(),
        || async {
            let (_, text) = get("/metrics").await?;
            text.contains(&format!(
                "flinkops_job_health{{namespace=\"{}\",name=\"alpha\",health=\"Healthy\"}} 1",
                ns.name
            ))
            .then_some(text)
        },
    )
    .await;
    assert!(
        metrics.contains(&format!("flinkops_git_commit_info{{commit=\"{c2}\"}} 1")),
        "{metrics}"
    );
    let applied: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flinkops_objects_applied_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        applied >= 11,
        "5 objects twice and the healed Deployment: {applied}"
    );

    // SIGTERM stops it cleanly.
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(daemon.child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(s) = daemon.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    // JSON logs: one object per line, the job's span carrying namespace and name.
    let log = daemon.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["job"] == "alpha" && l["span"]["namespace"] == ns.name.as_str()),
        "{log}"
    );
}
