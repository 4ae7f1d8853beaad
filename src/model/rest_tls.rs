//! What a JobManager's Flink configuration says about TLS on its REST endpoint
//! (`security.ssl.rest.*`): read when a definition is validated, when it is rendered, and
//! when flinkops connects (`edge::flink::tls`).

use std::collections::BTreeMap;

/// The Pod annotation that says the JobManager serves REST over TLS (render sets it, so
/// flinkops reads the configuration only of those JobManagers).
pub const ANN_REST_TLS: &str = "flinkops.io/rest-tls";

pub const ENABLED: &str = "security.ssl.rest.enabled";
pub const TRUSTSTORE: &str = "security.ssl.rest.truststore";
pub const TRUSTSTORE_PASSWORD: &str = "security.ssl.rest.truststore-password";
pub const TRUSTSTORE_TYPE: &str = "security.ssl.rest.truststore-type";
pub const MUTUAL: &str = "security.ssl.rest.authentication-enabled";
pub const VERIFY_HOSTNAME: &str = "security.ssl.verify-hostname";
pub const ALGORITHMS: &str = "security.ssl.algorithms";
pub const PROTOCOL: &str = "security.ssl.protocol";

/// The cipher suites flinkops' TLS client (rustls) speaks, by their Java names: ECDHE with
/// AES-GCM or ChaCha20-Poly1305 over TLS 1.2, and TLS 1.3's. Flink's default
/// `security.ssl.algorithms` (ECDHE-RSA with AES-GCM) is among them; the RSA key exchange
/// and CBC suites older Flink versions defaulted to are not.
const SUITES: [&str; 9] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Largest truststore read (a truststore of a few hundred certificates is ~100 KiB).
pub const MAX_TRUSTSTORE: usize = 1 << 20;

/// What a JobManager's configuration says about its REST endpoint's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConf {
    /// The truststore's path in the JobManager's container.
    pub truststore: String,
    pub password: String,
    pub verify_hostname: bool,
}

/// Whether `conf` (flat Flink keys) turns REST TLS on.
pub fn enabled(conf: &BTreeMap<String, String>) -> bool {
    conf.get(ENABLED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The REST TLS settings of flat Flink configuration `conf`: None when REST TLS is off.
/// Errors are what flinkops cannot work with (no truststore, client certificates).
pub fn tls_conf(conf: &BTreeMap<String, String>) -> Result<Option<TlsConf>, String> {
    if !enabled(conf) {
        return Ok(None);
    }
    if conf
        .get(MUTUAL)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Err(format!(
            "{MUTUAL}: flinkops does not present a client certificate to Flink's REST API, so it could not take savepoints or submit jobs; turn it off (TLS without client authentication works)"
        ));
    }
    let truststore = conf
        .get(TRUSTSTORE)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!("{ENABLED} is true, so {TRUSTSTORE} is required: flinkops trusts the JobManager's certificate through it")
        })?;
    if let Some(list) = conf.get(ALGORITHMS) {
        let speaks = list.split(',').any(|s| SUITES.contains(&s.trim()));
        if !speaks {
            return Err(format!(
                "{ALGORITHMS}: `{list}`: none of these is a cipher suite flinkops' TLS client speaks (ECDHE with AES-GCM or ChaCha20-Poly1305, or TLS 1.3's); add TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ));
        }
    }
    if let Some(p) = conf.get(PROTOCOL) {
        if !p
            .split(',')
            .any(|v| matches!(v.trim(), "TLSv1.2" | "TLSv1.3"))
        {
            return Err(format!(
                "{PROTOCOL}: `{p}`: flinkops' TLS client speaks TLSv1.2 and TLSv1.3"
            ));
        }
    }
    if let Some(t) = conf.get(TRUSTSTORE_TYPE) {
        if !["pkcs12", "jks"].contains(&t.trim().to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{TRUSTSTORE_TYPE}: `{t}`: flinkops reads PKCS12 and JKS truststores"
            ));
        }
    }
    Ok(Some(TlsConf {
        truststore,
        password: conf.get(TRUSTSTORE_PASSWORD).cloned().unwrap_or_default(),
        verify_hostname: !conf
            .get(VERIFY_HOSTNAME)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
    }))
}
