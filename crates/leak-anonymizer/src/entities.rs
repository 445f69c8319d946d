//! HTML character references: decoding them before scrubbing (so
//! `Jean&nbsp;Dupont` or `&#74;ean` cannot hide a name from the scrubber) and
//! escaping text on the way out.

/// Latin-1 named references, in code-point order from U+00A0.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other named references common in mail.
const OTHERS: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("euro", '€'),
    ("hellip", '…'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bull", '•'),
    ("trade", '™'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
];

/// Longest reference name we look for (`thinsp;` and friends).
const MAX_NAME: usize = 8;

fn named(name: &str) -> Option<char> {
    if let Some(pos) = LATIN1.iter().position(|n| *n == name) {
        return char::from_u32(0xA0 + pos as u32);
    }
    OTHERS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

fn numeric(body: &str) -> Option<char> {
    let code = if let Some(hex) = body.strip_prefix(['x', 'X']) {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        body.parse::<u32>().ok()?
    };
    Some(
        char::from_u32(code)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{FFFD}'),
    )
}

/// Decodes numeric and known named references; unknown ones stay as written.
pub(crate) fn decode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let mut end = rest.len().min(2 + MAX_NAME + 8);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let window = &rest[1..end];
        let decoded = window.find(';').and_then(|semi| {
            let body = &window[..semi];
            let c = match body.strip_prefix('#') {
                Some(number) if number.len() <= 8 => numeric(number),
                Some(_) => None,
                None => named(body),
            };
            c.map(|c| (c, semi + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an HTML text node.
pub(crate) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted attribute value.
pub(crate) fn escape_attribute(text: &str) -> String {
    escape_text(text).replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_and_numeric() {
        assert_eq!(
            decode("J&eacute;r&ocirc;me&nbsp;&amp; &#74;&#x65;an"),
            "Jérôme\u{a0}& Jean"
        );
        assert_eq!(
            decode("a &unknown; b & c &#0; &#xZZ;"),
            "a &unknown; b & c \u{FFFD} &#xZZ;"
        );
        assert_eq!(decode("&yuml;&Agrave;&hellip;"), "ÿÀ…");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_text("a<b>&c\""), "a&lt;b&gt;&amp;c\"");
        assert_eq!(escape_attribute("\"x\""), "&quot;x&quot;");
    }
}
