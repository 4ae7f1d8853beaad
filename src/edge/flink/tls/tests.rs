use super::*;
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509;
use std::collections::BTreeMap;

fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A self-signed certificate (DER) for `name`.
fn certificate(name: &str) -> Vec<u8> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut subject = openssl::x509::X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", name).unwrap();
    let subject = subject.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&subject).unwrap();
    b.set_issuer_name(&subject).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    b.build().to_der().unwrap()
}

/// A JKS keystore as Java writes it (version 2): the given trusted certificates, one
/// private key entry (its key bytes opaque here), and the keyed SHA-1 at the end.
fn jks(certs: &[Vec<u8>], password: &str) -> Vec<u8> {
    let utf = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    let mut out = JKS_MAGIC.to_vec();
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(certs.len() as u32 + 1).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    utf(&mut out, "server");
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&5u32.to_be_bytes());
    out.extend_from_slice(b"KEY!!");
    out.extend_from_slice(&1u32.to_be_bytes());
    utf(&mut out, "X.509");
    out.extend_from_slice(&3u32.to_be_bytes());
    out.extend_from_slice(b"abc");
    for (i, der) in certs.iter().enumerate() {
        out.extend_from_slice(&2u32.to_be_bytes());
        utf(&mut out, &format!("ca{i}"));
        out.extend_from_slice(&0u64.to_be_bytes());
        utf(&mut out, "X.509");
        out.extend_from_slice(&(der.len() as u32).to_be_bytes());
        out.extend_from_slice(der);
    }
    let mut keyed: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    keyed.extend_from_slice(b"Mighty Aphrodite");
    keyed.extend_from_slice(&out);
    out.extend_from_slice(&openssl::sha::sha1(&keyed));
    out
}

#[test]
fn settings_come_from_the_rest_keys() {
    assert_eq!(tls_conf(&conf(&[])), Ok(None));
    assert_eq!(tls_conf(&conf(&[(ENABLED, "false")])), Ok(None));
    let on = tls_conf(&conf(&[
        (ENABLED, "true"),
        (TRUSTSTORE, "/opt/flink/tls/truststore.p12"),
        (TRUSTSTORE_PASSWORD, "s3cret"),
    ]));
    assert_eq!(
        on,
        Ok(Some(TlsConf {
            truststore: "/opt/flink/tls/truststore.p12".into(),
            password: "s3cret".into(),
            verify_hostname: true,
        }))
    );
    let lax = tls_conf(&conf(&[
        (ENABLED, "TRUE"),
        (TRUSTSTORE, "/t.jks"),
        (VERIFY_HOSTNAME, "false"),
    ]))
    .unwrap()
    .unwrap();
    assert!(!lax.verify_hostname);
    assert_eq!(lax.password, "");
    // What flinkops cannot work with is said, naming the key.
    let e = tls_conf(&conf(&[(ENABLED, "true")])).unwrap_err();
    assert!(e.contains(TRUSTSTORE), "{e}");
    let e = tls_conf(&conf(&[
        (ENABLED, "true"),
        (TRUSTSTORE, "/t"),
        (MUTUAL, "true"),
    ]))
    .unwrap_err();
    assert!(e.starts_with(MUTUAL), "{e}");
    let e = tls_conf(&conf(&[
        (ENABLED, "true"),
        (TRUSTSTORE, "/t"),
        (TRUSTSTORE_TYPE, "BCFKS"),
    ]))
    .unwrap_err();
    assert!(e.starts_with(TRUSTSTORE_TYPE), "{e}");
    // Cipher suites and protocols flinkops' client cannot speak are said at their key;
    // one it speaks among others will do.
    let with = |k: &str, v: &str| tls_conf(&conf(&[(ENABLED, "true"), (TRUSTSTORE, "/t"), (k, v)]));
    let e = with(ALGORITHMS, "TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err();
    assert!(e.starts_with(ALGORITHMS), "{e}");
    assert!(with(
        ALGORITHMS,
        "TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    )
    .is_ok());
    assert!(with(PROTOCOL, "TLSv1.1").unwrap_err().starts_with(PROTOCOL));
    assert!(with(PROTOCOL, "TLSv1.3").is_ok());
}

#[test]
fn the_truststore_file_is_found_in_the_secret_mounted_over_it() {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "jm"},
        "spec": {
            "containers": [{
                "name": "flink-main-container",
                "volumeMounts": [
                    {"name": "flink-config-volume", "mountPath": "/opt/flink/conf"},
                    {"name": "tls", "mountPath": "/opt/flink/tls/"},
                    {"name": "picked", "mountPath": "/etc/picked"},
                    {"name": "sub", "mountPath": "/etc/sub", "subPath": "stores"}
                ]
            }],
            "volumes": [
                {"name": "flink-config-volume", "configMap": {"name": "j-config"}},
                {"name": "tls", "secret": {"secretName": "rest-tls"}},
                {"name": "picked", "secret": {"secretName": "picked", "items": [{"key": "ca-store", "path": "trust/ts.p12"}]}},
                {"name": "sub", "secret": {"secretName": "subbed"}}
            ]
        }
    }))
    .unwrap();
    let find = |path: &str| secret_file(&pod, "flink-main-container", path);
    assert_eq!(
        find("/opt/flink/tls/truststore.p12"),
        Ok(("rest-tls".into(), "truststore.p12".into()))
    );
    assert_eq!(
        find("/etc/picked/trust/ts.p12"),
        Ok(("picked".into(), "ca-store".into()))
    );
    assert!(find("/etc/picked/other.p12")
        .unwrap_err()
        .contains("projects no file"));
    assert_eq!(
        find("/etc/sub/ts.p12"),
        Ok(("subbed".into(), "stores/ts.p12".into()))
    );
    // A ConfigMap is not a Secret; a path outside every mount is named.
    assert!(find("/opt/flink/conf/ts.p12").is_err());
    let e = find("/opt/flink/tlsx/ts.p12").unwrap_err();
    assert!(e.contains("/opt/flink/tlsx/ts.p12"), "{e}");
    assert!(secret_file(&pod, "sidecar", "/opt/flink/tls/a").is_err());
}

