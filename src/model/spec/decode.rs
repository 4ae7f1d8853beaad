//! Hand-written decoding of positioned YAML into the job model, collecting every error.
//!
//! Each `Fields` tracks which keys of a mapping were read; whatever is left when it is
//! finished is an unknown field, reported with the closest known name.

use super::error::SpecError;
use super::yaml::{Node, Pos, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Collects errors for one file.
pub struct Cx<'a> {
    pub file: &'a str,
    pub errors: Vec<SpecError>,
    /// When set, every mapping's supported field names by path (what the JSON Schema must
    /// describe; see `schema`).
    pub known_fields: Option<BTreeMap<String, BTreeSet<&'static str>>>,
}

impl<'a> Cx<'a> {
    pub fn new(file: &'a str) -> Self {
        Cx {
            file,
            errors: Vec::new(),
            known_fields: None,
        }
    }

    pub fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.errors.push(SpecError {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.col,
            field: super::limits::clip_field(field),
            message: super::limits::clip_message(&message.into()),
        });
    }

    fn wrong_type(&mut self, node: &Node, field: &str, want: &str) {
        self.error(
            node.pos,
            field,
            format!("expected {want}, got {}", node.type_name()),
        );
    }
}

pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A flattened configuration mapping: each dotted key's text and value position, and
/// each key's own position.
type FlatMap = (BTreeMap<String, (String, Pos)>, BTreeMap<String, Pos>);

