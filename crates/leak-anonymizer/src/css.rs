//! Scrubbing of CSS (in `<style>` elements and `style` attributes): remote
//! resources (`url(https://…)`, `@import`, web fonts) would make the
//! recipient's client call a server when the mail is opened, which tells that
//! server who read it and when.

use crate::resources::Resources;

/// Removes comments and `@import` rules, and rewrites every `url(…)`: `cid:`
/// references to their new Content-ID, inline `data:` images kept (cleaned),
/// anything else replaced by `none`. Quoted strings that hold a URL (as in
/// `image-set("https://…" 1x)`) are emptied. CSS escapes are decoded first
/// (see [`decode_escapes`]): they could spell `url(`, `attr(` or the
/// sender's name in a way no plain search finds (`\75 rl(`, `\4a ean`).
pub(crate) fn scrub_css(css: &str, resources: &Resources) -> String {
    let unescaped = decode_escapes(css);
    let without_comments = strip_comments(&unescaped);
    let without_imports = strip_imports(&without_comments);
    let rewritten = rewrite_urls(&without_imports, resources);
    disable_properties(&empty_url_strings(&rewritten))
}

/// Longest hexadecimal CSS escape (`\10FFFF`).
const MAX_HEX_ESCAPE: usize = 6;

/// `css` with its escapes decoded (CSS Syntax 3, "consume an escaped code
/// point"): `\4a ` (one to six hex digits and one optional white space)
/// and `\J` stand for the character; a backslash before a line end (a
/// string continued on the next line) or at the end goes. A decoded
/// character that would change the structure around it — a quote, a
/// backslash, an angle bracket (`</style>`), a control or a line end — is
/// written back in one canonical escape (`\22 `), which no keyword or name
/// can be spelled with; everything else, letters above all, is written as
/// itself, so the searches after this (names, `url(`, `attr(`) see what
/// the recipient's client will show.
pub(crate) fn decode_escapes(css: &str) -> String {
    if !css.contains('\\') {
        return css.to_owned();
    }
    let chars: Vec<char> = css.chars().collect();
    let mut out = String::with_capacity(css.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let hex = chars[i..]
            .iter()
            .take(MAX_HEX_ESCAPE)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        let decoded = if hex > 0 {
            let digits: String = chars[i..i + hex].iter().collect();
            i += hex;
            // One white space after a hex escape belongs to it.
            if chars.get(i) == Some(&'\r') && chars.get(i + 1) == Some(&'\n') {
                i += 2;
            } else if chars.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                i += 1;
            }
            u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|code| *code != 0)
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}')
        } else {
            match chars.get(i) {
                None | Some('\n' | '\r' | '\x0C') => {
                    // A continued line (or a lone backslash at the end).
                    if chars.get(i) == Some(&'\r') && chars.get(i + 1) == Some(&'\n') {
                        i += 1;
                    }
                    i += 1;
                    continue;
                }
                Some(c) => {
                    i += 1;
                    *c
                }
            }
        };
        if matches!(decoded, '"' | '\'' | '\\' | '<' | '>' | '&') || decoded.is_control() {
            out.push_str(&format!("\\{:x} ", u32::from(decoded)));
        } else {
            out.push(decoded);
        }
    }
    out
}

/// CSS that would show text moderation never read in the order it read it:
/// `attr()` puts an attribute's value on screen (`content: attr(face)`),
/// `unicode-bidi: bidi-override` reverses letters. Both are renamed to
/// something no browser knows, which makes the declaration invalid and
/// ignored.
fn disable_properties(css: &str) -> String {
    let mut out = css.to_owned();
    for (name, disabled) in [
        ("attr(", "-leak-attr("),
        ("unicode-bidi", "-leak-unicode-bidi"),
    ] {
        let mut rest = out.as_str();
        let mut rebuilt = String::with_capacity(out.len());
        while let Some(at) = find_ascii_ci(rest, name) {
            let follows_prefix = rest[..at].ends_with("-leak-");
            rebuilt.push_str(&rest[..at]);
            rebuilt.push_str(if follows_prefix { name } else { disabled });
            rest = &rest[at + name.len()..];
        }
        rebuilt.push_str(rest);
        out = rebuilt;
    }
    out
}

/// `css` with each quoted string passed through `scrub` (the sender's
/// names replaced); a quote the replacement brings is dropped so the
/// string still ends where it did.
pub(crate) fn scrub_css_strings(css: &str, scrub: impl Fn(&str) -> String) -> String {
    map_strings(css, |quote, body| scrub(body).replace(quote, ""))
}

