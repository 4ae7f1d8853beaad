//! A YAML reader that keeps the position of every node.
//!
//! serde_yaml stops at the first error and forgets where values came from; validation
//! needs every error at once with file:line:column, so definitions are read into this
//! small positioned tree first and decoded by hand (see `decode`).

use super::limits::{
    quoted, size, MAX_ALIASES, MAX_DEPTH, MAX_KEYS, MAX_NODES, MAX_SCALAR_BYTES, MAX_TEXT_BYTES,
};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::fmt;

/// 1-based line and column of a node's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// A plain scalar read as a boolean or a number, as it was written (`007`, `1.10`,
    /// `0x1F`), so string-valued fields keep the text rather than the number's rewriting.
    pub text: Option<String>,
}

impl Node {
    /// Name of the node's type as a user would say it in an error message.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (for string-valued maps such as flinkConfiguration), or None for
    /// collections and null.
    pub fn scalar_text(&self) -> Option<String> {
        if let Some(text) = &self.text {
            return Some(text.clone());
        }
        match &self.value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(x) => Some(format_float(*x)),
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Looks up a mapping entry by key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Position of a mapping key (for errors about the key rather than its value).
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(k, _)| k.pos),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON (for pass-through fields like podTemplate). Map keys become text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Follows a JSON-pointer-like path (object keys and array indexes) and returns the
    /// deepest node reached, so an error found in converted JSON can still be located.
    pub fn locate<'a>(&'a self, path: &[String]) -> &'a Node {
        let mut node = self;
        for seg in path {
            let next = match &node.value {
                Value::Map(_) => node.get(seg),
                Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }
}

fn format_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// One document of a (possibly multi-document) file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
    /// The text is not YAML (rather than YAML beyond a limit).
    pub syntax: bool,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

fn limit(pos: Pos, message: String) -> YamlError {
    YamlError {
        pos,
        message,
        syntax: false,
    }
}

fn invalid(pos: Pos, message: String) -> YamlError {
    YamlError {
        pos,
        message,
        syntax: true,
    }
}

/// A list or mapping being read, with the number of nodes inside it so far (itself
/// included), which an alias to it costs again.
struct Frame {
    pos: Pos,
    anchor: usize,
    nodes: usize,
    bytes: usize,
    body: Body,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        pending: Option<Node>,
        /// Each key as text (what every reader of a mapping compares) → where it is.
        keys: HashMap<String, Pos>,
    },
}

/// What the file has cost so far, alias copies included.
#[derive(Default)]
struct Budget {
    nodes: usize,
    bytes: usize,
    aliases: usize,
}

impl Budget {
    fn spend(&mut self, pos: Pos, nodes: usize, bytes: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(limit(
                pos,
                format!("more than {MAX_NODES} YAML nodes in one file (aliases count every node they copy)"),
            ));
        }
        if self.bytes > MAX_TEXT_BYTES {
            return Err(limit(
                pos,
                format!(
                    "more than {} of text in one file (aliases count every value they copy)",
                    size(MAX_TEXT_BYTES)
                ),
            ));
        }
        Ok(())
    }
}

/// A mapping key as the text every reader compares keys by, so that keys which read the
/// same (`1` and `"1"`, `true` and `"true"`) are duplicates.
fn key_text(key: &Node) -> Result<String, YamlError> {
    match &key.value {
        Value::Null => Err(invalid(
            key.pos,
            "a mapping key must not be empty (`~`, `null` or nothing)".into(),
        )),
        Value::Seq(_) | Value::Map(_) => Err(invalid(
            key.pos,
            format!("a mapping key must be text, not {}", key.type_name()),
        )),
        _ => Ok(key.scalar_text().unwrap_or_default()),
    }
}

