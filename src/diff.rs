//! The offline diff: plan plus object diffs between two catalogs, and its text, Markdown
//! and JSON forms. Pure: catalogs in, a report and strings out.

use crate::plan::{self, Action, Plan};
use crate::redact::redact_lines;
use crate::render::{self, Object};
use crate::spec::{Catalog, JobSpec};
use serde::Serialize;
use similar::TextDiff;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectChange {
    Create,
    Delete,
    Update,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDiff {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub change: ObjectChange,
    /// Unified diff of the objects' YAML (credentials redacted).
    pub diff: String,
    /// Only the provenance annotations (commit, spec hash) differ.
    pub provenance_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub base: String,
    pub head: String,
    #[serde(flatten)]
    pub plan: Plan,
    pub objects: Vec<ObjectDiff>,
}

/// One side of a diff: the commit and what it defines.
pub struct Side<'a> {
    pub commit: &'a str,
    pub catalog: &'a Catalog,
}

pub fn report(base: Side, head: Side) -> Report {
    let plan = plan::plan(&base.catalog.jobs, head.catalog);
    let mut objects = Vec::new();
    for job in &plan.jobs {
        // Unchanged jobs render nothing (their objects would only differ in the commit
        // annotation), and invalid ones are not applied.
        if matches!(job.action, Action::None | Action::Error) {
            continue;
        }
        let id = job.id();
        let old = render_side(base.catalog.jobs.get(&id), base.commit);
        let new = render_side(head.catalog.jobs.get(&id), head.commit);
        objects.extend(object_diffs(&old, &new));
    }
    Report {
        base: base.commit.to_string(),
        head: head.commit.to_string(),
        plan,
        objects,
    }
}

fn render_side(spec: Option<&JobSpec>, commit: &str) -> Vec<Object> {
    spec.map(|s| {
        render::render(
            s,
            &render::Context {
                commit,
                restore_from: None,
            },
        )
        .objects
    })
    .unwrap_or_default()
}

/// Pairs objects by kind, namespace and name and diffs their YAML.
pub fn object_diffs(old: &[Object], new: &[Object]) -> Vec<ObjectDiff> {
    type Key = (String, String, String);
    let mut pairs: BTreeMap<Key, (Option<&Object>, Option<&Object>)> = BTreeMap::new();
    for o in old {
        pairs
            .entry((o.namespace.clone(), o.name.clone(), o.kind.to_string()))
            .or_default()
            .0 = Some(o);
    }
    for o in new {
        pairs
            .entry((o.namespace.clone(), o.name.clone(), o.kind.to_string()))
            .or_default()
            .1 = Some(o);
    }
    let mut out = Vec::new();
    for ((namespace, name, kind), (a, b)) in pairs {
        let text = |o: Option<&Object>| o.map(|o| redact_lines(&o.to_yaml())).unwrap_or_default();
        let (ta, tb) = (text(a), text(b));
        if ta == tb {
            continue;
        }
        let provenance_only =
            a.is_some() && b.is_some() && without_provenance(&ta) == without_provenance(&tb);
        let change = match (a, b) {
            (None, _) => ObjectChange::Create,
            (_, None) => ObjectChange::Delete,
            _ => ObjectChange::Update,
        };
        let label = format!("{kind} {namespace}/{name}");
        let diff = TextDiff::from_lines(&ta, &tb)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{label} (base)"), &format!("{label} (head)"))
            .to_string();
        out.push(ObjectDiff {
            kind,
            namespace,
            name,
            change,
            diff,
            provenance_only,
        });
    }
    out
}

fn without_provenance(text: &str) -> String {
    let commit = format!("{}: ", render::ANN_COMMIT);
    let hash = format!("{}: ", render::ANN_SPEC_HASH);
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with(&commit) && !t.starts_with(&hash)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Delete => "-",
        Action::Error => "!",
        Action::None => "=",
        _ => "~",
    }
}

