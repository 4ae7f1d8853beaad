//! Teams sharing one repository: which folder may deploy into which namespaces, and the
//! ceilings its jobs must stay under. Declared in `flinkops.yaml` (`teams`), checked
//! while each definition is decoded, so `validate`, `diff` and the daemon all enforce it.
//! Pure: settings and a decoded job in, errors out.

use super::decode::{Cx, Fields};
use super::model::JobSpec;
use super::resource::quantity;
use super::yaml::{Node, Pos, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub name: String,
    /// Glob patterns over repository paths (`**` any depth, `*` within one segment).
    pub paths: Vec<String>,
    /// The only namespaces this team's jobs may use.
    pub namespaces: Vec<String>,
    pub limits: Limits,
    /// Whether this team's jobs may carry a podTemplate (which can add containers that
    /// the ceilings do not see).
    pub allow_pod_template: bool,
}

/// Per-job ceilings; None is no ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub task_manager_replicas: Option<i32>,
    /// Per pod (JobManager and TaskManager), in millicores.
    pub cpu_millis: Option<u64>,
    /// Per pod (JobManager and TaskManager), in bytes.
    pub memory_bytes: Option<u64>,
    pub parallelism: Option<i32>,
}

/// Whether `path` matches `pattern`: both split at `/`; a `**` segment matches any number
/// of segments (none included), `*` inside a segment any run of characters but `/`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let mut unbounded = u64::MAX;
    glob_match_within(pattern, path, &mut unbounded) == Some(true)
}

/// `glob_match` spending at most `budget` steps (bytes compared): None when it ran out.
/// Paths and patterns both come from Git, and a definition file is matched against every
/// team's patterns, so the cost is bounded per file rather than trusted to be small.
fn glob_match_within(pattern: &str, path: &str, budget: &mut u64) -> Option<bool> {
    // Most patterns start with a literal folder (`teams/orders/`): a path without it is
    // told apart for the cost of that comparison, so many teams stay cheap per file.
    let literal = &pattern[..pattern.find('*').unwrap_or(pattern.len())];
    let cost = literal.len().min(path.len()) as u64 + 1;
    *budget = budget.checked_sub(cost)?;
    if !path.starts_with(literal) {
        return Some(false);
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    let mut out_of_budget = false;
    let matched = wildcard(
        &pat,
        &segs,
        |p| *p == "**",
        |p, s| {
            let cost = (p.len() + s.len() + 1) as u64;
            if out_of_budget || *budget < cost {
                out_of_budget = true;
                return false;
            }
            *budget -= cost;
            segment_match(p, s)
        },
    );
    (!out_of_budget).then_some(matched)
}

/// One segment against a pattern whose only wildcard is `*`: the text before the first
/// `*` is a prefix, after the last a suffix, and the pieces between are found leftmost in
/// order (which is optimal for `*`-only patterns), in time linear in both lengths.
fn segment_match(pattern: &str, text: &str) -> bool {
    let Some((head, last)) = pattern.rsplit_once('*') else {
        return pattern == text; // no `*`: the whole text
    };
    let mut pieces = head.split('*');
    let Some(mut rest) = text.strip_prefix(pieces.next().unwrap_or_default()) else {
        return false;
    };
    for piece in pieces {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The classic wildcard match over segments: `is_star` items match any run of items,
/// others one item for which `matches` holds; greedy, backtracking to the last star.
fn wildcard<P, T>(
    pat: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    mut matches: impl FnMut(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && is_star(&pat[p]) {
            star = Some((p, t));
            p += 1;
        } else if p < pat.len() && matches(&pat[p], &text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(is_star)
}

/// Which team owns a definition file: None when the settings declare no teams, else the
/// one team whose paths match or why none does. Computed once per file.
pub type Ownership<'a> = Option<Result<&'a Team, String>>;

pub fn ownership<'a>(teams: Option<&'a [Team]>, path: &str) -> Ownership<'a> {
    teams.map(|t| owner(t, path))
}

/// The team owning a definition file: exactly one must.
pub fn owner<'a>(teams: &'a [Team], path: &str) -> Result<&'a Team, String> {
    let mut budget = super::limits::MAX_OWNER_MATCH_STEPS;
    let mut owners: Vec<&Team> = Vec::new();
    for team in teams {
        for p in &team.paths {
            match glob_match_within(p, path, &mut budget) {
                Some(true) => {
                    owners.push(team);
                    break;
                }
                Some(false) => {}
                None => {
                    return Err(format!(
                        "matching this path against the teams' paths took more than {} steps; shorten the path or the patterns in {}",
                        super::limits::MAX_OWNER_MATCH_STEPS,
                        super::settings::SETTINGS_FILE
                    ))
                }
            }
        }
    }
    match owners.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no team owns this path: add it to one team's `paths` in {}",
            super::settings::SETTINGS_FILE
        )),
        [a, b, ..] => Err(format!(
            "teams `{}` and `{}` both own this path: it must belong to exactly one team in {}",
            a.name,
            b.name,
            super::settings::SETTINGS_FILE
        )),
    }
}

