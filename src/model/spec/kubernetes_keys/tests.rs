use super::*;
use serde_json::json;

fn value_error(key: &str, v: &str) -> String {
    match check(key, v, Scope::Cluster) {
        Err(Problem::Value(m)) => m,
        other => panic!("{key}: {v}: {other:?}"),
    }
}

fn read(pairs: &[(&str, &str)]) -> PodKeys {
    PodKeys::read(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn splitting_follows_flinks_structured_options_splitter() {
    // Flink's own cases (StructuredOptionsSplitterTest).
    for (text, want) in [
        ("'A;B';C", vec!["A;B", "C"]),
        ("'A;B';'C'", vec!["A;B", "C"]),
        ("A;B;C", vec!["A", "B", "C"]),
        ("'AB''D;B';C", vec!["AB'D;B", "C"]),
        ("A'BD;B';C", vec!["A'BD", "B'", "C"]),
        ("\"AB'D\";B;C", vec!["AB'D", "B", "C"]),
        ("   'A;B'    ;   C   ", vec!["A;B", "C"]),
        ("   A;B    ;   C   ", vec!["A", "B", "C"]),
        ("'A;B'    ;C A", vec!["A;B", "C A"]),
        ("' A    ;B'    ;'   C'", vec![" A    ;B", "   C"]),
        // An empty item between two delimiters; none at either end.
        ("A;;B", vec!["A", "", "B"]),
        ("A;B;", vec!["A", "B"]),
        ("", vec![]),
    ] {
        assert_eq!(split_escaped(text, ';'), Ok(strings(&want)), "{text}");
    }
    for text in ["'AB'D;B;C", "'A", "C;'", "\"A"] {
        assert!(split_escaped(text, ';').is_err(), "{text}");
    }
}

#[test]
fn maps_are_key_value_pairs_separated_by_commas() {
    assert_eq!(
        map("a:1, b : 2,'c:d':'x,y'", "key:value"),
        Err("text follows the quoted `c:d` before the next `,` (quote a whole item)".into()),
    );
    assert_eq!(
        // As in Flink, a value with `,` is quoted inside a quoted entry.
        map("a:1, b : 2,\"c:'x,y'\"", "key:value").unwrap(),
        vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
            ("c".to_string(), "x,y".to_string())
        ]
    );
    assert!(map("a", "key:value")
        .unwrap_err()
        .contains("`a` is not `key:value`"));
    assert!(map("a:b:c", "key:value").is_err());
    assert!(map("a:1,,b:2", "key:value").is_err());
    assert_eq!(
        map("a:1,a:2", "key:value"),
        Err("`a` is given twice".into())
    );
}

#[test]
fn secrets_are_mounted_by_name_at_absolute_paths() {
    let keys = read(&[(SECRETS, "db-creds:/opt/secrets/db, tls:/etc/tls/")]);
    assert_eq!(
        keys.secrets,
        BTreeMap::from([
            ("db-creds".to_string(), "/opt/secrets/db".to_string()),
            ("tls".to_string(), "/etc/tls".to_string()),
        ])
    );
    assert_eq!(PodKeys::volume_name("tls"), "tls-volume");
    for (bad, want) in [
        ("db", "`db` is not `secret:path`"),
        (
            "db:relative",
            "`relative` (Secret `db`) is not an absolute path",
        ),
        ("db:/", "is not an absolute path"),
        ("db:/a/../etc", "is not an absolute path"),
        ("Db:/a", "`Db` is not a Secret name"),
        (
            "db:/opt/flink/conf",
            "where flinkops mounts Flink's configuration",
        ),
        (
            "db:/opt/flink/conf/x",
            "where flinkops mounts Flink's configuration",
        ),
        (
            "a:/s,b:/s/t",
            "`/s/t` (Secret `b`) and `/s` are the same folder",
        ),
        ("a:/s,a:/t", "`a` is given twice"),
        ("a.b:/s", "the volume `a.b-volume`"),
    ] {
        let e = value_error(SECRETS, bad);
        assert!(e.contains(want), "{bad}: {e}");
    }
    assert!(value_error(SECRETS, &format!("{}:/s", "a".repeat(57))).contains("volume"));
    assert_eq!(
        check(SECRETS, &format!("{}:/s", "a".repeat(56)), Scope::Cluster),
        Ok(())
    );
}

#[test]
fn env_from_secrets_names_variable_secret_and_key() {
    let keys = read(&[(
        ENV_SECRET_KEY_REF,
        "env:DB_PASSWORD,secret:db-creds,key:password; env:API_TOKEN,key:token,secret:api",
    )]);
    assert_eq!(
        keys.secret_env,
        vec![
            SecretEnv {
                env: "DB_PASSWORD".into(),
                secret: "db-creds".into(),
                key: "password".into()
            },
            SecretEnv {
                env: "API_TOKEN".into(),
                secret: "api".into(),
                key: "token".into()
            },
        ]
    );
    for (bad, want) in [
        ("env:A,secret:s", "entry 1 has no `key`"),
        (
            "env:A,secret:s,key:k,optional:true",
            "entry 1: unknown field `optional`",
        ),
        (
            "env:A,secret:s,key:k;;env:B,secret:s,key:k",
            "entry 2 is empty",
        ),
        (
            "env:A,secret:s,key:k;env:A,secret:t,key:k",
            "entry 2: `A` is set twice",
        ),
        (
            "env:1A,secret:s,key:k",
            "`1A` is not an environment variable name",
        ),
        ("env:A,secret:S,key:k", "`S` is not a Secret name"),
        ("env:A,secret:s,key:a/b", "`a/b` is not a key of a Secret"),
        ("env:A;secret:s", "entry 1 has no `secret`"),
        (
            "env:A secret:s",
            "entry 1 (`env:A secret:s`): `env:A secret:s` is not `field:value`",
        ),
    ] {
        let e = value_error(ENV_SECRET_KEY_REF, bad);
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn component_keys_go_to_their_component() {
    let keys = read(&[
        ("containerized.master.env.JM_ONLY", "1"),
        ("containerized.taskmanager.env.TM_ONLY", "a b"),
        ("kubernetes.jobmanager.node-selector", "disk:ssd"),
        ("kubernetes.taskmanager.node-selector", "pool:flink,zone:a"),
        ("kubernetes.jobmanager.labels", "team:orders"),
        (
            "kubernetes.taskmanager.annotations",
            "prometheus.io/scrape:true",
        ),
        ("kubernetes.taskmanager.service-account", "flink-tm"),
    ]);
    assert_eq!(
        keys.job_manager.env,
        BTreeMap::from([("JM_ONLY".into(), "1".into())])
    );
    assert_eq!(
        keys.task_manager.env,
        BTreeMap::from([("TM_ONLY".into(), "a b".into())])
    );
    assert_eq!(keys.job_manager.node_selector["disk"], "ssd");
    assert_eq!(keys.task_manager.node_selector.len(), 2);
    assert_eq!(keys.job_manager.labels["team"], "orders");
    assert!(keys.task_manager.labels.is_empty());
    assert_eq!(
        keys.task_manager.annotations["prometheus.io/scrape"],
        "true"
    );
    assert_eq!(
        keys.task_manager.service_account.as_deref(),
        Some("flink-tm")
    );
    assert_eq!(keys.job_manager.service_account, None);
}

#[test]
fn labels_node_selectors_and_annotations_are_what_kubernetes_takes() {
    for key in [
        "kubernetes.jobmanager.labels",
        "kubernetes.taskmanager.node-selector",
    ] {
        assert_eq!(
            check(key, "a:b,example.com/c:d-e,f:''", Scope::Cluster),
            Ok(())
        );
        assert!(value_error(key, "a b:c").contains("`a b` is not a Kubernetes label"));
        assert!(value_error(key, "a:b c").contains("`b c` is not a Kubernetes label value"));
        assert!(value_error(key, &format!("a:{}", "x".repeat(64))).contains("label value"));
    }
    // flinkops' own labels select the pods: not from a definition.
    assert!(value_error(
        "kubernetes.taskmanager.labels",
        "app.kubernetes.io/component:x"
    )
    .contains("is set by flinkops"));
    assert!(value_error(
        "kubernetes.jobmanager.annotations",
        "flinkops.io/config-hash:x"
    )
    .contains("is set by flinkops"));
    // Annotation values are free text.
    assert_eq!(
        check(
            "kubernetes.jobmanager.annotations",
            "'note:\"any text, with: this\"'",
            Scope::Cluster
        ),
        Ok(())
    );
}

#[test]
fn tolerations_are_read_as_flink_reads_them_and_checked_as_kubernetes_does() {
    let keys = read(&[(
        "kubernetes.taskmanager.tolerations",
        "key:dedicated,operator:Equal,value:flink,effect:NoSchedule;KEY:spot,Operator:Exists,effect:NoExecute,tolerationSeconds:60",
    )]);
    assert_eq!(
        keys.task_manager.tolerations,
        vec![
            Toleration {
                key: Some("dedicated".into()),
                operator: Some("Equal".into()),
                value: Some("flink".into()),
                effect: Some("NoSchedule".into()),
                toleration_seconds: None,
            },
            Toleration {
                key: Some("spot".into()),
                operator: Some("Exists".into()),
                value: None,
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(60),
            },
        ]
    );
    let k = "kubernetes.jobmanager.tolerations";
    assert_eq!(check(k, "operator:Exists", Scope::Cluster), Ok(()));
    for (bad, want) in [
        (
            "key:a,operator:Exists,value:b",
            "entry 1: operator Exists takes no value",
        ),
        (
            "value:b",
            "entry 1: a toleration without a key must have operator Exists",
        ),
        (
            "key:a,operator:In",
            "entry 1: operator `In` is not Equal or Exists",
        ),
        (
            "key:a,effect:noschedule",
            "effect `noschedule` is not NoSchedule",
        ),
        (
            "key:a,effect:NoSchedule,tolerationSeconds:5",
            "tolerationSeconds needs effect NoExecute",
        ),
        (
            "key:a,effect:NoExecute,tolerationSeconds:soon",
            "tolerationSeconds `soon` is not a whole number",
        ),
        ("key:a;key:b,color:red", "entry 2: unknown field `color`"),
    ] {
        let e = value_error(k, bad);
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn image_pull_keys_and_service_accounts() {
    let keys = read(&[
        (PULL_SECRETS, "regcred; other-cred;;regcred"),
        (PULL_POLICY, "always"),
        (SERVICE_ACCOUNT, "flink"),
        ("kubernetes.jobmanager.service-account", "flink-jm"),
        (LOG_DIR, "/var/log/flink"),
    ]);
    assert_eq!(keys.image_pull_secrets, strings(&["regcred", "other-cred"]));
    // Flink reads enums in any case; Kubernetes takes the canonical name.
    assert_eq!(keys.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(keys.service_account.as_deref(), Some("flink"));
    assert_eq!(
        keys.job_manager.service_account.as_deref(),
        Some("flink-jm")
    );
    assert_eq!(keys.log_dir.as_deref(), Some("/var/log/flink"));
    assert_eq!(
        value_error(PULL_POLICY, "Sometimes"),
        "`Sometimes` is not one of Always, IfNotPresent, Never"
    );
    assert!(value_error(PULL_SECRETS, "Reg_Cred").contains("is not a Secret name"));
    assert!(value_error(SERVICE_ACCOUNT, "Flink SA").contains("is not a ServiceAccount name"));
    assert_eq!(value_error(LOG_DIR, " "), "the log directory is empty");
}

#[test]
fn environment_keys_name_their_variable() {
    assert_eq!(
        check(
            "containerized.master.env.JAVA_TOOL_OPTIONS",
            "-X",
            Scope::Cluster
        ),
        Ok(())
    );
    assert_eq!(
        check("containerized.taskmanager.env.", "x", Scope::Cluster),
        Err(Problem::NotApplied("`containerized.taskmanager.env.` sets the environment variable ``, but `` is not an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit".into()))
    );
    assert!(matches!(
        check("containerized.master.env.1X", "x", Scope::Cluster),
        Err(Problem::NotApplied(_))
    ));
}

#[test]
fn keys_flinkops_does_not_apply_say_what_to_use_instead() {
    for (key, want) in [
        ("kubernetes.jobmanager.cpu", "set spec.jobManager.resources"),
        (
            "kubernetes.taskmanager.cpu.amount",
            "set spec.taskManager.resources",
        ),
        (
            "kubernetes.taskmanager.memory.limit-factor",
            "limits in spec.taskManager.resources",
        ),
        (
            "kubernetes.pod-template-file.jobmanager",
            "spec.podTemplate",
        ),
        ("kubernetes.container.image.ref", "set spec.image"),
        ("kubernetes.hadoop.conf.config-map.name", "spec.podTemplate"),
        ("kubernetes.rest-service.annotations", "spec.ingress"),
        ("kubernetes.jobmanager.replicas", "spec.jobManager.replicas"),
        ("kubernetes.context", "remove it"),
        ("kubernetes.config.file", "remove it"),
        ("kubernetes.jobmanager.entrypoint.args", "native mode only"),
    ] {
        match check(key, "x", Scope::Cluster) {
            Err(Problem::NotApplied(m)) => {
                assert!(
                    m.starts_with(&format!(
                        "`{key}` is a Kubernetes option flinkops does not apply; "
                    )),
                    "{m}"
                );
                assert!(m.contains(want), "{key}: {m}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    assert!(matches!(
        check("kubernetes.internal.taskmanager.replicas", "3", Scope::Cluster),
        Err(Problem::NotApplied(m)) if m.contains("remove it")
    ));
}

#[test]
fn a_few_keys_are_accepted_when_they_ask_for_what_flinkops_renders() {
    for (key, ok, bad) in [
        (
            "kubernetes.rest-service.exposed.type",
            "clusterip",
            "LoadBalancer",
        ),
        ("kubernetes.hostnetwork.enabled", "False", "true"),
        (
            "kubernetes.decorator.hadoop-conf-mount.enabled",
            "false",
            "true",
        ),
        (
            "kubernetes.decorator.kerberos-mount.enabled",
            "false",
            "true",
        ),
    ] {
        assert_eq!(check(key, ok, Scope::Cluster), Ok(()), "{key}");
        assert!(value_error(key, bad).starts_with(&format!("`{bad}`: flinkops applies only")));
        assert!(
            is_pod_key(key),
            "{key} is not written to Flink's configuration"
        );
    }
}

#[test]
fn keys_flink_reads_itself_pass_through() {
    for key in FLINK {
        assert_eq!(check(key, "x", Scope::Cluster), Ok(()), "{key}");
        assert_eq!(check(key, "x", Scope::SessionJob), Ok(()), "{key}");
        assert!(!is_pod_key(key));
    }
    // Outside the prefixes, and flinkops' own settings (operator_keys checks those).
    for key in [
        "taskmanager.numberOfTaskSlots",
        "high-availability.type",
        "kubernetes.operator.x",
        "kubernetesx.y",
    ] {
        assert_eq!(check(key, "x", Scope::Cluster), Ok(()), "{key}");
    }
}

#[test]
fn unknown_keys_get_the_closest_known_one() {
    assert_eq!(
        check("kubernetes.taskmanager.node-selectors", "a:b", Scope::Cluster),
        Err(Problem::Unknown("unknown Kubernetes option `kubernetes.taskmanager.node-selectors` (did you mean `kubernetes.taskmanager.node-selector`?)".into()))
    );
    assert!(matches!(
        check("kubernetes.colour", "blue", Scope::Cluster),
        Err(Problem::Unknown(m)) if m.ends_with("listed in docs/repository-format.md")
    ));
    assert!(matches!(
        check("containerized.jobmanager.env.A", "1", Scope::Cluster),
        Err(Problem::Unknown(m)) if m.contains("containerized.master.env.NAME")
    ));
    // A map written as nested YAML flattens into keys nothing reads.
    assert!(matches!(
        check("kubernetes.jobmanager.labels.team", "a", Scope::Cluster),
        Err(Problem::NotApplied(m)) if m.starts_with("`kubernetes.jobmanager.labels` is one value")
    ));
}

#[test]
fn a_session_job_has_no_pods_of_its_own() {
    for key in [
        SECRETS,
        "containerized.taskmanager.env.A",
        "kubernetes.rest-service.exposed.type",
    ] {
        assert!(
            matches!(
                check(key, "x", Scope::SessionJob),
                Err(Problem::NotApplied(m)) if m.contains("a session job runs in its session cluster's pods")
            ),
            "{key}"
        );
    }
}

#[test]
fn reading_skips_what_the_load_refuses() {
    let keys = read(&[(SECRETS, "bad"), ("kubernetes.jobmanager.labels", "a:b")]);
    assert!(keys.secrets.is_empty());
    assert_eq!(keys.job_manager.labels["a"], "b");
}

#[test]
fn conflicts_between_keys_and_with_the_templates() {
    let conf: BTreeMap<String, String> = [
        ("containerized.master.env.TOKEN", "x"),
        (ENV_SECRET_KEY_REF, "env:TOKEN,secret:api,key:token"),
        (SECRETS, "db:/opt/secrets/db"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let template = json!({"spec": {
        "volumes": [{"name": "db-volume", "emptyDir": {}}],
        "containers": [{"name": "flink-main-container", "volumeMounts": [{"name": "x", "mountPath": "/opt/secrets/db/"}]}],
    }});
    let out = conflicts(&conf, &[(Some(Component::TaskManager), &template)]);
    assert_eq!(
        out,
        vec![
            (
                ENV_SECRET_KEY_REF.to_string(),
                "the environment variable `TOKEN` is set by containerized.master.env.TOKEN and by kubernetes.env.secretKeyRef: set it once".to_string()
            ),
            (
                SECRETS.to_string(),
                "Secret `db` is mounted from the volume `db-volume`, which spec.taskManager.podTemplate declares too: rename one".to_string()
            ),
            (
                SECRETS.to_string(),
                "Secret `db` is mounted at `/opt/secrets/db`, where spec.taskManager.podTemplate mounts a volume in flink-main-container too".to_string()
            ),
        ]
    );
    // The TaskManagers' own variable does not meet the JobManager's.
    let conf: BTreeMap<String, String> = [
        ("containerized.master.env.A", "1"),
        ("containerized.taskmanager.env.A", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(conflicts(&conf, &[]).is_empty());
}

#[test]
fn the_repository_format_lists_every_key_applied_or_refused() {
    let doc = include_str!("../../../../docs/repository-format.md");
    for key in applied_keys()
        .chain(AS_RENDERED.iter().map(|(k, ..)| *k))
        .chain(NOT_APPLIED.iter().map(|(k, _)| *k))
        .chain(FLINK)
        .chain([JM_ENV_PREFIX, TM_ENV_PREFIX])
    {
        assert!(
            doc.contains(&format!("`{key}")),
            "docs/repository-format.md does not name {key}"
        );
    }
}

#[test]
fn the_tables_do_not_overlap() {
    let all: Vec<&str> = applied_keys()
        .chain(AS_RENDERED.iter().map(|(k, ..)| *k))
        .chain(NOT_APPLIED.iter().map(|(k, _)| *k))
        .chain(FLINK)
        .collect();
    let unique: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len());
    assert!(all
        .iter()
        .all(|k| k.starts_with("kubernetes.") && !k.starts_with(OPERATOR_PREFIX)));
}