/// Every quoted string in scrubbed CSS: `content: "…"` puts text on the
/// recipient's screen, so it goes to moderation (font names come along;
/// they are harmless there).
pub(crate) fn quoted_strings(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = css.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            let text: String = chars.by_ref().take_while(|&d| d != c).collect();
            if !text.trim().is_empty() {
                out.push(text);
            }
        }
    }
    out
}

/// Scrubs a style sheet (a `<style>` element): like [`scrub_css`], and also
/// drops the rules that can no longer match once `class` and `id`
/// attributes are gone (`p.MsoNormal`, `#divRplyFwdMsg`: they only name the
/// client that wrote them) and at-rules other than `@media`, `@supports` and
/// `@font-face` (`@page WordSection1`, `@namespace`).
pub(crate) fn scrub_style_sheet(css: &str, resources: &Resources) -> String {
    // `<!--` and `-->` are allowed (and ignored) around a style sheet.
    let bare = css.replace("<!--", "").replace("-->", "");
    filter_rules(&scrub_css(&bare, resources))
}

fn filter_rules(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while !rest.trim().is_empty() {
        let Some(open) = find_outside_strings(rest, &['{', ';']) else {
            break;
        };
        let prelude = rest[..open].trim();
        if rest[open..].starts_with(';') {
            rest = &rest[open + 1..]; // a statement at-rule (`@charset …;`)
            continue;
        }
        let close = matching_brace(rest, open);
        let block = &rest[open + 1..close.min(rest.len())];
        rest = rest.get(close + 1..).unwrap_or("");
        let lower = prelude.to_ascii_lowercase();
        if lower.starts_with("@media") || lower.starts_with("@supports") {
            let inner = filter_rules(block);
            if !inner.trim().is_empty() {
                out.push_str(&format!("{prelude} {{\n{inner}}}\n"));
            }
        } else if lower.starts_with("@font-face") {
            out.push_str(&format!("{prelude} {{{block}}}\n"));
        } else if !lower.starts_with('@') {
            let selectors: Vec<&str> = prelude
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.contains(['.', '#', '[', '\\']))
                .collect();
            if !selectors.is_empty() {
                out.push_str(&format!("{} {{{block}}}\n", selectors.join(", ")));
            }
        }
    }
    out
}

