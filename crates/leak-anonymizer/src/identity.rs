//! Who the sender really is, and what the recipient sees instead.
//!
//! [`Identity`] gathers every name and address that identifies the submitter
//! (the submitted `From`, the SMTP `MAIL FROM`, the account name and its
//! aliases) and replaces them wherever they appear in text. [`choose`] applies
//! the contract's rules for the category and the pseudonym, and
//! [`sanitize_pseudonym`] makes sure a chosen display name cannot forge a
//! header or an address.

use unicode_normalization::UnicodeNormalization;

use crate::Options;

/// Shortest name fragment that is scrubbed on its own: shorter words ("Al",
/// "Jo") would destroy ordinary text for little gain.
const MIN_WORD_LEN: usize = 3;

/// Longest pseudonym kept, in characters.
const MAX_PSEUDONYM_CHARS: usize = 64;

/// The strings that identify the submitter, and what replaces them.
#[derive(Debug)]
pub(crate) struct Identity {
    /// Lower-cased real addresses, replaced by `replacement_address`.
    addresses: Vec<String>,
    /// Lower-cased real names and name words, replaced by `replacement_name`,
    /// longest first so that "Jean Dupont" wins over "Jean".
    names: Vec<String>,
    replacement_address: String,
    replacement_name: String,
}

impl Identity {
    /// Collects the identifying strings. `submitted` are the (name, address)
    /// pairs of the submitted `From`, `Sender` and `Reply-To`; a pair only
    /// counts when its address is not already a pseudonymous one at `domain`.
    pub(crate) fn new(
        submitted: &[(String, String)],
        mail_from: &str,
        account: &str,
        aliases: &[String],
        domain: &str,
    ) -> Self {
        let mut addresses = Vec::new();
        let mut names = Vec::new();
        let mut add = |value: &str| {
            let value = value.trim().trim_matches(|c| c == '<' || c == '>');
            if value.is_empty() {
                return;
            }
            if let Some((local, host)) = value.rsplit_once('@') {
                if host.eq_ignore_ascii_case(domain) {
                    return;
                }
                addresses.push(fold_str(value));
                add_words(&mut names, local);
            } else {
                names.push(fold_str(value));
                add_words(&mut names, value);
            }
        };
        for (name, address) in submitted {
            let at_domain = address
                .rsplit_once('@')
                .is_some_and(|(_, host)| host.eq_ignore_ascii_case(domain));
            if !at_domain {
                add(address);
                add(name);
            }
        }
        add(mail_from);
        add(account);
        for alias in aliases {
            add(alias);
        }
        addresses.sort_by_key(|a| std::cmp::Reverse(a.len()));
        addresses.dedup();
        names.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
        names.dedup();
        Identity {
            addresses,
            names,
            replacement_address: String::new(),
            replacement_name: String::new(),
        }
    }

    /// Adds a phrase to scrub as a whole (not word by word), such as the
    /// submitted `Organization`, whose single words are too common.
    pub(crate) fn add_phrase(&mut self, phrase: &str) {
        let phrase = phrase.trim();
        if phrase.chars().count() >= MIN_WORD_LEN {
            self.names.push(phrase.chars().map(fold_char).collect());
            self.names
                .sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
            self.names.dedup();
        }
    }

    /// Sets what the real address and name are replaced with.
    pub(crate) fn replace_with(&mut self, address: &str, name: &str) {
        self.replacement_address = address.to_string();
        self.replacement_name = name.to_string();
    }

    /// True when `address` is one of the sender's real addresses.
    pub(crate) fn is_own_address(&self, address: &str) -> bool {
        self.addresses.contains(&fold_str(address.trim()))
    }

    /// The pseudonymous (name, address) that replaces the real ones.
    pub(crate) fn replacement(&self) -> (&str, &str) {
        (&self.replacement_name, &self.replacement_address)
    }

    /// True when `text` mentions any identifying name or address.
    pub(crate) fn is_mentioned_in(&self, text: &str) -> bool {
        let folded = fold(text);
        (0..folded.len()).any(|at| self.match_at(&folded, at).is_some())
    }

    /// Replaces every identifying address and name in `text`
    /// (case-insensitively, on word boundaries) in one left-to-right pass, so
    /// a replacement is never itself rewritten.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.addresses.is_empty() && self.names.is_empty() {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let folded: Vec<char> = chars.iter().copied().map(fold_char).collect();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while at < chars.len() {
            match self.match_at(&folded, at) {
                Some((len, is_address)) => {
                    out.push_str(if is_address {
                        &self.replacement_address
                    } else {
                        &self.replacement_name
                    });
                    at += len;
                }
                None => {
                    out.push(chars[at]);
                    at += 1;
                }
            }
        }
        out
    }

    /// The length (in chars) of the identifying string starting at `at`, and
    /// whether it is an address. Addresses are tried first, then names, each
    /// longest first.
    fn match_at(&self, folded: &[char], at: usize) -> Option<(usize, bool)> {
        let addresses = self.addresses.iter().map(|a| (a, true));
        let names = self.names.iter().map(|n| (n, false));
        addresses
            .chain(names)
            .find(|(needle, _)| word_at(folded, at, needle))
            .map(|(needle, is_address)| (needle.chars().count(), is_address))
    }
}