/// The fields of one mapping, read one at a time.
pub struct Fields<'n> {
    pub path: String,
    pub pos: Pos,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    asked: Vec<&'static str>,
    unsupported: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// A mapping at `path`; null counts as an empty mapping. Anything else is a type error.
    pub fn of(cx: &mut Cx, node: &'n Node, path: &str) -> Option<Self> {
        let entries: &'n [(Node, Node)] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => {
                cx.wrong_type(node, path, "a mapping");
                return None;
            }
        };
        Some(Fields {
            path: path.to_string(),
            pos: node.pos,
            entries,
            used: vec![false; entries.len()],
            asked: Vec::new(),
            unsupported: Vec::new(),
        })
    }

    /// Takes a field; a null value counts as absent.
    pub fn take(&mut self, key: &'static str) -> Option<&'n Node> {
        self.asked.push(key);
        let i = self
            .entries
            .iter()
            .position(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))?;
        self.used[i] = true;
        let v = &self.entries[i].1;
        (v.value != Value::Null).then_some(v)
    }

    /// Marks a field as known but not supported, so it gets a clear message rather than
    /// "unknown field".
    pub fn unsupported(&mut self, cx: &mut Cx, key: &'static str, why: &str) {
        self.unsupported.push(key);
        if let Some(v) = self.take(key) {
            let field = self.field(key);
            cx.error(v.pos, &field, format!("not supported by flinkops: {why}"));
        }
    }

    pub fn field(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// The entries not taken so far (keys and values), now counted as taken: for a mapping
    /// whose other keys deserve a message of their own rather than "unknown field".
    pub fn take_rest(&mut self) -> Vec<(&'n Node, &'n Node)> {
        let mut out = Vec::new();
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                self.used[i] = true;
                out.push((k, v));
            }
        }
        out
    }

    /// Reports every field that was not taken.
    pub fn finish(self, cx: &mut Cx) {
        if let Some(known) = &mut cx.known_fields {
            let path = strip_indices(&self.path);
            let supported = self.asked.iter().filter(|k| !self.unsupported.contains(k));
            known.entry(path).or_default().extend(supported);
        }
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let name = k.scalar_text().unwrap_or_else(|| "<complex key>".into());
            let mut msg = format!("unknown field `{name}`");
            if let Some(best) = closest(&name, &self.asked) {
                msg.push_str(&format!(" (did you mean `{best}`?)"));
            } else if !self.asked.is_empty() {
                let mut known = self.asked.clone();
                known.sort_unstable();
                known.dedup();
                msg.push_str(&format!("; known fields: {}", known.join(", ")));
            }
            cx.error(k.pos, &child(&self.path, &name), msg);
        }
    }

    // Typed getters: each takes the field and reports a type error at its position.

    pub fn string(&mut self, cx: &mut Cx, key: &'static str) -> Option<String> {
        let node = self.take(key)?;
        string(cx, node, &self.field(key))
    }

    pub fn int(&mut self, cx: &mut Cx, key: &'static str) -> Option<(i64, Pos)> {
        let node = self.take(key)?;
        match node.value {
            Value::Int(i) => Some((i, node.pos)),
            _ => {
                cx.wrong_type(node, &self.field(key), "an integer");
                None
            }
        }
    }

    pub fn boolean(&mut self, cx: &mut Cx, key: &'static str) -> Option<bool> {
        let node = self.take(key)?;
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                cx.wrong_type(node, &self.field(key), "true or false");
                None
            }
        }
    }

    pub fn string_list(&mut self, cx: &mut Cx, key: &'static str) -> Option<Vec<String>> {
        let list = self.string_list_pos(cx, key)?;
        Some(list.into_iter().map(|(s, _)| s).collect())
    }

    /// A list of strings with the position of each item.
    pub fn string_list_pos(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
    ) -> Option<Vec<(String, Pos)>> {
        let node = self.take(key)?;
        let field = self.field(key);
        let Value::Seq(items) = &node.value else {
            cx.wrong_type(node, &field, "a list of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Program arguments are text even when they look like numbers.
            match item.scalar_text() {
                Some(s) => out.push((s, item.pos)),
                None => cx.wrong_type(item, &format!("{field}[{i}]"), "a string"),
            }
        }
        Some(out)
    }

    /// A mapping of scalars to text. Nested mappings are flattened with dots, which is how
    /// Flink reads nested YAML configuration.
    pub fn string_map(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
    ) -> Option<BTreeMap<String, (String, Pos)>> {
        self.flattened(cx, key).map(|(out, _)| out)
    }

    /// A flinkConfiguration mapping, read as `string_map`, with its keys under
    /// `kubernetes.operator.` (`operator_keys`), `kubernetes.` and `containerized.`
    /// (`kubernetes_keys`, read for `scope`) checked: a value flinkops cannot read is
    /// reported at the value; an option flinkops does not apply, or a key it does not
    /// know, at the key.
    pub fn flink_configuration(
        &mut self,
        cx: &mut Cx,
        key: &'static str,
        scope: super::kubernetes_keys::Scope,
    ) -> Option<BTreeMap<String, (String, Pos)>> {
        use super::operator_keys::{check, Problem};
        let field = self.field(key);
        let (out, key_pos) = self.flattened(cx, key)?;
        for (name, (value, value_pos)) in &out {
            let verdict =
                check(name, value).and_then(|()| super::kubernetes_keys::check(name, value, scope));
            let (pos, message) = match verdict {
                Ok(()) => continue,
                Err(Problem::Value(m)) => (*value_pos, m),
                Err(Problem::NotApplied(m) | Problem::Unknown(m)) => {
                    (key_pos.get(name).copied().unwrap_or(*value_pos), m)
                }
            };
            cx.error(pos, &child(&field, name), message);
        }
        Some(out)
    }

    /// The flattened mapping with the position of each (innermost) key.
    fn flattened(&mut self, cx: &mut Cx, key: &'static str) -> Option<FlatMap> {
        let node = self.take(key)?;
        let field = self.field(key);
        let mut out = BTreeMap::new();
        let mut keys = BTreeMap::new();
        flatten(cx, node, &field, "", &mut out, &mut keys);
        Some((out, keys))
    }

    /// A mapping of file names to their text (logConfiguration): each name a plain file
    /// name, as it becomes a file in the pods' configuration directory.
    pub fn file_map(&mut self, cx: &mut Cx, key: &'static str) -> Option<BTreeMap<String, String>> {
        let node = self.take(key)?;
        let field = self.field(key);
        let Value::Map(entries) = &node.value else {
            cx.wrong_type(node, &field, "a mapping of file names to text");
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or_default();
            let at = child(&field, &name);
            if let Err(e) = check_file_name(&name) {
                cx.error(k.pos, &at, e);
                continue;
            }
            match v.scalar_text() {
                Some(text) => {
                    out.insert(name, text);
                }
                None => cx.wrong_type(v, &at, "the file's text"),
            }
        }
        Some(out)
    }

    /// A mapping of labels or annotations: string keys to string values.
    pub fn labels(&mut self, cx: &mut Cx, key: &'static str) -> Option<BTreeMap<String, String>> {
        let node = self.take(key)?;
        let field = self.field(key);
        let Value::Map(entries) = &node.value else {
            cx.wrong_type(node, &field, "a mapping of strings");
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or_default();
            if super::names::is_flinkops_key(&name) {
                cx.error(
                    k.pos,
                    &child(&field, &name),
                    format!("`{name}` is set by flinkops on every object it manages (to find, prune and tell them apart); remove it"),
                );
                continue;
            }
            match &v.value {
                Value::Str(s) => {
                    out.insert(name, s.clone());
                }
                _ => cx.error(
                    v.pos,
                    &child(&field, &name),
                    format!("expected a string, got {} (quote it)", v.type_name()),
                ),
            }
        }
        Some(out)
    }
}

