//! Text attachments leave as they came: in their own charset (when it can
//! still encode the scrubbed text; UTF-8 otherwise) and with their own line
//! ends (a Unix CSV keeps its LF). Control characters other than TAB, CR,
//! LF are removed. They are written as attachments, so the
//! builder base64- or quoted-printable-encodes them and bare line ends or
//! control bytes never reach the wire.

/// The bytes to send and the charset to declare.
/// Takes the text by value and cleans it in place: a large attachment is
/// not held twice.
pub(crate) fn encode(mut cleaned: String, declared_charset: Option<&str>) -> (Vec<u8>, String) {
    cleaned.retain(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'));
    let encoding = declared_charset
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim().as_bytes()))
        .filter(|encoding| encoding.output_encoding() == *encoding);
    if let Some(encoding) = encoding {
        if encoding != encoding_rs::UTF_8 {
            let (bytes, _, unmappable) = encoding.encode(&cleaned);
            if !unmappable {
                return (bytes.into_owned(), encoding.name().to_ascii_lowercase());
            }
        }
    }
    (cleaned.into_bytes(), "utf-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_and_line_ends_are_kept() {
        let (bytes, charset) = encode("caf\u{e9};1\n\u{0}x;2\n".into(), Some("ISO-8859-1"));
        assert_eq!(charset, "windows-1252");
        assert_eq!(bytes, b"caf\xe9;1\nx;2\n");
        let (bytes, charset) = encode("\u{2603}\r\n".into(), Some("iso-8859-1"));
        assert_eq!(
            (bytes.as_slice(), charset.as_str()),
            ("\u{2603}\r\n".as_bytes(), "utf-8")
        );
        let (_, charset) = encode("a".into(), Some("utf-16"));
        assert_eq!(charset, "utf-8");
    }
}
