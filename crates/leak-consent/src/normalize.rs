//! The canonical form of a recipient address.
//!
//! Mailbox providers deliver `Carol@x`, `carol+news@x` and (at Gmail)
//! `c.a.r.o.l@gmail.com` to the same person, so a list keyed by the address
//! as written can be dodged by rewriting it. Every list and counter keyed by
//! a recipient goes through [`normalize_address`] first. Folding case and
//! `+tag`s everywhere may merge two distinct mailboxes at an unusual
//! provider; for a do-not-mail list erring towards suppression is the safe
//! side.

/// Domains whose mailboxes ignore dots in the local part.
const DOTLESS_DOMAINS: &[&str] = &["gmail.com", "googlemail.com"];

/// Lowercase, surrounding space and angle brackets dropped, the `+tag`
/// removed, dots removed for [`DOTLESS_DOMAINS`] (and `googlemail.com`
/// folded into `gmail.com`), the domain in IDNA A-label form. A string
/// without `@` is only trimmed and lowercased.
pub fn normalize_address(address: &str) -> String {
    let trimmed = address.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(trimmed);
    let Some((local, domain)) = bare.rsplit_once('@') else {
        return bare.to_lowercase();
    };
    let domain = domain.trim_end_matches('.');
    let mut domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
    let mut local = local.to_lowercase();
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    if !quoted {
        if let Some((base, _tag)) = local.split_once('+') {
            if !base.is_empty() {
                local = base.to_string();
            }
        }
        if DOTLESS_DOMAINS.contains(&domain.as_str()) {
            local.retain(|c| c != '.');
            domain = "gmail.com".to_string();
        }
    }
    format!("{local}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::normalize_address as n;

    #[test]
    fn every_spelling_of_one_mailbox_is_one_address() {
        let carol = n("carol@example.test");
        for variant in [
            "Carol@example.test",
            "CAROL@EXAMPLE.TEST",
            "carol+x@example.test",
            " <Carol+News@Example.Test> ",
            "carol@example.test.",
        ] {
            assert_eq!(n(variant), carol, "{variant}");
        }
        assert_eq!(n("C.Arol+tag@GoogleMail.com"), "carol@gmail.com");
        assert_eq!(n("c.arol@gmail.com"), "carol@gmail.com");
        // Dots matter elsewhere.
        assert_ne!(n("c.arol@example.test"), carol);
    }

    #[test]
    fn idn_domains_take_one_form() {
        assert_eq!(n("élodie@Exämple.fr"), "élodie@xn--exmple-cua.fr");
        assert_eq!(n("élodie@xn--exmple-cua.fr"), n("élodie@EXÄMPLE.fr"));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        assert_eq!(n("+tag@example.test"), "+tag@example.test");
        assert_eq!(n("\"a+b\"@example.test"), "\"a+b\"@example.test");
        assert_eq!(n("nobody"), "nobody");
    }
}
