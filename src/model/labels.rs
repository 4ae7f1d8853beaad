//! The labels and annotations flinkops writes on what it applies, and reads back: the
//! contract between a render and the cluster.

pub const MANAGER: &str = "flinkops";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_JOB: &str = "flinkops.io/job";
pub const ANN_COMMIT: &str = "flinkops.io/commit";
pub const ANN_SOURCE: &str = "flinkops.io/source";
pub const ANN_SPEC_HASH: &str = "flinkops.io/spec-hash";
/// Set (to a new value) in a definition to accept a change that loses the job's state
/// when the settings' `guardStateLoss` is on.
pub const ANN_ACCEPT_STATE_LOSS: &str = "flinkops.io/accept-state-loss";
/// On pod templates: changes with the ConfigMap so that a configuration change rolls the
/// pods (Flink reads its configuration only at start).
pub const ANN_CONFIG_HASH: &str = "flinkops.io/config-hash";
pub const MAIN_CONTAINER: &str = "flink-main-container";
