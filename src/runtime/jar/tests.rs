use super::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

fn fetcher(policy: JarPolicy) -> JarFetcher {
    JarFetcher::new(policy).unwrap()
}

fn refused(r: Result<Jar, JarError>) -> String {
    match r {
        Err(JarError::Refused(why)) => why,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn file_jars_come_only_from_the_jar_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let jars = tmp.path().join("jars");
    std::fs::create_dir(&jars).unwrap();
    std::fs::write(jars.join("a.jar"), b"PK\x03\x04jar").unwrap();
    std::fs::write(tmp.path().join("secret"), b"token").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret"), jars.join("link.jar")).unwrap();
    let uri = |p: &Path| format!("file://{}", p.display());

    // Without --jar-dir no file is read.
    let off = fetcher(JarPolicy::default());
    let why = refused(off.fetch(&uri(&jars.join("a.jar"))).await);
    assert!(why.contains("--jar-dir"), "{why}");

    let on = fetcher(JarPolicy {
        dir: Some(jars.clone()),
        ..JarPolicy::default()
    });
    let jar = on.fetch(&uri(&jars.join("a.jar"))).await.unwrap();
    assert_eq!(
        (jar.name.as_str(), jar.bytes.as_slice()),
        ("a.jar", &b"PK\x03\x04jar"[..])
    );
    for outside in [
        "file:///proc/self/environ".to_string(),
        "file:///var/run/secrets/kubernetes.io/serviceaccount/token".to_string(),
        uri(&tmp.path().join("secret")),
        // A link inside the directory to a file outside it.
        uri(&jars.join("link.jar")),
    ] {
        let why = refused(on.fetch(&outside).await);
        assert!(why.starts_with(&format!("jarURI `{outside}`")), "{why}");
    }
    let climb = format!("{}/../secret", uri(&jars));
    assert!(refused(on.fetch(&climb).await).contains(".."));
    // The directory itself is no jar.
    assert!(refused(on.fetch(&uri(&jars)).await).contains("not a regular file"));
    let small = fetcher(JarPolicy {
        dir: Some(jars.clone()),
        max_bytes: 4,
        ..JarPolicy::default()
    });
    assert!(refused(small.fetch(&uri(&jars.join("a.jar"))).await).contains("larger than"));
}

/// A server on 127.0.0.1 that answers every request with `answer` and then keeps the
/// connection open a while; counts the connections it got.
fn server(answer: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            counted.fetch_add(1, SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = conn.read(&mut [0u8; 8192]);
                let _ = conn.write_all(&answer);
                std::thread::sleep(Duration::from_secs(5));
            });
        }
    });
    (port, count)
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut a = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    a.extend_from_slice(body);
    a
}

fn hosts(h: &[&str], allow_internal: bool) -> JarPolicy {
    JarPolicy {
        hosts: h.iter().map(|s| s.to_string()).collect(),
        allow_internal,
        ..JarPolicy::default()
    }
}

#[tokio::test]
async fn downloads_only_from_listed_hosts_at_public_addresses() {
    let (port, count) = server(ok(b"PK"));
    let url = |host: &str| format!("http://{host}:{port}/lib/a.jar");
    // Not listed.
    let why = refused(fetcher(JarPolicy::default()).fetch(&url("127.0.0.1")).await);
    assert!(why.contains("--jar-host"), "{why}");
    // Listed, but internal: as an address in the URL, as a name that resolves to one, in
    // another notation of the same address.
    let listed = fetcher(hosts(
        &[
            "127.0.0.1",
            "localhost",
            "169.254.169.254",
            "::ffff:127.0.0.1",
        ],
        false,
    ));
    for host in [
        "127.0.0.1",
        "localhost",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "2130706433",
    ] {
        let why = refused(listed.fetch(&url(host)).await);
        assert!(why.contains("internal"), "{host}: {why}");
    }
    assert_eq!(count.load(SeqCst), 0, "a refused jar host was connected to");
    // Allowed internal addresses, by the operator.
    let allowed = fetcher(hosts(&["127.0.0.1", "LocalHost."], true));
    for host in ["127.0.0.1", "localhost"] {
        let jar = allowed.fetch(&url(host)).await.unwrap();
        assert_eq!(
            (jar.name.as_str(), jar.bytes.as_slice()),
            ("a.jar", &b"PK"[..])
        );
    }
}

#[tokio::test]
async fn downloads_are_bounded() {
    let policy = |max_bytes| JarPolicy {
        max_bytes,
        timeout: Duration::from_secs(1),
        ..hosts(&["127.0.0.1"], true)
    };
    let get = |port: u16| format!("http://127.0.0.1:{port}/a.jar");
    // No redirects, not even to the same host.
    let (port, _) = server(
        b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n"
            .to_vec(),
    );
    assert!(refused(fetcher(policy(1 << 20)).fetch(&get(port)).await).contains("redirect"));
    // Over the size limit, announced or not.
    let (port, _) = server(ok(&[b'x'; 64]));
    assert!(refused(fetcher(policy(16)).fetch(&get(port)).await).contains("larger than"));
    let mut unannounced = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    unannounced.extend_from_slice(&[b'x'; 64]);
    let (port, _) = server(unannounced);
    assert!(refused(fetcher(policy(16)).fetch(&get(port)).await).contains("larger than"));
    // A server that stops sending.
    let (port, _) = server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nPK".to_vec());
    match fetcher(policy(1 << 20)).fetch(&get(port)).await {
        Err(JarError::Unavailable(why)) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Missing is the definition's problem; a failing server may recover.
    let (port, _) = server(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec());
    assert!(refused(fetcher(policy(16)).fetch(&get(port)).await).contains("404"));
    let (port, _) = server(b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n".to_vec());
    assert!(matches!(
        fetcher(policy(16)).fetch(&get(port)).await,
        Err(JarError::Unavailable(_))
    ));
}

#[tokio::test]
async fn credentials_in_a_jar_uri_are_never_shown() {
    let (port, _) = server(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec());
    for policy in [JarPolicy::default(), hosts(&["127.0.0.1"], true)] {
        let uri = format!("http://deploy:hunter2@127.0.0.1:{port}/a.jar");
        let why = refused(fetcher(policy).fetch(&uri).await);
        assert!(
            !why.contains("hunter2") && why.contains("127.0.0.1"),
            "{why}"
        );
    }
}

#[test]
fn internal_addresses() {
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
    ] {
        assert!(is_internal(ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(!is_internal(ip.parse().unwrap()), "{ip}");
    }
}

#[test]
fn upload_names_are_plain_jar_names() {
    assert_eq!(jar_name(Some("job-1.2_x.jar")), "job-1.2_x.jar");
    for bad in [
        None,
        Some("a.txt"),
        Some("a b.jar"),
        Some("\u{202e}raj.exe.jar"),
    ] {
        assert_eq!(jar_name(bad), "job.jar", "{bad:?}");
    }
}