/// The namespace check for one job of `team`; `written` is where metadata.namespace is,
/// or None when it came from defaultNamespace (then the error is at `doc`).
pub fn check_namespace(cx: &mut Cx, team: &Team, ns: &str, written: Option<Pos>, doc: Pos) {
    if team.namespaces.iter().any(|n| n == ns) {
        return;
    }
    let how = if written.is_some() {
        format!("namespace `{ns}`")
    } else {
        format!("no namespace is written, and the default namespace `{ns}`")
    };
    cx.error(
        written.unwrap_or(doc),
        "metadata.namespace",
        format!(
            "{how} is not one of team `{}`'s namespaces (allowed: {})",
            team.name,
            team.namespaces.join(", ")
        ),
    );
}

/// The team's ceilings and podTemplate policy for one decoded job. `spec` is the
/// document's `spec` node (for positions), `doc` the document's.
pub fn check_job(cx: &mut Cx, team: &Team, job: &JobSpec, spec: &Node, doc: Pos) {
    let at = |path: &[&str]| -> Option<Pos> {
        let mut node = spec;
        for key in path {
            node = node.get(key)?;
        }
        Some(node.pos)
    };
    let name = &team.name;
    if !team.allow_pod_template {
        for path in [
            &["podTemplate"][..],
            &["jobManager", "podTemplate"],
            &["taskManager", "podTemplate"],
        ] {
            if let Some(pos) = at(path) {
                cx.error(
                    pos,
                    &format!("spec.{}", path.join(".")),
                    format!("team `{name}` may not use podTemplate (allowPodTemplate is false)"),
                );
            }
        }
    }
    let l = &team.limits;
    if let (Some(max), Some(j)) = (l.parallelism, &job.job) {
        if j.parallelism > max {
            let pos = at(&["job", "parallelism"])
                .or_else(|| at(&["flinkConfiguration", "parallelism.default"]))
                .unwrap_or(spec.pos);
            cx.error(
                pos,
                "spec.job.parallelism",
                format!(
                    "parallelism {} is over team `{name}`'s ceiling of {max}",
                    j.parallelism
                ),
            );
        }
    }
    let Some(c) = &job.cluster else { return };
    if let Some(max) = l.task_manager_replicas {
        let n = c.task_manager.replicas;
        if n > max {
            let (pos, derived) = match at(&["taskManager", "replicas"]) {
                Some(p) => (p, ""),
                None => (
                    at(&["job", "parallelism"]).unwrap_or(spec.pos),
                    " (derived from the job's parallelism and task slots)",
                ),
            };
            cx.error(
                pos,
                "spec.taskManager.replicas",
                format!("{n} TaskManagers{derived} is over team `{name}`'s ceiling of {max}"),
            );
        }
    }
    for (key, comp) in [
        ("jobManager", &c.job_manager),
        ("taskManager", &c.task_manager),
    ] {
        // What a pod may use: its limits (the requests, unless `resources` sets limits).
        let r = comp.resource.limits();
        let checks = [
            (
                "cpu",
                l.cpu_millis.filter(|max| r.cpu_millis > *max),
                super::quantity::k8s_cpu(r.cpu_millis),
                l.cpu_millis.map(super::quantity::k8s_cpu),
            ),
            (
                "memory",
                l.memory_bytes.filter(|max| r.memory_bytes > *max),
                super::quantity::k8s_bytes(r.memory_bytes),
                l.memory_bytes.map(super::quantity::k8s_bytes),
            ),
        ];
        for (field, over, value, max) in checks {
            if over.is_none() {
                continue;
            }
            let process_memory = if key == "jobManager" {
                super::model::JM_PROCESS_MEMORY
            } else {
                super::model::TM_PROCESS_MEMORY
            };
            let mut places = vec![
                vec![key, "resources", "limits", field],
                vec![key, "resources", "requests", field],
                vec![key, "resource", field],
            ];
            if field == "memory" {
                places.push(vec!["flinkConfiguration", process_memory]);
            }
            let written = places
                .into_iter()
                .find_map(|path| Some((at(&path)?, format!("spec.{}", path.join(".")))));
            let field_path = written
                .as_ref()
                .map_or(format!("spec.{key}.resource.{field}"), |(_, f)| f.clone());
            let (pos, from) = match written.map(|(p, _)| p) {
                Some(p) => (p, String::new()),
                None => (
                    if spec.pos == Pos::default() {
                        doc
                    } else {
                        spec.pos
                    },
                    format!(
                        " (from defaults in {} or Flink's)",
                        super::settings::SETTINGS_FILE
                    ),
                ),
            };
            cx.error(
                pos,
                &field_path,
                format!(
                    "{field} {value} per pod{from} is over team `{name}`'s ceiling of {}",
                    max.unwrap_or_default()
                ),
            );
        }
    }
}

