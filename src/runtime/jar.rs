//! Fetching a session job's jar for flinkops to upload to its session cluster, within what
//! the daemon's operator allows (`--jar-dir`, `--jar-host`, ...). The jarURI comes from
//! the repository and the bytes go to a JobManager whose image the repository chooses, so
//! any file flinkops can be made to read (its service account token, `/proc/self/environ`
//! with the Git token and webhook secret) or any address it can be made to fetch (cloud
//! metadata, in-cluster services) would be the repository's to take. Hence: files only
//! from one directory, downloads only from listed hosts at addresses that are not
//! internal, no redirects, and a bound on size and time.

use crate::engine::session_job::{self, JarSource};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// What the daemon's operator allows (never the repository: it is the one held in check).
#[derive(Debug, Clone)]
pub struct JarPolicy {
    /// The directory `file://` jars must be in; None: `file://` jars are refused.
    pub dir: Option<PathBuf>,
    /// Hosts `http(s)://` jars may come from: lower-case names or IP addresses, exact.
    pub hosts: Vec<String>,
    /// Allow those hosts to be at loopback, private, link-local and other internal
    /// addresses (an artifact repository inside the cluster).
    pub allow_internal: bool,
    /// Largest jar read or downloaded.
    pub max_bytes: u64,
    /// A whole download, from connecting to the last byte.
    pub timeout: Duration,
}

