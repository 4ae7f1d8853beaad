//! Session jobs: how flinkops names the Flink jobs it submits to a session cluster and
//! what it asks Flink to run. Pure; the upgrade executor does the REST calls.
//!
//! A session cluster runs many jobs, so "the job" cannot be "whatever runs there". Every
//! Flink job flinkops submits for a session job gets an id whose first half is derived from
//! the job's namespace and name and whose second half is fresh per submission. The first
//! half finds the job's Flink jobs among the cluster's (after a crash too, with nothing
//! recorded); the whole id, recorded before submitting, makes a repeated submission
//! recognisable (and Flink refuses a second job with a running job's id).

use crate::model::flink::RunJar;
use crate::model::spec::{JobId, JobSpec};
use sha2::{Digest, Sha256};

/// The first half (16 hex digits) of every Flink job id submitted for `id`.
pub fn job_id_prefix(id: &JobId) -> String {
    let digest = Sha256::digest(format!("{}/{}", id.namespace, id.name).as_bytes());
    crate::engine::render::hex(&digest[..8])
}

/// A new Flink job id for `id` (Flink's format: 32 hex digits); `seed` makes it unique
/// per submission.
pub fn new_job_id(id: &JobId, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    format!(
        "{}{}",
        job_id_prefix(id),
        crate::engine::render::hex(&digest[..8])
    )
}

/// Whether the Flink job `flink_id` was submitted by flinkops for `id`.
pub fn is_job_of(id: &JobId, flink_id: &str) -> bool {
    flink_id.len() == 32 && flink_id.starts_with(&job_id_prefix(id))
}

/// The session cluster a session job runs in (a FlinkDeployment in the same namespace).
pub fn cluster_of(spec: &JobSpec) -> Option<JobId> {
    Some(JobId {
        namespace: spec.id.namespace.clone(),
        name: spec.session_cluster.clone()?,
    })
}

/// The job whose JobManager serves `spec`'s REST API: a session job's cluster, else the
/// job itself.
pub fn rest_home(spec: &JobSpec) -> JobId {
    cluster_of(spec).unwrap_or_else(|| spec.id.clone())
}

/// Whether the Flink job `flink_id`, found behind `home`'s REST API (see `rest_home`), is
/// `id`'s: any job in an application's own JobManager; in a session cluster only those
/// flinkops submitted for it.
pub fn belongs(id: &JobId, home: &JobId, flink_id: &str) -> bool {
    home == id || is_job_of(id, flink_id)
}

pub use crate::model::spec::jar_uri::{jar_source, JarSource};