/// Byte offset of the first of `targets` that is not inside a quoted string.
fn find_outside_strings(css: &str, targets: &[char]) -> Option<usize> {
    let mut quote = None;
    for (i, c) in css.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if targets.contains(&c) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Byte offset of the `}` closing the `{` at `open` (or the end).
fn matching_brace(css: &str, open: usize) -> usize {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in css[open..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '{') => depth += 1,
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    css.len()
}

fn strip_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = match rest[start + 2..].find("*/") {
            Some(end) => &rest[start + 2 + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Finds `needle` (lower-case ASCII) in `hay` ignoring ASCII case.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn strip_imports(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = find_ascii_ci(rest, "@import") {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find(';') {
            Some(end) => &rest[start + end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn rewrite_urls(css: &str, resources: &Resources) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = find_ascii_ci(rest, "url(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        let (argument, consumed) = url_argument(after);
        let value = argument.trim().trim_matches(['"', '\'']).trim();
        match resources.rewrite(value) {
            Some(kept) => {
                out.push_str("url(\"");
                out.push_str(&kept.replace(['"', '\\', '\n', '\r'], ""));
                out.push_str("\")");
            }
            None => out.push_str("none"),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The text inside `url(` … `)` and how many bytes it used, closing
/// parenthesis included; quotes are honoured.
fn url_argument(after: &str) -> (&str, usize) {
    let mut quote = None;
    for (i, c) in after.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ')') => return (&after[..i], i + 1),
            _ => {}
        }
    }
    (after, after.len())
}

fn empty_url_strings(css: &str) -> String {
    map_strings(css, |_, body| {
        let is_url = body.contains("://") || body.trim_start().starts_with("//");
        if is_url {
            String::new()
        } else {
            body.to_owned()
        }
    })
}

/// `css` with the body of each quoted string replaced by `map(quote,
/// body)`; the quotes stay (an unterminated string stays unterminated).
fn map_strings(css: &str, map: impl Fn(char, &str) -> String) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' && c != '\'' {
            out.push(c);
            continue;
        }
        let body_start = i + 1;
        let mut end = css.len();
        for (j, d) in chars.by_ref() {
            if d == c {
                end = j;
                break;
            }
        }
        out.push(c);
        out.push_str(&map(c, &css[body_start..end.max(body_start)]));
        if end < css.len() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn remote_resources_are_removed() {
        let cids = HashMap::from([("img1@x".to_string(), "new1@anon.example".to_string())]);
        let resources = Resources::new(&cids);
        let css = "@import url(https://t.example/a.css); /* made by Outlook */\n\
            body { background: URL( 'https://t.example/bg.png' ) no-repeat; }\n\
            @font-face { font-family: \"Track\"; src: url(//fonts.example/f.woff2) format('woff2'); }\n\
            .a { background-image: url(cid:img1@x); }\n\
            .b { background-image: image-set(\"https://t.example/x.png\" 1x); }";
        let out = scrub_css(css, &resources);
        assert!(!out.contains("t.example"), "{out}");
        assert!(!out.contains("fonts.example"), "{out}");
        assert!(!out.contains("Outlook"), "{out}");
        assert!(out.contains("url(\"cid:new1@anon.example\")"), "{out}");
        assert!(out.contains("font-family: \"Track\""), "{out}");
        assert!(out.contains("background: none no-repeat"), "{out}");
        let escaped = scrub_css("a { background: \\75 rl(https://t.example/x) }", &resources);
        assert!(!escaped.contains("url("), "{escaped}");
        let split = scrub_css("a { background: u\\rl(https://t.example/x) }", &resources);
        assert_eq!(split, "a { background: none }");
    }

    #[test]
    fn escapes_are_decoded_and_structure_characters_stay_escaped() {
        // Red-team finding: `\4a ean` was deleted (`4a ean`), never decoded,
        // so a name spelled with escapes was neither found nor kept.
        assert_eq!(
            decode_escapes("content: \"\\4a ean Dupont\""),
            "content: \"Jean Dupont\""
        );
        assert_eq!(decode_escapes("\\000045t\\E9 \\e9"), "Eté\u{e9}");
        assert_eq!(decode_escapes("a\\:b \\.c"), "a:b .c");
        // Quotes, backslashes, angle brackets and line ends stay escaped,
        // in one canonical form: a string still ends where it did.
        assert_eq!(decode_escapes("'it\\27s'"), "'it\\27 s'");
        assert_eq!(decode_escapes("\"a\\\"b\""), "\"a\\22 b\"");
        assert_eq!(decode_escapes("\\3c /style\\3e"), "\\3c /style\\3e ");
        assert_eq!(decode_escapes("\"a\\A b\""), "\"a\\a b\"");
        assert_eq!(decode_escapes("\"a\\\nb\"\\"), "\"ab\"");
        assert_eq!(decode_escapes("\\0 \\110000"), "\u{FFFD}\u{FFFD}");
        let cids = HashMap::new();
        let resources = Resources::new(&cids);
        // Keywords spelled with escapes are found once decoded.
        let attr = scrub_css("b::after { content: \\61 ttr(title) }", &resources);
        assert!(attr.contains("-leak-attr(title)"), "{attr}");
        let bidi = scrub_css("b { unicode-\\62 idi: bidi-override }", &resources);
        assert!(bidi.contains("-leak-unicode-bidi"), "{bidi}");
        // Innocent escaped text is kept, decoded.
        let kept = scrub_css("p::before { content: \"\\2014 \\A0 caf\\e9\" }", &resources);
        assert_eq!(kept, "p::before { content: \"—\u{a0}café\" }");
    }

    #[test]
    fn dead_rules_and_word_at_rules_are_dropped() {
        let cids = HashMap::new();
        let resources = Resources::new(&cids);
        let css = "<!--\n@page WordSection1 {size:612.0pt 792.0pt;}\n\
            p.MsoNormal, li.MsoNormal {margin:0cm;}\n\
            body, p { font-family: \"A;B{}\", serif; }\n\
            @media (max-width: 600px) { #x { color: red } td { padding: 0 } }\n\
            div.WordSection1 {page:WordSection1;}\n-->";
        let out = scrub_style_sheet(css, &resources);
        assert!(
            !out.contains("Mso") && !out.contains("WordSection"),
            "{out}"
        );
        assert!(
            out.contains("body, p { font-family: \"A;B{}\", serif; }"),
            "{out}"
        );
        assert!(
            out.contains("@media (max-width: 600px) {\ntd { padding: 0 }\n}"),
            "{out}"
        );
    }
}
