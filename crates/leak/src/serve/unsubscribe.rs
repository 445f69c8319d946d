//! Per-recipient `List-Unsubscribe` links.
//!
//! The opt-out token names one recipient, but the anonymizer builds one
//! message for all of them. With `[web] public_url` set, the pipeline
//! therefore stores one message per recipient: it anonymizes the submission
//! once per recipient with a footer carrying that recipient's link
//! ([`Unsubscribe::options_for`]), then replaces the anonymizer's
//! `List-Unsubscribe` header with the pair RFC 8058 asks for
//! ([`Unsubscribe::add_headers`]) before DKIM signing, so both headers are
//! signed. Splitting at enqueue keeps leak-delivery and the stored format
//! untouched: delivery sends stored bytes as they are. Without
//! `public_url` nothing changes (one message for every recipient,
//! `mailto:` only).

use leak_consent::Suppression;
use std::sync::Arc;

/// Appended to the footer when the notice does not place `{optout_url}`
/// itself.
const LINK_NOTICE: &str = "To stop receiving anonymous messages through this server: \
{optout_url}\nPour ne plus recevoir de messages anonymes via ce serveur : {optout_url}";

/// What makes the links: the public base URL, the mailto alternative and
/// the token maker.
pub struct Unsubscribe {
    /// `[web] public_url` without a trailing slash.
    pub public_url: String,
    /// `anonymizer.optout_address`, offered as the `mailto:` alternative.
    pub optout_address: Option<String>,
    pub list: Arc<Suppression>,
}

impl Unsubscribe {
    /// `{public_url}/optout/{token}` for `recipient`.
    pub fn url(&self, recipient: &str) -> String {
        format!("{}/optout/{}", self.public_url, self.list.token(recipient))
    }

    /// The anonymizer's options with the footer linking to `recipient`'s
    /// page (no footer stays no footer).
    pub fn options_for(
        &self,
        base: &leak_anonymizer::Options,
        recipient: &str,
    ) -> leak_anonymizer::Options {
        let mut options = base.clone();
        if let Some(notice) = &mut options.notice {
            if !notice.contains("{optout_url}") {
                notice.push('\n');
                notice.push_str(LINK_NOTICE);
            }
            *notice = notice.replace("{optout_url}", &self.url(recipient));
        }
        options
    }

    /// `message` with its `List-Unsubscribe` header(s) replaced by
    /// `recipient`'s HTTPS link (and the mailto alternative) and
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub fn add_headers(&self, message: &[u8], recipient: &str) -> Vec<u8> {
        let mut value = format!("<{}>", self.url(recipient));
        if let Some(address) = &self.optout_address {
            value.push_str(&format!(", <mailto:{address}>"));
        }
        let headers = format!(
            "List-Unsubscribe: {value}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        );
        let end = find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 2);
        let mut out = Vec::with_capacity(message.len() + headers.len());
        let mut skipping = false;
        for line in message[..end].split_inclusive(|&b| b == b'\n') {
            let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
            if !folded {
                skipping = is_list_unsubscribe(line);
            }
            if !skipping {
                out.extend_from_slice(line);
            }
        }
        out.extend_from_slice(headers.as_bytes());
        out.extend_from_slice(&message[end..]);
        out
    }
}

fn is_list_unsubscribe(line: &[u8]) -> bool {
    let name = b"list-unsubscribe";
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name)
        && matches!(line[name.len()], b':' | b' ' | b'\t' | b'-')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsubscribe() -> (tempfile::TempDir, Unsubscribe) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn leak_store::Store> =
            Arc::new(leak_store::SledStore::open(dir.path()).unwrap());
        let list = Arc::new(Suppression::new(
            store,
            &leak_consent::Secret::from_bytes([1; 32]),
        ));
        let u = Unsubscribe {
            public_url: "https://anon.example".into(),
            optout_address: Some("optout@anon.example".into()),
            list,
        };
        (dir, u)
    }

    #[test]
    fn headers_are_replaced_in_the_header_block_only() {
        let (_dir, u) = unsubscribe();
        let message = b"From: a@anon.example\r\nList-Unsubscribe: <mailto:optout@anon.example>\r\n\
Subject: x\r\n\r\nList-Unsubscribe: body text\r\n";
        let out = String::from_utf8(u.add_headers(message, "Bob@x.test")).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let url = u.url("bob@x.test");
        assert!(head.contains(&format!(
            "List-Unsubscribe: <{url}>, <mailto:optout@anon.example>\r\n"
        )));
        assert!(head.ends_with("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert_eq!(head.matches("List-Unsubscribe:").count(), 1);
        assert!(head.starts_with("From: a@anon.example\r\nSubject: x\r\n"));
        assert_eq!(body, "List-Unsubscribe: body text\r\n");
    }

    #[test]
    fn the_footer_links_to_the_recipients_page() {
        let (_dir, u) = unsubscribe();
        let base = leak_anonymizer::Options {
            domain: "anon.example".into(),
            hostname: "mx.anon.example".into(),
            default_category: "someone".into(),
            categories: Default::default(),
            allow_custom_pseudonyms: false,
            notice: Some("Notice.".into()),
            optout_address: None,
            attachments: Default::default(),
        };
        let options = u.options_for(&base, "bob@x.test");
        let notice = options.notice.unwrap();
        assert!(notice.starts_with("Notice.\n"));
        assert!(notice.contains(&u.url("bob@x.test")));
        let silent = leak_anonymizer::Options {
            notice: None,
            ..base
        };
        assert!(u.options_for(&silent, "bob@x.test").notice.is_none());
    }
}
