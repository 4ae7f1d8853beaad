//! `flinkops run` as a child process: its log, its HTTP endpoints, and stopping it.

use super::TestEnv;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub port: u16,
}

impl Daemon {
    /// `flinkops run` following the local repository `repo` (new commits are seen through
    /// the file system; the interval is an hour), its status in `state_namespace`, with
    /// `extra` arguments and `envs`; stderr goes to `log`.
    pub fn following(
        env: &TestEnv,
        repo: &std::path::Path,
        state_namespace: &str,
        log: PathBuf,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Daemon {
        let mut args = vec![
            "--interval",
            "1h",
            "--repo",
            repo.to_str().expect("a UTF-8 test path"),
            "--state-namespace",
            state_namespace,
        ];
        args.extend_from_slice(extra);
        Daemon::start(env, log, &args, envs)
    }

    /// Starts `flinkops run --listen 127.0.0.1:<free port> --log-format json ARGS…` with
    /// the test cluster's kubeconfig and `envs`; stderr goes to `log`.
    pub fn start(env: &TestEnv, log: PathBuf, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let port = super::flink::free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flinkops"));
        cmd.args(["run", "--log-format", "json", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("KUBECONFIG", &env.kubeconfig)
            // Each cycle's triggers and workers in the log: a test that waits on the daemon
            // shows whether it was still cycling.
            .env("FLINKOPS_LOG", "info,flinkops::daemon::run=debug")
            .env_remove("FLINKOPS_GIT_TOKEN")
            .env_remove("FLINKOPS_WEBHOOK_SECRET")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            log,
            port,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path`: status and body, or None while the daemon does not answer.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = super::http().get(self.url(path)).send().await.ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    }

    /// The value of an unlabelled or fully labelled sample in /metrics.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics").await?;
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
    }

    /// Sends `signal` and waits for the process to exit.
    pub async fn signal_and_wait(&mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "still running 30 s after signal {signal}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
