//! The Flink REST client (reqwest). Every request has a timeout; every failure says which
//! request failed and, when Flink answered, Flink's own error text.

use super::{Checkpoints, ClusterOverview, JobDetails, JobSummary, Operation, Restored, RunJar};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FlinkError {
    /// No answer: connection refused, DNS, reset, or no response within the timeout.
    #[error("{request}: Flink REST unreachable: {message}")]
    Unreachable { request: String, message: String },
    /// Flink answered with an error status; `errors` is its `errors` list.
    #[error("{request}: HTTP {status}: {}", errors.join("; "))]
    Http {
        request: String,
        status: u16,
        errors: Vec<String>,
    },
    /// Flink answered something this client does not understand.
    #[error("{request}: unexpected answer: {message}")]
    Decode { request: String, message: String },
    /// A savepoint operation finished unsuccessfully; `cause` is Flink's reason.
    #[error("{what} failed: {cause}")]
    OperationFailed { what: String, cause: String },
    #[error("{what} did not complete within {}s", after.as_secs())]
    OperationTimeout { what: String, after: Duration },
}

impl FlinkError {
    /// Flink said the job does not exist (it finished, or the cluster restarted).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FlinkError::Http { status: 404, .. })
    }
}

/// One HTTP client for every JobManager (its connection pool and resolver shared; a
/// clone is a handle): a client per call would open a new connection every time.
fn shared_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            client_builder()
                .build()
                .expect("a reqwest client with the default TLS configuration builds")
        })
        .clone()
}

/// How every client of a JobManager's REST API is set up; a TLS client (`super::tls`)
/// adds its trust and name resolution to it.
pub fn client_builder() -> reqwest::ClientBuilder {
    super::tls::install_crypto();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        // Idle connections to a JobManager that went away are not kept long.
        .pool_idle_timeout(Duration::from_secs(30))
}

#[derive(Debug, Clone)]
pub struct FlinkRest {
    base: String,
    http: reqwest::Client,
}

/// Per-request timeout: Flink's REST handlers answer in milliseconds; a jar upload of
/// hundreds of megabytes is the slow one.
const TIMEOUT: Duration = Duration::from_secs(30);
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

impl FlinkRest {
    /// `base` is `http://host:port` of the JobManager's REST endpoint (plain HTTP).
    pub fn new(base: &str) -> FlinkRest {
        FlinkRest {
            base: base.trim_end_matches('/').to_string(),
            http: shared_client(),
        }
    }

