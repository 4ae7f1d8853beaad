//! A generated repository of N jobs for scale tests and the diff benchmark: application
//! jobs in all three upgrade modes, 10 namespaces, varied configuration sizes, 10 jobs per
//! file. Shared by tests/cli_history.rs and examples/gen_scale_repo.rs.

/// A job definition of the generated scale repository; `variant` changes its parallelism.
pub fn job(i: usize, variant: usize) -> String {
    let mode = ["savepoint", "last-state", "stateless"][i % 3];
    let conf: String = (0..(i % 7))
        .map(|k| format!("    pipeline.option-{k}: value-{i}-{k}\n"))
        .collect();
    format!(
        "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: job-{i:04}
  namespace: team-{}
spec:
  image: registry.example.com/jobs/job-{i}:1.{variant}
  flinkVersion: v2_0
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
{conf}  taskManager:
    resource: {{cpu: 1, memory: 2g}}
  job:
    jarURI: local:///opt/flink/usrlib/job.jar
    entryClass: com.example.Job{i}
    parallelism: {}
    upgradeMode: {mode}
---
",
        i % 10,
        2 + variant + i % 4
    )
}

/// The files of an N-job repository; `changed(i)` selects jobs in their second variant.
pub fn files(n: usize, changed: &dyn Fn(usize) -> bool) -> Vec<(String, String)> {
    (0..n.div_ceil(10))
        .map(|file| {
            let text: String = (file * 10..(file * 10 + 10).min(n))
                .map(|i| job(i, usize::from(changed(i))))
                .collect();
            (format!("jobs/file-{file:03}.yaml"), text)
        })
        .collect()
}
