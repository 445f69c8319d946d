//! Attribution regions of the scrubbed HTML, decided after the whole pass.
//!
//! Whether a run that reads like a reply attribution ("On … wrote:") is one
//! depends on what follows it: a `<blockquote>` (Apple Mail) makes it one,
//! anything else ("Le 3 mai, le président a écrit :" in a paragraph) does
//! not. The scrubber marks such runs with two private-use characters (which
//! it removes from its input first) and [`resolve_attributions`] drops or
//! keeps each one once the rest of the document is known.

/// Mark the start and end of a run that reads like a reply attribution, in
/// the HTML and text outputs, until [`resolve_attributions`] knows whether
/// a quote follows it.
pub(crate) const OPEN: char = '\u{E000}';
pub(crate) const CLOSE: char = '\u{E001}';

/// Drops the text of each marked attribution that a `<blockquote>` follows
/// (only tags and spaces between them), keeping its tags balanced; keeps the
/// others ("Le 3 mai, le président a écrit :" in a paragraph). The text
/// rendering has the same regions in the same order.
pub(crate) fn resolve_attributions(html: &str, text: &str) -> (String, String) {
    let mut drops = Vec::new();
    let mut html_out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some((before, region, tail)) = next_region(rest) {
        html_out.push_str(before);
        let drop = blockquote_follows(tail);
        drops.push(drop);
        if drop {
            let mut in_tag = false;
            for c in region.chars() {
                in_tag |= c == '<';
                if in_tag {
                    html_out.push(c);
                }
                in_tag &= c != '>';
            }
        } else {
            html_out.push_str(region);
        }
        rest = tail;
    }
    html_out.push_str(rest);
    let mut text_out = String::with_capacity(text.len());
    let mut rest = text;
    let mut drops = drops.into_iter();
    while let Some((before, region, tail)) = next_region(rest) {
        text_out.push_str(before);
        if !drops.next().unwrap_or(false) {
            text_out.push_str(region);
        }
        rest = tail;
    }
    text_out.push_str(rest);
    (html_out, text_out)
}

/// (text before, marked region, text after) of the first marked region.
fn next_region(text: &str) -> Option<(&str, &str, &str)> {
    let open = text.find(OPEN)?;
    let after = &text[open + OPEN.len_utf8()..];
    let close = after.find(CLOSE).unwrap_or(after.len());
    let tail = after.get(close + CLOSE.len_utf8()..).unwrap_or("");
    Some((&text[..open], &after[..close], tail))
}

/// True when the next thing after `tail`'s tags and spaces is a
/// `<blockquote>`.
fn blockquote_follows(tail: &str) -> bool {
    let mut rest = tail;
    loop {
        let trimmed =
            rest.trim_start_matches(|c: char| c.is_whitespace() || c == OPEN || c == CLOSE);
        let Some(tag) = trimmed.strip_prefix('<') else {
            return false;
        };
        if tag.to_ascii_lowercase().starts_with("blockquote") {
            return true;
        }
        rest = tag.find('>').map_or("", |end| &tag[end + 1..]);
    }
}