/// "2 to create, 1 savepoint-upgrade, 1 error; 996 unchanged"
pub fn summary(plan: &Plan) -> String {
    let order = [
        Action::Create,
        Action::Update,
        Action::SavepointUpgrade,
        Action::LastStateUpgrade,
        Action::StatelessUpgrade,
        Action::Redeploy,
        Action::Restart,
        Action::Suspend,
        Action::Resume,
        Action::Delete,
        Action::Error,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|a| {
            let n = plan.count(*a);
            (n > 0).then(|| format!("{n} {}", a.as_str()))
        })
        .collect();
    let unchanged = plan.count(Action::None);
    if parts.is_empty() {
        format!("no changes; {unchanged} unchanged")
    } else {
        format!("{}; {unchanged} unchanged", parts.join(", "))
    }
}

fn short(c: &str) -> &str {
    &c[..c.len().min(12)]
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn action(&self, a: Action, s: &str) -> String {
        let code = match a {
            Action::Create | Action::Resume => "32",
            Action::Delete | Action::Error => "31;1",
            Action::Update => "33",
            _ => "35",
        };
        self.wrap(code, s)
    }

    fn diff_line(&self, line: &str) -> String {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            return line.to_string();
        };
        self.wrap(code, line)
    }
}

pub fn to_text(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut s = format!("flinkops plan: {} → {}\n\n", short(&r.base), short(&r.head));
    let width = r
        .plan
        .jobs
        .iter()
        .map(|j| j.namespace.len() + j.name.len() + 1)
        .max()
        .unwrap_or(0);
    for j in r.plan.jobs.iter().filter(|j| j.action != Action::None) {
        let id = format!("{}/{}", j.namespace, j.name);
        s.push_str(&format!(
            "  {} {id:<width$}  {}\n",
            p.action(j.action, symbol(j.action)),
            p.action(j.action, j.action.as_str())
        ));
        for reason in &j.reasons {
            s.push_str(&format!("      {reason}\n"));
        }
        for e in &j.errors {
            s.push_str(&format!("      {}\n", p.wrap("31", &e.to_string())));
        }
    }
    for e in &r.plan.errors {
        s.push_str(&format!(
            "  {} {}\n",
            p.wrap("31;1", "!"),
            p.wrap("31", &e.to_string())
        ));
    }
    s.push_str(&format!("\nPlan: {}.\n", summary(&r.plan)));
    let (quiet, loud): (Vec<_>, Vec<_>) = r.objects.iter().partition(|o| o.provenance_only);
    if !quiet.is_empty() {
        s.push_str("\nRe-applied with only the commit and spec-hash annotations changed:\n");
        for o in quiet {
            s.push_str(&format!("  {} {}/{}\n", o.kind, o.namespace, o.name));
        }
    }
    for o in loud {
        s.push('\n');
        for line in o.diff.lines() {
            s.push_str(&p.diff_line(line));
            s.push('\n');
        }
    }
    s
}

/// GitHub rejects comments over 65,536 characters; object diffs are cut before that.
const MARKDOWN_BUDGET: usize = 60_000;

