//! Remote repositories over HTTP with a token, served by the real `git http-backend`:
//! the token is used, a wrong or missing one fails with a clear message, and the token
//! shows up nowhere: not in output or logs (at trace level), not in the mirror's config.

mod support;

use std::path::Path;
use std::process::Command;
use support::git::TestRepo;

const TOKEN: &str = "glpat-Zq8sEcReT-t0k3n-4242";

fn flinkops(args: &[&str], cache: &Path, envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flinkops"));
    cmd.args(args)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("FLINKOPS_GIT_TOKEN")
        .env("FLINKOPS_LOG", "trace");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    support::code_and_output(out)
}

fn mirror_configs(cache: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(cache.join("git")).unwrap() {
        all += &std::fs::read_to_string(entry.unwrap().path().join("config")).unwrap();
    }
    all
}

#[tokio::test]
async fn https_token_is_used_and_never_shown() {
    let repo = TestRepo::new();
    repo.write("flinkops.yaml", "namespaces: [streaming]\n");
    repo.write(
        "alpha.yaml",
        &support::app_job("alpha", "streaming", 2, "stateless"),
    );
    let c1 = repo.commit("alpha");
    let root = repo.path().parent().unwrap().to_path_buf();
    let name = repo.path().file_name().unwrap().to_str().unwrap();
    let server = support::git_http::serve(root, TOKEN.into()).await;
    let url = format!("{}/{name}", server.base);
    let cache = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>, envs: Vec<(&'static str, String)>| {
        let cache = cache.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            flinkops(&args, &cache, &envs)
        })
    };
    let validate = |url: &str| vec!["validate".into(), "--repo".into(), url.to_string()];

    // No token: refused by the server, and the message says what to provide.
    let (code, out) = run(validate(&url), vec![]).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FLINKOPS_GIT_TOKEN"), "{out}");

    // A wrong token: refused, and neither token is shown.
    let (code, out) = run(
        validate(&url),
        vec![("FLINKOPS_GIT_TOKEN", "wrong-Zq8sEcReT".into())],
    )
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("authentication"), "{out}");
    assert!(!out.contains("wrong-Zq8sEcReT"), "{out}");

    // The right token from the environment: cloned and read.
    let (code, out) = run(validate(&url), vec![("FLINKOPS_GIT_TOKEN", TOKEN.into())])
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ok: 1 jobs in 1 files at {}", &c1[..12])),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "{out}");

    // A new commit arrives by an incremental fetch; the token from a file this time.
    repo.write(
        "beta.yaml",
        &support::app_job("beta", "streaming", 1, "stateless"),
    );
    let c2 = repo.commit("beta");
    let token_file = cache.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut args = validate(&url);
    args.extend(["--git-token-file".into(), token_file.display().to_string()]);
    let (code, out) = run(args, vec![]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ok: 2 jobs in 2 files at {}", &c2[..12])),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "{out}");

    // Credentials written into the URL are used but not shown either.
    let with_creds = url.replace("http://", &format!("http://bot:{TOKEN}@"));
    let (code, out) = run(validate(&with_creds), vec![]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(TOKEN), "{out}");
    let mut wrong = with_creds.replace(TOKEN, "nope-Zq8sEcReT");
    wrong.push_str("-missing");
    let (code, out) = run(validate(&wrong), vec![]).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("nope-Zq8sEcReT"), "{out}");

    assert!(!mirror_configs(cache.path()).contains(TOKEN));
    assert!(server.rejected.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}