/// `teams` in the settings file. `allowed` is the global namespace allow-list, which
/// every team's namespaces must be within.
pub fn decode_teams(cx: &mut Cx, node: &Node, allowed: Option<&[String]>) -> Vec<Team> {
    let Value::Seq(items) = &node.value else {
        cx.error(
            node.pos,
            "teams",
            format!("expected a list of teams, got {}", node.type_name()),
        );
        return Vec::new();
    };
    let mut teams: Vec<Team> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("teams[{i}]");
        let Some(mut f) = Fields::of(cx, item, &path) else {
            continue;
        };
        let before = cx.errors.len();
        let name = f.string(cx, "name");
        match &name {
            None => cx.error(item.pos, &f.field("name"), "name is required"),
            Some(n) if names.contains(n) => {
                let pos = item.get("name").map_or(item.pos, |n| n.pos);
                cx.error(
                    pos,
                    &f.field("name"),
                    format!("team `{n}` is declared twice"),
                );
            }
            Some(n) => names.push(n.clone()),
        }
        let mut paths = Vec::new();
        match f.string_list_pos(cx, "paths") {
            Some(list) if !list.is_empty() => {
                for (j, (p, pos)) in list.into_iter().enumerate() {
                    match check_pattern(&p) {
                        Ok(()) => paths.push(p),
                        Err(e) => cx.error(pos, &format!("{path}.paths[{j}]"), e),
                    }
                }
            }
            Some(_) | None => cx.error(
                item.pos,
                &f.field("paths"),
                "paths is required: the folders this team owns, e.g. teams/orders/**",
            ),
        }
        let mut namespaces = Vec::new();
        match f.string_list_pos(cx, "namespaces") {
            Some(list) if !list.is_empty() => {
                for (j, (ns, pos)) in list.into_iter().enumerate() {
                    let field = format!("{path}.namespaces[{j}]");
                    if let Err(e) = super::names::check_namespace(&ns) {
                        cx.error(pos, &field, e);
                    } else if let Some(all) = allowed.filter(|a| !a.contains(&ns)) {
                        cx.error(
                            pos,
                            &field,
                            format!(
                                "`{ns}` is not one of `namespaces` (allowed: {})",
                                all.join(", ")
                            ),
                        );
                    } else {
                        namespaces.push(ns);
                    }
                }
            }
            Some(_) | None => cx.error(
                item.pos,
                &f.field("namespaces"),
                "namespaces is required: the namespaces this team's jobs may use",
            ),
        }
        let limits = f
            .take("limits")
            .map(|n| decode_limits(cx, n, &f.field("limits")))
            .unwrap_or_default();
        let allow_pod_template = f.boolean(cx, "allowPodTemplate").unwrap_or(true);
        f.finish(cx);
        if let (Some(name), true) = (name, cx.errors.len() == before) {
            teams.push(Team {
                name,
                paths,
                namespaces,
                limits,
                allow_pod_template,
            });
        }
    }
    teams
}

fn decode_limits(cx: &mut Cx, node: &Node, path: &str) -> Limits {
    let mut l = Limits::default();
    let Some(mut f) = Fields::of(cx, node, path) else {
        return l;
    };
    for (key, slot) in [
        ("taskManagerReplicas", &mut l.task_manager_replicas),
        ("parallelism", &mut l.parallelism),
    ] {
        if let Some((n, pos)) = f.int(cx, key) {
            match i32::try_from(n) {
                Ok(n) if n >= 1 => *slot = Some(n),
                _ => cx.error(
                    pos,
                    &f.field(key),
                    format!("must be a whole number of at least 1, got {n}"),
                ),
            }
        }
    }
    if let Some(n) = f.take("cpu") {
        l.cpu_millis = quantity(cx, n, &f.field("cpu"), super::quantity::parse_cpu);
    }
    if let Some(n) = f.take("memory") {
        l.memory_bytes = quantity(cx, n, &f.field("memory"), super::quantity::parse_memory);
    }
    f.finish(cx);
    l
}

