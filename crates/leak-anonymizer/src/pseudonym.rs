//! The category and pseudonym a message is sent under.
//!
//! [`choose`] applies the contract's rules (see `docs/anonymizer.md`, "Identity
//! and pseudonyms"): the category is the local part of a `From` address at
//! `anonymizer.domain`; a custom pseudonym is only ever one the user asked
//! for explicitly, with a `+tag` on that local part or the
//! [`PSEUDONYM_HEADER`] header, never the display name a client fills in with
//! the real name. [`sanitize_pseudonym`] makes sure a pseudonym cannot forge
//! a header or an address.

use crate::identity::Identity;
use crate::Options;

/// Longest pseudonym kept, in characters.
const MAX_PSEUDONYM_CHARS: usize = 64;

/// The header a client can set to ask for a custom pseudonym. No client
/// writes it by itself (and an address book cannot fill it in), so it is
/// always the user's explicit choice.
pub const PSEUDONYM_HEADER: &str = "X-Leak-Pseudonym";

/// The category and pseudonym of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) category: String,
    pub(crate) pseudonym: String,
    /// True when the pseudonym is the user's own choice (moderated).
    pub(crate) custom: bool,
}

/// The category and the pseudonym, per the contract. The category is the
/// `From` local part (before any `+`) when the address is at `domain` and
/// names a category, else the default. The pseudonym is the category's label
/// unless custom pseudonyms are allowed, the address is at `domain` and the
/// user asked for one explicitly: with the [`PSEUDONYM_HEADER`] header or a
/// `+tag` on the local part (`friend+Le.Renard@…` → "Le Renard"). The
/// `From` display name is never used: clients fill it with the real name.
pub(crate) fn choose(
    from_address: &str,
    requested: Option<&str>,
    opts: &Options,
    identity: &Identity,
) -> Choice {
    let local_at_domain = from_address
        .trim()
        .rsplit_once('@')
        .filter(|(_, host)| host.eq_ignore_ascii_case(&opts.domain))
        .map(|(local, _)| local.to_string());
    let (base, tag) = match &local_at_domain {
        Some(local) => match local.split_once('+') {
            Some((base, tag)) => (Some(base.to_ascii_lowercase()), Some(decode_tag(tag))),
            None => (Some(local.to_ascii_lowercase()), None),
        },
        None => (None, None),
    };
    let category = base
        .filter(|base| opts.categories.contains_key(base))
        .unwrap_or_else(|| opts.default_category.clone());
    let label = opts
        .categories
        .get(&category)
        .map(|label| sanitize_pseudonym(label))
        .filter(|label| !label.is_empty())
        .unwrap_or_else(|| category.clone());
    let asked = requested
        .map(sanitize_pseudonym)
        .filter(|p| !p.is_empty())
        .or_else(|| tag.map(|t| sanitize_pseudonym(&t)));
    if opts.allow_custom_pseudonyms && local_at_domain.is_some() {
        if let Some(custom) = asked.filter(|c| !c.is_empty() && !identity.is_mentioned_in(c)) {
            return Choice {
                category,
                pseudonym: custom,
                custom: true,
            };
        }
    }
    Choice {
        category,
        pseudonym: label,
        custom: false,
    }
}

/// A `+tag` as a pseudonym: `.`, `_` and `+` stand for spaces
/// (`Secret.Admirer` → "Secret Admirer").
fn decode_tag(tag: &str) -> String {
    tag.chars()
        .map(|c| if matches!(c, '.' | '_' | '+') { ' ' } else { c })
        .collect()
}