/// Parses all documents of a YAML text. Empty documents are skipped. Duplicate keys in a
/// mapping are an error (YAML forbids them, and silently keeping one would lose the other).
///
/// The text is untrusted: nesting, nodes (counting what aliases copy), aliases, keys per
/// mapping and scalar sizes are bounded (`limits`), so no input costs more than a bounded
/// amount of memory, and no tree is deeper than `MAX_DEPTH` for the recursive code after.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize, usize)> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut budget = Budget::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
            syntax: true,
        })?;
        let pos = pos_of(&span);
        // A finished node, its anchor, and what it cost (nodes, bytes).
        let done: Option<(Node, usize, usize, usize)> = match event {
            Event::DocumentStart(_) => {
                root = None;
                None
            }
            Event::DocumentEnd => {
                if let Some(node) = root.take() {
                    if node.value != Value::Null {
                        docs.push(Document { root: node });
                    }
                }
                None
            }
            Event::Alias(id) => {
                budget.aliases += 1;
                if budget.aliases > MAX_ALIASES {
                    return Err(limit(
                        pos,
                        format!("more than {MAX_ALIASES} aliases in one file"),
                    ));
                }
                let Some((node, nodes, bytes)) = anchors.get(&id) else {
                    return Err(YamlError {
                        pos,
                        message: "alias refers to an unknown anchor".into(),
                        syntax: true,
                    });
                };
                // Counted before it is copied: the copy is what a bomb multiplies.
                budget.spend(pos, *nodes, *bytes)?;
                Some((
                    Node {
                        pos,
                        ..node.clone()
                    },
                    0,
                    *nodes,
                    *bytes,
                ))
            }
            Event::Scalar(text, style, anchor, tag) => {
                if text.len() > MAX_SCALAR_BYTES {
                    return Err(limit(
                        pos,
                        format!(
                            "a value of {} is longer than the {} limit",
                            size(text.len()),
                            size(MAX_SCALAR_BYTES)
                        ),
                    ));
                }
                budget.spend(pos, 1, text.len())?;
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let bytes = text.len();
                let (value, written) = if style == ScalarStyle::Plain && !forced_str {
                    match resolve_plain(&text) {
                        v @ (Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
                            (v, Some(text.into_owned()))
                        }
                        v => (v, None),
                    }
                } else {
                    (Value::Str(text.into_owned()), None)
                };
                Some((
                    Node {
                        value,
                        pos,
                        text: written,
                    },
                    anchor,
                    1,
                    bytes,
                ))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(limit(
                        pos,
                        format!("lists and mappings nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                budget.spend(pos, 1, 0)?;
                let body = if matches!(event, Event::SequenceStart(..)) {
                    Body::Seq(Vec::new())
                } else {
                    Body::Map {
                        entries: Vec::new(),
                        pending: None,
                        keys: HashMap::new(),
                    }
                };
                stack.push(Frame {
                    pos,
                    anchor,
                    nodes: 1,
                    bytes: 0,
                    body,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = stack
                    .pop()
                    .expect("the parser emits balanced start and end events");
                let value = match frame.body {
                    Body::Seq(items) => Value::Seq(items),
                    Body::Map { entries, .. } => Value::Map(entries),
                };
                Some((
                    Node {
                        value,
                        pos: frame.pos,
                        text: None,
                    },
                    frame.anchor,
                    frame.nodes,
                    frame.bytes,
                ))
            }
            _ => None,
        };
        let Some((node, anchor, nodes, bytes)) = done else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), nodes, bytes));
        }
        let Some(parent) = stack.last_mut() else {
            root = Some(node);
            continue;
        };
        parent.nodes = parent.nodes.saturating_add(nodes);
        parent.bytes = parent.bytes.saturating_add(bytes);
        match &mut parent.body {
            Body::Seq(items) => items.push(node),
            Body::Map {
                entries,
                pending,
                keys,
            } => match pending.take() {
                None => {
                    let text = key_text(&node)?;
                    if let Some(first) = keys.get(&text) {
                        return Err(invalid(
                            node.pos,
                            format!(
                                "duplicate key {} (first defined at line {}:{})",
                                quoted(&text),
                                first.line,
                                first.col
                            ),
                        ));
                    }
                    if keys.len() >= MAX_KEYS {
                        return Err(limit(
                            node.pos,
                            format!("more than {MAX_KEYS} keys in one mapping"),
                        ));
                    }
                    keys.insert(text, node.pos);
                    *pending = Some(node);
                }
                Some(key) => {
                    let mut node = node;
                    // A list or mapping written below its key starts at its first item,
                    // which an error about the value as a whole would then seem to blame:
                    // it is located at its key instead.
                    if matches!(node.value, Value::Seq(_) | Value::Map(_))
                        && node.pos.line > key.pos.line
                    {
                        node.pos = key.pos;
                    }
                    entries.push((key, node));
                }
            },
        }
    }
    Ok(docs)
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    let looks_numeric = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric {
        if let Ok(x) = s.parse::<f64>() {
            return Value::Float(x);
        }
    }
    Value::Str(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse_documents("a:\n  b: 1\n  c: [x, 'y']\n").unwrap();
        let root = &docs[0].root;
        assert_eq!(root.pos, Pos { line: 1, col: 1 });
        let b = root.get("a").unwrap().get("b").unwrap();
        assert_eq!(b.value, Value::Int(1));
        assert_eq!(b.pos, Pos { line: 2, col: 6 });
        let c = root.get("a").unwrap().get("c").unwrap();
        match &c.value {
            Value::Seq(items) => {
                assert_eq!(items[1].value, Value::Str("y".into()));
                assert_eq!(items[1].pos, Pos { line: 3, col: 10 });
            }
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn multi_document_skips_empty_documents() {
        let docs = parse_documents("---\na: 1\n---\n---\nb: 2\n...\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].root.get("b").unwrap().pos.line, 5);
    }

    #[test]
    fn plain_scalars_resolve_by_core_schema() {
        let cases = [
            ("x: 12", Value::Int(12)),
            ("x: -3", Value::Int(-3)),
            ("x: 0x1f", Value::Int(31)),
            ("x: 1.5", Value::Float(1.5)),
            ("x: 1e3", Value::Float(1000.0)),
            ("x: true", Value::Bool(true)),
            ("x: ~", Value::Null),
            ("x:", Value::Null),
            ("x: '12'", Value::Str("12".into())),
            ("x: !!str 12", Value::Str("12".into())),
            ("x: 2048m", Value::Str("2048m".into())),
            ("x: yes", Value::Str("yes".into())),
            ("x: 1.2.3", Value::Str("1.2.3".into())),
        ];
        for (text, want) in cases {
            let docs = parse_documents(text).unwrap();
            assert_eq!(docs[0].root.get("x").unwrap().value, want, "{text}");
        }
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, col: 1 });
        assert_eq!(err.message, "duplicate key a (first defined at line 1:1)");
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let docs = parse_documents("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(
            docs[0].root.get("b").unwrap().get("k").unwrap().value,
            Value::Str("v".into())
        );
    }

    #[test]
    fn locate_follows_keys_and_indexes() {
        let docs =
            parse_documents("spec:\n  containers:\n    - name: a\n      image: 3\n").unwrap();
        let path: Vec<String> = ["spec", "containers", "0", "image"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(docs[0].root.locate(&path).pos, Pos { line: 4, col: 14 });
        let missing: Vec<String> = vec!["spec".into(), "nope".into()];
        assert_eq!(docs[0].root.locate(&missing).pos, Pos { line: 1, col: 1 });
    }

    #[test]
    fn a_list_or_mapping_below_its_key_is_located_at_the_key() {
        let docs = parse_documents("a:\n  b: 1\nc:\n- x\nd: {e: 1}\nf: [1]\n").unwrap();
        let root = &docs[0].root;
        assert_eq!(root.get("a").unwrap().pos, Pos { line: 1, col: 1 });
        assert_eq!(root.get("c").unwrap().pos, Pos { line: 3, col: 1 });
        // Written on the key's line, a collection keeps its own start.
        assert_eq!(root.get("d").unwrap().pos, Pos { line: 5, col: 4 });
        assert_eq!(root.get("f").unwrap().pos, Pos { line: 6, col: 4 });
        // Items of a list are not moved.
        let items = parse_documents("- a: 1\n  b: 2\n").unwrap();
        match &items[0].root.value {
            Value::Seq(v) => assert_eq!(v[0].pos, Pos { line: 1, col: 3 }),
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn to_json_keeps_structure() {
        let docs = parse_documents("a: [1, x, {b: true}]").unwrap();
        assert_eq!(
            docs[0].root.to_json(),
            serde_json::json!({"a": [1, "x", {"b": true}]})
        );
    }
}
