//! Text attachments leave as they came: in their own charset (when it can
//! still encode the scrubbed text; UTF-8 otherwise) and with their own line
//! ends (a Unix CSV keeps its LF). Control characters other than TAB, CR,
//! LF are removed. They are written as attachments, so the
//! builder base64- or quoted-printable-encodes them and bare line ends or
//! control bytes never reach the wire.

/// Removes control characters from `text` in place, and chooses the
/// charset to declare: the declared one when it can encode the text, then
/// with the bytes in it (`Some`), else UTF-8, whose bytes are the text's
/// (`None`: a large attachment is not held twice).
pub(crate) fn encode(
    text: &mut String,
    declared_charset: Option<&str>,
) -> (Option<Vec<u8>>, String) {
    text.retain(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'));
    let encoding = declared_charset
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
        .filter(|encoding| encoding.output_encoding() == *encoding);
    if let Some(encoding) = encoding {
        if encoding != encoding_rs::UTF_8 {
            let (bytes, _, unmappable) = encoding.encode(text);
            if !unmappable {
                return (
                    Some(bytes.into_owned()),
                    encoding.name().to_ascii_lowercase(),
                );
            }
        }
    }
    (None, "utf-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_and_line_ends_are_kept() {
        let mut text = "caf\u{e9};1\n\u{0}x;2\n".to_string();
        let (bytes, charset) = encode(&mut text, Some("ISO-8859-1"));
        assert_eq!(charset, "windows-1252");
        assert_eq!(bytes.as_deref(), Some(&b"caf\xe9;1\nx;2\n"[..]));
        assert_eq!(text, "caf\u{e9};1\nx;2\n");
        let mut text = "\u{2603}\r\n".to_string();
        let (bytes, charset) = encode(&mut text, Some("iso-8859-1"));
        assert_eq!((bytes, charset.as_str()), (None, "utf-8"));
        assert_eq!(text, "\u{2603}\r\n");
        let (_, charset) = encode(&mut "a".to_string(), Some("utf-16"));
        assert_eq!(charset, "utf-8");
    }
}