/// A `paths` pattern: relative, normalized, `**` only as a whole segment.
fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("a path pattern may not be empty".into());
    }
    if p.starts_with('/') {
        return Err(format!(
            "`{p}` is absolute; paths are relative to the repository"
        ));
    }
    for seg in p.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!(
                "`{p}` has an empty, `.` or `..` segment; write the path as it is in the repository"
            ));
        }
        if seg.contains("**") && seg != "**" {
            return Err(format!("`{p}`: `**` must be a whole path segment"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_star_matches_any_depth_and_star_one_segment() {
        assert!(glob_match("teams/orders/**", "teams/orders/a.yaml"));
        assert!(glob_match("teams/orders/**", "teams/orders/x/y/a.yaml"));
        assert!(!glob_match("teams/orders/**", "teams/ordersx/a.yaml"));
        assert!(!glob_match("teams/orders/**", "teams/a.yaml"));
        assert!(glob_match("teams/*/jobs/*.yaml", "teams/a/jobs/b.yaml"));
        assert!(!glob_match("teams/*/jobs/*.yaml", "teams/a/b/jobs/b.yaml"));
        assert!(!glob_match("teams/*.yaml", "teams/a/b.yaml"));
        assert!(glob_match("**/orders-*.yaml", "orders-1.yaml"));
        assert!(glob_match("**/orders-*.yaml", "a/b/orders-1.yaml"));
        assert!(!glob_match("**/orders-*.yaml", "a/b/orders.yaml"));
        assert!(glob_match("a/**/b/**/c.yaml", "a/x/b/y/z/c.yaml"));
        assert!(glob_match("a/**/b/**/c.yaml", "a/b/c.yaml"));
        assert!(!glob_match("a/**/b/**/c.yaml", "a/x/c.yaml"));
        assert!(glob_match("exact.yaml", "exact.yaml"));
        assert!(!glob_match("exact.yaml", "dir/exact.yaml"));
        assert!(glob_match("**", "any/thing.yaml"));
    }

    #[test]
    fn hostile_patterns_and_paths_cost_a_bounded_number_of_steps() {
        // Within a segment the match is linear: this used to backtrack for every `*`.
        let pattern = "*a".repeat(2000) + "b";
        assert!(!segment_match(&pattern, &"a".repeat(100_000)));
        assert!(segment_match(&pattern, &("a".repeat(100_000) + "b")));
        // Across segments `**` backtracks; the budget bounds it and says so.
        let mut team = team("t", &[]);
        team.paths = vec![format!("{}/b", "**/a".repeat(200))];
        let path = "a/".repeat(5000) + "a";
        assert!(owner(&[team], &path)
            .unwrap_err()
            .starts_with("matching this path against the teams' paths took more than"));
    }

    #[test]
    fn patterns_must_be_relative_and_whole() {
        assert!(check_pattern("teams/orders/**").is_ok());
        assert!(check_pattern("/teams").unwrap_err().contains("absolute"));
        assert!(check_pattern("teams/../x").is_err());
        assert!(check_pattern("teams//x").is_err());
        assert!(check_pattern("teams/a**").unwrap_err().contains("whole"));
        assert!(check_pattern("").is_err());
    }

    fn team(name: &str, paths: &[&str]) -> Team {
        Team {
            name: name.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            namespaces: vec![],
            limits: Limits::default(),
            allow_pod_template: true,
        }
    }

    #[test]
    fn exactly_one_team_owns_a_path() {
        let teams = [
            team("orders", &["teams/orders/**"]),
            team("all", &["teams/**/shared.yaml"]),
        ];
        assert_eq!(owner(&teams, "teams/orders/a.yaml").unwrap().name, "orders");
        assert!(owner(&teams, "teams/billing/a.yaml")
            .unwrap_err()
            .starts_with("no team owns this path"));
        assert_eq!(
            owner(&teams, "teams/orders/shared.yaml").unwrap_err(),
            "teams `orders` and `all` both own this path: it must belong to exactly one team in flinkops.yaml"
        );
    }
}
