//! What an HTML or CSS resource reference may point to in the rebuilt
//! message: only parts of the message itself (`cid:`, renamed to the new
//! random Content-IDs) and inline `data:` images (JPEG, PNG, WebP, GIF,
//! cleaned like attachments and labelled with their real type). Everything else is remote, so it is dropped.

use std::collections::HashMap;

use base64::Engine;

use crate::attachments::image::clean_image;

/// The Content-ID renaming table of one message, used to rewrite references.
pub(crate) struct Resources<'a> {
    /// Old Content-ID (without angle brackets) → new Content-ID.
    cids: &'a HashMap<String, String>,
}

impl<'a> Resources<'a> {
    pub(crate) fn new(cids: &'a HashMap<String, String>) -> Self {
        Resources { cids }
    }

    /// The new value for an embedded-resource reference, or `None` when the
    /// reference must be removed.
    pub(crate) fn rewrite(&self, reference: &str) -> Option<String> {
        let reference = reference.trim();
        let scheme_end = reference.find(':')?;
        let scheme = reference[..scheme_end].to_ascii_lowercase();
        let rest = &reference[scheme_end + 1..];
        match scheme.as_str() {
            "cid" => self.new_cid(rest).map(|cid| format!("cid:{cid}")),
            "data" => clean_data_image(rest),
            _ => None,
        }
    }

    /// The new Content-ID for an old one as written after `cid:`.
    pub(crate) fn new_cid(&self, old: &str) -> Option<&str> {
        let old = percent_decode(old.trim().trim_matches(['<', '>']));
        self.cids.get(&old).map(String::as_str)
    }
}

/// `cid:` URLs may percent-encode the Content-ID (RFC 2392).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Keeps a base64 `data:image/…` URI, re-encoded without image metadata.
fn clean_data_image(after_scheme: &str) -> Option<String> {
    let (header, payload) = after_scheme.split_once(',')?;
    let header = header.trim().to_ascii_lowercase();
    let media_type = header.strip_suffix(";base64")?;
    if !matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/jpg" | "image/webp" | "image/gif"
    ) {
        return None;
    }
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let data = engine.decode(compact).ok()?;
    // The bytes decide the type written back, not the URI's label.
    let cleaned = clean_image(&data).ok()??;
    Some(format!(
        "data:{};base64,{}",
        cleaned.media_type,
        engine.encode(cleaned.bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_cids_and_data_images_survive() {
        let cids = HashMap::from([("a b@x".to_string(), "n1@anon.example".to_string())]);
        let r = Resources::new(&cids);
        assert_eq!(
            r.rewrite("cid:a%20b@x").as_deref(),
            Some("cid:n1@anon.example")
        );
        assert_eq!(
            r.rewrite("CID:<a b@x>").as_deref(),
            Some("cid:n1@anon.example")
        );
        assert_eq!(r.rewrite("cid:other@x"), None);
        assert_eq!(r.rewrite("https://t.example/p.gif"), None);
        assert_eq!(r.rewrite("//t.example/p.gif"), None);
        assert_eq!(r.rewrite("data:text/html;base64,PGI+"), None);
        let gif = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
        assert_eq!(r.rewrite(gif).as_deref(), Some(gif));
    }
}
