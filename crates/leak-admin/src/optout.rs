//! `leak optout`: the operator's side of the suppression list.
//!
//! The list itself (HMAC keys of normalised addresses, sources, dates, the
//! entries of earlier versions) is [`leak_consent::Suppression`]; this module
//! checks what an operator typed and turns entries into [`OptoutEntry`]s.

use leak_consent::{Source, Suppression};
use leak_store::{StoreError, UnixTime};

use crate::protocol::OptoutEntry;

/// Why an address cannot go on the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an email address: {0:?} (expected local-part@domain)")]
pub struct InvalidAddress(pub String);

/// The form addresses are compared in; kept under this name for callers of
/// earlier versions: it is [`leak_consent::normalize_address`].
pub fn normalize(address: &str) -> String {
    leak_consent::normalize_address(address)
}

/// Checks that an operator-given address has a local part and a domain;
/// returns it normalised ([`leak_consent::normalize_address`]).
pub fn validate(address: &str) -> Result<String, InvalidAddress> {
    let normalized = leak_consent::normalize_address(address);
    let invalid = || InvalidAddress(address.to_string());
    let (local, domain) = normalized.rsplit_once('@').ok_or_else(invalid)?;
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let spaced = |s: &str| s.chars().any(|c| c.is_whitespace() || c.is_control());
    if local.is_empty() || domain.is_empty() || spaced(domain) || (!quoted && spaced(local)) {
        return Err(invalid());
    }
    Ok(normalized)
}

/// `leak optout add`: source `cli`.
pub async fn add(
    list: &Suppression,
    address: &str,
    now: UnixTime,
) -> Result<(String, bool), StoreError> {
    list.add(address, Source::Cli, None, now).await
}

/// Every entry, as the admin protocol carries them.
pub fn list(list: &Suppression) -> Result<Vec<OptoutEntry>, StoreError> {
    Ok(list
        .list()?
        .into_iter()
        .map(|entry| OptoutEntry {
            hash: entry.hash,
            added: entry.added,
            source: Some(entry.source.as_str().to_string()),
            reason: entry.reason,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_wants_local_part_and_domain() {
        assert_eq!(validate("a+x@B.example").unwrap(), "a@b.example");
        assert!(validate("\"john doe\"@example.test").is_ok());
        for bad in ["", "bob", "@example.test", "bob@", "bo b@example.test"] {
            assert!(validate(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