    /// `base` with a client of its own (TLS with the job's truststore).
    pub fn with_client(base: &str, http: reqwest::Client) -> FlinkRest {
        FlinkRest {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        request: String,
        builder: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Value, FlinkError> {
        let response =
            builder
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| FlinkError::Unreachable {
                    request: request.clone(),
                    message: describe(&e),
                })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| FlinkError::Unreachable {
            request: request.clone(),
            message: describe(&e),
        })?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| FlinkError::Decode {
                request: request.clone(),
                message: format!("{e}: {}", truncate(&text)),
            })?
        };
        if !status.is_success() {
            return Err(FlinkError::Http {
                request,
                status: status.as_u16(),
                errors: flink_errors(&body, &text),
            });
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> Result<Value, FlinkError> {
        let url = format!("{}{path}", self.base);
        self.send(format!("GET {url}"), self.http.get(&url), TIMEOUT)
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, FlinkError> {
        let url = format!("{}{path}", self.base);
        self.send(
            format!("POST {url}"),
            self.http.post(&url).json(body),
            TIMEOUT,
        )
        .await
    }

    pub async fn overview(&self) -> Result<ClusterOverview, FlinkError> {
        let v = self.get("/overview").await?;
        decode("GET /overview", v)
    }

    pub async fn jobs(&self) -> Result<Vec<JobSummary>, FlinkError> {
        let v = self.get("/jobs/overview").await?;
        decode(
            "GET /jobs/overview",
            v.get("jobs").cloned().unwrap_or_default(),
        )
    }

    pub async fn job(&self, id: &str) -> Result<JobDetails, FlinkError> {
        let path = format!("/jobs/{id}");
        let v = self.get(&path).await?;
        decode(&format!("GET {path}"), v)
    }

    pub async fn checkpoints(&self, id: &str) -> Result<Checkpoints, FlinkError> {
        let v = self.get(&format!("/jobs/{id}/checkpoints")).await?;
        let path = |v: &Value| {
            v.get("external_path")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(Checkpoints {
            completed: v
                .pointer("/counts/completed")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            latest_completed: v.pointer("/latest/completed").and_then(path),
            latest_completed_ms: v
                .pointer("/latest/completed/latest_ack_timestamp")
                .and_then(Value::as_u64)
                .filter(|ms| *ms > 0),
            latest_savepoint: v.pointer("/latest/savepoint").and_then(path),
            restored: v.pointer("/latest/restored").and_then(|r| {
                Some(Restored {
                    path: path(r)?,
                    is_savepoint: r
                        .get("is_savepoint")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
            }),
        })
    }

    /// Triggers a savepoint (the job keeps running); poll with `savepoint_status`.
    pub async fn trigger_savepoint(
        &self,
        id: &str,
        target_dir: Option<&str>,
        trigger_id: Option<&str>,
    ) -> Result<String, FlinkError> {
        // Without a directory Flink uses the cluster's execution.checkpointing.savepoint-dir.
        let mut body = serde_json::json!({"cancel-job": false});
        if let Some(dir) = target_dir {
            body["target-directory"] = dir.into();
        }
        if let Some(t) = trigger_id {
            body["triggerId"] = t.into();
        }
        let v = self.post(&format!("/jobs/{id}/savepoints"), &body).await?;
        request_id("POST savepoints", &v)
    }

    /// Stop-with-savepoint without draining (sources stop, no end-of-input is signalled).
    /// With `trigger_id` (32 hex digits) the request is idempotent: Flink files the
    /// operation under that id, and a repeated request does not start a second one.
    pub async fn stop_with_savepoint(
        &self,
        id: &str,
        target_dir: Option<&str>,
        trigger_id: Option<&str>,
    ) -> Result<String, FlinkError> {
        // Without a directory Flink uses the cluster's execution.checkpointing.savepoint-dir.
        let mut body = serde_json::json!({"drain": false});
        if let Some(dir) = target_dir {
            body["targetDirectory"] = dir.into();
        }
        if let Some(t) = trigger_id {
            body["triggerId"] = t.into();
        }
        let v = self.post(&format!("/jobs/{id}/stop"), &body).await?;
        request_id("POST stop", &v)
    }

    pub async fn savepoint_status(&self, id: &str, trigger: &str) -> Result<Operation, FlinkError> {
        let v = self
            .get(&format!("/jobs/{id}/savepoints/{trigger}"))
            .await?;
        if v.pointer("/status/id").and_then(Value::as_str) != Some("COMPLETED") {
            return Ok(Operation::InProgress);
        }
        if let Some(location) = v.pointer("/operation/location").and_then(Value::as_str) {
            return Ok(Operation::Completed {
                location: location.to_string(),
            });
        }
        Ok(Operation::Failed {
            cause: failure_cause(
                v.pointer("/operation/failure-cause")
                    .unwrap_or(&Value::Null),
            ),
        })
    }

    /// Triggers a checkpoint (Flink 1.17+) of the kind the job is configured for; poll
    /// with `checkpoint_status`. With `trigger_id` a repeated request is not a second one.
    pub async fn trigger_checkpoint(
        &self,
        id: &str,
        trigger_id: Option<&str>,
    ) -> Result<String, FlinkError> {
        let mut body = serde_json::json!({"checkpointType": "CONFIGURED"});
        if let Some(t) = trigger_id {
            body["triggerId"] = t.into();
        }
        let v = self.post(&format!("/jobs/{id}/checkpoints"), &body).await?;
        request_id("POST checkpoints", &v)
    }

    /// A triggered checkpoint's progress; `Completed` names it `checkpoint N`.
    pub async fn checkpoint_status(
        &self,
        id: &str,
        trigger: &str,
    ) -> Result<Operation, FlinkError> {
        let v = self
            .get(&format!("/jobs/{id}/checkpoints/{trigger}"))
            .await?;
        if v.pointer("/status/id").and_then(Value::as_str) != Some("COMPLETED") {
            return Ok(Operation::InProgress);
        }
        if let Some(n) = v.pointer("/operation/checkpointId").and_then(Value::as_u64) {
            return Ok(Operation::Completed {
                location: format!("checkpoint {n}"),
            });
        }
        Ok(Operation::Failed {
            cause: failure_cause(v.pointer("/operation/failureCause").unwrap_or(&Value::Null)),
        })
    }

    /// Polls a triggered checkpoint until it completes, fails, or `timeout` passes.
    pub async fn await_checkpoint(
        &self,
        id: &str,
        trigger: &str,
        timeout: Duration,
    ) -> Result<String, FlinkError> {
        let what = format!("checkpoint {trigger} of job {id}");
        self.await_operation(what, timeout, || self.checkpoint_status(id, trigger))
            .await
    }

    /// Polls a savepoint operation until it completes, fails, or `timeout` passes.
    pub async fn await_savepoint(
        &self,
        id: &str,
        trigger: &str,
        timeout: Duration,
    ) -> Result<String, FlinkError> {
        let what = format!("savepoint {trigger} of job {id}");
        self.await_operation(what, timeout, || self.savepoint_status(id, trigger))
            .await
    }

    async fn await_operation<F, Fut>(
        &self,
        what: String,
        timeout: Duration,
        status: F,
    ) -> Result<String, FlinkError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Operation, FlinkError>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wait = Duration::from_millis(100);
        loop {
            match status().await? {
                Operation::Completed { location } => return Ok(location),
                Operation::Failed { cause } => {
                    return Err(FlinkError::OperationFailed { what, cause })
                }
                Operation::InProgress => {}
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Err(FlinkError::OperationTimeout {
                    what,
                    after: timeout,
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Uploads a jar; returns the id `run_jar` takes.
    pub async fn upload_jar(&self, jar: &Path) -> Result<String, FlinkError> {
        let url = format!("{}/jars/upload", self.base);
        let request = format!("POST {url}");
        let bytes = tokio::fs::read(jar).await.map_err(|e| FlinkError::Decode {
            request: request.clone(),
            message: format!("reading {}: {e}", jar.display()),
        })?;
        let name = jar
            .file_name()
            .map_or("job.jar".into(), |n| n.to_string_lossy().into_owned());
        self.upload_jar_bytes(&name, bytes).await
    }

    /// Uploads a jar's bytes under a file name; returns the id `run_jar` takes.
    pub async fn upload_jar_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<String, FlinkError> {
        let url = format!("{}/jars/upload", self.base);
        let request = format!("POST {url}");
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("application/x-java-archive")
            .expect("a valid mime type");
        let form = reqwest::multipart::Form::new().part("jarfile", part);
        let v = self
            .send(
                request.clone(),
                self.http.post(&url).multipart(form),
                UPLOAD_TIMEOUT,
            )
            .await?;
        let file = v
            .get("filename")
            .and_then(Value::as_str)
            .ok_or_else(|| FlinkError::Decode {
                request,
                message: format!("no filename in {v}"),
            })?;
        Ok(file.rsplit('/').next().unwrap_or(file).to_string())
    }

    /// Runs an uploaded jar; returns the new job's id.
    pub async fn run_jar(&self, jar_id: &str, run: &RunJar) -> Result<String, FlinkError> {
        let path = format!("/jars/{jar_id}/run");
        let body = serde_json::to_value(run).expect("serializable");
        let v = self.post(&path, &body).await?;
        v.get("jobid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| FlinkError::Decode {
                request: format!("POST {path}"),
                message: format!("no jobid in {v}"),
            })
    }

    /// The first line of the job's root exception, if it has one (a failed job's cause).
    pub async fn root_exception(&self, id: &str) -> Result<Option<String>, FlinkError> {
        let v = self.get(&format!("/jobs/{id}/exceptions")).await?;
        let text = v
            .pointer("/exceptionHistory/entries/0/stacktrace")
            .or_else(|| v.get("root-exception"))
            .and_then(Value::as_str);
        Ok(text.and_then(|t| t.lines().next()).map(str::to_string))
    }

    /// Deletes an uploaded jar (a cluster keeps every upload until then).
    pub async fn delete_jar(&self, jar_id: &str) -> Result<(), FlinkError> {
        let url = format!("{}/jars/{jar_id}", self.base);
        self.send(format!("DELETE {url}"), self.http.delete(&url), TIMEOUT)
            .await
            .map(|_| ())
    }

    /// Cancels a job (no savepoint).
    pub async fn cancel(&self, id: &str) -> Result<(), FlinkError> {
        let url = format!("{}/jobs/{id}?mode=cancel", self.base);
        self.send(format!("PATCH {url}"), self.http.patch(&url), TIMEOUT)
            .await
            .map(|_| ())
    }
}

fn decode<T: serde::de::DeserializeOwned>(request: &str, v: Value) -> Result<T, FlinkError> {
    serde_json::from_value(v).map_err(|e| FlinkError::Decode {
        request: request.to_string(),
        message: e.to_string(),
    })
}

fn request_id(request: &str, v: &Value) -> Result<String, FlinkError> {
    v.get("request-id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| FlinkError::Decode {
            request: request.to_string(),
            message: format!("no request-id in {v}"),
        })
}

/// Flink's `{"errors": [...]}`, each entry as its first line and innermost cause (the rest
/// is a Java stack trace).
fn flink_errors(body: &Value, text: &str) -> Vec<String> {
    match body.get("errors").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), summarize_trace))
            .collect(),
        _ => vec![truncate(text)],
    }
}

/// `First line (caused by: innermost cause)` of a Java exception text.
fn summarize_trace(trace: &str) -> String {
    let first = trace.lines().next().unwrap_or("").trim();
    match innermost_cause(trace) {
        Some(cause) if cause != first => format!("{first} (caused by: {cause})"),
        _ => first.to_string(),
    }
}

fn innermost_cause(trace: &str) -> Option<&str> {
    trace
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Caused by: "))
}

/// The reason in a failure-cause (`{"class", "stack-trace", "serialized-throwable"}`): the
/// innermost "Caused by" line, which names what went wrong (a directory, a permission).
pub(crate) fn failure_cause(cause: &Value) -> String {
    let trace = cause
        .get("stack-trace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let innermost = innermost_cause(trace);
    let first = trace.lines().next().unwrap_or("");
    match innermost.or((!first.is_empty()).then_some(first)) {
        Some(line) => line.to_string(),
        None => cause
            .get("class")
            .and_then(Value::as_str)
            .unwrap_or("unknown failure")
            .to_string(),
    }
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display hides the cause ("error sending request"); the chain names it.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        message.push_str(" (timed out)");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_cause_names_the_innermost_reason() {
        let cause = json!({
            "class": "java.util.concurrent.CompletionException",
            "stack-trace": "java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: Failure to finalize checkpoint.\n\tat java.base/...\nCaused by: org.apache.flink.runtime.checkpoint.CheckpointException: Failure to finalize checkpoint.\n\tat ...\nCaused by: java.nio.file.AccessDeniedException: /savepoints/savepoint-1\n\tat ..."
        });
        assert_eq!(
            failure_cause(&cause),
            "java.nio.file.AccessDeniedException: /savepoints/savepoint-1"
        );
        assert_eq!(failure_cause(&json!({"class": "x.Y"})), "x.Y");
    }

    #[test]
    fn flink_error_lists_keep_the_first_lines() {
        let body = json!({"errors": ["org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n\tat a\nCaused by: java.util.concurrent.CompletionException: x\n\tat b\nCaused by: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/nonexistent/savepoint-0'\n\tat c", "Job not found"]});
        assert_eq!(
            flink_errors(&body, ""),
            vec![
                "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application. (caused by: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/nonexistent/savepoint-0')".to_string(),
                "Job not found".to_string()
            ]
        );
        assert_eq!(
            flink_errors(&Value::Null, "<html>bad gateway</html>"),
            vec!["<html>bad gateway</html>"]
        );
    }

    #[test]
    fn run_jar_body_leaves_out_what_is_unset() {
        let body = serde_json::to_value(RunJar {
            entry_class: Some("C".into()),
            parallelism: Some(3),
            savepoint_path: Some("file:///sp/1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"entryClass": "C", "parallelism": 3, "savepointPath": "file:///sp/1"})
        );
    }
}