impl Default for JarPolicy {
    fn default() -> Self {
        JarPolicy {
            dir: None,
            hosts: Vec::new(),
            allow_internal: false,
            max_bytes: 512 << 20,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Connecting to a jar's host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A jar, ready to upload.
#[derive(Debug)]
pub struct Jar {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JarError {
    /// The jarURI is not allowed, or names what is not there: the definition must change.
    #[error("{0}")]
    Refused(String),
    /// The host did not answer well: trying again may help.
    #[error("{0}")]
    Unavailable(String),
}

/// Reads and downloads jars within a `JarPolicy`, with one HTTP client for every download
/// (cheap to clone: the client is shared).
#[derive(Clone)]
pub struct JarFetcher {
    policy: JarPolicy,
    /// `policy.dir`, with symbolic links resolved.
    dir: Option<PathBuf>,
    http: reqwest::Client,
}

impl JarFetcher {
    /// Fails when the jar directory does not exist.
    pub fn new(policy: JarPolicy) -> Result<JarFetcher, String> {
        let dir = match &policy.dir {
            Some(d) => Some(
                std::fs::canonicalize(d)
                    .map_err(|e| format!("jar directory {}: {e}", d.display()))?,
            ),
            None => None,
        };
        crate::edge::flink::tls::install_crypto();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(policy.timeout)
            // A redirect could lead anywhere; the jarURI must name the jar itself.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the address check.
            .no_proxy()
            .dns_resolver(CheckedResolver {
                allow_internal: policy.allow_internal,
            })
            .build()
            .map_err(|e| format!("building the jar download client: {e}"))?;
        let hosts = policy
            .hosts
            .iter()
            .map(|h| {
                h.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            // An address as the URL parser writes it (`::1`, not `0:0::1`).
            .map(|h| h.parse::<IpAddr>().map_or(h, |ip| ip.to_string()))
            .collect();
        Ok(JarFetcher {
            policy: JarPolicy { hosts, ..policy },
            dir,
            http,
        })
    }

    /// The jar of `uri`. Errors name the URI (without credentials).
    pub async fn fetch(&self, uri: &str) -> Result<Jar, JarError> {
        let shown = crate::engine::redact::redact_url(uri);
        let in_uri = |why: String| format!("jarURI `{shown}`: {why}");
        let result = match session_job::jar_source(uri).map_err(JarError::Refused)? {
            JarSource::File(path) => self.read_file(&path).await,
            JarSource::Http(url) => self.download(&url).await,
            // The upgrade runs such a jar through `image_jar`; there is nothing to fetch.
            JarSource::Image(_) => Err(JarError::Refused(
                "is in the session cluster's image, not where flinkops runs".into(),
            )),
        };
        result.map_err(|e| match e {
            JarError::Refused(why) => JarError::Refused(in_uri(why)),
            JarError::Unavailable(why) => JarError::Unavailable(in_uri(why)),
        })
    }

    async fn read_file(&self, path: &Path) -> Result<Jar, JarError> {
        let refused = |why: String| JarError::Refused(why);
        let Some(dir) = &self.dir else {
            return Err(refused(
                "file:// jars are off: the daemon has no --jar-dir to read them from".into(),
            ));
        };
        // The real path (symbolic links and `..` resolved) must be inside the directory,
        // and that real path is what is opened.
        let real = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| refused(format!("cannot be read where flinkops runs: {e}")))?;
        if !real.starts_with(dir) {
            return Err(refused(format!(
                "is not inside the jar directory {} (--jar-dir)",
                dir.display()
            )));
        }
        let file = tokio::fs::File::open(&real)
            .await
            .map_err(|e| refused(format!("cannot be read where flinkops runs: {e}")))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| refused(format!("cannot be read where flinkops runs: {e}")))?;
        if !meta.is_file() {
            return Err(refused("is not a regular file".into()));
        }
        let max = self.policy.max_bytes;
        if meta.len() > max {
            return Err(refused(too_large(max)));
        }
        let mut bytes = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| refused(format!("cannot be read where flinkops runs: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(refused(too_large(max)));
        }
        Ok(Jar {
            name: jar_name(real.file_name().and_then(|n| n.to_str())),
            bytes,
        })
    }

    async fn download(&self, uri: &str) -> Result<Jar, JarError> {
        let refused = |why: String| JarError::Refused(why);
        let url = reqwest::Url::parse(uri).map_err(|e| refused(format!("not a URL: {e}")))?;
        // As the URL parser normalised it: IPv4 in any notation as a.b.c.d, IPv6 in [].
        let host = url
            .host_str()
            .ok_or_else(|| refused("has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        // Addresses written one way, as in `JarFetcher::new`.
        let host = host.parse::<IpAddr>().map_or(host, |ip| ip.to_string());
        if !self.policy.hosts.contains(&host) {
            return Err(refused(format!(
                "host `{host}` is not one flinkops may download jars from (--jar-host)"
            )));
        }
        // An address in the URL is not resolved, so it is checked here.
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !self.policy.allow_internal && is_internal(ip) {
                return Err(refused(internal(&host, ip)));
            }
        }
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| match refusal_in(&e) {
                Some(why) => refused(why),
                None => JarError::Unavailable(format!("download failed: {}", describe(&e))),
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(refused(format!(
                "answers with a redirect (HTTP {status}); flinkops does not follow redirects, so jarURI must name the jar's final address"
            )));
        }
        if status.is_client_error() {
            return Err(refused(format!("cannot be downloaded: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(JarError::Unavailable(format!(
                "download failed: HTTP {status}"
            )));
        }
        let max = self.policy.max_bytes;
        if response.content_length().is_some_and(|n| n > max) {
            return Err(refused(too_large(max)));
        }
        // Streamed, and stopped at the limit whatever the server announced.
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JarError::Unavailable(format!("download failed: {}", describe(&e))))?
        {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(refused(too_large(max)));
            }
            bytes.extend_from_slice(&chunk);
        }
        let name = response
            .url()
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(str::to_string);
        Ok(Jar {
            name: jar_name(name.as_deref()),
            bytes,
        })
    }
}

fn too_large(max: u64) -> String {
    format!(
        "is larger than {} MiB (--jar-max-size-mib)",
        max.div_ceil(1 << 20)
    )
}

fn internal(host: &str, ip: IpAddr) -> String {
    format!(
        "`{host}` is at {ip}, an internal (loopback, private, link-local or reserved) address; allowing such addresses takes --jar-allow-internal-addresses"
    )
}

/// The name the jar is uploaded under: the URI's file name when it is a plain `*.jar`.
fn jar_name(name: Option<&str>) -> String {
    name.filter(|n| n.ends_with(".jar") && n.len() <= 200)
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
        .unwrap_or("job.jar")
        .to_string()
}

/// Whether `ip` is one a jar download must not reach unless allowed: loopback, private
/// (RFC 1918, unique local), link-local (cloud metadata at 169.254.169.254), shared
/// (100.64/10), unspecified, multicast, broadcast, reserved, and IPv6 forms of these.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            // IPv4-mapped and -compatible (::ffff:a.b.c.d, ::a.b.c.d), NAT64
            // (64:ff9b::/96) and 6to4 (2002::/16) reach an IPv4 address.
            if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) && !v6.is_loopback() {
                return v6.is_unspecified() || internal_v4(embedded(s[6], s[7]));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return internal_v4(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return internal_v4(embedded(s[1], s[2]));
            }
            v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0 // "this network", 0.0.0.0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240 // reserved
}

/// Resolves a jar host and refuses the whole name when any of its addresses is internal.
/// The connection goes to the addresses checked here, so a name that resolves elsewhere a
/// moment later (DNS rebinding) changes nothing.
struct CheckedResolver {
    allow_internal: bool,
}

/// Why the resolver refused a name (found again in the request's error chain).
#[derive(Debug)]
struct InternalAddress(String);

impl std::fmt::Display for InternalAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InternalAddress {}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let allow_internal = self.allow_internal;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_internal {
                if let Some(a) = addrs.iter().find(|a| is_internal(a.ip())) {
                    let why: Box<dyn std::error::Error + Send + Sync> =
                        Box::new(InternalAddress(internal(&host, a.ip())));
                    return Err(why);
                }
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver's refusal, when that is why `e` happened.
fn refusal_in(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<InternalAddress>() {
            return Some(r.0.clone());
        }
        source = s.source();
    }
    None
}

/// reqwest's Display hides the cause ("error sending request"); the chain names it. The
/// URL (it may carry credentials) is left out.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out (--jar-download-timeout)".into();
    }
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.pop().unwrap_or_else(|| "the request failed".into())
}

#[cfg(test)]
mod tests;