#[test]
fn pkcs12_truststores_open_with_their_password() {
    let cert = certificate("counter-rest.streaming.svc");
    let x509 = X509::from_der(&cert).unwrap();
    let mut ca = openssl::stack::Stack::new().unwrap();
    ca.push(x509).unwrap();
    let mut b = openssl::pkcs12::Pkcs12::builder();
    b.ca(ca);
    let store = b.build2("trust-me").unwrap().to_der().unwrap();
    assert_eq!(trusted_certificates(&store, "trust-me"), Ok(vec![cert]));
    let e = trusted_certificates(&store, "wrong").unwrap_err();
    assert!(e.contains("password"), "{e}");
}

#[test]
fn jks_truststores_yield_their_trusted_certificates() {
    let a = certificate("a");
    let b = certificate("b");
    let store = jks(&[a.clone(), b.clone()], "changeit");
    // The key entry's chain is skipped; trusted entries come in order.
    assert_eq!(trusted_certificates(&store, "changeit"), Ok(vec![a, b]));
    let e = trusted_certificates(&store, "changeme").unwrap_err();
    assert!(e.contains("password"), "{e}");
}

#[test]
fn a_broken_truststore_is_an_error_never_a_panic() {
    let store = jks(&[certificate("a")], "pw");
    // Every truncation and every single-byte change of a valid store.
    for n in 0..store.len() {
        assert!(
            trusted_certificates(&store[..n], "pw").is_err(),
            "cut at {n}"
        );
    }
    for i in (0..store.len()).step_by(7) {
        let mut bad = store.clone();
        bad[i] ^= 0x5a;
        assert!(trusted_certificates(&bad, "pw").is_err(), "byte {i}");
    }
    // A store whose digest matches but whose lengths lie.
    let mut lying = jks(&[], "pw");
    lying.truncate(lying.len() - 20);
    lying[8..12].copy_from_slice(&9u32.to_be_bytes());
    let mut keyed: Vec<u8> = "pw".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    keyed.extend_from_slice(b"Mighty Aphrodite");
    keyed.extend_from_slice(&lying);
    lying.extend_from_slice(&openssl::sha::sha1(&keyed));
    assert!(trusted_certificates(&lying, "pw")
        .unwrap_err()
        .contains("malformed"));
    assert!(trusted_certificates(b"not a keystore", "pw").is_err());
    assert!(trusted_certificates(&vec![0; MAX_TRUSTSTORE + 1], "")
        .unwrap_err()
        .contains("larger"));
    // An empty store trusts nothing: an error, not a client that trusts nothing.
    assert!(trusted_certificates(&jks(&[], "pw"), "pw")
        .unwrap_err()
        .contains("no certificate"));
}

#[test]
fn client_configs_build_from_the_truststore() {
    install_crypto();
    let certs = vec![certificate("counter-rest.streaming.svc")];
    assert!(client_config(&certs, true).is_ok());
    assert!(client_config(&certs, false).is_ok());
    assert!(client_config(&[b"junk".to_vec()], true).is_err());
}
