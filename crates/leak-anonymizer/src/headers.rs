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
    "From",
    "To",
    "Cc",
    "Subject",
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
    pub(crate) from: Mailbox,
    pub(crate) to: Vec<Mailbox>,
    pub(crate) cc: Vec<Mailbox>,
    /// Decoded, scrubbed subject; empty means no Subject header.
    pub(crate) subject: String,
    /// Unix time written in UTC; `None` for the top-level message, which
    /// delivery dates at its first attempt (the submission time must not
    /// show).
    pub(crate) date: Option<i64>,
    /// Without angle brackets.
    pub(crate) message_id: String,
    /// The opt-out address, for `List-Unsubscribe`.
    pub(crate) list_unsubscribe: Option<String>,
}

/// Reply prefixes of the common clients' languages ("AW:" German, "SV:"
/// Nordic, "RV:" Spanish in Outlook, "Antw:" Dutch…): each tells the
/// recipient the sender's language and client, so all become "Re:".
const REPLY_PREFIXES: &[&str] = &[
    "re", "aw", "antw", "antwort", "sv", "vs", "r", "rif", "odp", "ynt", "res",
];

/// Forward prefixes ("WG:" German, "TR:" French, "RV:"… ): all become "Fwd:".
const FORWARD_PREFIXES: &[&str] = &[
    "fwd", "fw", "tr", "wg", "enc", "i", "doorst", "fs", "vb", "vl", "pd", "trs", "rv", "reenv",
];

/// The decoded subject without control characters, its reply and forward
/// prefixes normalised, the sender's identity replaced.
pub(crate) fn scrub_subject(subject: &str, identity: &Identity) -> String {
    let single_line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = single_line.split_whitespace().collect::<Vec<_>>().join(" ");
    identity.scrub_phrase(&normalize_prefixes(&collapsed))
}

/// "AW: WG: RE: x" → "Re: Fwd: x": the leading prefixes (with or without a
/// counter such as "RE[2]:", with an ASCII or full-width colon) become
/// "Re:" or "Fwd:", one of each kind in a row.
fn normalize_prefixes(subject: &str) -> String {
    let mut rest = subject.trim_start();
    let mut prefixes: Vec<&str> = Vec::new();
    while let Some((word, after)) = rest.split_once([':', '：']) {
        let word = word.trim();
        let bare = word
            .split_once('[')
            .filter(|(_, n)| n.trim_end_matches(']').chars().all(|c| c.is_ascii_digit()))
            .map_or(word, |(w, _)| w)
            .to_lowercase();
        let kind = if REPLY_PREFIXES.contains(&bare.as_str()) {
            "Re:"
        } else if FORWARD_PREFIXES.contains(&bare.as_str()) {
            "Fwd:"
        } else {
            break;
        };
        if prefixes.last() != Some(&kind) {
            prefixes.push(kind);
        }
        rest = after.trim_start();
    }
    if prefixes.is_empty() {
        return subject.to_string();
    }
    let mut out = prefixes.join(" ");
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
    out
}

/// The address of a To or Cc entry as written (display names are never
/// kept: names from the sender's address book tell who wrote), or `None`
/// when it is not a plain `local@domain`. mail-parser reads a quoted local
/// part (`"a b"@x`) as a display name followed by `@x`: it is put back
/// together here.
pub(crate) fn written_address(addr: &Addr<'_>) -> Option<String> {
    let parsed = addr.address()?.trim();
    let raw = match (parsed.starts_with('@'), addr.name()) {
        (true, Some(local)) => format!("{local}{parsed}"),
        _ => parsed.to_string(),
    };
    clean_address(&raw)
}

/// `local@domain` as it may be written in a header: a domain of printable
/// characters that do not delimit addresses, and a local part that is either
/// a dot-atom or, when it holds anything else (`a>"b`), written as an
/// RFC 5322 quoted string (`"a>\\"b"`), so it is never emitted unquoted.
/// Control characters, blanks in the domain and over-long addresses are
/// refused.
pub(crate) fn clean_address(address: &str) -> Option<String> {
    let address = address.trim();
    let (local, domain) = address.rsplit_once('@')?;
    // Already a quoted string (`"jean.dupont"@x`): judged by what it says.
    let local = &unquote(local);
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

/// The content of a local part written as a whole RFC 5322 quoted string
/// (`"a\\"b"` -> `a"b`); any other local part as it is.
fn unquote(local: &str) -> String {
    let Some(inner) = local
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|inner| !inner.is_empty())
    else {
        return local.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
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
    if let Some(date) = envelope.date {
        builder = builder.date(Date::new(date));
    }
    builder = builder
        .message_id(envelope.message_id.clone())
        .header("MIME-Version", Raw::new("1.0"));
    if let Some(optout) = &envelope.list_unsubscribe {
        builder = builder.header("List-Unsubscribe", Raw::new(format!("<mailto:{optout}>")));
    }
    let bytes = builder
        .body(body)
        .write_to_vec()
        .map_err(|_| AnonymizeError::Build)?;
    Ok(match envelope.date {
        Some(_) => bytes,
        None => without_date(bytes),
    })
}

/// mail-builder writes the current time as `Date` when none is given: take
/// that field out of the header section again, in place (the message may
/// carry a large attachment: no second copy).
fn without_date(mut message: Vec<u8>) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    let mut dated: Vec<(usize, usize)> = Vec::new();
    let (mut at, mut skipping) = (0, false);
    for line in message[..end].split_inclusive(|&b| b == b'\n') {
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            skipping = line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:");
        }
        if skipping {
            match dated.last_mut() {
                Some((_, stop)) if *stop == at => *stop += line.len(),
                _ => dated.push((at, at + line.len())),
            }
        }
        at += line.len();
    }
    for (start, stop) in dated.into_iter().rev() {
        message.drain(start..stop);
    }
    message
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
        // A local part already quoted is not quoted twice (red-team case).
        assert_eq!(
            clean_address("\"jean.dupont\"@example.test").as_deref(),
            Some("jean.dupont@example.test")
        );
        assert_eq!(clean_address("\"a b\"@x").as_deref(), Some("\"a b\"@x"));
        assert_eq!(
            clean_address("\"a\\\"b\"@x").as_deref(),
            Some("\"a\\\"b\"@x")
        );
    }

    #[test]
    fn localized_prefixes_are_normalised() {
        for (subject, expected) in [
            ("AW: Termin", "Re: Termin"),
            ("WG: AW: Termin", "Fwd: Re: Termin"),
            ("TR: RE: RE: Devis", "Fwd: Re: Devis"),
            ("RV: Presupuesto", "Fwd: Presupuesto"),
            ("SV: Möte", "Re: Möte"),
            ("Fwd: x", "Fwd: x"),
            ("RE[2]: x", "Re: x"),
            ("Réunion: ordre du jour", "Réunion: ordre du jour"),
            ("Re:", "Re:"),
        ] {
            assert_eq!(normalize_prefixes(subject), expected, "{subject}");
        }
    }
}
