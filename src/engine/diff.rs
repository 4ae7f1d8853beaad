//! The offline diff: plan plus object diffs between two catalogs, and its text, Markdown
//! and JSON forms. Pure: catalogs in, a report and strings out.

use crate::engine::plan::{self, Action, Carry, Plan};
use crate::engine::render::{self, Object};
use crate::model::escape::{self, markdown_html, markdown_inline, short_commit, terminal};
use crate::model::spec::{Catalog, JobSpec};
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
        // Credentials go before the text is made: what is diffed is already redacted.
        let text = |o: Option<&Object>| {
            o.map(|o| {
                serde_yaml::to_string(&crate::engine::redact::object(&o.body))
                    .expect("JSON values serialize to YAML")
            })
            .unwrap_or_default()
        };
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

/// What carries a job's state across its change, for people.
pub fn state_text(j: &plan::JobPlan) -> &'static str {
    match (j.state, &j.state_loss) {
        (_, Some(_)) => "none: state lost",
        (Some(Carry::Savepoint), _) => "savepoint",
        (Some(Carry::LatestCheckpoint), _) => "latest checkpoint (replays what came after it)",
        (Some(Carry::LastRecorded), _) => "last savepoint",
        (Some(Carry::Initial), _) => "initialSavepointPath",
        (Some(Carry::Nothing), _) => "none (stateless)",
        (None, _) => "-",
    }
}

/// One line above a plan about what the change costs in state: `what` happens to `jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactLine {
    /// The jobs' state is lost (Git says so).
    pub loses_state: bool,
    pub what: String,
    /// At most `IMPACT_NAMES` names, then "and N more".
    pub jobs: Vec<String>,
}

/// Names an impact line lists at most: a plan of 1,000 jobs still fits a comment.
const IMPACT_NAMES: usize = 10;

