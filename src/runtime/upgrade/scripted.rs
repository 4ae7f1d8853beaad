//! A scripted stand-in for Flink and the cluster, for unit tests of the executor's failure
//! paths that real Flink cannot produce on demand (two jobs in one JobManager, a savepoint
//! that fails, a 404 for our own trigger, a timeout on the stop request). Each test sets
//! the world's answers; every write and request is logged in order, so a test can assert
//! that the ledger records a step before the step is taken. The real-Flink tests
//! (tests/upgrade_*.rs) cover the paths real components take.

use super::edges::{Edges, FlinkApi};
use crate::edge::flink::{
    Checkpoints, FlinkError, JobDetails, JobSummary, Operation, RunJar, Vertex,
};
use crate::edge::kube::ops::OpError;
use crate::engine::render::Object;
use crate::engine::upgrade::transition::Template;
use crate::model::ledger::Ledger;
use crate::model::spec::JobId;
use crate::runtime::jar::{Jar, JarError};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the scripted Flink and cluster answer, and what was done to them.
#[derive(Debug, Default)]
pub struct World {
    /// The job's ledger and its resourceVersion (a write on an older one conflicts).
    pub ledger: Option<Ledger>,
    pub version: u64,
    /// Why no JobManager can be reached (None: it answers).
    pub no_jobmanager: Option<String>,
    /// Every Flink request times out.
    pub flink_times_out: bool,
    /// The stop request times out (it may or may not have reached Flink).
    pub stop_times_out: bool,
    pub jobs: Vec<JobSummary>,
    /// The answer for a savepoint trigger; None: Flink does not know it (404).
    pub savepoint: Option<Operation>,
    pub checkpoints: Checkpoints,
    pub root_exception: Option<String>,
    pub pods: usize,
    pub jobmanager: Option<Template>,
    /// Writes, requests and applies, in order.
    pub log: Vec<String>,
}

impl World {
    /// The ledger as last written.
    pub fn ledger(&self) -> Ledger {
        self.ledger.clone().unwrap_or_default()
    }

    /// The log entries that changed something (writes and requests), not reads.
    pub fn actions(&self) -> Vec<&str> {
        self.log
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("ask "))
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Scripted(pub Arc<Mutex<World>>);

impl Scripted {
    pub fn new(world: World) -> Scripted {
        Scripted(Arc::new(Mutex::new(world)))
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.0.lock().expect("a test thread panicked")
    }

    fn flink_call(&self, what: String) -> Result<MutexGuard<'_, World>, FlinkError> {
        let mut w = self.world();
        w.log.push(what.clone());
        if w.flink_times_out {
            return Err(FlinkError::Unreachable {
                request: what,
                message: "operation timed out".into(),
            });
        }
        Ok(w)
    }
}

fn not_found(request: String) -> FlinkError {
    FlinkError::Http {
        request,
        status: 404,
        errors: vec!["Job could not be found.".into()],
    }
}

