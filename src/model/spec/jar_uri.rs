//! A session job's `jarURI`: where its jar comes from.

/// Where the jar comes from: flinkops uploads it to the session cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JarSource {
    /// A file where flinkops runs.
    File(std::path::PathBuf),
    /// Downloaded over HTTP(S).
    Http(String),
    /// A file in the session cluster's image, at this absolute path: flinkops uploads a
    /// jar whose class path names it (`image_jar`).
    Image(String),
}

/// The jar of a session job's jarURI: a file or a download flinkops uploads, or a file in
/// the cluster's image (`local://`). What can be judged without the daemon's settings is
/// judged here (at validation): the scheme, an absolute file path that does not climb
/// (`..`), a host.
/// Whether the daemon may read or download it is `runtime::jar`'s question. Errors never
/// show credentials in the URI.
pub fn jar_source(uri: &str) -> Result<JarSource, String> {
    let shown = crate::model::escape::redact_url(uri);
    if let Some(path) = uri.strip_prefix("file://") {
        let path = std::path::Path::new(path);
        if !path.is_absolute() {
            return Err(format!(
                "`{shown}`: a file jarURI names an absolute path, e.g. file:///jars/job.jar"
            ));
        }
        if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(format!("`{shown}`: `..` is not allowed in a file jarURI"));
        }
        return Ok(JarSource::File(path.into()));
    }
    if let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("`{shown}`: the URL has no host"));
        }
        return Ok(JarSource::Http(uri.to_string()));
    }
    if let Some(path) = uri.strip_prefix("local://") {
        // The path's syntax (absolute, no URI syntax) is checked with every local jarURI.
        return Ok(JarSource::Image(path.to_string()));
    }
    Err(format!(
        "`{shown}`: a session job's jar is uploaded by flinkops (file://, http://, https://) or is in its cluster's image (local://)"
    ))
}
