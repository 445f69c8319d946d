//! The top-level header block of a rebuilt message.
//!
//! [`Envelope`] holds the only header values a rebuilt message carries, all
//! chosen or checked by leak; [`write_message`] serialises them (through
//! `mail-builder`, which RFC 2047-encodes non-ASCII text) in front of the
//! rebuilt body. No header of the submission is copied as written.

use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use mail_parser::Addr;

use crate::identity::Identity;
use crate::AnonymizeError;

/// The header names a rebuilt message can have at its top level, in
/// canonical spelling. Nothing else is ever written there.
pub const OUTPUT_HEADERS: &[&str] = &[
    "Received",
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Unsubscribe",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
];

/// A display name and an address.
pub(crate) type Mailbox = (Option<String>, String);

/// Everything written in a rebuilt message's header block.
pub(crate) struct Envelope {
    /// leak's own trace line, without any client information.
    pub(crate) received: Option<String>,
    pub(crate) from: Mailbox,
    pub(crate) to: Vec<Mailbox>,
    pub(crate) cc: Vec<Mailbox>,
    /// Decoded, scrubbed subject; empty means no Subject header.
    pub(crate) subject: String,
    /// Unix time written in UTC.
    pub(crate) date: i64,
    /// Without angle brackets.
    pub(crate) message_id: String,
    /// The opt-out address, for `List-Unsubscribe`.
    pub(crate) list_unsubscribe: Option<String>,
}

/// The decoded subject without control characters, the sender's identity
/// replaced.
pub(crate) fn scrub_subject(subject: &str, identity: &Identity) -> String {
    let single_line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = single_line.split_whitespace().collect::<Vec<_>>().join(" ");
    identity.scrub(&collapsed)
}

/// A recipient as written in To or Cc, or `None` when its address is not a
/// plain `local@domain` or is the sender's own (a self-copy would reveal it).
/// With `replace_own`, the sender's own address becomes the pseudonym instead.
pub(crate) fn mailbox(addr: &Addr<'_>, identity: &Identity, replace_own: bool) -> Option<Mailbox> {
    let parsed = addr.address()?.trim();
    // mail-parser reads a quoted local part (`"a b"@x`) as a display name
    // followed by `@x`: put the address back together.
    let (raw, name) = match (parsed.starts_with('@'), addr.name()) {
        (true, Some(local)) => (format!("{local}{parsed}"), None),
        _ => (parsed.to_string(), addr.name()),
    };
    if identity.is_own_address(&raw) {
        let (name, address) = identity.replacement();
        return replace_own.then(|| (Some(name.to_string()), address.to_string()));
    }
    let address = clean_address(&raw)?;
    let name = name
        .map(|name| scrub_subject(name, identity))
        .filter(|name| !name.is_empty());
    Some((name, address))
}

/// `local@domain` as it may be written in a header: a domain of printable
/// characters that do not delimit addresses, and a local part that is either
/// a dot-atom or, when it holds anything else (`a>"b`), written as an
/// RFC 5322 quoted string (`"a>\\"b"`), so it is never emitted unquoted.
/// Control characters, blanks in the domain and over-long addresses are
/// refused.
fn clean_address(address: &str) -> Option<String> {
    let address = address.trim();
    let (local, domain) = address.rsplit_once('@')?;
    let forbidden = |c: char| c.is_control() || c.is_whitespace() || "<>\"(),;:\\[]@".contains(c);
    if local.is_empty()
        || domain.is_empty()
        || domain.chars().any(forbidden)
        || local.chars().any(|c| c.is_control())
        || local.len() > 64
    {
        return None;
    }
    let local = if is_dot_atom(local) {
        local.to_string()
    } else {
        let escaped = local.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    };
    let cleaned = format!("{local}@{domain}");
    (cleaned.len() <= 254).then_some(cleaned)
}

/// RFC 5322 dot-atom: atext runs separated by single dots (non-ASCII
/// letters allowed, as RFC 6532 does).
fn is_dot_atom(local: &str) -> bool {
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

fn address_list(list: &[Mailbox]) -> Address<'static> {
    Address::new_list(
        list.iter()
            .map(|(name, address)| Address::new_address(name.clone(), address.clone()))
            .collect(),
    )
}

/// Serialises the header block and the body.
pub(crate) fn write_message(
    envelope: &Envelope,
    body: MimePart<'static>,
) -> Result<Vec<u8>, AnonymizeError> {
    let mut builder = MessageBuilder::new();
    if let Some(received) = &envelope.received {
        builder = builder.header("Received", Raw::new(received.clone()));
    }
    let (name, address) = &envelope.from;
    builder = builder.from(Address::new_address(name.clone(), address.clone()));
    if !envelope.to.is_empty() {
        builder = builder.to(address_list(&envelope.to));
    }
    if !envelope.cc.is_empty() {
        builder = builder.cc(address_list(&envelope.cc));
    }
    if !envelope.subject.is_empty() {
        builder = builder.subject(Text::new(envelope.subject.clone()));
    }
    builder = builder
        .date(Date::new(envelope.date))
        .message_id(envelope.message_id.clone())
        .header("MIME-Version", Raw::new("1.0"));
    if let Some(optout) = &envelope.list_unsubscribe {
        builder = builder.header("List-Unsubscribe", Raw::new(format!("<mailto:{optout}>")));
    }
    builder
        .body(body)
        .write_to_vec()
        .map_err(|_| AnonymizeError::Build)
}

/// An RFC 5322 date in UTC, as `Date` and `Received` carry it.
pub(crate) fn rfc5322_date(unix: i64) -> String {
    Date::new(unix).to_rfc822()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            clean_address(" bob@x.example ").as_deref(),
            Some("bob@x.example")
        );
        assert!(clean_address("bob@x.example>\r\nBcc: eve@y").is_none());
        assert!(clean_address("bob").is_none());
        assert!(clean_address("@x").is_none());
        assert!(clean_address("a@b c").is_none());
        assert_eq!(clean_address("a b@x").as_deref(), Some("\"a b\"@x"));
        assert_eq!(
            clean_address("a>\"b@x.example").as_deref(),
            Some("\"a>\\\"b\"@x.example")
        );
        assert_eq!(clean_address("a..b@x").as_deref(), Some("\"a..b\"@x"));
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(
            rfc5322_date(1_795_154_580),
            "Fri, 20 Nov 2026 06:03:00 +0000"
        );
    }
}