/// Adds the words of a name ("Jean-Pierre Dupont", "jdupont") long enough to
/// be scrubbed on their own.
fn add_words(names: &mut Vec<String>, value: &str) {
    for word in value.split(|c: char| !c.is_alphanumeric()) {
        if word.chars().count() >= MIN_WORD_LEN {
            names.push(fold_str(word));
        }
    }
}

/// Lower-cases `text` one char for one char, so positions in the folded
/// text are positions in the original.
fn fold(text: &str) -> Vec<char> {
    text.chars().map(fold_char).collect()
}

/// Lower-cases, removes diacritics ("É" → "e") and unifies spaces, one
/// char for one char, so "Zébulon" and "ZEBULON" match the same needle.
fn fold_char(c: char) -> char {
    if c.is_whitespace() {
        return ' '; // "Jean&nbsp;Dupont" is still "Jean Dupont"
    }
    let lower = c.to_lowercase().next().unwrap_or(c);
    if lower.is_ascii() {
        return lower;
    }
    std::iter::once(lower).nfd().next().unwrap_or(lower)
}

/// Folds a needle the same way as the text it is searched in.
fn fold_str(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// True when `needle` (lower-cased) starts at `at` in `hay` and is not glued
/// to other letters or digits.
fn word_at(hay: &[char], at: usize, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric();
    let mut end = at;
    let mut first = None;
    let mut last = None;
    for c in needle.chars() {
        if hay.get(end) != Some(&c) {
            return false;
        }
        first.get_or_insert(c);
        last = Some(c);
        end += 1;
    }
    let (Some(first), Some(last)) = (first, last) else {
        return false;
    };
    (at == 0 || !is_word(hay[at - 1]) || !is_word(first))
        && (end == hay.len() || !is_word(hay[end]) || !is_word(last))
}

/// The category, the pseudonym and whether the pseudonym is the submitter's
/// own choice, per the contract: the category is the `From` local part when
/// the address is at `domain` and names a category; the pseudonym is the
/// `From` display name only when custom pseudonyms are allowed, the address is
/// at `domain` and the name survives sanitising without naming the sender.
pub(crate) fn choose(
    from: (&str, &str),
    opts: &Options,
    identity: &Identity,
) -> (String, String, bool) {
    let (name, address) = from;
    let local_at_domain = address
        .rsplit_once('@')
        .filter(|(_, host)| host.eq_ignore_ascii_case(&opts.domain))
        .map(|(local, _)| local.to_ascii_lowercase());
    let category = local_at_domain
        .as_deref()
        .filter(|local| opts.categories.contains_key(*local))
        .unwrap_or(&opts.default_category)
        .to_string();
    let label = opts
        .categories
        .get(&category)
        .map(|label| sanitize_pseudonym(label))
        .filter(|label| !label.is_empty())
        .unwrap_or_else(|| category.clone());
    if opts.allow_custom_pseudonyms && local_at_domain.is_some() {
        let custom = sanitize_pseudonym(name);
        if !custom.is_empty() && !identity.is_mentioned_in(&custom) {
            return (category, custom, true);
        }
    }
    (category, label, false)
}

/// Makes a display name safe to put in a `From` phrase: no control or
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
        let mut id = Identity::new(
            &[("Jean Dupont".into(), "jean.dupont@corp.example".into())],
            "jd@isp.example",
            "jeannot",
            &["J. Dupont".to_string()],
            "anon.example",
        );
        id.replace_with("someone@anon.example", "Quelqu'un");
        id
    }

    #[test]
    fn scrubs_addresses_names_and_words() {
        let id = identity();
        let out = id.scrub(
            "Hi, JEAN DUPONT <Jean.Dupont@corp.example> and jd@isp.example, jeannot. Jeanne stays.",
        );
        assert_eq!(
            out,
            "Hi, Quelqu'un <someone@anon.example> and someone@anon.example, Quelqu'un. Jeanne stays."
        );
        assert_eq!(id.scrub("Cheers,\nJean"), "Cheers,\nQuelqu'un");
        assert_eq!(id.scrub("Jéan DÛPONT"), "Quelqu'un");
    }

    #[test]
    fn category_and_pseudonym_follow_the_contract() {
        let id = identity();
        let o = opts();
        assert_eq!(
            choose(("Le Renard", "friend@anon.example"), &o, &id),
            ("friend".into(), "Le Renard".into(), true)
        );
        assert_eq!(
            choose(("Le Renard", "friend@elsewhere.example"), &o, &id),
            ("someone".into(), "Quelqu'un".into(), false)
        );
        assert_eq!(
            choose(("Jean Dupont", "friend@ANON.example"), &o, &id),
            ("friend".into(), "Un ami".into(), false)
        );
        assert_eq!(
            choose(("", "nobody@anon.example"), &o, &id),
            ("someone".into(), "Quelqu'un".into(), false)
        );
        let mut strict = opts();
        strict.allow_custom_pseudonyms = false;
        assert_eq!(
            choose(("Le Renard", "friend@anon.example"), &strict, &id),
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
