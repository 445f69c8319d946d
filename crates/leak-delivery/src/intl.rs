//! International addresses on the delivery side (RFC 5890 IDNA, RFC 6531
//! SMTPUTF8, RFC 6533 DSNs).
//!
//! - Domains go to DNS and into `MAIL`/`RCPT` as A-labels (`xn--…`), through
//!   the `idna` crate (UTS #46 mapping, so `Ünicode.DE` and `ünicode.de` are
//!   one destination). The stored recipient keeps the form it was submitted
//!   in; only the wire and the lookup see the A-label.
//! - A message *needs* SMTPUTF8 when an envelope local part or its header
//!   section holds UTF-8. SMTPUTF8 is asked for only then, and only when the
//!   receiver offers it; a UTF-8 local part at a receiver without it cannot
//!   be delivered (there is no ASCII form of a local part) and fails
//!   permanently with [`NO_SMTPUTF8`].
//! - Failure reports name such recipients with RFC 6533's `utf-8` address
//!   type in its 7-bit `xtext` form (`\x{FC}`), since leak's reports are
//!   plain `message/delivery-status`.

/// Why a UTF-8 local part was not delivered (RFC 6531 §3.2 suggests 553 5.6.7).
pub(crate) const NO_SMTPUTF8: &str =
    "553 5.6.7 the receiving server does not support internationalized addresses (SMTPUTF8)";

/// A domain's ASCII form (A-labels, lowercased); `None` when it is not a
/// valid internationalized domain name.
pub fn ascii_domain(domain: &str) -> Option<String> {
    let domain = domain.trim_end_matches('.');
    if domain.is_ascii() {
        return Some(domain.to_ascii_lowercase());
    }
    idna::domain_to_ascii(domain).ok().filter(|d| !d.is_empty())
}

/// `address` as it goes into `MAIL FROM`/`RCPT TO`: the local part as
/// submitted (quoted when RFC 5321 requires it), the domain as A-labels (an
/// ASCII domain exactly as written). The null sender stays empty.
pub(crate) fn wire_address(address: &str) -> Option<String> {
    match address.rsplit_once('@') {
        None if address.is_empty() => Some(String::new()),
        None => None,
        Some((local, domain)) => {
            let domain = if domain.is_ascii() {
                domain.to_owned()
            } else {
                ascii_domain(domain)?
            };
            Some(format!("{}@{domain}", smtp_local_part(local)))
        }
    }
}

/// A local part as RFC 5321 §4.1.2 writes it: a Dot-string as it is,
/// anything else as a Quoted-string (`a>"b` → `"a>\\"b"`), so no character
/// of it can end the path or start a parameter at the receiving server.
fn smtp_local_part(local: &str) -> String {
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_string = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext));
    if dot_string {
        return local.to_owned();
    }
    let mut quoted = String::with_capacity(local.len() + 4);
    quoted.push('"');
    for c in local.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Whether the address's local part holds anything but ASCII.
pub(crate) fn utf8_local_part(address: &str) -> bool {
    address
        .rsplit_once('@')
        .map_or(!address.is_ascii(), |(local, _)| !local.is_ascii())
}

/// Whether the header section (up to the first empty line) holds 8-bit bytes.
pub(crate) fn utf8_headers(message: &[u8]) -> bool {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    !message[..end].is_ascii()
}

/// RFC 6533 `utf-8-addr-xtext`: ASCII printable characters except `+`, `\`
/// and `=` as they are, everything else as `\x{HEX}`.
pub(crate) fn utf8_xtext(address: &str) -> String {
    let mut out = String::with_capacity(address.len() + 8);
    for c in address.chars() {
        if ('!'..='~').contains(&c) && !matches!(c, '+' | '\\' | '=') {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:X}}}", c as u32));
        }
    }
    out
}

/// A DSN `Final-Recipient` value: `rfc822;` for ASCII addresses, RFC 6533
/// `utf-8;` otherwise.
pub(crate) fn final_recipient(address: &str) -> String {
    if address.is_ascii() {
        format!("rfc822; {address}")
    } else {
        format!("utf-8; {}", utf8_xtext(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts_that_are_not_dot_strings_are_quoted() {
        assert_eq!(
            wire_address("bob.smith@x.test").unwrap(),
            "bob.smith@x.test"
        );
        assert_eq!(wire_address("a>\"b@x.test").unwrap(), "\"a>\\\"b\"@x.test");
        assert_eq!(wire_address("a b@x.test").unwrap(), "\"a b\"@x.test");
        assert_eq!(wire_address(".lead@x.test").unwrap(), "\".lead\"@x.test");
        assert_eq!(
            wire_address("j\u{f6}rg@b\u{fc}cher.example").unwrap(),
            "j\u{f6}rg@xn--bcher-kva.example"
        );
    }

    #[test]
    fn domains_become_a_labels() {
        assert_eq!(
            ascii_domain("ünicode.de").as_deref(),
            Some("xn--nicode-2ya.de")
        );
        assert_eq!(
            ascii_domain("Ünicode.DE.").as_deref(),
            Some("xn--nicode-2ya.de")
        );
        assert_eq!(
            ascii_domain("Example.TEST").as_deref(),
            Some("example.test")
        );
        assert_eq!(ascii_domain("xn--a.bücher.de"), None);
        assert_eq!(
            wire_address("bob@bücher.example").as_deref(),
            Some("bob@xn--bcher-kva.example")
        );
        assert_eq!(
            wire_address("jörg@bücher.example").as_deref(),
            Some("jörg@xn--bcher-kva.example")
        );
        assert_eq!(wire_address("").as_deref(), Some(""));
        assert_eq!(wire_address("b@PREF.test").as_deref(), Some("b@PREF.test"));
    }

    #[test]
    fn what_needs_smtputf8() {
        assert!(utf8_local_part("jörg@example.test"));
        assert!(!utf8_local_part("bob@bücher.example"));
        assert!(utf8_headers(b"Subject: \xc3\xa9\r\n\r\nbody"));
        assert!(!utf8_headers(b"Subject: e\r\n\r\nb\xc3\xa9"));
    }

    #[test]
    fn dsn_addresses() {
        assert_eq!(
            final_recipient("bob@example.test"),
            "rfc822; bob@example.test"
        );
        assert_eq!(
            final_recipient("jörg+x@bücher.example"),
            "utf-8; j\\x{F6}rg\\x{2B}x@b\\x{FC}cher.example"
        );
    }
}
