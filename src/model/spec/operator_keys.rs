//! flinkConfiguration keys under `kubernetes.operator.`: the Apache Flink Kubernetes
//! Operator's names for operator settings. flinkops applies a few of them (`SUPPORTED`);
//! each is read by one parser (`Setting::parse`) that both the check at load and the
//! runtime use, so they cannot disagree. The operator's other options are refused as not
//! applied (`APACHE_OPTIONS`), and any other key under the prefix is unknown. So are the
//! options of the operator's autoscaler (`job.autoscaler.`), which Flink would otherwise
//! take silently: flinkops has no autoscaler. Pure: keys and text in, verdicts out.

use super::model::OPERATOR_PREFIX;
use std::collections::BTreeMap;
use std::time::Duration;

/// A setting flinkops applies, with the one function that reads its value.
pub struct Setting<T: 'static> {
    pub key: &'static str,
    pub parse: fn(&str) -> Result<T, String>,
}

impl<T> Setting<T> {
    /// Its value in a job's flinkConfiguration. None when unset, or when the value does
    /// not parse: the load refuses such a value, so only a spec stored before the load
    /// checked these keys can hold one, and it counts as unset (as it always did).
    pub fn get(&self, conf: &BTreeMap<String, String>) -> Option<T> {
        conf.get(self.key).and_then(|v| (self.parse)(v).ok())
    }
}

/// Whether a new version that does not run is rolled back to the last stable spec.
pub const ROLLBACK_ENABLED: Setting<bool> = Setting {
    key: "kubernetes.operator.deployment.rollback.enabled",
    parse: boolean,
};
/// flinkops rolls back unless told not to (the Apache operator's default is false).
pub const DEFAULT_ROLLBACK_ENABLED: bool = true;

/// How long a new version may take to be RUNNING and checkpointing.
pub const READINESS_TIMEOUT: Setting<Duration> = Setting {
    key: "kubernetes.operator.deployment.readiness.timeout",
    parse: duration,
};
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(300);

/// How old a running job's last savepoint may get before a periodic one is taken; unset:
/// none is.
pub const PERIODIC_SAVEPOINT_INTERVAL: Setting<Duration> = Setting {
    key: "kubernetes.operator.periodic.savepoint.interval",
    parse: interval,
};

/// Savepoints kept in a job's history in its ledger.
pub const SAVEPOINT_HISTORY_MAX: Setting<usize> = Setting {
    key: "kubernetes.operator.savepoint.history.max.count",
    parse: history_count,
};
pub const DEFAULT_SAVEPOINT_HISTORY_MAX: usize = 10;
/// The history lives in the job's ledger, a ConfigMap (at most 1 MiB with everything
/// else it records): a few hundred bytes a savepoint, so 100 stay well inside it.
pub const MAX_SAVEPOINT_HISTORY: usize = 100;

/// A supported key as the load checks it and the docs describe it.
pub struct Supported {
    pub key: &'static str,
    /// Its type, as docs/repository-format.md names it.
    pub kind: &'static str,
    /// Its default as it would be written ("none": unset means off).
    pub default: &'static str,
    check: fn(&str) -> Result<(), String>,
}

/// Every `kubernetes.operator.` key flinkops applies: each check is its setting's parser.
pub const SUPPORTED: [Supported; 4] = [
    Supported {
        key: ROLLBACK_ENABLED.key,
        kind: "boolean",
        default: "true",
        check: |v| (ROLLBACK_ENABLED.parse)(v).map(drop),
    },
    Supported {
        key: READINESS_TIMEOUT.key,
        kind: "duration",
        default: "5 min",
        check: |v| (READINESS_TIMEOUT.parse)(v).map(drop),
    },
    Supported {
        key: PERIODIC_SAVEPOINT_INTERVAL.key,
        kind: "duration",
        default: "none",
        check: |v| (PERIODIC_SAVEPOINT_INTERVAL.parse)(v).map(drop),
    },
    Supported {
        key: SAVEPOINT_HISTORY_MAX.key,
        kind: "count",
        default: "10",
        check: |v| (SAVEPOINT_HISTORY_MAX.parse)(v).map(drop),
    },
];