/// Makes a pseudonym safe to put in a `From` phrase: no control or
/// invisible characters (CR/LF, bidi overrides, zero-width), none of the
/// characters that delimit addresses or quoted strings, no `@` look-alike
/// (so it cannot pass for an address) and no encoded-word markers (so a
/// decoder cannot turn it into one). Whitespace is collapsed.
pub(crate) fn sanitize_pseudonym(name: &str) -> String {
    let mut cleaned: String = name
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !is_forbidden_in_pseudonym(*c))
        .collect();
    while let Some(pos) = cleaned.find("=?").or_else(|| cleaned.find("?=")) {
        cleaned.replace_range(pos..pos + 2, "");
    }
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .chars()
        .take(MAX_PSEUDONYM_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

fn is_forbidden_in_pseudonym(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '"' | '\\' | '<' | '>' | '@' | ',' | ';' | ':' | '(' | ')' | '[' | ']'
                | '\u{FF20}' // fullwidth commercial at
                | '\u{FE6B}' // small commercial at
                | '\u{FF1C}' | '\u{FF1E}' // fullwidth < >
                | '\u{00AD}' // soft hyphen
                | '\u{200B}'..='\u{200F}' // zero-width and direction marks
                | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
                | '\u{2060}'..='\u{2064}' // word joiner and invisible operators
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{FEFF}' // byte-order mark
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::tests::identity_of;
    use std::collections::BTreeMap;

    fn opts() -> Options {
        Options {
            domain: "anon.example".into(),
            hostname: "mail.anon.example".into(),
            default_category: "someone".into(),
            categories: BTreeMap::from([
                ("friend".to_string(), "Un ami".to_string()),
                ("someone".to_string(), "Quelqu'un".to_string()),
            ]),
            allow_custom_pseudonyms: true,
            notice: None,
            optout_address: None,
            attachments: Default::default(),
        }
    }

    fn identity() -> Identity {
        identity_of(
            &[("Jean Dupont", "jean.dupont@corp.example")],
            "jeannot",
            &["J. Dupont"],
        )
    }

    #[test]
    fn category_and_pseudonym_follow_the_contract() {
        let id = identity();
        let o = opts();
        let choice = |address: &str, header: Option<&str>, o: &Options| {
            let c = choose(address, header, o, &id);
            (c.category, c.pseudonym, c.custom)
        };
        assert_eq!(
            choice("friend@anon.example", None, &o),
            ("friend".into(), "Un ami".into(), false)
        );
        assert_eq!(
            choice("friend+Le.Renard@anon.example", None, &o),
            ("friend".into(), "Le Renard".into(), true)
        );
        assert_eq!(
            choice("friend@anon.example", Some("Le Hibou Sage"), &o),
            ("friend".into(), "Le Hibou Sage".into(), true)
        );
        assert_eq!(
            choice("friend+Le_Renard@elsewhere.example", None, &o),
            ("someone".into(), "Quelqu'un".into(), false)
        );
        assert_eq!(
            choice("friend+Jean.Dupont@anon.example", None, &o),
            ("friend".into(), "Un ami".into(), false)
        );
        assert_eq!(
            choice("nobody+X@anon.example", None, &o),
            ("someone".into(), "X".into(), true)
        );
        let mut strict = opts();
        strict.allow_custom_pseudonyms = false;
        assert_eq!(
            choice("friend+Le.Renard@anon.example", Some("Hibou"), &strict),
            ("friend".into(), "Un ami".into(), false)
        );
    }

    #[test]
    fn pseudonym_cannot_inject_or_fake_addresses() {
        assert_eq!(sanitize_pseudonym("Eve\r\nBcc: x@y"), "Eve Bcc xy");
        assert_eq!(
            sanitize_pseudonym("\"ceo@bank.example\" <"),
            "ceobank.example"
        );
        assert_eq!(
            sanitize_pseudonym("=?utf-8?q?a=40b.example?="),
            "utf-8?q?a=40b.example"
        );
        assert_eq!(sanitize_pseudonym("a\u{202E}b\u{200B}c\u{FF20}d"), "abcd");
        assert_eq!(
            sanitize_pseudonym(&"x".repeat(200)).len(),
            MAX_PSEUDONYM_CHARS
        );
    }
}