impl FlinkApi for Scripted {
    async fn jobs(&self) -> Result<Vec<JobSummary>, FlinkError> {
        Ok(self.flink_call("ask jobs".into())?.jobs.clone())
    }
    async fn job(&self, id: &str) -> Result<JobDetails, FlinkError> {
        let w = self.flink_call(format!("ask job {id}"))?;
        let job = w.jobs.iter().find(|j| j.id == id);
        let job = job.ok_or_else(|| not_found(format!("GET /jobs/{id}")))?;
        Ok(JobDetails {
            id: job.id.clone(),
            name: job.name.clone(),
            state: job.state.clone(),
            vertices: vec![Vertex {
                name: "source".into(),
                status: job.state.as_str().to_string(),
                parallelism: 1,
            }],
        })
    }
    async fn checkpoints(&self, id: &str) -> Result<Checkpoints, FlinkError> {
        Ok(self
            .flink_call(format!("ask checkpoints {id}"))?
            .checkpoints
            .clone())
    }
    async fn stop_with_savepoint(
        &self,
        id: &str,
        dir: Option<&str>,
        trigger: &str,
    ) -> Result<(), FlinkError> {
        let what = format!("stop {id} into {} as {trigger}", dir.unwrap_or("-"));
        let w = self.flink_call(what.clone())?;
        if w.stop_times_out {
            return Err(FlinkError::Unreachable {
                request: what,
                message: "operation timed out".into(),
            });
        }
        Ok(())
    }
    async fn savepoint_status(&self, id: &str, trigger: &str) -> Result<Operation, FlinkError> {
        let w = self.flink_call(format!("ask savepoint {id} {trigger}"))?;
        w.savepoint
            .clone()
            .ok_or_else(|| not_found(format!("GET /jobs/{id}/savepoints/{trigger}")))
    }
    async fn cancel(&self, id: &str) -> Result<(), FlinkError> {
        self.flink_call(format!("cancel {id}")).map(drop)
    }
    async fn root_exception(&self, id: &str) -> Option<String> {
        self.flink_call(format!("ask exceptions {id}"))
            .ok()?
            .root_exception
            .clone()
    }
    async fn upload_jar(&self, jar: Jar) -> Result<String, FlinkError> {
        self.flink_call(format!("upload {}", jar.name))
            .map(|_| format!("{}-uploaded", jar.name))
    }
    async fn run_jar(&self, jar_id: &str, run: &RunJar) -> Result<(), FlinkError> {
        let w = format!(
            "run {jar_id} as {} from {}",
            run.job_id.as_deref().unwrap_or("-"),
            run.savepoint_path.as_deref().unwrap_or("-")
        );
        self.flink_call(w).map(drop)
    }
    async fn delete_jar(&self, jar_id: &str) -> Result<(), FlinkError> {
        self.flink_call(format!("delete {jar_id}")).map(drop)
    }
}

impl Edges for Scripted {
    type Flink = Scripted;

    async fn read_ledger(&self, _: &JobId) -> Result<Option<Ledger>, OpError> {
        let w = self.world();
        Ok(w.ledger.clone().map(|mut l| {
            l.resource_version = Some(w.version.to_string());
            l
        }))
    }
    async fn write_ledger(&self, id: &JobId, ledger: &Ledger) -> Result<String, OpError> {
        let mut w = self.world();
        let current = w.ledger.as_ref().map(|_| w.version.to_string());
        if ledger.resource_version.is_some() && ledger.resource_version != current {
            return Err(OpError::Conflict(id.to_string()));
        }
        let phase = ledger.upgrade.as_ref().map(|u| u.phase);
        w.log.push(format!("write {phase:?}"));
        w.version += 1;
        w.ledger = Some(Ledger {
            resource_version: None,
            ..ledger.clone()
        });
        Ok(w.version.to_string())
    }
    async fn scale_to_zero(&self, _: &JobId, name: &str) -> Result<bool, OpError> {
        let mut w = self.world();
        w.log.push(format!("scale {name} to 0"));
        let scaled = w.jobmanager.as_ref().is_some_and(|t| t.replicas != Some(0));
        if let Some(t) = w.jobmanager.as_mut() {
            t.replicas = Some(0);
        }
        Ok(scaled)
    }
    async fn pod_count(&self, _: &JobId) -> Result<usize, String> {
        Ok(self.world().pods)
    }
    async fn jobmanager(&self, _: &JobId) -> Result<Option<Template>, String> {
        Ok(self.world().jobmanager.clone())
    }
    async fn apply(&self, object: &Object) -> Result<(), OpError> {
        self.world()
            .log
            .push(format!("apply {}/{}", object.kind, object.name));
        Ok(())
    }
    async fn flink(&self, home: &JobId) -> Result<Scripted, String> {
        let mut w = self.world();
        w.log.push(format!("ask jobmanager of {home}"));
        match &w.no_jobmanager {
            Some(why) => Err(why.clone()),
            None => Ok(self.clone()),
        }
    }
    async fn fetch_jar(&self, uri: &str) -> Result<Jar, JarError> {
        Ok(Jar {
            name: uri.rsplit('/').next().unwrap_or("job.jar").to_string(),
            bytes: b"PK".to_vec(),
        })
    }
    async fn pause(&self, _: std::time::Duration) {}
}
