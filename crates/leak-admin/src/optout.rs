//! The opt-out list: recipients who refuse anonymous mail.
//!
//! It lives in the store's kv tree [`TREE`], keyed by the SHA-256 of the
//! normalized address, so the list never holds the addresses themselves: an
//! operator can check an address (`optout add` prints its hash, and so does
//! [`hash`]) but cannot read the list back as a mailing list. Each value is the
//! time the entry was added, 8 bytes big-endian.
//!
//! Addresses compare case-insensitively on the domain and exactly as written
//! on the local part (RFC 5321 §2.4: only the domain is case-insensitive).

use leak_store::{Store, StoreError, UnixTime};
use sha2::{Digest, Sha256};

use crate::protocol::OptoutEntry;

/// The kv tree holding the list.
pub const TREE: &str = "optout";

/// Why an address cannot go on the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an email address: {0:?} (expected local-part@domain)")]
pub struct InvalidAddress(pub String);

/// The form addresses are compared in: surrounding space and one pair of
/// angle brackets dropped, the domain lowercased, the local part as written.
pub fn normalize(address: &str) -> String {
    let trimmed = address.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(trimmed);
    match bare.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => bare.to_string(),
    }
}

/// Checks that an operator-given address has a local part and a domain.
pub fn validate(address: &str) -> Result<String, InvalidAddress> {
    let normalized = normalize(address);
    let invalid = || InvalidAddress(address.to_string());
    let (local, domain) = normalized.rsplit_once('@').ok_or_else(invalid)?;
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let spaced = |s: &str| s.chars().any(|c| c.is_whitespace() || c.is_control());
    if local.is_empty() || domain.is_empty() || spaced(domain) || (!quoted && spaced(local)) {
        return Err(invalid());
    }
    Ok(normalized)
}

/// The store key of an address: SHA-256 of its normalized form.
pub fn key(address: &str) -> Vec<u8> {
    Sha256::digest(normalize(address).as_bytes()).to_vec()
}

/// The key as operators see it (`optout add` and `optout list`): lowercase hex.
pub fn hash(address: &str) -> String {
    hex::encode(key(address))
}

/// Whether mail to `address` must be refused. Called at RCPT TO.
pub fn is_opted_out(store: &dyn Store, address: &str) -> Result<bool, StoreError> {
    Ok(store.kv_get(TREE, &key(address))?.is_some())
}

/// Puts an address on the list; returns its hash and whether it was new.
/// Durable when it returns.
pub async fn add(
    store: &dyn Store,
    address: &str,
    now: UnixTime,
) -> Result<(String, bool), StoreError> {
    let key = key(address);
    if store.kv_get(TREE, &key)?.is_some() {
        return Ok((hex::encode(key), false));
    }
    store.kv_put(TREE, &key, now.to_be_bytes().to_vec()).await?;
    Ok((hex::encode(key), true))
}

/// Takes an address off the list; returns its hash, or `None` if it was not listed.
pub async fn remove(store: &dyn Store, address: &str) -> Result<Option<String>, StoreError> {
    let key = key(address);
    let existed = store.kv_remove(TREE, &key).await?;
    Ok(existed.then(|| hex::encode(key)))
}

/// Every entry, in hash order.
pub fn list(store: &dyn Store) -> Result<Vec<OptoutEntry>, StoreError> {
    Ok(store
        .kv_scan(TREE)?
        .into_iter()
        .map(|(key, value)| OptoutEntry {
            hash: hex::encode(key),
            added: <[u8; 8]>::try_from(value.as_slice())
                .ok()
                .map(u64::from_be_bytes),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_case_insensitive_local_part_is_not() {
        assert_eq!(normalize("Bob@Example.TEST"), "Bob@example.test");
        assert_eq!(normalize(" <bob@EXAMPLE.test> "), "bob@example.test");
        assert_eq!(key("bob@example.test"), key("bob@EXAMPLE.TEST"));
        assert_ne!(key("bob@example.test"), key("Bob@example.test"));
        // printf 'bob@example.test' | sha256sum
        assert_eq!(
            hash("bob@EXAMPLE.test"),
            "25a2a844fdd9d5ab5129dc7a3d44b9539f7ce78441fe54425ad5cee3a67cd217"
        );
    }

    #[test]
    fn validate_wants_local_part_and_domain() {
        assert_eq!(validate("a@B.example").unwrap(), "a@b.example");
        assert!(validate("\"john doe\"@example.test").is_ok());
        for bad in ["", "bob", "@example.test", "bob@", "bo b@example.test"] {
            assert!(validate(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