/// `true` or `false` in any case, as Flink reads booleans.
fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{v}` is not a boolean: write true or false")),
    }
}

/// A duration as every other duration flinkops reads (`crate::model::duration`).
fn duration(v: &str) -> Result<Duration, String> {
    crate::model::duration::parse(v)
}

/// A duration; the Apache operator also takes a cron expression here, flinkops does not.
fn interval(v: &str) -> Result<Duration, String> {
    crate::model::duration::parse(v).map_err(|e| {
        if v.contains(['*', '?']) || v.split_whitespace().count() > 2 {
            format!("{e}; flinkops takes an interval here, not a cron expression")
        } else if v.trim().trim_end_matches(|c: char| !c.is_ascii_digit()) == "0" {
            format!("{e}; remove the key to take no periodic savepoints")
        } else {
            e
        }
    })
}

fn history_count(v: &str) -> Result<usize, String> {
    count(v, MAX_SAVEPOINT_HISTORY)
}

/// A whole number from 1 to `max`.
fn count(v: &str, max: usize) -> Result<usize, String> {
    let t = v.trim();
    match t.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) && t.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {max}, got `{v}`")),
    }
}

/// The Apache Flink Kubernetes Operator's options flinkops does not apply, without the
/// `kubernetes.operator.` prefix: its configuration reference (operator, metrics, and
/// the names it still reads as deprecated), as of operator 1.16.
pub const APACHE_OPTIONS: &[&str] = &[
    "checkpoint.trigger.grace-period",
    "checkpoint.type",
    "cluster.health-check.checkpoint-progress.enabled",
    "cluster.health-check.checkpoint-progress.window",
    "cluster.health-check.enabled",
    "cluster.health-check.restarts.threshold",
    "cluster.health-check.restarts.window",
    "cluster.resource-view.refresh-interval",
    "config.cache.size",
    "config.cache.timeout",
    "dynamic.config.check.interval",
    "dynamic.config.enabled",
    "dynamic.namespaces.enabled",
    "events.exceptions.limit-per-reconciliation",
    "events.exceptions.stacktrace-lines",
    "exception.field.max.length",
    "exception.label.mapper",
    "exception.stacktrace.enabled",
    "exception.stacktrace.max.length",
    "exception.throwable.list.max.count",
    "flink.client.cancel.timeout",
    "flink.client.timeout",
    "health.canary.resource.timeout",
    "health.probe.enabled",
    "health.probe.port",
    "ingress.manage",
    "jm-deployment-recovery.enabled",
    "jm-deployment.shutdown-ttl",
    "jm-deployment.startup.probe.enabled",
    "job.drain-on-savepoint-deletion",
    "job.restart.failed",
    "job.savepoint-on-deletion",
    "job.submission.timeout",
    "job.upgrade.ignore-pending-savepoint",
    "job.upgrade.inplace-scaling.enabled",
    "job.upgrade.last-state-fallback.enabled",
    "job.upgrade.last-state.job-cancel.enabled",
    "job.upgrade.last-state.max.allowed.checkpoint.age",
    "josdk.metrics.enabled",
    "jvm.metrics.enabled",
    "kubernetes.client.metrics.enabled",
    "kubernetes.client.metrics.http.response.code.groups.enabled",
    "kubernetes.client.metrics.slow.request.threshold",
    "label.selector",
    "leader-election.enabled",
    "leader-election.lease-duration",
    "leader-election.lease-name",
    "leader-election.renew-deadline",
    "leader-election.retry-period",
    "observer.flink.client.timeout",
    "observer.progress-check.interval",
    "observer.rest-ready.delay",
    "observer.savepoint.trigger.grace-period",
    "periodic.checkpoint.interval",
    "pod-template.merge-arrays-by-name",
    "rate-limiter.limit",
    "rate-limiter.refresh-period",
    "reconcile.interval",
    "reconcile.parallelism",
    "reconciler.flink.cancel.job.timeout",
    "reconciler.flink.cluster.shutdown.timeout",
    "reconciler.jm-deployment-recovery.enabled",
    "reconciler.max.parallelism",
    "reconciler.reschedule.interval",
    "resource.cleanup.timeout",
    "resource.deletion.propagation",
    "resource.lifecycle.metrics.enabled",
    "resource.lifecycle.namespace.histograms.enabled",
    "resource.metrics.enabled",
    "retry.initial.interval",
    "retry.interval.multiplier",
    "retry.max.attempts",
    "retry.max.interval",
    "savepoint.cleanup.enabled",
    "savepoint.dispose-on-delete",
    "savepoint.format.type",
    "savepoint.history.max.age",
    "savepoint.history.max.age.threshold",
    "savepoint.history.max.count.threshold",
    "savepoint.trigger.grace-period",
    "session.block-on-unmanaged-jobs",
    "session.deletion.block-on-session-jobs",
    "session.deletion.block-on-unmanaged-jobs",
    "snapshot.resource.enabled",
    "startup.stop-on-informer-error",
    "termination.timeout",
    "user.artifacts.allowed-schemes",
    "user.artifacts.base.dir",
    "user.artifacts.disallow-restricted-hosts",
    "user.artifacts.http.header",
    "watched.namespaces",
];

/// Families of Apache operator options named by a prefix (after `kubernetes.operator.`):
/// metric reporters and scopes, listener plugins, blue/green deployments, per-version and
/// per-namespace defaults. (The autoscaler's old names there are `autoscaler`'s.)
pub const APACHE_OPTION_FAMILIES: &[&str] = &[
    "bluegreen.",
    "default-configuration.",
    "metrics.",
    "plugins.listeners.",
];

/// The Apache operator's autoscaler reads its options under `job.autoscaler.` (and, by
/// their old names, under `kubernetes.operator.job.autoscaler.`).
pub const AUTOSCALER_PREFIX: &str = "job.autoscaler.";

/// What is wrong with a `kubernetes.operator.` key or its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A supported key whose value does not parse (the message says why).
    Value(String),
    /// An Apache operator option flinkops does not apply.
    NotApplied(String),
    /// A key neither flinkops nor the Apache operator knows.
    Unknown(String),
}

/// Checks one flinkConfiguration entry: Ok for every key outside the prefix (those are
/// Flink's) and for a supported key with a valid value.
pub fn check(key: &str, value: &str) -> Result<(), Problem> {
    if let Some(problem) = autoscaler(key) {
        return Err(problem);
    }
    let Some(rest) = key.strip_prefix(OPERATOR_PREFIX) else {
        return Ok(());
    };
    if let Some(s) = SUPPORTED.iter().find(|s| s.key == key) {
        return (s.check)(value).map_err(Problem::Value);
    }
    if APACHE_OPTIONS.contains(&rest) || APACHE_OPTION_FAMILIES.iter().any(|f| rest.starts_with(f))
    {
        return Err(Problem::NotApplied(format!(
            "`{key}` is an Apache Flink Kubernetes Operator option flinkops does not apply; remove it (the keys flinkops applies are in docs/repository-format.md)"
        )));
    }
    // Compared without the shared prefix, so only a near miss of the part that differs
    // is suggested.
    let names: Vec<&str> = SUPPORTED
        .iter()
        .map(|s| &s.key[OPERATOR_PREFIX.len()..])
        .collect();
    let mut message = format!("unknown flinkops setting `{key}`");
    let closest = super::decode::closest;
    match (closest(rest, &names), closest(rest, APACHE_OPTIONS)) {
        (Some(best), _) => message.push_str(&format!(" (did you mean `{OPERATOR_PREFIX}{best}`?)")),
        (None, Some(apache)) => message.push_str(&format!(
            " (did you mean `{OPERATOR_PREFIX}{apache}`? flinkops does not apply that Apache Flink Kubernetes Operator option either: remove the key)"
        )),
        (None, None) => {
            let keys: Vec<&str> = SUPPORTED.iter().map(|s| s.key).collect();
            message.push_str(&format!("; flinkops applies {}", keys.join(", ")));
        }
    }
    Err(Problem::Unknown(message))
}

/// An option of the operator's autoscaler, by today's name or the old one, or a near miss
/// of either (`job.autoscaling.…`): flinkops has no autoscaler, so each would do nothing.
fn autoscaler(key: &str) -> Option<Problem> {
    let rest = key.strip_prefix(OPERATOR_PREFIX).unwrap_or(key);
    let segment = rest.strip_prefix("job.")?.split('.').next()?;
    let what = if segment == "autoscaler" {
        "is an option of the Apache operator's autoscaler".to_string()
    } else if super::decode::closest(segment, &["autoscaler"]).is_some() {
        format!("looks like an option of the Apache operator's autoscaler (`{AUTOSCALER_PREFIX}…`)")
    } else {
        return None;
    };
    Some(Problem::NotApplied(format!(
        "`{key}` {what}; flinkops has no autoscaler, so it would do nothing: remove it, and set the job's parallelism in Git (spec.job.parallelism)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_error(key: &str, v: &str) -> String {
        match check(key, v) {
            Err(Problem::Value(m)) => m,
            other => panic!("{key}: {v}: {other:?}"),
        }
    }

    #[test]
    fn keys_outside_the_prefix_are_flinks() {
        assert_eq!(check("taskmanager.numberOfTaskSlots", "x"), Ok(()));
        assert_eq!(check("kubernetes.operatorx.y", "x"), Ok(()));
        assert_eq!(check("kubernetes.cluster-id", "x"), Ok(()));
    }

    #[test]
    fn rollback_enabled_is_true_or_false_in_any_case() {
        let k = ROLLBACK_ENABLED.key;
        for (v, want) in [
            ("true", true),
            ("false", false),
            ("FALSE", false),
            ("True", true),
            (" false ", false),
        ] {
            assert_eq!(check(k, v), Ok(()));
            assert_eq!((ROLLBACK_ENABLED.parse)(v), Ok(want), "{v}");
        }
        for v in ["no", "yes", "0", "1", "off", "", "falsey"] {
            assert_eq!(
                value_error(k, v),
                format!("`{v}` is not a boolean: write true or false")
            );
        }
    }

    #[test]
    fn readiness_timeout_is_a_duration() {
        let k = READINESS_TIMEOUT.key;
        for (v, secs) in [("90s", 90), ("5 min", 300), ("1h", 3600), ("120", 120)] {
            assert_eq!(check(k, v), Ok(()));
            assert_eq!((READINESS_TIMEOUT.parse)(v), Ok(Duration::from_secs(secs)));
        }
        assert!(value_error(k, "soon").contains("is not a duration"));
        assert!(value_error(k, "5 weeks").contains("unknown unit"));
        assert!(value_error(k, "0s").contains("greater than zero"));
        assert!(value_error(k, "-5s").contains("is not a duration"));
        assert!(value_error(k, "99999999999999999h").contains("too long"));
    }

    #[test]
    fn periodic_savepoint_interval_is_a_duration_not_a_cron_expression() {
        let k = PERIODIC_SAVEPOINT_INTERVAL.key;
        assert_eq!(check(k, "1h"), Ok(()));
        assert_eq!(
            (PERIODIC_SAVEPOINT_INTERVAL.parse)("10 min"),
            Ok(Duration::from_secs(600))
        );
        assert!(value_error(k, "0 0 * * * ?").ends_with("not a cron expression"));
        assert!(value_error(k, "0").ends_with("remove the key to take no periodic savepoints"));
        assert!(value_error(k, "0ms").ends_with("remove the key to take no periodic savepoints"));
        assert!(value_error(k, "hourly").contains("is not a duration"));
        assert!(value_error(k, "2 fortnights").contains("unknown unit"));
    }

    #[test]
    fn savepoint_history_max_is_a_bounded_positive_count() {
        let k = SAVEPOINT_HISTORY_MAX.key;
        for (v, n) in [("1", 1), ("10", 10), (" 3 ", 3), ("100", 100)] {
            assert_eq!(check(k, v), Ok(()));
            assert_eq!((SAVEPOINT_HISTORY_MAX.parse)(v), Ok(n));
        }
        for v in [
            "0",
            "-1",
            "101",
            "+5",
            "2.5",
            "ten",
            "",
            "99999999999999999999999",
        ] {
            assert_eq!(
                value_error(k, v),
                format!("must be a whole number from 1 to 100, got `{v}`")
            );
        }
    }

    #[test]
    fn defaults_as_documented_are_the_defaults_the_runtime_uses() {
        let default = |key: &str| SUPPORTED.iter().find(|s| s.key == key).unwrap().default;
        assert_eq!(
            (ROLLBACK_ENABLED.parse)(default(ROLLBACK_ENABLED.key)),
            Ok(DEFAULT_ROLLBACK_ENABLED)
        );
        assert_eq!(
            (READINESS_TIMEOUT.parse)(default(READINESS_TIMEOUT.key)),
            Ok(DEFAULT_READINESS_TIMEOUT)
        );
        assert_eq!(
            (SAVEPOINT_HISTORY_MAX.parse)(default(SAVEPOINT_HISTORY_MAX.key)),
            Ok(DEFAULT_SAVEPOINT_HISTORY_MAX)
        );
        assert_eq!(default(PERIODIC_SAVEPOINT_INTERVAL.key), "none");
    }

    #[test]
    fn the_repository_format_lists_every_supported_key_with_its_type_and_default() {
        let doc = include_str!("../../../docs/repository-format.md");
        for s in &SUPPORTED {
            let row = format!("| `{}` | {} | ", s.key, s.kind);
            let at = doc.find(&row).unwrap_or_else(|| panic!("no row {row}"));
            let default = doc[at + row.len()..].split(" |").next().unwrap();
            let want = if s.default == "none" {
                "none".to_string()
            } else {
                format!("`{}`", s.default)
            };
            assert_eq!(default, want, "{}", s.key);
        }
        assert!(doc.contains(&format!("from 1 to {MAX_SAVEPOINT_HISTORY}")));
    }

    #[test]
    fn get_reads_through_the_same_parser_and_ignores_what_it_refuses() {
        let conf = |v: &str| BTreeMap::from([(ROLLBACK_ENABLED.key.to_string(), v.to_string())]);
        assert_eq!(ROLLBACK_ENABLED.get(&conf("False")), Some(false));
        assert_eq!(ROLLBACK_ENABLED.get(&conf("no")), None);
        assert_eq!(ROLLBACK_ENABLED.get(&BTreeMap::new()), None);
    }

    #[test]
    fn apache_options_flinkops_does_not_apply_are_refused_by_name() {
        for key in [
            "kubernetes.operator.job.restart.failed",
            "kubernetes.operator.savepoint.history.max.age",
            "kubernetes.operator.periodic.checkpoint.interval",
            "kubernetes.operator.reconciler.reschedule.interval",
            "kubernetes.operator.metrics.reporter.slf4j.interval",
            "kubernetes.operator.plugins.listeners.audit.class",
        ] {
            assert_eq!(
                check(key, "x"),
                Err(Problem::NotApplied(format!(
                    "`{key}` is an Apache Flink Kubernetes Operator option flinkops does not apply; remove it (the keys flinkops applies are in docs/repository-format.md)"
                )))
            );
        }
    }

    #[test]
    fn autoscaler_options_are_refused_flinkops_has_no_autoscaler() {
        let no_autoscaler = |key: &str| {
            Err(Problem::NotApplied(format!(
                "`{key}` is an option of the Apache operator's autoscaler; flinkops has no autoscaler, so it would do nothing: remove it, and set the job's parallelism in Git (spec.job.parallelism)"
            )))
        };
        // Today's names (outside `kubernetes.operator.`: Flink would take them silently)
        // and the old ones.
        for key in [
            "job.autoscaler.enabled",
            "job.autoscaler.target.utilization",
            "job.autoscaler",
            "kubernetes.operator.job.autoscaler.enabled",
            "kubernetes.operator.job.autoscaler.scaling.enabled",
        ] {
            assert_eq!(check(key, "true"), no_autoscaler(key), "{key}");
        }
        // Near misses would be just as inert.
        for key in [
            "job.autoscaling.enabled",
            "job.autoscalar.enabled",
            "kubernetes.operator.job.auto-scaler.enabled",
        ] {
            assert_eq!(
                check(key, "true"),
                Err(Problem::NotApplied(format!(
                    "`{key}` looks like an option of the Apache operator's autoscaler (`job.autoscaler.…`); flinkops has no autoscaler, so it would do nothing: remove it, and set the job's parallelism in Git (spec.job.parallelism)"
                ))),
                "{key}"
            );
        }
        // Flink's own keys are Flink's.
        for key in [
            "jobmanager.scheduler",
            "job.name",
            "jobstore.type",
            "autoscaler.x",
        ] {
            assert_eq!(check(key, "x"), Ok(()), "{key}");
        }
    }

    #[test]
    fn a_misspelt_apache_option_is_named_too() {
        assert_eq!(
            check("kubernetes.operator.job.restart.faild", "true"),
            Err(Problem::Unknown(
                "unknown flinkops setting `kubernetes.operator.job.restart.faild` (did you mean `kubernetes.operator.job.restart.failed`? flinkops does not apply that Apache Flink Kubernetes Operator option either: remove the key)".into()
            ))
        );
    }

    #[test]
    fn the_tables_do_not_overlap_and_are_sorted() {
        for s in &SUPPORTED {
            let rest = &s.key[OPERATOR_PREFIX.len()..];
            assert!(!APACHE_OPTIONS.contains(&rest), "{rest}");
            assert!(!APACHE_OPTION_FAMILIES.iter().any(|f| rest.starts_with(f)));
            assert_eq!(autoscaler(s.key), None);
        }
        for o in APACHE_OPTIONS {
            assert_eq!(autoscaler(&format!("{OPERATOR_PREFIX}{o}")), None, "{o}");
        }
        assert!(APACHE_OPTIONS.windows(2).all(|w| w[0] < w[1]));
        assert!(APACHE_OPTION_FAMILIES.iter().all(|f| f.ends_with('.')));
    }

    #[test]
    fn unknown_keys_get_the_closest_supported_key() {
        assert_eq!(
            check("kubernetes.operator.deployment.rollback.enable", "true"),
            Err(Problem::Unknown(
                "unknown flinkops setting `kubernetes.operator.deployment.rollback.enable` (did you mean `kubernetes.operator.deployment.rollback.enabled`?)".into()
            ))
        );
        assert_eq!(
            check("kubernetes.operator.savepoint.history.max", "3"),
            Err(Problem::Unknown(
                "unknown flinkops setting `kubernetes.operator.savepoint.history.max` (did you mean `kubernetes.operator.savepoint.history.max.count`?)".into()
            ))
        );
        assert_eq!(
            check("kubernetes.operator.periodic.savepoint.intervall", "1h"),
            Err(Problem::Unknown(
                "unknown flinkops setting `kubernetes.operator.periodic.savepoint.intervall` (did you mean `kubernetes.operator.periodic.savepoint.interval`?)".into()
            ))
        );
        let Err(Problem::Unknown(far)) = check("kubernetes.operator.colour", "blue") else {
            panic!()
        };
        assert_eq!(
            far,
            "unknown flinkops setting `kubernetes.operator.colour`; flinkops applies kubernetes.operator.deployment.rollback.enabled, kubernetes.operator.deployment.readiness.timeout, kubernetes.operator.periodic.savepoint.interval, kubernetes.operator.savepoint.history.max.count"
        );
    }
}