/// `a.b[0].c` → `a.b.c`: list items share their fields.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

pub fn string(cx: &mut Cx, node: &Node, field: &str) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        _ => {
            cx.wrong_type(node, field, "a string");
            None
        }
    }
}

/// Flattens a nested configuration mapping into dotted keys. Two keys that flatten to the
/// same one (`a.b` written flat and nested) are an error at the second naming the first:
/// keeping either silently would lose the other.
fn flatten(
    cx: &mut Cx,
    node: &Node,
    field: &str,
    prefix: &str,
    out: &mut BTreeMap<String, (String, Pos)>,
    keys: &mut BTreeMap<String, Pos>,
) {
    let Value::Map(entries) = &node.value else {
        cx.wrong_type(node, field, "a mapping");
        return;
    };
    for (k, v) in entries {
        let name = k.scalar_text().unwrap_or_default();
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        if let Value::Map(_) = &v.value {
            flatten(cx, v, field, &full, out, keys);
            continue;
        }
        let at = child(field, &full);
        if let Some(first) = keys.get(&full) {
            cx.error(
                k.pos,
                &at,
                format!(
                    "`{full}` is already set at line {}:{} (a nested and a dotted key name the same setting)",
                    first.line, first.col
                ),
            );
            continue;
        }
        keys.insert(full.clone(), k.pos);
        if let Some(c) = full.chars().find(|c| c.is_control()) {
            cx.error(
                k.pos,
                &at,
                format!("the key holds a control character ({}), which Flink's configuration files cannot hold", c.escape_default()),
            );
            continue;
        }
        let text = match &v.value {
            Value::Seq(items) => {
                // Flink reads lists as ';'-separated text.
                let parts: Option<Vec<String>> = items.iter().map(Node::scalar_text).collect();
                match parts {
                    Some(p) => p.join(";"),
                    None => {
                        cx.wrong_type(v, &at, "a list of scalars");
                        continue;
                    }
                }
            }
            Value::Null => {
                cx.error(v.pos, &at, "value is empty");
                continue;
            }
            _ => v.scalar_text().unwrap_or_default(),
        };
        // Line breaks and tabs are text config.yaml quotes (a JAAS configuration spans
        // lines); other control characters are no configuration.
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            cx.error(
                v.pos,
                &at,
                format!("the value holds a control character ({}), which Flink's configuration files cannot hold", c.escape_default()),
            );
            continue;
        }
        out.insert(full, (text, v.pos));
    }
}

