//! The checked-in JSON Schemas validate the example repository, reject what flinkops
//! rejects, and every example file names its schema for editors.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schema").join(name)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_file_is_valid_and_names_its_schema() {
    let (jobs, settings) = (schema("jobs.schema.json"), schema("settings.schema.json"));
    let base = root().join("examples-repo");
    let mut files = Vec::new();
    yaml_files(&base, &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let is_settings = f.file_name().unwrap() == "flinkops.yaml";
        let depth = f.strip_prefix(&base).unwrap().components().count();
        let want = format!(
            "# yaml-language-server: $schema={}schema/{}.schema.json",
            "../".repeat(depth),
            if is_settings { "settings" } else { "jobs" }
        );
        assert_eq!(text.lines().next(), Some(want.as_str()), "{}", f.display());
        let v = if is_settings { &settings } else { &jobs };
        for doc in documents(&text) {
            assert_eq!(errors(v, &doc), Vec::<String>::new(), "{}", f.display());
        }
    }
}

#[test]
fn the_schema_rejects_what_flinkops_rejects() {
    let jobs = schema("jobs.schema.json");
    let good = "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders}
spec:
  image: flink:2.0
  job: {jarURI: local:///a.jar, upgradeMode: savepoint}
";
    assert!(errors(&jobs, &documents(good)[0]).is_empty());
    let with_resources = good.replacen(
        "image: flink:2.0",
        "image: flink:2.0\n  taskManager: {resources: {requests: {cpu: 1, memory: 2Gi}, limits: {ephemeral-storage: 10Gi}}}",
        1,
    );
    assert!(errors(&jobs, &documents(&with_resources)[0]).is_empty());
    for (from, to) in [
        ("upgradeMode: savepoint", "upgradeMod: savepoint"),
        ("upgradeMode: savepoint", "upgradeMode: snapshot"),
        ("image: flink:2.0", "image: flink:2.0\n  status: {}"),
        ("name: orders", "name: Orders_1"),
        ("kind: FlinkDeployment", "kind: FlinkDeploy"),
        ("jarURI: local:///a.jar, ", ""),
        (
            "image: flink:2.0",
            "image: flink:2.0\n  taskManager: {resources: {requests: {nvidia.com/gpu: 1}}}",
        ),
        (
            "image: flink:2.0",
            "image: flink:2.0\n  taskManager: {resources: {limits: {ephemeralStorage: 1Gi}}}",
        ),
    ] {
        let bad = good.replacen(from, to, 1);
        assert!(
            !errors(&jobs, &documents(&bad)[0]).is_empty(),
            "accepted:\n{bad}"
        );
    }
}
