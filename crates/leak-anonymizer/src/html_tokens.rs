//! The HTML tokenizer under `html.rs`: start and end tags, attribute
//! values (entity-decoded) and raw-text content. Hand-written because the
//! scrubber re-emits only what it understood, which a tree-building parser
//! (with its error recovery) would not let it control.

use crate::entities::decode;

/// One start tag as read from the source.
pub(crate) struct StartTag {
    pub(crate) name: String,
    pub(crate) attributes: Vec<(String, String)>,
}

impl StartTag {
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// When `rest` starts with `prefix` followed by a letter (a real tag, not a
/// stray `<` in text), the text after `prefix`.
pub(crate) fn tag_start<'s>(rest: &'s str, prefix: &str) -> Option<&'s str> {
    let after = rest.strip_prefix(prefix)?;
    after
        .chars()
        .next()
        .filter(char::is_ascii_alphabetic)
        .map(|_| after)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_' | '.')
}

/// Reads an end tag's name and skips to its `>`.
pub(crate) fn read_end_tag(after: &str) -> (String, usize) {
    let name_len = after
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after.len());
    let name = after[..name_len].to_ascii_lowercase();
    let consumed = after[name_len..]
        .find('>')
        .map_or(after.len(), |i| name_len + i + 1);
    (name, consumed)
}

/// Reads a start tag (name and attributes, values entity-decoded) up to and
/// including its `>`, honouring quoted values.
pub(crate) fn read_start_tag(after: &str) -> (StartTag, usize) {
    let name_len = after
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after.len());
    let mut tag = StartTag {
        name: after[..name_len].to_ascii_lowercase(),
        attributes: Vec::new(),
    };
    let bytes = after.as_bytes();
    let mut i = name_len;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (tag, bytes.len());
        }
        if bytes[i] == b'>' {
            return (tag, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = after[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let (raw, next) = read_attribute_value(after, i);
            value = decode(raw);
            i = next;
        }
        if !name.is_empty() {
            tag.attributes.push((name, value));
        }
    }
}

/// Reads a quoted or unquoted attribute value starting at byte `i`.
fn read_attribute_value(after: &str, i: usize) -> (&str, usize) {
    let bytes = after.as_bytes();
    match bytes.get(i) {
        Some(&quote) if quote == b'"' || quote == b'\'' => {
            let start = i + 1;
            match after[start..].find(quote as char) {
                Some(len) => (&after[start..start + len], start + len + 1),
                None => (&after[start..], after.len()),
            }
        }
        _ => {
            let end = after[i..]
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .map_or(after.len(), |len| i + len);
            (&after[i..end], end)
        }
    }
}

/// Splits raw-text content at its end tag (`</style>`), case-insensitively.
pub(crate) fn split_raw_text<'s>(after: &'s str, name: &str) -> (&'s str, &'s str) {
    let closing = format!("</{name}");
    let position = after
        .as_bytes()
        .windows(closing.len())
        .position(|w| w.eq_ignore_ascii_case(closing.as_bytes()));
    match position {
        Some(start) => {
            let end = after[start..]
                .find('>')
                .map_or(after.len(), |i| start + i + 1);
            (&after[..start], &after[end..])
        }
        None => (after, ""),
    }
}