/// The lines above a plan that say what the change costs in state: the jobs whose state
/// is lost (Git says so), those restored from their latest checkpoint (they process again
/// what came after it), those restarted with a savepoint, those stopped with one (removed
/// or suspended), and (with the cluster's facts) those queued behind an upgrade in flight.
/// Empty when no job stops.
pub fn impact_lines(plan: &Plan, name: impl Fn(&plan::JobPlan) -> String) -> Vec<ImpactLine> {
    let line =
        |loses_state: bool, what: &dyn Fn(usize) -> String, f: &dyn Fn(&plan::JobPlan) -> bool| {
            let all: Vec<&plan::JobPlan> = plan.jobs.iter().filter(|j| f(j)).collect();
            let mut jobs: Vec<String> = all.iter().take(IMPACT_NAMES).map(|j| name(j)).collect();
            if all.len() > IMPACT_NAMES {
                jobs.push(format!("and {} more", all.len() - IMPACT_NAMES));
            }
            (!all.is_empty()).then(|| ImpactLine {
                loses_state,
                what: what(all.len()),
                jobs,
            })
        };
    [
        line(true, &|n| format!("STATE LOST by {n}"), &|j| {
            j.state_loss.is_some() && j.action != Action::Error
        }),
        line(
            false,
            &|_| {
                "restored from their latest checkpoint (what came after it is processed again)"
                    .into()
            },
            &|j| j.state == Some(Carry::LatestCheckpoint) && j.state_loss.is_none(),
        ),
        line(
            false,
            &|_| "restarted with a savepoint (their state carried)".into(),
            &|j| j.restarts && j.state == Some(Carry::Savepoint),
        ),
        line(
            false,
            &|_| "stopped with a savepoint (removed or suspended; their lineage kept)".into(),
            &|j| {
                matches!(j.action, Action::Delete | Action::Suspend)
                    && j.state == Some(Carry::Savepoint)
                    && j.state_loss.is_none()
            },
        ),
        line(
            false,
            &|_| "queued behind an upgrade in flight".into(),
            &|j| {
                j.live
                    .as_ref()
                    .is_some_and(|l| l.upgrade_in_flight.is_some())
            },
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
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

/// The plan for a terminal or CI log. Every string from the repository or the cluster
/// goes through `escape::terminal`, so only flinkops' own colour codes and line breaks
/// reach the output.
pub fn to_text(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut s = format!(
        "flinkops plan: {} → {}\n\n",
        terminal(short_commit(&r.base)),
        terminal(short_commit(&r.head))
    );
    let id = |j: &plan::JobPlan| terminal(&format!("{}/{}", j.namespace, j.name)).into_owned();
    let width = r
        .plan
        .jobs
        .iter()
        .map(|j| id(j).chars().count())
        .max()
        .unwrap_or(0);
    for j in r.plan.jobs.iter().filter(|j| j.action != Action::None) {
        s.push_str(&format!(
            "  {} {:<width$}  {}\n",
            p.action(j.action, symbol(j.action)),
            id(j),
            p.action(j.action, j.action.as_str())
        ));
        if j.state.is_some() || j.state_loss.is_some() {
            s.push_str(&format!("      state: {}\n", state_text(j)));
        }
        if let Some(live) = &j.live {
            s.push_str(&format!(
                "      live: {}\n",
                terminal(&crate::engine::live_facts::text(live))
            ));
        }
        for reason in &j.reasons {
            s.push_str(&format!("      {}\n", terminal(reason)));
        }
        for e in &j.errors {
            s.push_str(&format!(
                "      {}\n",
                p.wrap("31", &terminal(&e.to_string()))
            ));
        }
    }
    for e in &r.plan.errors {
        s.push_str(&format!(
            "  {} {}\n",
            p.wrap("31;1", "!"),
            p.wrap("31", &terminal(&e.to_string()))
        ));
    }
    s.push_str(&format!("\nPlan: {}.\n", summary(&r.plan)));
    for l in impact_lines(&r.plan, |j| id(j)) {
        let line = format!("{}: {}", l.what, l.jobs.join(", "));
        let line = if l.loses_state {
            p.wrap("31;1", &line)
        } else {
            line
        };
        s.push_str(&format!("{line}\n"));
    }
    let (quiet, loud): (Vec<_>, Vec<_>) = r.objects.iter().partition(|o| o.provenance_only);
    if !quiet.is_empty() {
        s.push_str("\nRe-applied with only the commit and spec-hash annotations changed:\n");
        for o in quiet {
            s.push_str(&format!("  {}\n", terminal(&object_label(o))));
        }
    }
    for o in loud {
        s.push('\n');
        for line in o.diff.lines() {
            s.push_str(&p.diff_line(&terminal(line)));
            s.push('\n');
        }
    }
    s
}

fn object_label(o: &ObjectDiff) -> String {
    format!("{} {}/{}", o.kind, o.namespace, o.name)
}

/// GitHub rejects comments over 65,536 characters (GitLab's notes allow more): the whole
/// comment is kept to this.
pub const MARKDOWN_LIMIT: usize = 65_536;
/// Kept free for the closing note that says what was left out.
const MARKDOWN_NOTE_RESERVE: usize = 400;
/// One reason or error in the table, in characters before escaping: a long configuration
/// value or error message must not crowd out the other jobs.
const MARKDOWN_CELL_TEXT: usize = 300;
/// Reasons and errors shown per job; the rest are counted.
const MARKDOWN_CELL_ITEMS: usize = 12;

/// A comment being written within a character budget.
struct Comment {
    text: String,
    chars: usize,
}

impl Comment {
    /// Appends `part` if it fits (leaving room for the closing note); says whether it did.
    fn push(&mut self, part: &str) -> bool {
        let n = part.chars().count();
        if self.chars + n > MARKDOWN_LIMIT - MARKDOWN_NOTE_RESERVE {
            return false;
        }
        self.text.push_str(part);
        self.chars += n;
        true
    }
}

/// The plan as a pull/merge request comment (GitHub/GitLab Markdown). Every string from
/// the repository or the cluster is escaped (`escape::markdown_*`): no markup, HTML,
/// mentions or line breaks of its own. Errors come first, then the table of changed jobs,
/// then the object diffs, as long as they fit in `MARKDOWN_LIMIT`; a closing note counts
/// what was left out.
pub fn to_markdown(r: &Report) -> String {
    let mut c = Comment {
        text: String::new(),
        chars: 0,
    };
    c.push(&format!(
        "### flinkops plan: {} → {}\n\n**{}**\n",
        markdown_inline(short_commit(&r.base)),
        markdown_inline(short_commit(&r.head)),
        summary(&r.plan)
    ));
    let id_code =
        |j: &plan::JobPlan| escape::markdown_cell_code(&format!("{}/{}", j.namespace, j.name));
    let impact = impact_lines(&r.plan, id_code);
    if !impact.is_empty() {
        c.push("\n");
        for l in &impact {
            let jobs = l.jobs.join(", ");
            let line = if l.loses_state {
                format!("⚠️ **{}**: {jobs}\n", l.what)
            } else {
                format!("- {}: {jobs}\n", l.what)
            };
            if !c.push(&line) {
                break;
            }
        }
    }
    let cell_text = |t: &str| markdown_inline(&escape::truncate(t, MARKDOWN_CELL_TEXT));
    let mut left_errors = 0;
    if !r.plan.errors.is_empty() && c.push("\n**Errors**\n\n") {
        for (i, e) in r.plan.errors.iter().enumerate() {
            if !c.push(&format!("- ❌ {}\n", cell_text(&e.to_string()))) {
                left_errors = r.plan.errors.len() - i;
                break;
            }
        }
    } else {
        left_errors = r.plan.errors.len();
    }
    let changed: Vec<_> = r
        .plan
        .jobs
        .iter()
        .filter(|j| j.action != Action::None)
        .collect();
    let mut left_jobs = 0;
    if !changed.is_empty() && c.push("\n| Job | Action | State | Why |\n|---|---|---|---|\n") {
        for (i, j) in changed.iter().enumerate() {
            let mut why: Vec<String> = j.reasons.iter().map(|r| cell_text(r)).collect();
            if let Some(live) = &j.live {
                why.insert(
                    0,
                    format!("🕒 {}", cell_text(&crate::engine::live_facts::text(live))),
                );
            }
            why.extend(
                j.errors
                    .iter()
                    .map(|e| format!("❌ {}", cell_text(&e.to_string()))),
            );
            if why.len() > MARKDOWN_CELL_ITEMS {
                let more = why.len() - MARKDOWN_CELL_ITEMS;
                why.truncate(MARKDOWN_CELL_ITEMS);
                why.push(format!("… and {more} more"));
            }
            let action = if j.action.restarts_job()
                || matches!(j.action, Action::Delete | Action::Suspend)
            {
                format!("**{}**", j.action.as_str())
            } else {
                j.action.as_str().to_string()
            };
            let state = match &j.state_loss {
                Some(_) => format!("**{}**", state_text(j)),
                None => state_text(j).to_string(),
            };
            let row = format!(
                "| {} | {action} | {state} | {} |\n",
                escape::markdown_cell_code(&format!("{}/{}", j.namespace, j.name)),
                why.join("<br>")
            );
            if !c.push(&row) {
                left_jobs = changed.len() - i;
                break;
            }
        }
    } else {
        left_jobs = changed.len();
    }
    let (quiet, loud): (Vec<_>, Vec<_>) = r.objects.iter().partition(|o| o.provenance_only);
    let mut left_diffs = 0;
    if !quiet.is_empty() && c.push("\nOnly provenance annotations change on: ") {
        for (i, o) in quiet.iter().enumerate() {
            let sep = if i + 1 == quiet.len() { "\n" } else { ", " };
            if !c.push(&format!("{}{sep}", markdown_inline(&object_label(o)))) {
                left_diffs += quiet.len() - i;
                c.push("…\n");
                break;
            }
        }
    } else {
        left_diffs += quiet.len();
    }
    for o in loud {
        let change = match o.change {
            ObjectChange::Create => "create",
            ObjectChange::Delete => "delete",
            ObjectChange::Update => "update",
        };
        let block = format!(
            "\n<details><summary>{} ({change})</summary>\n\n{}</details>\n",
            markdown_html(&object_label(o)),
            escape::markdown_code_block("diff", &o.diff),
        );
        if !c.push(&block) {
            left_diffs += 1;
        }
    }
    let mut left = Vec::new();
    for (n, what) in [
        (left_errors, "more errors"),
        (left_jobs, "more jobs"),
        (left_diffs, "object diffs"),
    ] {
        if n > 0 {
            left.push(format!("{n} {what}"));
        }
    }
    let mut out = c.text;
    if !left.is_empty() {
        out.push_str(&format!(
            "\n_… and {} left out to fit a comment: run `flinkops diff` locally for the full plan._\n",
            left.join(", ")
        ));
    }
    out
}

pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("reports serialize") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::testing::catalog;

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

    fn diff_of<'a>(r: &'a Report, name: &str) -> &'a str {
        &r.objects.iter().find(|o| o.name == name).unwrap().diff
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
        let tm = diff_of(&r, "orders-taskmanager");
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
        assert!(text.contains(
            "  ~ streaming/orders  stateless-upgrade\n      state: none (stateless)\n      parallelism 2 → 4\n"
        ));
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
            md.contains("| `streaming/orders` | **stateless-upgrade** | none (stateless) | parallelism 2 → 4<br>taskManager.replicas 2 → 4 |"),
            "{md}"
        );
        assert!(md.contains(
            "<details><summary>Deployment streaming/orders-taskmanager (update)</summary>"
        ));
        assert!(md.contains("```diff\n"));
    }

    #[test]
    fn the_plan_says_what_each_restart_costs_in_state_before_anything_else() {
        let job = |name: &str, mode: &str, p: u32| {
            APP.replace("name: orders", &format!("name: {name}"))
                .replace(
                    "parallelism: 2",
                    &format!("parallelism: {p}\n    upgradeMode: {mode}"),
                )
        };
        let lost =
            job("lost", "savepoint", 3).replace("upgradeMode: savepoint", "upgradeMode: stateless");
        let r = report_of(
            &[
                ("a.yaml", &job("saved", "savepoint", 2)),
                ("b.yaml", &job("replayed", "last-state", 2)),
                ("c.yaml", &job("lost", "savepoint", 2)),
                ("d.yaml", &job("same", "savepoint", 2)),
            ],
            &[
                ("a.yaml", &job("saved", "savepoint", 3)),
                ("b.yaml", &job("replayed", "last-state", 3)),
                ("c.yaml", &lost),
                ("d.yaml", &job("same", "savepoint", 2)),
            ],
        );
        let state = |name: &str| {
            let j = r.plan.jobs.iter().find(|j| j.name == name).unwrap();
            (j.restarts, j.state)
        };
        assert_eq!(state("saved"), (true, Some(Carry::Savepoint)));
        assert_eq!(state("replayed"), (true, Some(Carry::LatestCheckpoint)));
        assert_eq!(state("lost"), (true, Some(Carry::Nothing)));
        assert_eq!(state("same"), (false, None));
        let md = to_markdown(&r);
        let top = md.split("| Job |").next().unwrap();
        assert!(
            top.contains("⚠️ **STATE LOST by 1**: `streaming/lost`\n- restored from their latest checkpoint (what came after it is processed again): `streaming/replayed`\n- restarted with a savepoint (their state carried): `streaming/saved`\n"),
            "{md}"
        );
        assert!(
            md.contains("| `streaming/lost` | **stateless-upgrade** | **none: state lost** |"),
            "{md}"
        );
        let text = to_text(&r, false);
        assert!(text.contains("STATE LOST by 1: streaming/lost\n"), "{text}");
        let json = serde_json::to_value(&r.plan).unwrap();
        let saved = json["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == "saved")
            .unwrap();
        assert_eq!(
            (&saved["restarts"], &saved["state"]),
            (&serde_json::json!(true), &serde_json::json!("savepoint"))
        );
        // Nothing restarts: no impact lines.
        let quiet = report_of(
            &[("d.yaml", &job("same", "savepoint", 2))],
            &[("d.yaml", &job("same", "savepoint", 2))],
        );
        assert!(impact_lines(&quiet.plan, |j| j.name.clone()).is_empty());
    }

    #[test]
    fn impact_lines_name_at_most_ten_jobs() {
        let many: Vec<(String, String)> = (0..25)
            .map(|i| {
                (
                    format!("j{i}.yaml"),
                    APP.replace("name: orders", &format!("name: job-{i}"))
                        .replace(
                            "parallelism: 2",
                            "parallelism: 2\n    upgradeMode: last-state",
                        ),
                )
            })
            .collect();
        let changed: Vec<(String, String)> = many
            .iter()
            .map(|(f, t)| (f.clone(), t.replace("parallelism: 2", "parallelism: 3")))
            .collect();
        fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
            v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
        }
        let r = report_of(&as_refs(&many), &as_refs(&changed));
        let lines = impact_lines(&r.plan, |j| j.name.clone());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].jobs.len(), IMPACT_NAMES + 1, "{lines:?}");
        assert_eq!(lines[0].jobs.last().unwrap(), "and 15 more");
    }

    #[test]
    fn what_the_cluster_knows_reaches_every_form_of_the_plan_escaped() {
        let changed = APP.replace("parallelism: 2", "parallelism: 3");
        let mut r = report_of(&[("orders.yaml", APP)], &[("orders.yaml", &changed)]);
        let id = r.plan.jobs[0].id();
        let mut ledger = crate::model::ledger::Ledger::default();
        ledger
            .savepoints
            .push(crate::engine::upgrade::SavepointRecord {
                path: "s3://b/<img src=x>\n|sp-1".into(),
                commit: "c1".into(),
                reason: "upgrade".into(),
                at: crate::model::time::Timestamp::parse("2026-11-26T10:00:00Z").unwrap(),
            });
        ledger.history.push(crate::model::ledger::HistoryEntry {
            seconds: Some(42),
            ..Default::default()
        });
        let target = crate::model::spec::testing::catalog(&[("orders.yaml", APP)]);
        ledger.upgrade = Some(crate::engine::upgrade::Upgrade::new(
            Action::SavepointUpgrade,
            "abcdef0123456789",
            target.jobs.values().next().unwrap(),
            crate::model::time::Timestamp::from_unix(0),
        ));
        let ledgers = BTreeMap::from([(id.clone(), ledger)]);
        crate::engine::plan::add_live(
            &mut r.plan,
            &ledgers,
            &BTreeMap::from([(id, 1_000)]),
            31_000,
        );
        let text = to_text(&r, false);
        assert!(
            text.contains("      live: latest checkpoint 30 s old; last savepoint s3://b/<img src=x>\\n|sp-1 at 2026-11-26T10:00:00Z; its last restart took 42 s; waits for the savepoint-upgrade to abcdef012345 (Pending) in flight\n"),
            "{text}"
        );
        assert!(
            text.contains("queued behind an upgrade in flight: streaming/orders"),
            "{text}"
        );
        let md = to_markdown(&r);
        assert!(md.contains("🕒 latest checkpoint 30 s old"), "{md}");
        assert!(!md.contains("<img") && !md.contains("\n|sp-1"), "{md}");
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(v["jobs"][0]["live"]["checkpointAgeSeconds"], 30);
        assert_eq!(v["jobs"][0]["live"]["lastRestartSeconds"], 42);
        // Without the cluster, nothing of it.
        let offline = report_of(&[("orders.yaml", APP)], &[("orders.yaml", &changed)]);
        assert!(!to_text(&offline, false).contains("live:"));
        assert!(
            serde_json::from_str::<serde_json::Value>(&to_json(&offline)).unwrap()["jobs"][0]
                .get("live")
                .is_none()
        );
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
        assert!(md.chars().count() <= MARKDOWN_LIMIT, "{}", md.len());
        assert!(
            md.contains("object diffs left out to fit a comment"),
            "{md}"
        );
    }

    /// A job whose configuration holds each documented kind of credential, nested and
    /// multi-line ones included.
    fn secrets() -> String {
        APP.replace(
            "    s3.secret-key: old-secret\n",
            "    fs.s3a.secret.key: S3A-SECRET-1
    fs.s3a.access.key: S3A-ACCESS-1
    fs.azure.account.key.acct.blob.core.windows.net: AZURE-KEY-1
    metrics.reporter.dghttp.apikey: DD-APIKEY-1
    fs.gs.auth.service.account.json.keyfile: /var/GCS-KEYFILE-1
    properties.sasl.jaas.config: |
      org.apache.kafka.common.security.plain.PlainLoginModule required
      username=\"u\"
      password=\"JAAS-PW-1\";
",
        )
    }

    const SECRET_VALUES: [&str; 6] = [
        "S3A-SECRET",
        "S3A-ACCESS",
        "AZURE-KEY",
        "DD-APIKEY",
        "GCS-KEYFILE",
        "JAAS-PW",
    ];

    fn assert_no_secret(r: &Report) {
        for (form, out) in [
            ("text", to_text(r, false)),
            ("markdown", to_markdown(r)),
            ("json", to_json(r)),
        ] {
            for v in SECRET_VALUES {
                assert!(!out.contains(v), "{v} in the {form} output:\n{out}");
            }
        }
    }

    #[test]
    fn no_documented_credential_reaches_a_diff_or_plan() {
        // Created: every object whole.
        let secrets = secrets();
        assert!(secrets.contains("JAAS-PW-1"));
        let r = report_of(&[], &[("a.yaml", &secrets)]);
        assert!(!r.objects.is_empty());
        assert_no_secret(&r);
        // Changed: the secrets change along with the parallelism.
        let changed = secrets
            .replace("-1", "-2")
            .replace("parallelism: 2", "parallelism: 3");
        let r = report_of(&[("a.yaml", &secrets)], &[("a.yaml", &changed)]);
        assert_no_secret(&r);
        let cm = diff_of(&r, "orders-config");
        assert!(cm.contains("key: <redacted>"), "{cm}");
        assert!(r.plan.jobs[0]
            .reasons
            .contains(&"flinkConfiguration fs.s3a.secret.key <redacted> → <redacted>".to_string()));
    }

    /// A job with hostile text in its file name and its configuration values.
    fn hostile_report() -> Report {
        let file = "x\r| evil | row |\n\n<h1>big</h1> @octocat <img src=x> <details> `a` \x1b]0;pwn\x07 \x1b[2J\n::error file=a::forged.yaml";
        // (A carriage return in a value is refused by the reader; line breaks are text.)
        let value = "v| cell |\n\n<img src=x onerror=alert(1)> @octocat ```\n::warning::forged";
        let old = APP.replace("s3.secret-key: old-secret", "pipeline.name: a");
        let new = old.replace("pipeline.name: a", &format!("pipeline.name: {value:?}"));
        let broken = "kind: [\n";
        report_of(
            &[("a.yaml", &old)],
            &[(file, &new), (&format!("{file}.broken.yaml"), broken)],
        )
    }

    #[test]
    fn markdown_escapes_every_untrusted_string() {
        let r = hostile_report();
        assert!(!r.plan.errors.is_empty() && !r.plan.jobs[0].reasons.is_empty());
        let md = to_markdown(&r);
        // Inside a code block, text is shown as it is (the fence is checked below).
        let mut outside = String::new();
        let mut fence: Option<&str> = None;
        for line in md.lines() {
            match fence {
                Some(f) if line == f => fence = None,
                Some(_) => {}
                None if line.starts_with("```") => {
                    fence = Some(line.trim_end_matches("diff"));
                }
                None => {
                    outside.push_str(line);
                    outside.push('\n');
                }
            }
        }
        assert!(fence.is_none(), "every code block closes:\n{md}");
        assert!(!md.contains('\r') && !md.contains('\x1b'), "{md:?}");
        let full = md;
        let md = outside;
        for bad in [
            "<h1>",
            "<img",
            "<details> ",
            "@octocat",
            "\r",
            "\x1b",
            "\n::",
            "| evil |",
            "| cell |",
        ] {
            assert!(!md.contains(bad), "{bad:?} in:\n{md}");
        }
        // One table row per changed job, each error on one line: no blank line inside
        // the table or the error list.
        let rows = md.lines().filter(|l| l.starts_with("| ")).count();
        assert_eq!(rows, 2, "header and one job:\n{md}");
        let errors = md.split("**Errors**\n\n").nth(1).unwrap_or_default();
        let items = errors.split("\n\n").next().unwrap();
        assert!(
            items.lines().all(|l| l.starts_with("- ")),
            "an error broke its list item:\n{md}"
        );
        // The diff's code fence outlasts the backticks inside it.
        assert!(full.contains("\n````diff\n"), "{full}");
    }

    #[test]
    fn text_output_shows_control_characters_escaped() {
        let r = hostile_report();
        let text = to_text(&r, false);
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
        assert!(!text.contains("\n::"), "a forged CI line:\n{text}");
        assert!(text.contains("\\x1b]0;pwn\\x07"), "{text}");
        // With colour, flinkops' own codes are there, the file's are not.
        let text = to_text(&r, true);
        assert!(
            text.contains("\x1b[31m") && !text.contains("\x1b]0;"),
            "{text:?}"
        );
        assert!(!text.contains("\x1b[2J"), "{text:?}");
    }

    #[test]
    fn markdown_fits_a_comment_whatever_the_plan() {
        let many: Vec<(String, String)> = (0..1000)
            .map(|i| {
                (
                    format!("jobs/team-{}/job-with-a-long-name-{i}.yaml", i % 7),
                    APP.replace("name: orders", &format!("name: job-with-a-long-name-{i}")),
                )
            })
            .collect();
        let files: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let r = report_of(&[], &files);
        let md = to_markdown(&r);
        assert!(
            md.chars().count() <= 65_536,
            "{} characters",
            md.chars().count()
        );
        assert!(
            md.contains("more jobs"),
            "says what it left out:\n{}",
            &md[md.len() - 500..]
        );
        assert!(md.contains("flinkops diff"), "says where to see all");
        // The same with 1,000 errors and nothing else.
        let broken: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("broken-{i}.yaml"), "kind: [\n".to_string()))
            .collect();
        let files: Vec<(&str, &str)> = broken
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let md = to_markdown(&report_of(&[], &files));
        assert!(
            md.chars().count() <= 65_536,
            "{} characters",
            md.chars().count()
        );
        assert!(md.contains("more errors"), "{}", &md[md.len() - 300..]);
    }

    #[test]
    fn commits_with_multi_byte_characters_are_shortened_not_panicked_on() {
        let (a, b) = (catalog(&[]), catalog(&[("a.yaml", APP)]));
        let r = report(
            Side {
                commit: "0123456789aé€",
                catalog: &a,
            },
            Side {
                commit: "bbbbbbbbbbbbbbbb",
                catalog: &b,
            },
        );
        assert!(to_text(&r, false).starts_with("flinkops plan: 0123456789aé → bbbbbbbbbbbb"));
        assert!(to_markdown(&r).contains("0123456789aé"));
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
