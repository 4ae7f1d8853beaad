//! Showing untrusted text (file names, job names, reasons, error messages, ledger fields,
//! diff lines) in each of flinkops' outputs so that it reads as text and nothing else:
//! no terminal escape sequences or forged lines, no Markdown or HTML markup, no mentions.
//! Pure string functions; every place that prints such text goes through one of them.

use std::borrow::Cow;

/// The first 12 characters of a commit, for people. Commits read from the cluster are
/// untrusted: this counts characters, never slices bytes, so any string is safe.
pub fn short_commit(commit: &str) -> &str {
    match commit.char_indices().nth(12) {
        Some((i, _)) => &commit[..i],
        None => commit,
    }
}

/// Characters a terminal, a log viewer or a CI runner acts on rather than shows: C0 and C1
/// controls and DEL (escape sequences, carriage return, new lines that forge a
/// `::error` line), Unicode line separators, and bidirectional overrides (text that reads
/// differently from what it is).
fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A hazard as a visible escape: `\n`, `\r`, `\t`, `\x1b`, `\u{202e}`.
fn visible(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// For text output (terminal, logs, CI): hazards become visible escapes, so one string
/// stays on one line and cannot colour, move the cursor, set a title or forge a line.
/// flinkops' own colour codes are added around the escaped text, never inside it.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hazard) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hazard(c) {
            visible(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Breaks GitHub/GitLab references: `@name` (a mention that notifies) and `#12` / `!12`
/// (links and cross-reference events). A zero-width joiner after the sign keeps the text
/// as it reads; entities would not do, as mentions are found after rendering.
const JOINER: char = '\u{200d}';

/// For text anywhere inline in Markdown: paragraphs, list items and table cells. Markup
/// characters are backslash-escaped, `<`, `>` and `&` become entities (no HTML), line
/// breaks become spaces (a row or list item cannot end early) and other hazards visible
/// escapes.
pub fn markdown_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // Where a list, quote or heading could start, as if the text began a line.
    let lead = s.len()
        - s.trim_start_matches([' ', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
            .len();
    for (i, c) in s.char_indices() {
        match c {
            '-' | '+' | '=' | '.' | ')' if i == lead => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if is_hazard(c) => {
                // Rendered as `\x1b`: the escape's backslash is itself escaped.
                out.push('\\');
                visible(c, &mut out);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' | '#' | '!' => {
                out.push('\\');
                out.push(c);
                out.push(JOINER);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span for a Markdown table cell (a job's `namespace/name`): shown as it is, as code
/// is not read as markup or mentions; the delimiters outgrow any backtick run inside, line
/// breaks become spaces and `|` is `\|`, which GFM tables read as `|` even in code.
pub fn markdown_cell_code(s: &str) -> String {
    let mut body = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\r' | '\n' | '\u{2028}' | '\u{2029}' => body.push(' '),
            '|' => body.push_str("\\|"),
            c if is_hazard(c) => visible(c, &mut body),
            c => body.push(c),
        }
    }
    let fence = "`".repeat(longest_backtick_run(&body) + 1);
    // A space on each side when the text starts or ends with a backtick (stripped again).
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// For text inside raw HTML in Markdown (e.g. `<summary>`), where Markdown escapes are not
/// read: HTML-escaped, on one line, references broken.
pub fn markdown_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' | '\n' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if is_hazard(c) => visible(c, &mut out),
            '@' | '#' | '!' => {
                out.push_str(&html_char(c));
                out.push(JOINER);
            }
            c => out.push_str(&html_char(c)),
        }
    }
    out
}

/// A fenced code block holding `body` as it is: the fence is longer than any run of
/// backticks inside, so no line of the body can close it. Hazards other than the line
/// breaks become visible escapes (a lone CR would start a new line in Markdown).
pub fn markdown_code_block(info: &str, body: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(body).max(2) + 1);
    let mut out = format!("{fence}{info}\n");
    for line in body.lines() {
        out.push_str(&terminal(line));
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

fn html_char(c: char) -> Cow<'static, str> {
    match c {
        '&' => "&amp;".into(),
        '<' => "&lt;".into(),
        '>' => "&gt;".into(),
        '"' => "&quot;".into(),
        '\'' => "&#39;".into(),
        '@' => "&#64;".into(),
        '#' => "&#35;".into(),
        '!' => "&#33;".into(),
        c => c.to_string().into(),
    }
}

/// For text and attribute values in HTML (the status page): the five markup characters
/// become entities. Control characters other than tab and line breaks are shown as
/// escapes, as a browser would drop or mangle them.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if is_hazard(c) => visible(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

/// One URL path segment: everything but RFC 3986's unreserved characters is
/// percent-encoded, so the text cannot add a segment, a query, a fragment or a scheme.
pub fn url_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`; for one long string
/// (a configuration value, an error) that would crowd out the rest of an output.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// The URL without user-info (`https://user:token@host/x` → `https://host/x`), for logs.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..host_end].rfind('@') {
        // scp-style `git@host:path` keeps its user: it names an account, not a secret.
        Some(at) if scheme.is_some() => &rest[at + 1..],
        _ => rest,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_commit_counts_characters() {
        assert_eq!(short_commit("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_commit("abc"), "abc");
        assert_eq!(short_commit(""), "");
        // A multi-byte character across byte 12 (this used to panic).
        assert_eq!(short_commit("0123456789aé€xyz"), "0123456789aé");
        assert_eq!(short_commit("ééééééééééééé"), "éééééééééééé");
        assert_eq!(short_commit("🦀🦀"), "🦀🦀");
    }

    #[test]
    fn terminal_shows_every_hazard_and_keeps_the_rest() {
        assert!(matches!(terminal("orders/a.yaml é €"), Cow::Borrowed(_)));
        assert_eq!(terminal("a\nb"), "a\\nb");
        assert_eq!(terminal("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(terminal("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(terminal("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(terminal("\x00\x7f\u{9b}"), "\\x00\\x7f\\x9b");
        assert_eq!(terminal("a\u{2028}b\u{2029}"), "a\\u{2028}b\\u{2029}");
        assert_eq!(terminal("\u{202e}fdp.exe"), "\\u{202e}fdp.exe");
        assert_eq!(terminal("\u{2066}\u{2069}"), "\\u{2066}\\u{2069}");
        // A file name that would forge a GitHub Actions annotation stays on its line.
        let forged = terminal("a.yaml\n::error file=x::pwned");
        assert!(!forged.contains('\n'), "{forged}");
        // Every C0 and C1 control, DEL included.
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let t = terminal(&c.to_string()).into_owned();
            assert!(
                t.starts_with('\\') && !t.chars().any(char::is_control),
                "{t:?}"
            );
        }
    }

    #[test]
    fn markdown_inline_is_plain_text() {
        assert_eq!(markdown_inline("parallelism 2 → 4"), "parallelism 2 → 4");
        assert_eq!(markdown_inline("a|b"), "a\\|b");
        assert_eq!(markdown_inline("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(markdown_inline("<h1>x</h1>"), "&lt;h1&gt;x&lt;/h1&gt;");
        assert_eq!(
            markdown_inline("<details>"),
            "&lt;details&gt;",
            "no HTML at all"
        );
        assert_eq!(markdown_inline("&lt;"), "&amp;lt;");
        assert_eq!(markdown_inline("@octocat"), "\\@\u{200d}octocat");
        assert_eq!(markdown_inline("fixes #12"), "fixes \\#\u{200d}12");
        assert_eq!(
            markdown_inline("**b** _i_ `c`"),
            "\\*\\*b\\*\\* \\_i\\_ \\`c\\`"
        );
        assert_eq!(
            markdown_inline("[x](javascript:y)"),
            "\\[x\\](javascript:y)"
        );
        assert_eq!(markdown_inline("![i](u)"), "\\!\u{200d}\\[i\\](u)");
        assert_eq!(markdown_inline("~~s~~ $x$"), "\\~\\~s\\~\\~ \\$x\\$");
        assert_eq!(markdown_inline("a\\b"), "a\\\\b");
        // Line breaks would end a table row, a list item or (blank line) a paragraph.
        assert_eq!(markdown_inline("a\r| b |\n\nc"), "a \\| b \\|  c");
        assert_eq!(markdown_inline("a\u{2028}b"), "a b");
        assert_eq!(markdown_inline("\x1b[2J"), "\\\\x1b\\[2J");
        // Line-start markup cannot start anything either.
        assert_eq!(markdown_inline("- x"), "\\- x");
        assert_eq!(markdown_inline("1. x"), "1\\. x");
        assert_eq!(markdown_inline("+ x"), "\\+ x");
        assert_eq!(markdown_inline("=== "), "\\=== ");
        assert_eq!(markdown_inline("a-b.c+d=e"), "a-b.c+d=e");
        assert_eq!(markdown_inline("12) x"), "12\\) x");
    }

    #[test]
    fn markdown_inline_leaves_no_markup_character_bare() {
        let all: String = (0x20u8..0x7f).map(char::from).collect();
        let out = markdown_inline(&all);
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let next = chars.next().expect("an escape escapes something");
                    assert!(next.is_ascii_punctuation(), "{next}");
                }
                '<' | '>' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '@' => {
                    panic!("bare {c} in {out}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn markdown_cell_code_holds_any_text_on_one_cell() {
        assert_eq!(markdown_cell_code("streaming/orders"), "`streaming/orders`");
        assert_eq!(markdown_cell_code("a|b"), "`a\\|b`");
        assert_eq!(markdown_cell_code("a`b``c"), "```a`b``c```");
        assert_eq!(markdown_cell_code("`a"), "`` `a ``");
        assert_eq!(markdown_cell_code("a\r\n\nb\x1b"), "`a   b\\x1b`");
        assert_eq!(
            markdown_cell_code("<img> @u"),
            "`<img> @u`",
            "code is shown, not read"
        );
    }

    #[test]
    fn markdown_html_is_text_inside_html() {
        assert_eq!(
            markdown_html("<b>x</b> \"y\" 'z' & @u #1 !2"),
            "&lt;b&gt;x&lt;/b&gt; &quot;y&quot; &#39;z&#39; &amp; &#64;\u{200d}u &#35;\u{200d}1 &#33;\u{200d}2"
        );
        assert_eq!(markdown_html("a\n\nb\x1b"), "a  b\\x1b");
    }

    #[test]
    fn code_block_fence_outgrows_any_backtick_run() {
        assert_eq!(
            markdown_code_block("diff", "+a\n-b\n"),
            "```diff\n+a\n-b\n```\n"
        );
        let body = "+ x: ```\n+ y: ``````\n```\n";
        let block = markdown_code_block("diff", body);
        assert!(block.starts_with("```````diff\n"), "{block}");
        assert!(block.ends_with("\n```````\n"), "{block}");
        // A lone CR would end a line in Markdown; it is shown instead.
        assert_eq!(markdown_code_block("", "a\rb"), "```\na\\rb\n```\n");
    }

    #[test]
    fn html_escapes_markup_and_hazards() {
        assert_eq!(
            html("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(html("a\nb\x1b\u{202e}"), "a\nb\\x1b\\u{202e}");
        assert_eq!(html("plain é"), "plain é");
    }

    #[test]
    fn url_path_segment_encodes_all_but_unreserved() {
        assert_eq!(url_path_segment("0123abcdef"), "0123abcdef");
        assert_eq!(url_path_segment("a/../b?c#d"), "a%2F..%2Fb%3Fc%23d");
        assert_eq!(url_path_segment("\"><script>"), "%22%3E%3Cscript%3E");
        assert_eq!(url_path_segment("é"), "%C3%A9");
        assert_eq!(url_path_segment("a b:c"), "a%20b%3Ac");
    }

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
        assert_eq!(truncate("ééééé", 2), "éé…");
    }
}
