//! Broken input never panics and every error points inside the file: each example file is
//! mutated thousands of ways (characters deleted, duplicated, replaced by YAML syntax) and
//! loaded beside an intact job, which must keep loading.

use flinkops::edge::git::{Entry, Snapshot};
use flinkops::model::spec;
use std::path::Path;

const GOOD: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: intact
  namespace: streaming
spec:
  image: flink:2.0
";

fn example_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples-repo");
    let mut out = Vec::new();
    for dir in ["jobs", "clusters", "legacy"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            out.push((
                format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// Deterministic mutations of `text` at character position `i`.
fn mutations(text: &str, i: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let at = i % chars.len();
    let mut out = Vec::new();
    let splice = |with: &str, skip: usize| {
        let mut s: String = chars[..at].iter().collect();
        s.push_str(with);
        s.extend(chars[(at + skip).min(chars.len())..].iter());
        s
    };
    out.push(splice("", 1));
    for junk in [
        ":", "- ", "{", "[", "\"", "'", "&a ", "*a", "\t", "\n  ", "---\n", "0", "-1", "~",
    ] {
        out.push(splice(junk, 0));
        out.push(splice(junk, 1));
    }
    out
}

#[test]
fn mutated_definitions_never_panic_and_errors_point_into_the_file() {
    let mut checked = 0;
    for (path, text) in example_files() {
        let step = (text.len() / 60).max(1);
        for i in (0..text.len()).step_by(step) {
            for mutated in mutations(&text, i) {
                let snap = Snapshot {
                    commit: "0".repeat(40),
                    files: [
                        (path.clone(), Entry::File(mutated.clone().into_bytes())),
                        (
                            "intact.yaml".to_string(),
                            Entry::File(GOOD.as_bytes().to_vec()),
                        ),
                    ]
                    .into(),
                };
                let catalog = spec::load(&snap);
                let lines = mutated.lines().count().max(1) + 1;
                for e in catalog.errors() {
                    assert!(
                        e.line >= 1 && e.line <= lines && e.column >= 1,
                        "{e} is outside {path} ({lines} lines)"
                    );
                    assert!(!e.message.is_empty());
                }
                assert!(
                    catalog.jobs.keys().any(|id| id.name == "intact"),
                    "a broken {path} blocked another file's job"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5_000, "only {checked} mutations checked");
}

// Hostile files: each is loaded beside an intact job, which must keep loading, and each
// must end in an error at file:line:col rather than memory, time or a crash.

use flinkops::model::spec::yaml;
use flinkops::model::spec::Catalog;

fn hostile(path: &str, bytes: &[u8]) -> Catalog {
    let snap = Snapshot {
        commit: "0".repeat(40),
        files: [
            (path.to_string(), Entry::File(bytes.to_vec())),
            (
                "intact.yaml".to_string(),
                Entry::File(GOOD.as_bytes().to_vec()),
            ),
        ]
        .into(),
    };
    let catalog = spec::load(&snap);
    assert!(
        catalog.jobs.keys().any(|id| id.name == "intact"),
        "a hostile {path} blocked another file's job: {:?}",
        catalog.errors()
    );
    catalog
}

fn messages(c: &Catalog) -> Vec<String> {
    c.errors().iter().map(|e| e.to_string()).collect()
}

/// Ten levels of ten aliases each: 10^9 nodes once expanded, from under 1 KB of text.
fn billion_laughs(indent: &str) -> String {
    let mut text = format!("{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "{indent}l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    text
}

#[test]
fn alias_bomb_is_an_error_not_gigabytes() {
    let text = format!(
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {{name: bomb}}\nspec:\n  podTemplate:\n{}",
        billion_laughs("    ")
    );
    assert!(text.len() < 1024, "{}", text.len());
    let c = hostile("bomb.yaml", text.as_bytes());
    // l4 holds 11,111 nodes; the ninth copy of it crosses 100,000.
    assert_eq!(
        messages(&c),
        vec!["bomb.yaml:10:49: more than 100000 YAML nodes in one file (aliases count every node they copy)"]
    );
    assert!(!c.absence_is_certain("bomb.yaml"));

    let settings = format!(
        "apiVersion: flinkops.io/v1alpha1\nkind: Settings\n{}",
        billion_laughs("")
    );
    let snap = Snapshot {
        commit: "0".repeat(40),
        files: [(
            "flinkops.yaml".to_string(),
            Entry::File(settings.into_bytes()),
        )]
        .into(),
    };
    let c = spec::load(&snap);
    assert_eq!(
        messages(&c),
        vec!["flinkops.yaml:7:45: more than 100000 YAML nodes in one file (aliases count every node they copy)"]
    );
}

#[test]
fn aliases_and_copied_text_are_bounded() {
    let mut text = String::from("a: &a x\nb: [");
    text.push_str(&vec!["*a"; 101].join(", "));
    text.push_str("]\n");
    assert_eq!(
        messages(&hostile("many.yaml", text.as_bytes())),
        vec!["many.yaml:2:405: more than 100 aliases in one file"]
    );
    // 60 KiB of text copied 90 times: few nodes, but 5.4 MB of text.
    let big = "x".repeat(60 << 10);
    let mut text = format!("a: &a {big}\nb: [");
    text.push_str(&vec!["*a"; 90].join(", "));
    text.push_str("]\n");
    let c = hostile("copies.yaml", text.as_bytes());
    assert_eq!(
        messages(&c),
        vec!["copies.yaml:2:273: more than 4.0 MiB of text in one file (aliases count every value they copy)"]
    );
}

#[test]
fn deep_nesting_is_an_error_where_it_crosses_the_limit_never_a_stack_overflow() {
    // The 2 MB crash file: parsed directly (load would refuse it by size first).
    let crash = "- ".repeat(1 << 20) + "x\n";
    let err = yaml::parse_documents(&crash).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1:129: lists and mappings nested deeper than 64 levels"
    );
    assert_eq!(
        messages(&hostile("crash.yaml", crash.as_bytes())),
        vec!["crash.yaml:1:1: the file is 2097154 bytes; flinkops reads files of at most 1048576 bytes (1.0 MiB)"]
    );
    // Under the size limit, in flow style, and inside a podTemplate (converted to JSON
    // and checked recursively once read).
    // (In flow style the YAML reader's own limit on flow levels answers first.)
    let flow = "[".repeat(500_000);
    assert_eq!(
        messages(&hostile("flow.yaml", flow.as_bytes())),
        vec!["flow.yaml:1:256: YAML syntax: recursion limit exceeded"]
    );
    let maps: String = (0..100).map(|i| " ".repeat(2 * i) + "a:\n").collect();
    assert_eq!(
        messages(&hostile("maps.yaml", maps.as_bytes())),
        vec!["maps.yaml:65:129: lists and mappings nested deeper than 64 levels"]
    );
    let mut pod = String::from("apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: deep}\nspec:\n  podTemplate:\n    spec:\n      x:\n");
    for depth in 0..200 {
        pod.push_str(&" ".repeat(8 + 2 * depth));
        pod.push_str("- \n");
    }
    let c = hostile("pod.yaml", pod.as_bytes());
    assert_eq!(
        messages(&c),
        vec!["pod.yaml:68:129: lists and mappings nested deeper than 64 levels"]
    );
}

#[test]
fn keys_per_mapping_are_bounded_and_duplicates_found_in_linear_time() {
    let mut text = String::new();
    for i in 0..80_000 {
        text.push_str(&format!("k{i}: v\n"));
    }
    assert_eq!(
        messages(&hostile("keys.yaml", text.as_bytes())),
        vec!["keys.yaml:10001:1: more than 10000 keys in one mapping"]
    );
    let mut text = String::new();
    for i in 0..9_999 {
        text.push_str(&format!("k{i}: v\n"));
    }
    text.push_str("k17: again\n");
    assert_eq!(
        messages(&hostile("dup.yaml", text.as_bytes())),
        vec!["dup.yaml:10000:1: YAML syntax: duplicate key k17 (first defined at line 18:1)"]
    );
}

#[test]
fn sizes_are_bounded_and_errors_quote_values_briefly() {
    let huge = format!("a: [{}]\n", "x, ".repeat(400_000));
    assert_eq!(
        messages(&hostile("huge.yaml", huge.as_bytes())),
        vec![format!(
            "huge.yaml:1:1: the file is {} bytes; flinkops reads files of at most 1048576 bytes (1.0 MiB)",
            huge.len()
        )]
    );
    let long = format!("a: {}\n", "y".repeat(70 << 10));
    assert_eq!(
        messages(&hostile("long.yaml", long.as_bytes())),
        vec!["long.yaml:1:4: a value of 70.0 KiB is longer than the 64.0 KiB limit"]
    );
    let value = "z".repeat(60 << 10);
    let text = format!(
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {{name: quoted}}\nspec:\n  image: flink:2.0\n  job: {{jarURI: local:///a.jar, upgradeMode: {value}}}\n"
    );
    let msgs = messages(&hostile("quoted.yaml", text.as_bytes()));
    assert_eq!(
        msgs,
        vec![format!(
            "quoted.yaml:6:46: spec.job.upgradeMode: `{}… (61360 more characters)` is not one of stateless, savepoint, last-state",
            "z".repeat(80)
        )]
    );
}

const APP: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: app
  namespace: streaming
spec:
  image: flink:2.0
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
  job:
    jarURI: local:///opt/flink/usrlib/app.jar
    parallelism: 2
";

fn app_with(from: &str, to: &str) -> String {
    assert!(APP.contains(from), "{from}");
    APP.replacen(from, to, 1)
}

fn render_app(text: &str) -> Vec<flinkops::engine::render::Object> {
    let c = hostile("app.yaml", text.as_bytes());
    assert!(c.is_valid(), "{:?}", c.errors());
    let spec = c.jobs.values().find(|s| s.id.name == "app").unwrap();
    flinkops::engine::render::render(
        spec,
        &flinkops::engine::render::Context {
            commit: "c",
            restore_from: None,
        },
    )
    .objects
}

fn body<'a>(
    objects: &'a [flinkops::engine::render::Object],
    kind: &str,
    name: &str,
) -> &'a serde_json::Value {
    &objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap()
        .body
}

#[test]
fn number_like_text_is_kept_as_written() {
    let text = app_with(
        "    parallelism: 2\n",
        "    parallelism: 2\n    args: [007, 1.10, 0x1F, +1, true, 1e3, ~x]\n",
    )
    .replacen(
        "    taskmanager.numberOfTaskSlots: 2\n",
        "    taskmanager.numberOfTaskSlots: 2\n    pipeline.name: 007\n    a.version: 1.10\n    a.mask: 0x1F\n    a.plus: +1\n    a.word: yes\n    a.time: 1:30\n",
        1,
    );
    let objects = render_app(&text);
    let jm = body(&objects, "Deployment", "app-jobmanager");
    let args = &jm["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(
        args,
        &serde_json::json!([
            "standalone-job",
            "--jars",
            "local:///opt/flink/usrlib/app.jar",
            "--",
            "007",
            "1.10",
            "0x1F",
            "+1",
            "true",
            "1e3",
            "~x"
        ])
    );
    let conf = body(&objects, "ConfigMap", "app-config")["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    for line in [
        "  name: '007'\n",
        "  version: '1.10'\n",
        "  mask: '0x1F'\n",
        "  plus: '+1'\n",
        "  word: 'yes'\n",
        "  time: '1:30'\n",
    ] {
        assert!(conf.contains(line), "{line:?} not in\n{conf}");
    }
    // Read back as YAML 1.2, every value is the text written.
    let back: serde_yaml::Value = serde_yaml::from_str(&conf).unwrap();
    assert_eq!(back["a"]["version"], serde_yaml::Value::from("1.10"));
    assert_eq!(back["pipeline"]["name"], serde_yaml::Value::from("007"));
}

#[test]
fn legacy_flink_conf_keeps_text_and_rejects_what_it_cannot_hold() {
    let legacy = app_with(
        "  image: flink:2.0\n",
        "  image: flink:1.18\n  flinkVersion: v1_18\n",
    )
    .replacen(
        "    taskmanager.numberOfTaskSlots: 2\n",
        "    taskmanager.numberOfTaskSlots: 2\n    a.version: 1.10\n",
        1,
    );
    let objects = render_app(&legacy);
    let conf = body(&objects, "ConfigMap", "app-config")["data"]["flink-conf.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(conf.contains("a.version: 1.10\n"), "{conf}");
    // Without --jars (the jar is in usrlib), the job's args still come after `--`.
    let with_args = legacy.replacen(
        "    parallelism: 2\n",
        "    parallelism: 2\n    args: [-Dfoo=bar, --fromSavepoint, /x]\n",
        1,
    );
    let objects = render_app(&with_args);
    let jm = body(&objects, "Deployment", "app-jobmanager");
    assert_eq!(
        jm["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!(["standalone-job", "--", "-Dfoo=bar", "--fromSavepoint", "/x"])
    );

    let bad = legacy.replacen(
        "    a.version: 1.10\n",
        "    a.comment: 'x # y'\n    'a.key: x': y\n    a.space: ' x'\n    a.line: \"x\\ny: z\"\n    \"a.cr\\r\": x\n",
        1,
    );
    assert_eq!(
        messages(&hostile("app.yaml", bad.as_bytes())),
        vec![
            "app.yaml:11:16: spec.flinkConfiguration.a.comment: holds `#`, which starts a comment in flink-conf.yaml: Flink before 1.19 would read another value",
            "app.yaml:12:17: spec.flinkConfiguration.a.key: x: the key holds `: `, which ends a key in flink-conf.yaml: Flink before 1.19 would read another value",
            "app.yaml:13:14: spec.flinkConfiguration.a.space: starts or ends with spaces, which flink-conf.yaml drops: Flink before 1.19 would read another value",
            "app.yaml:14:13: spec.flinkConfiguration.a.line: holds a line break or tab, which flink-conf.yaml cannot hold in a value: Flink before 1.19 would read another value",
            "app.yaml:15:5: spec.flinkConfiguration.a.cr\\r: the key holds a control character (\\r), which Flink's configuration files cannot hold",
        ]
    );
    let class = app_with(
        "    parallelism: 2\n",
        "    parallelism: 2\n    entryClass: -Dx=y\n",
    );
    assert_eq!(
        messages(&hostile("app.yaml", class.as_bytes())),
        vec!["app.yaml:13:17: spec.job.entryClass: `-Dx=y` is not a Java class name (e.g. com.example.OrdersJob)"]
    );
}

#[test]
fn keys_that_collide_are_errors_naming_the_first() {
    let nested = app_with(
        "    taskmanager.numberOfTaskSlots: 2\n",
        "    taskmanager.numberOfTaskSlots: 2\n    state.backend.type: rocksdb\n    state:\n      backend:\n        type: hashmap\n",
    );
    assert_eq!(
        messages(&hostile("app.yaml", nested.as_bytes())),
        vec!["app.yaml:13:9: spec.flinkConfiguration.state.backend.type: `state.backend.type` is already set at line 10:5 (a nested and a dotted key name the same setting)"]
    );
    for (keys, want) in [
        (
            "      \"1\": a\n      1: b\n",
            "app.yaml:8:7: YAML syntax: duplicate key 1 (first defined at line 7:7)",
        ),
        (
            "      true: a\n      \"true\": b\n",
            "app.yaml:8:7: YAML syntax: duplicate key true (first defined at line 7:7)",
        ),
        (
            "      ~: a\n",
            "app.yaml:7:7: YAML syntax: a mapping key must not be empty (`~`, `null` or nothing)",
        ),
        (
            "      [a]: b\n",
            "app.yaml:7:7: YAML syntax: a mapping key must be text, not a list",
        ),
    ] {
        let text = app_with(
            "  namespace: streaming\n",
            &format!("  namespace: streaming\n  labels:\n{keys}"),
        );
        assert_eq!(
            messages(&hostile("app.yaml", text.as_bytes())),
            vec![want],
            "{keys}"
        );
    }
}

#[test]
fn derived_task_manager_counts_never_wrap_and_are_capped_like_written_ones() {
    let max = app_with("    parallelism: 2\n", "    parallelism: 2147483647\n");
    assert_eq!(
        messages(&hostile("app.yaml", max.as_bytes())),
        vec!["app.yaml:12:18: spec.job.parallelism: parallelism 2147483647 with 2 slots per TaskManager (taskmanager.numberOfTaskSlots) needs 1073741824 TaskManagers; at most 1000"]
    );
    let over = app_with("    parallelism: 2\n", "    parallelism: 2001\n");
    assert_eq!(messages(&hostile("app.yaml", over.as_bytes())).len(), 1);
    let at_cap = app_with("    parallelism: 2\n", "    parallelism: 2000\n");
    let objects = render_app(&at_cap);
    assert_eq!(
        body(&objects, "Deployment", "app-taskmanager")["spec"]["replicas"],
        1000
    );
    // Written replicas × huge slots: no wrap to a negative product.
    let written = app_with(
        "    taskmanager.numberOfTaskSlots: 2\n",
        "    taskmanager.numberOfTaskSlots: 2147483647\n",
    )
    .replacen("  job:\n", "  taskManager: {replicas: 1000}\n  job:\n", 1)
    .replacen("    parallelism: 2\n", "    parallelism: 2147483647\n", 1);
    let objects = render_app(&written);
    assert_eq!(
        body(&objects, "Deployment", "app-taskmanager")["spec"]["replicas"],
        1000
    );
}

fn with_settings(settings: &str, job: &str) -> Catalog {
    let snap = Snapshot {
        commit: "0".repeat(40),
        files: [
            (
                "flinkops.yaml".to_string(),
                Entry::File(settings.as_bytes().to_vec()),
            ),
            ("app.yaml".to_string(), Entry::File(job.as_bytes().to_vec())),
        ]
        .into(),
    };
    spec::load(&snap)
}

#[test]
fn the_namespace_allow_list_holds_for_the_resolved_namespace() {
    let implicit = APP.replacen("  namespace: streaming\n", "", 1);
    let c = with_settings("namespaces: [streaming]\n", &implicit);
    assert_eq!(
        messages(&c),
        vec!["app.yaml:3:1: metadata.namespace: no namespace is written, and the default namespace `default` is not allowed by flinkops.yaml (allowed: streaming)"]
    );
    let c = with_settings(
        "namespaces: [streaming]\ndefaultNamespace: kube-system\n",
        &implicit,
    );
    assert_eq!(
        messages(&c),
        vec![
            "app.yaml:3:1: metadata.namespace: no namespace is written, and the default namespace `kube-system` is not allowed by flinkops.yaml (allowed: streaming)",
            "flinkops.yaml:2:19: defaultNamespace: `kube-system` is not one of `namespaces` (allowed: streaming)",
        ]
    );
    assert!(c.jobs.is_empty());
    let c = with_settings(
        "namespaces: [streaming]\ndefaultNamespace: streaming\n",
        &implicit,
    );
    assert!(c.is_valid(), "{:?}", c.errors());
}

#[test]
fn flinkops_own_labels_and_annotations_cannot_be_set_or_overridden() {
    let text = app_with(
        "  job:\n",
        "  ingress:\n    template: x.example.com\n    labels:\n      app.kubernetes.io/managed-by: someone-else\n      team: a\n    annotations:\n      flinkops.io/spec-hash: x\n  job:\n",
    )
    .replacen("  namespace: streaming\n", "  namespace: streaming\n  labels: {flinkops.io/job: other}\n", 1);
    assert_eq!(
        messages(&hostile("app.yaml", text.as_bytes())),
        vec![
            "app.yaml:6:12: metadata.labels.flinkops.io/job: `flinkops.io/job` is set by flinkops on every object it manages (to find, prune and tell them apart); remove it",
            "app.yaml:14:7: spec.ingress.labels.app.kubernetes.io/managed-by: `app.kubernetes.io/managed-by` is set by flinkops on every object it manages (to find, prune and tell them apart); remove it",
            "app.yaml:17:7: spec.ingress.annotations.flinkops.io/spec-hash: `flinkops.io/spec-hash` is set by flinkops on every object it manages (to find, prune and tell them apart); remove it",
        ]
    );
    // And rendering keeps them flinkops' even for a spec that did not come through
    // validation (a ledger written by an older version).
    let ok = app_with(
        "  job:\n",
        "  ingress:\n    template: x.example.com\n  job:\n",
    );
    let c = hostile("app.yaml", ok.as_bytes());
    let mut spec = c
        .jobs
        .values()
        .find(|s| s.id.name == "app")
        .unwrap()
        .clone();
    let ingress = spec.cluster.as_mut().unwrap().ingress.as_mut().unwrap();
    ingress
        .labels
        .insert("app.kubernetes.io/managed-by".into(), "someone-else".into());
    ingress
        .labels
        .insert("flinkops.io/job".into(), "other".into());
    ingress
        .annotations
        .insert("flinkops.io/spec-hash".into(), "x".into());
    let objects = flinkops::engine::render::render(
        &spec,
        &flinkops::engine::render::Context {
            commit: "c",
            restore_from: None,
        },
    );
    let meta = &body(&objects.objects, "Ingress", "app-rest")["metadata"];
    assert_eq!(meta["labels"]["app.kubernetes.io/managed-by"], "flinkops");
    assert_eq!(meta["labels"]["flinkops.io/job"], "app");
    assert_eq!(
        meta["annotations"]["flinkops.io/spec-hash"],
        objects.spec_hash.as_str()
    );
}

#[test]
fn log_configuration_names_are_plain_file_names() {
    let text = app_with(
        "  job:\n",
        "  logConfiguration:\n    log4j-console.properties: rootLogger.level = DEBUG\n    ../../bin/x: a\n    a b: c\n    .hidden: d\n    config.yaml: e\n    flink-conf.yaml: f\n  job:\n",
    );
    assert_eq!(
        messages(&hostile("app.yaml", text.as_bytes())),
        vec![
            "app.yaml:12:5: spec.logConfiguration.../../bin/x: `../../bin/x` is not a plain file name: letters, digits, '.', '_' and '-', not starting with '.'",
            "app.yaml:13:5: spec.logConfiguration.a b: `a b` is not a plain file name: letters, digits, '.', '_' and '-', not starting with '.'",
            "app.yaml:14:5: spec.logConfiguration..hidden: `.hidden` is not a plain file name: letters, digits, '.', '_' and '-', not starting with '.'",
            "app.yaml:15:5: spec.logConfiguration.config.yaml: `config.yaml` would replace Flink's whole configuration, which flinkops writes; set flinkConfiguration instead",
            "app.yaml:16:5: spec.logConfiguration.flink-conf.yaml: `flink-conf.yaml` would replace Flink's whole configuration, which flinkops writes; set flinkConfiguration instead",
        ]
    );
}

// Reading revisions from Git: what cannot be read is an error that blocks, never a file
// that silently is not there.

/// A repository whose one commit holds `files` (raw path bytes, content) at its root or
/// in one directory level.
fn commit(files: &[(&[u8], &[u8])]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut dirs: std::collections::BTreeMap<Vec<u8>, git2::TreeBuilder> = Default::default();
    let mut root = repo.treebuilder(None).unwrap();
    for (path, content) in files {
        let blob = repo.blob(content).unwrap();
        match path.iter().position(|&b| b == b'/') {
            Some(i) => {
                let tb = dirs
                    .entry(path[..i].to_vec())
                    .or_insert_with(|| repo.treebuilder(None).unwrap());
                tb.insert(path[i + 1..].to_vec(), blob, 0o100644).unwrap();
            }
            None => {
                root.insert(path.to_vec(), blob, 0o100644).unwrap();
            }
        }
    }
    for (name, tb) in dirs {
        let id = tb.write().unwrap();
        root.insert(name, id, 0o040000).unwrap();
    }
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@flinkops.invalid").unwrap();
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, "test", &tree, &[])
        .unwrap();
    (dir, id.to_string())
}

#[test]
fn a_file_name_that_is_not_utf8_blocks_every_deletion_instead_of_vanishing() {
    for path in [&b"jobs/\xffname.yaml"[..], &b"jo\xffbs/name.yaml"[..]] {
        let (dir, rev) = commit(&[
            (path, APP.as_bytes()),
            (b"jobs/intact.yaml", GOOD.as_bytes()),
        ]);
        let repo = flinkops::edge::git::Repo::open(dir.path()).unwrap();
        let snap = repo.snapshot(&rev, "").unwrap();
        let c = spec::load(&snap);
        assert!(c.jobs.keys().any(|id| id.name == "intact"));
        assert!(
            !c.absence_is_certain("jobs/app.yaml"),
            "the job may be in the unreadable file"
        );
        let lossy = String::from_utf8_lossy(path);
        assert_eq!(
            messages(&c),
            vec![format!("{lossy}:1:1: the file name is not UTF-8 text; rename it; until it can be read, no job is deleted (flinkops cannot tell which jobs it holds)")]
        );
    }
}

#[test]
fn a_file_over_the_size_limit_is_not_read_and_blocks_its_jobs() {
    let big = vec![b'#'; (1 << 20) + 1];
    let (dir, rev) = commit(&[(b"big.yaml", &big), (b"intact.yaml", GOOD.as_bytes())]);
    let repo = flinkops::edge::git::Repo::open(dir.path()).unwrap();
    let snap = repo.snapshot(&rev, "").unwrap();
    assert!(matches!(
        snap.files["big.yaml"],
        Entry::Unreadable { named: true, .. }
    ));
    let c = spec::load(&snap);
    assert_eq!(
        messages(&c),
        vec!["big.yaml:1:1: the file is 1048577 bytes; flinkops reads files of at most 1048576 bytes (1.0 MiB)"]
    );
    assert!(!c.absence_is_certain("big.yaml"));
    assert!(c.absence_is_certain("gone.yaml"));
}

#[test]
fn a_revision_with_too_many_files_is_refused_as_a_whole() {
    let names: Vec<Vec<u8>> = (0..10_001)
        .map(|i| format!("f{i}.yaml").into_bytes())
        .collect();
    let files: Vec<(&[u8], &[u8])> = names
        .iter()
        .map(|n| (n.as_slice(), &b"a: 1\n"[..]))
        .collect();
    let (dir, rev) = commit(&files);
    let repo = flinkops::edge::git::Repo::open(dir.path()).unwrap();
    let err = repo.snapshot(&rev, "").unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{rev} has more than 10000 YAML files and links under the definitions path; flinkops reads at most 10000 (see docs/security.md, Limits)")
    );
}

#[test]
fn render_of_one_job_with_broken_settings_reports_them_and_fails() {
    let (dir, _) = commit(&[
        (b"flinkops.yaml", b"prune: maybe\n"),
        (b"app.yaml", APP.as_bytes()),
    ]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args([
            "render",
            "--repo",
            dir.path().to_str().unwrap(),
            "--job",
            "streaming/app",
        ])
        .env_remove("FLINKOPS_REPO")
        .env_remove("FLINKOPS_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: flinkops.yaml:1:8: prune: expected true or false, got a string\n"
    );
    assert!(out.stdout.is_empty());
}