/// The run request for `spec`'s jar: restoring from `restore_from`, as Flink job `job_id`.
/// The session job's Flink configuration goes with it (flinkops' own keys do not), with
/// the Apache operator's job defaults for what it leaves out (its name, checkpoints kept
/// on cancellation for a stateful job, a checkpoint interval for a last-state job).
pub fn run_request(spec: &JobSpec, restore_from: Option<&str>, job_id: &str) -> RunJar {
    let job = spec.job.as_ref();
    RunJar {
        entry_class: job.and_then(|j| j.entry_class.clone()),
        parallelism: job.and_then(|j| u32::try_from(j.parallelism).ok()),
        program_args_list: job.map(|j| j.args.clone()).unwrap_or_default(),
        savepoint_path: restore_from.map(str::to_string),
        allow_non_restored_state: restore_from.is_some()
            && job.and_then(|j| j.allow_non_restored_state) == Some(true),
        job_id: Some(job_id.to_string()),
        flink_configuration: crate::engine::render::config::effective(spec, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

    fn id(ns: &str, name: &str) -> JobId {
        JobId {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn submitted_ids_are_recognised_as_the_job_s_and_only_its() {
        let a = id("streaming", "orders");
        let one = new_job_id(&a, "1");
        let two = new_job_id(&a, "2");
        assert_eq!(one.len(), 32);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(one, two);
        assert!(is_job_of(&a, &one) && is_job_of(&a, &two));
        assert!(!is_job_of(&id("streaming", "payments"), &one));
        assert!(!is_job_of(&id("analytics", "orders"), &one));
        // Behind its own JobManager everything is an application's; in a session cluster
        // only what flinkops submitted for the job.
        let cluster = id("streaming", "shared");
        assert!(belongs(&a, &cluster, &one));
        assert!(!belongs(&a, &cluster, "a5b6c7d8e9f00112233445566778899a"));
        assert!(belongs(&a, &a, "a5b6c7d8e9f00112233445566778899a"));
        // A job Flink named (random id) or someone else submitted is not ours.
        assert!(!is_job_of(&a, "a5b6c7d8e9f00112233445566778899a"));
        assert!(!is_job_of(&a, &job_id_prefix(&a)));
    }

    #[test]
    fn jars_come_from_files_or_http() {
        assert_eq!(
            jar_source("file:///jobs/a.jar"),
            Ok(JarSource::File("/jobs/a.jar".into()))
        );
        assert_eq!(
            jar_source("https://repo.example.com/a.jar"),
            Ok(JarSource::Http("https://repo.example.com/a.jar".into()))
        );
        assert_eq!(
            jar_source("local:///opt/flink/usrlib/a.jar"),
            Ok(JarSource::Image("/opt/flink/usrlib/a.jar".into()))
        );
        let err = jar_source("s3://bucket/a.jar").unwrap_err();
        assert!(err.contains("local://"), "{err}");
        // Credentials in a URI are never printed.
        let err = jar_source("ftp://deploy:hunter2@repo.example.com/a.jar").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        // A path that climbs out of where it points is refused before anything is read.
        assert!(jar_source("file:///jars/../proc/self/environ").is_err());
        assert!(jar_source("file://jars/a.jar").is_err(), "relative path");
    }

    #[test]
    fn the_run_request_carries_the_job_and_its_state() {
        let c = catalog(&[
            (
                "c.yaml",
                "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: shared, namespace: analytics}
spec: {image: flink:2.3}
",
            ),
            (
                "s.yaml",
                "apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {name: top, namespace: analytics}
spec:
  deploymentName: shared
  flinkConfiguration:
    pipeline.max-parallelism: '64'
    kubernetes.operator.periodic.savepoint.interval: 1h
  job:
    jarURI: https://example.com/top.jar
    entryClass: com.example.Top
    args: [--window, 5m]
    parallelism: 3
    upgradeMode: savepoint
    allowNonRestoredState: true
",
            ),
        ]);
        let spec = c
            .jobs
            .values()
            .find(|s| s.id.name == "top")
            .unwrap_or_else(|| panic!("{:?}", c.blocked));
        let run = run_request(spec, Some("file:///sp/1"), "00ff");
        assert_eq!(run.entry_class.as_deref(), Some("com.example.Top"));
        assert_eq!(run.parallelism, Some(3));
        assert_eq!(run.program_args_list, vec!["--window", "5m"]);
        assert_eq!(run.savepoint_path.as_deref(), Some("file:///sp/1"));
        assert!(run.allow_non_restored_state);
        assert_eq!(run.job_id.as_deref(), Some("00ff"));
        assert_eq!(
            run.flink_configuration.keys().collect::<Vec<_>>(),
            vec![
                "execution.checkpointing.externalized-checkpoint-retention",
                "pipeline.max-parallelism",
                "pipeline.name"
            ]
        );
        assert_eq!(run.flink_configuration["pipeline.name"], "top");
        // Without state to restore, allowNonRestoredState means nothing.
        assert!(!run_request(spec, None, "00ff").allow_non_restored_state);
        assert_eq!(
            cluster_of(spec),
            Some(id("analytics", "shared")),
            "the session cluster is in the job's namespace"
        );
        assert_eq!(rest_home(spec), id("analytics", "shared"));
        let cluster = c.jobs.values().find(|s| s.id.name == "shared").unwrap();
        assert_eq!(rest_home(cluster), cluster.id, "a cluster serves itself");
    }
}
