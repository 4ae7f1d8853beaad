//! Flink's REST API over TLS (`security.ssl.rest.enabled: true`). The JobManager serves
//! HTTPS with the keystore its configuration names; flinkops trusts what the job's own
//! truststore trusts (`security.ssl.rest.truststore`, read from the Secret mounted at that
//! path) and checks the certificate's name against the JobManager's Service name, the name
//! a certificate for it carries, whether flinkops reaches it by that name or by the Pod's
//! IP. `security.ssl.verify-hostname: false` checks the chain only, as Flink does.
//!
//! What is decided from the JobManager's configuration and Pod is pure; reading the
//! ConfigMap and the Secret is `runtime::upgrade::edges`' part.

use k8s_openapi::api::core::v1::{Pod, PodSpec, SecretVolumeSource};
use std::sync::Arc;

pub use crate::model::rest_tls::*;

/// Which Secret, and which key of it, the file at `path` in container `container` of `pod`
/// comes from: the Secret volume mounted at a directory holding `path`. Items (`items:`
/// remapping keys to paths) are followed.
pub fn secret_file(pod: &Pod, container: &str, path: &str) -> Result<(String, String), String> {
    let spec = pod.spec.as_ref().ok_or("the Pod has no spec")?;
    let mounts = spec
        .containers
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| c.volume_mounts.as_ref())
        .ok_or_else(|| format!("container {container} mounts nothing"))?;
    for m in mounts {
        let dir = m.mount_path.trim_end_matches('/');
        let Some(rel) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let Some(secret) = secret_volume(spec, &m.name) else {
            continue;
        };
        let name = secret
            .secret_name
            .clone()
            .ok_or("the Secret volume names no Secret")?;
        let rel = match &m.sub_path {
            Some(sub) if !sub.is_empty() => format!("{}/{rel}", sub.trim_end_matches('/')),
            _ => rel.to_string(),
        };
        let key = match &secret.items {
            Some(items) => items
                .iter()
                .find(|i| i.path == rel)
                .map(|i| i.key.clone())
                .ok_or_else(|| format!("Secret {name} projects no file {rel}"))?,
            None => rel,
        };
        return Ok((name, key));
    }
    Err(format!(
        "{path} is not in a Secret mounted into the JobManager (mount the truststore's Secret with kubernetes.secrets)"
    ))
}

/// The Secret volume `name` of a Pod, if that volume is a Secret's.
pub fn secret_volume<'a>(spec: &'a PodSpec, name: &str) -> Option<&'a SecretVolumeSource> {
    spec.volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.secret.as_ref())
}

/// The certificates (DER) a truststore trusts: PKCS12 (Java's default store type since
/// Java 9) or JKS, told apart by their first bytes, as Java's keystore loader does.
pub fn trusted_certificates(store: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    if store.len() > MAX_TRUSTSTORE {
        return Err(format!(
            "the truststore is larger than {} KiB",
            MAX_TRUSTSTORE >> 10
        ));
    }
    let certs = if store.starts_with(&JKS_MAGIC) {
        jks_certificates(store, password)?
    } else {
        pkcs12_certificates(store, password)?
    };
    if certs.is_empty() {
        return Err("the truststore holds no certificate".into());
    }
    Ok(certs)
}

fn pkcs12_certificates(store: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    let p12 = openssl::pkcs12::Pkcs12::from_der(store)
        .map_err(|_| "the truststore is neither a PKCS12 nor a JKS keystore".to_string())?;
    let parsed = p12
        .parse2(password)
        .map_err(|_| "the PKCS12 truststore cannot be opened with its password (security.ssl.rest.truststore-password)".to_string())?;
    let mut out = Vec::new();
    if let Some(cert) = &parsed.cert {
        out.push(cert.to_der().map_err(|e| e.to_string())?);
    }
    for cert in parsed.ca.iter().flatten() {
        out.push(cert.to_der().map_err(|e| e.to_string())?);
    }
    Ok(out)
}

const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];

/// A JKS keystore's trusted certificates (its private key entries' chains are not trust
/// anchors). The store ends with a SHA-1 over the password, a fixed phrase and the store:
/// checked, so a wrong password is an error here as it is in Flink.
fn jks_certificates(store: &[u8], password: &str) -> Result<Vec<Vec<u8>>, String> {
    let bad = || "the JKS truststore is malformed".to_string();
    if store.len() < 12 + 20 {
        return Err(bad());
    }
    let (body, digest) = store.split_at(store.len() - 20);
    let mut keyed: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    keyed.extend_from_slice(b"Mighty Aphrodite");
    keyed.extend_from_slice(body);
    if openssl::sha::sha1(&keyed)[..] != *digest {
        return Err("the JKS truststore cannot be opened with its password (security.ssl.rest.truststore-password), or it is corrupt".into());
    }
    let mut r = Reader { b: body, at: 4 };
    let version = r.u32().ok_or_else(bad)?;
    if version != 1 && version != 2 {
        return Err(bad());
    }
    let count = r.u32().ok_or_else(bad)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let tag = r.u32().ok_or_else(bad)?;
        r.utf().ok_or_else(bad)?; // alias
        r.take(8).ok_or_else(bad)?; // creation time
        match tag {
            // A trusted certificate entry.
            2 => {
                if version == 2 {
                    r.utf().ok_or_else(bad)?; // certificate type
                }
                let len = r.u32().ok_or_else(bad)? as usize;
                out.push(r.take(len).ok_or_else(bad)?.to_vec());
            }
            // A private key entry: its key, then its chain.
            1 => {
                let len = r.u32().ok_or_else(bad)? as usize;
                r.take(len).ok_or_else(bad)?;
                let chain = r.u32().ok_or_else(bad)?;
                for _ in 0..chain {
                    if version == 2 {
                        r.utf().ok_or_else(bad)?;
                    }
                    let len = r.u32().ok_or_else(bad)? as usize;
                    r.take(len).ok_or_else(bad)?;
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Big-endian reads within a slice, None past its end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.b.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn utf(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        self.take(len as usize)
    }
}

/// The crypto flinkops' HTTP clients use (ring, as the Kubernetes client's). Installed
/// once per process, before any client is built.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A TLS configuration that trusts exactly `certs` (DER) and checks the server's name
/// unless `verify_hostname` is false.
pub fn client_config(
    certs: &[Vec<u8>],
    verify_hostname: bool,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in certs {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| format!("a truststore certificate: {e}"))?;
    }
    let roots = Arc::new(roots);
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("the truststore: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if verify_hostname {
        builder.with_webpki_verifier(verifier).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// Verifies the chain to the truststore and ignores only a name mismatch
/// (`security.ssl.verify-hostname: false`).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