/// Flink's own configuration files, which a logConfiguration entry must not replace.
const FLINK_CONFIG_FILES: [&str; 2] = ["config.yaml", "flink-conf.yaml"];

/// A plain file name: letters, digits, `.`, `_` and `-`, not starting with a dot (no
/// paths, no hidden files, nothing a shell or a ConfigMap key reads differently).
pub fn check_file_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        return Err(format!(
            "`{name}` is not a plain file name: letters, digits, '.', '_' and '-', not starting with '.'"
        ));
    }
    if FLINK_CONFIG_FILES.contains(&name) {
        return Err(format!(
            "`{name}` would replace Flink's whole configuration, which flinkops writes; set flinkConfiguration instead"
        ));
    }
    Ok(())
}

/// Closest candidate by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::yaml::parse_documents;

    fn root(text: &str) -> Node {
        parse_documents(text).unwrap().remove(0).root
    }

    #[test]
    fn unknown_field_suggests_closest_known_name() {
        let node = root("parallelism: 2\nparalellism: 3\nzzz: 1\n");
        let mut cx = Cx::new("f.yaml");
        let mut f = Fields::of(&mut cx, &node, "spec.job").unwrap();
        assert_eq!(f.int(&mut cx, "parallelism").unwrap().0, 2);
        f.take("entryClass");
        f.finish(&mut cx);
        let msgs: Vec<String> = cx.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "f.yaml:2:1: spec.job.paralellism: unknown field `paralellism` (did you mean `parallelism`?)",
                "f.yaml:3:1: spec.job.zzz: unknown field `zzz`; known fields: entryClass, parallelism",
            ]
        );
    }

    #[test]
    fn wrong_types_are_reported_at_the_value() {
        let node = root("a: [1]\nb: x\nc: 1\nd: {}\n");
        let mut cx = Cx::new("f.yaml");
        let mut f = Fields::of(&mut cx, &node, "spec").unwrap();
        assert!(f.string(&mut cx, "a").is_none());
        assert!(f.int(&mut cx, "b").is_none());
        assert!(f.boolean(&mut cx, "c").is_none());
        assert!(f.string_list(&mut cx, "d").is_none());
        f.finish(&mut cx);
        let msgs: Vec<String> = cx.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "f.yaml:1:4: spec.a: expected a string, got a list",
                "f.yaml:2:4: spec.b: expected an integer, got a string",
                "f.yaml:3:4: spec.c: expected true or false, got an integer",
                "f.yaml:4:4: spec.d: expected a list of strings, got a mapping",
            ]
        );
    }

    #[test]
    fn string_map_flattens_nested_keys_and_lists() {
        let node = root("conf:\n  state:\n    backend: rocksdb\n  a.b: 1\n  l: [x, y]\n");
        let mut cx = Cx::new("f.yaml");
        let mut f = Fields::of(&mut cx, &node, "spec").unwrap();
        let m = f.string_map(&mut cx, "conf").unwrap();
        let flat: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.0.as_str())).collect();
        assert_eq!(
            flat,
            vec![("a.b", "1"), ("l", "x;y"), ("state.backend", "rocksdb")]
        );
        assert!(cx.errors.is_empty());
    }

    #[test]
    fn null_field_counts_as_absent_and_null_mapping_as_empty() {
        let node = root("a:\nb: ~\n");
        let mut cx = Cx::new("f.yaml");
        let mut f = Fields::of(&mut cx, &node, "").unwrap();
        assert!(f.take("a").is_none());
        let b = f.take("b");
        assert!(b.is_none());
        f.finish(&mut cx);
        assert!(cx.errors.is_empty());
        let null = root("x: ~").get("x").cloned().unwrap();
        assert!(Fields::of(&mut cx, &null, "x").is_some());
    }

    #[test]
    fn closest_ignores_far_names() {
        assert_eq!(closest("imag", &["image", "args"]), Some("image"));
        assert_eq!(closest("Image", &["image"]), Some("image"));
        assert_eq!(closest("banana", &["image", "args"]), None);
    }
}
