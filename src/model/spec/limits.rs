//! Limits on what a commit may ask flinkops to read. Every definition comes from Git and
//! is untrusted: these bound the memory, time and stack one file (or one revision) can
//! cost, so a hostile or broken commit gets a clear error instead of stalling or crashing
//! the daemon. docs/security.md ("Limits") lists each with what it protects.

/// Bytes in one file (definition, settings or symbolic link target), checked from the
/// blob's size before it is read.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// YAML files (and symbolic links) one revision may hold under the definitions path.
pub const MAX_FILES: usize = 10_000;

/// YAML nodes in one file, counting every node an alias copies.
pub const MAX_NODES: usize = 100_000;

/// Bytes of scalar text in one file, counting every value an alias copies (the file
/// itself is at most `MAX_FILE_BYTES`; copies are what a "billion laughs" multiplies).
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// Nesting depth of lists and mappings: deeper trees would need deep recursion later.
pub const MAX_DEPTH: usize = 64;

/// Aliases (`*name`) in one file.
pub const MAX_ALIASES: usize = 100;

/// Keys in one mapping.
pub const MAX_KEYS: usize = 10_000;

/// Bytes in one scalar (a key or a value).
pub const MAX_SCALAR_BYTES: usize = 64 << 10;

/// Bytes compared while matching one definition file's path against every team's
/// `paths` (`teams` in the settings): what a long path and backtracking `**` patterns
/// may cost, per file.
pub const MAX_OWNER_MATCH_STEPS: u64 = 100_000;

/// Characters of a value quoted in an error message.
pub const MAX_QUOTED_CHARS: usize = 80;

/// A value for an error message: at most `MAX_QUOTED_CHARS` characters (cut on a
/// character boundary, with how much was left out), control characters escaped so a
/// message is always one line.
pub fn quoted(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    for c in chars.by_ref().take(MAX_QUOTED_CHARS) {
        push_visible(&mut out, c);
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("… ({rest} more characters)"));
    }
    out
}

/// A field path for an error: paths hold keys from the file, so they are cut too (at
/// four times a value's length: paths into a podTemplate are long).
pub fn clip_field(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    for c in chars.by_ref().take(4 * MAX_QUOTED_CHARS) {
        push_visible(&mut out, c);
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Control characters as escapes (`\n`, `\u{1b}`), everything else as it is.
fn push_visible(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// An error message with every value quoted in backticks cut by `quoted`, and control
/// characters escaped: what a file holds never makes a message long or multi-line.
pub fn clip_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(&quoted(part));
        } else {
            part.chars().for_each(|c| push_visible(&mut out, c));
        }
    }
    out
}

/// The error for a file over `MAX_FILE_BYTES`.
pub fn too_large(bytes: usize) -> String {
    format!(
        "the file is {bytes} bytes; flinkops reads files of at most {MAX_FILE_BYTES} bytes ({})",
        size(MAX_FILE_BYTES)
    )
}

/// `1.0 MiB` style size for messages.
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / f64::from(1 << 10))
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cuts_on_a_character_boundary_and_escapes_controls() {
        let long = "é".repeat(100);
        assert_eq!(
            quoted(&long),
            format!("{}… (20 more characters)", "é".repeat(80))
        );
        assert_eq!(quoted("a\nb\r#"), "a\\nb\\r#");
        assert_eq!(quoted("short"), "short");
    }

    #[test]
    fn messages_cut_every_quoted_value() {
        let long = "x".repeat(10 << 20);
        let msg = clip_message(&format!("`{long}` is not one of `a`, `b`\n"));
        assert_eq!(
            msg,
            format!(
                "`{}… (10485680 more characters)` is not one of `a`, `b`\\n",
                "x".repeat(80)
            )
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(MAX_FILE_BYTES), "1.0 MiB");
        assert_eq!(size(MAX_SCALAR_BYTES), "64.0 KiB");
        assert_eq!(size(12), "12 bytes");
    }
}