pub fn to_markdown(r: &Report) -> String {
    let mut s = format!(
        "### flinkops plan: `{}` → `{}`\n\n**{}**\n",
        short(&r.base),
        short(&r.head),
        summary(&r.plan)
    );
    let changed: Vec<_> = r
        .plan
        .jobs
        .iter()
        .filter(|j| j.action != Action::None)
        .collect();
    if !changed.is_empty() {
        s.push_str("\n| Job | Action | Why |\n|---|---|---|\n");
        for j in changed {
            let mut why: Vec<String> = j.reasons.iter().map(|r| md_cell(r)).collect();
            why.extend(
                j.errors
                    .iter()
                    .map(|e| format!("❌ {}", md_cell(&e.to_string()))),
            );
            let action = if j.action.restarts_job()
                || matches!(j.action, Action::Delete | Action::Suspend)
            {
                format!("**{}**", j.action.as_str())
            } else {
                j.action.as_str().to_string()
            };
            s.push_str(&format!(
                "| `{}/{}` | {action} | {} |\n",
                j.namespace,
                j.name,
                why.join("<br>")
            ));
        }
    }
    if !r.plan.errors.is_empty() {
        s.push_str("\n**Errors**\n\n");
        for e in &r.plan.errors {
            s.push_str(&format!("- ❌ `{}`\n", e.to_string().replace('`', "'")));
        }
    }
    let (quiet, loud): (Vec<_>, Vec<_>) = r.objects.iter().partition(|o| o.provenance_only);
    if !quiet.is_empty() {
        let names: Vec<String> = quiet
            .iter()
            .map(|o| format!("{} `{}/{}`", o.kind, o.namespace, o.name))
            .collect();
        s.push_str(&format!(
            "\nOnly provenance annotations change on: {}\n",
            names.join(", ")
        ));
    }
    let mut omitted = 0;
    for o in loud {
        let block = format!(
            "\n<details><summary>{} {}/{} ({})</summary>\n\n```diff\n{}```\n</details>\n",
            o.kind,
            o.namespace,
            o.name,
            serde_json::to_value(o.change)
                .unwrap()
                .as_str()
                .unwrap_or(""),
            o.diff.replace("```", "ʼʼʼ")
        );
        if s.len() + block.len() > MARKDOWN_BUDGET {
            omitted += 1;
        } else {
            s.push_str(&block);
        }
    }
    if omitted > 0 {
        s.push_str(&format!(
            "\n_{omitted} object diffs omitted to fit a comment; run `flinkops diff` for all._\n"
        ));
    }
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::catalog;

    const APP: &str = "\
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: streaming
spec:
  image: flink:2.0
  flinkConfiguration:
    s3.secret-key: old-secret
  job:
    jarURI: local:///opt/flink/usrlib/orders.jar
    parallelism: 2
";

    fn report_of(old: &[(&str, &str)], new: &[(&str, &str)]) -> Report {
        let (a, b) = (catalog(old), catalog(new));
        report(
            Side {
                commit: "aaaaaaaaaaaaaaaa",
                catalog: &a,
            },
            Side {
                commit: "bbbbbbbbbbbbbbbb",
                catalog: &b,
            },
        )
    }

    #[test]
    fn unchanged_jobs_have_no_object_diffs() {
        let r = report_of(&[("a.yaml", APP)], &[("a.yaml", APP)]);
        assert!(r.objects.is_empty());
        assert_eq!(summary(&r.plan), "no changes; 1 unchanged");
    }

    #[test]
    fn changed_job_diffs_its_objects_with_secrets_redacted() {
        let changed = APP
            .replace("parallelism: 2", "parallelism: 4")
            .replace("old-secret", "new-secret");
        let r = report_of(&[("a.yaml", APP)], &[("a.yaml", &changed)]);
        let kinds: Vec<(&str, &str, ObjectChange)> = r
            .objects
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str(), o.change))
            .collect();
        // Every object carries the new commit; the TaskManager count follows parallelism.
        assert!(kinds.contains(&("ConfigMap", "orders-config", ObjectChange::Update)));
        assert!(kinds.contains(&("Deployment", "orders-taskmanager", ObjectChange::Update)));
        let cm = &r
            .objects
            .iter()
            .find(|o| o.kind == "ConfigMap")
            .unwrap()
            .diff;
        assert!(
            cm.contains("-      default: 2\n+      default: 4\n"),
            "{cm}"
        );
        assert!(
            !cm.contains("old-secret") && !cm.contains("new-secret"),
            "{cm}"
        );
        // The change of a secret shows in the plan, not its value.
        assert!(r.plan.jobs[0]
            .reasons
            .contains(&"flinkConfiguration s3.secret-key <redacted> → <redacted>".to_string()));
        let tm = &r
            .objects
            .iter()
            .find(|o| o.name == "orders-taskmanager")
            .unwrap()
            .diff;
        assert!(tm.contains("-  replicas: 2\n+  replicas: 4\n"), "{tm}");
        assert!(tm.starts_with("--- Deployment streaming/orders-taskmanager (base)\n"));
        let svc = r.objects.iter().find(|o| o.name == "orders-rest").unwrap();
        assert!(
            svc.provenance_only,
            "only annotations differ on the Service"
        );
        assert!(
            !r.objects
                .iter()
                .find(|o| o.name == "orders-taskmanager")
                .unwrap()
                .provenance_only
        );
        let text = to_text(&r, false);
        assert!(text.contains("only the commit and spec-hash annotations changed:\n  Service streaming/orders-jobmanager\n  Service streaming/orders-rest\n"), "{text}");
        assert!(!text.contains("--- Service"), "{text}");
    }

    #[test]
    fn created_and_deleted_objects() {
        let r = report_of(&[], &[("a.yaml", APP)]);
        assert!(r.objects.iter().all(|o| o.change == ObjectChange::Create));
        assert_eq!(r.objects.len(), 5);
        let r = report_of(&[("a.yaml", APP)], &[]);
        assert!(r.objects.iter().all(|o| o.change == ObjectChange::Delete));
    }

    #[test]
    fn text_output_lists_changed_jobs_and_summary() {
        let changed = APP.replace("parallelism: 2", "parallelism: 4");
        let r = report_of(&[("a.yaml", APP)], &[("a.yaml", &changed)]);
        let text = to_text(&r, false);
        assert!(text.starts_with("flinkops plan: aaaaaaaaaaaa → bbbbbbbbbbbb\n"));
        assert!(text.contains("  ~ streaming/orders  stateless-upgrade\n      parallelism 2 → 4\n"));
        assert!(text.contains("\nPlan: 1 stateless-upgrade; 0 unchanged.\n"));
        assert!(!text.contains('\x1b'));
        assert!(to_text(&r, true).contains("\x1b[32m+"));
    }

    #[test]
    fn markdown_has_a_table_and_collapsed_diffs() {
        let changed = APP.replace("parallelism: 2", "parallelism: 4");
        let r = report_of(&[("a.yaml", APP)], &[("a.yaml", &changed)]);
        let md = to_markdown(&r);
        assert!(
            md.contains("| `streaming/orders` | **stateless-upgrade** | parallelism 2 → 4<br>taskManager.replicas 2 → 4 |"),
            "{md}"
        );
        assert!(md.contains(
            "<details><summary>Deployment streaming/orders-taskmanager (update)</summary>"
        ));
        assert!(md.contains("```diff\n"));
    }

    #[test]
    fn markdown_stays_under_the_comment_limit() {
        let many: Vec<(String, String)> = (0..200)
            .map(|i| {
                (
                    format!("j{i}.yaml"),
                    APP.replace("name: orders", &format!("name: job-{i}")),
                )
            })
            .collect();
        let files: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let r = report_of(&[], &files);
        let md = to_markdown(&r);
        assert!(md.len() <= MARKDOWN_BUDGET + 200, "{}", md.len());
        assert!(md.contains("object diffs omitted to fit a comment"));
    }

    #[test]
    fn json_has_the_documented_shape() {
        let broken = APP.replace("parallelism: 2", "parallelism: 0");
        let r = report_of(&[("a.yaml", APP)], &[("a.yaml", &broken)]);
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(v["base"], "aaaaaaaaaaaaaaaa");
        assert_eq!(v["head"], "bbbbbbbbbbbbbbbb");
        let job = &v["jobs"][0];
        assert_eq!(job["namespace"], "streaming");
        assert_eq!(job["name"], "orders");
        assert_eq!(job["action"], "error");
        assert_eq!(job["source"], "a.yaml");
        assert_eq!(job["errors"][0]["line"], 12);
        assert_eq!(job["errors"][0]["field"], "spec.job.parallelism");
        assert_eq!(v["objects"], serde_json::json!([]));
    }
}
