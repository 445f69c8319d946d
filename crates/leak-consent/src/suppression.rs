//! The suppression list: addresses leak must not mail again.
//!
//! One kv tree, [`TREE`], in the store. The key is HMAC-SHA256 of the
//! normalised address under a key derived from the server secret: the list
//! holds no address, and unlike a bare hash it cannot be checked against a
//! list of guessed addresses by whoever copies the store without the
//! secret. The value is a JSON [`Entry`] body: where the entry came from,
//! when, and (for bounces and complaints) why.
//!
//! Before this list existed, `leak optout add` wrote SHA-256 keys of the
//! address with only its domain lowercased into [`LEGACY_TREE`]. Those
//! cannot be converted (the address is not stored), so they are still read:
//! an address is suppressed when either list has it. A legacy entry matches
//! the spelling it was added with (and its normalised form); `leak optout
//! list` shows it with source `legacy`, and re-adding the address gives it
//! the new key. `leak optout remove` removes both.
//!
//! In a cluster (`[cluster] database`), the HMAC-keyed entries live in the
//! shared store instead of this node's [`TREE`]: [`SharedList`] is that
//! store as this list sees it (implemented by `leak-cluster`); legacy
//! entries stay local. Every node must then use the same server secret, or
//! their keys would differ.

use crate::normalize::normalize_address;
use crate::secret::Secret;
use crate::token::{TokenError, Tokens};
use aws_lc_rs::hmac;
use leak_store::{Store, StoreError, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The kv tree of HMAC-keyed entries.
pub const TREE: &str = "suppression";
/// The kv tree of SHA-256-keyed opt-outs written by earlier versions.
pub const LEGACY_TREE: &str = "optout";

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `leak optout add`.
    Cli,
    /// The one-click page or an RFC 8058 POST.
    Web,
    /// A message to the opt-out address.
    Mail,
    /// A hard (5.x.x) bounce.
    Bounce,
    /// A feedback-loop (ARF) complaint.
    Complaint,
    /// An entry from before sources were recorded.
    Legacy,
}

impl Source {
    /// Every source, in the order metrics list them.
    pub const ALL: [Source; 6] = [
        Source::Cli,
        Source::Web,
        Source::Mail,
        Source::Bounce,
        Source::Complaint,
        Source::Legacy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Web => "web",
            Source::Mail => "mail",
            Source::Bounce => "bounce",
            Source::Complaint => "complaint",
            Source::Legacy => "legacy",
        }
    }
}

/// One entry as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Lowercase hex of the key (never the address).
    #[serde(skip)]
    pub hash: String,
    pub source: Source,
    /// Unix seconds; `None` for legacy entries without a date.
    pub added: Option<UnixTime>,
    /// For bounces and complaints: the status code or feedback type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One key and its JSON entry body.
pub type KeyedEntry = (Vec<u8>, Vec<u8>);

/// The HMAC-keyed entries when they are shared between nodes (the
/// cluster's PostgreSQL, `leak-cluster`). Reads are synchronous because
/// the implementation answers them from a per-node copy it keeps current;
/// when that copy cannot be trusted (the database is unreachable) they fail,
/// and RCPT TO answers a temporary error instead of guessing.
#[async_trait::async_trait]
pub trait SharedList: Send + Sync {
    /// The entry (JSON [`Entry`] body) stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `entry` under `key` unless the key exists; `true` when new.
    async fn insert(&self, key: &[u8], entry: Vec<u8>) -> Result<bool, StoreError>;
    /// Removes `key`; `true` when it was there.
    async fn remove(&self, key: &[u8]) -> Result<bool, StoreError>;
    /// Every key and entry.
    fn scan(&self) -> Result<Vec<KeyedEntry>, StoreError>;
}

/// The list, its keys, and the opt-out tokens that share its secret.
pub struct Suppression {
    store: Arc<dyn Store>,
    /// Where the HMAC-keyed entries are when not in `store` (a cluster).
    shared: Option<Arc<dyn SharedList>>,
    key: hmac::Key,
    tokens: Tokens,
    /// Entries newly added since start, by [`Source`] (metrics).
    added: [AtomicU64; Source::ALL.len()],
}

impl Suppression {
    pub fn new(store: Arc<dyn Store>, secret: &Secret) -> Suppression {
        Suppression::with_shared(store, secret, None)
    }

    /// The list with its HMAC-keyed entries in `shared` when given (a
    /// cluster's store); legacy entries are still read from `store`.
    pub fn with_shared(
        store: Arc<dyn Store>,
        secret: &Secret,
        shared: Option<Arc<dyn SharedList>>,
    ) -> Suppression {
        Suppression {
            store,
            shared,
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret.derive("suppression")),
            tokens: Tokens::new(secret),
            added: Default::default(),
        }
    }

    /// The store key of an address: HMAC of its normalised form.
    pub fn key(&self, address: &str) -> Vec<u8> {
        hmac::sign(&self.key, normalize_address(address).as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The key as operators see it: lowercase hex.
    pub fn hash(&self, address: &str) -> String {
        hex::encode(self.key(address))
    }

    /// The opt-out token of `address`, for `{public_url}/optout/{token}`.
    pub fn token(&self, address: &str) -> String {
        self.tokens.make(address)
    }

    /// The normalised address a token stands for.
    pub fn open_token(&self, token: &str) -> Result<String, TokenError> {
        self.tokens.open(token)
    }

    /// Whether mail to `address` must be refused (checked at RCPT TO).
    pub fn is_suppressed(&self, address: &str) -> Result<bool, StoreError> {
        if self.get(&self.key(address))?.is_some() {
            return Ok(true);
        }
        for key in legacy_keys(address) {
            if self.store.kv_get(LEGACY_TREE, &key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds `address`; returns its hash and whether it was new. An existing
    /// entry is kept as it is (its first source and date stay). Durable
    /// when it returns.
    pub async fn add(
        &self,
        address: &str,
        source: Source,
        reason: Option<String>,
        now: UnixTime,
    ) -> Result<(String, bool), StoreError> {
        let key = self.key(address);
        let hash = hex::encode(&key);
        if self.get(&key)?.is_some() {
            return Ok((hash, false));
        }
        let entry = Entry {
            hash: String::new(),
            source,
            added: Some(now),
            reason,
        };
        let value = serde_json::to_vec(&entry).expect("an entry always serialises");
        match &self.shared {
            Some(shared) => {
                if !shared.insert(&key, value).await? {
                    return Ok((hash, false));
                }
            }
            None => self.store.kv_put(TREE, &key, value).await?,
        }
        self.added[source as usize].fetch_add(1, Ordering::Relaxed);
        Ok((hash, true))
    }

    /// Removes `address` however it is written, and any legacy entry for
    /// it; returns the hash removed, or `None` if it was not listed.
    pub async fn remove(&self, address: &str) -> Result<Option<String>, StoreError> {
        let key = self.key(address);
        let removed = match &self.shared {
            Some(shared) => shared.remove(&key).await?,
            None => self.store.kv_remove(TREE, &key).await?,
        };
        let mut removed = removed.then(|| hex::encode(&key));
        for legacy in legacy_keys(address) {
            if self.store.kv_remove(LEGACY_TREE, &legacy).await? && removed.is_none() {
                removed = Some(hex::encode(&legacy));
            }
        }
        Ok(removed)
    }

    /// Every entry: new ones first (in key order), then legacy ones.
    pub fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let current = match &self.shared {
            Some(shared) => shared.scan()?,
            None => self.store.kv_scan(TREE)?,
        };
        let mut entries: Vec<Entry> = current
            .into_iter()
            .map(|(key, value)| {
                let mut entry = serde_json::from_slice::<Entry>(&value).unwrap_or(Entry {
                    hash: String::new(),
                    source: Source::Legacy,
                    added: None,
                    reason: None,
                });
                entry.hash = hex::encode(key);
                entry
            })
            .collect();
        entries.extend(
            self.store
                .kv_scan(LEGACY_TREE)?
                .into_iter()
                .map(|(key, value)| Entry {
                    hash: hex::encode(key),
                    source: Source::Legacy,
                    added: <[u8; 8]>::try_from(value.as_slice())
                        .ok()
                        .map(u64::from_be_bytes),
                    reason: None,
                }),
        );
        Ok(entries)
    }

    /// One HMAC-keyed entry, from the shared list or this node's tree.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.shared {
            Some(shared) => shared.get(key),
            None => self.store.kv_get(TREE, key),
        }
    }

    /// Entries added since start, per source (for metrics).
    pub fn added_counts(&self) -> Vec<(Source, u64)> {
        Source::ALL
            .iter()
            .map(|&source| (source, self.added[source as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The SHA-256 keys an earlier version would have written for `address`:
/// as written (domain lowercased) and in its normalised form.
fn legacy_keys(address: &str) -> Vec<Vec<u8>> {
    let legacy = |a: &str| {
        let trimmed = a.trim();
        let bare = trimmed
            .strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or(trimmed);
        match bare.rsplit_once('@') {
            Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
            None => bare.to_string(),
        }
    };
    let mut keys = vec![Sha256::digest(legacy(address).as_bytes()).to_vec()];
    let normalized = Sha256::digest(normalize_address(address).as_bytes()).to_vec();
    if keys[0] != normalized {
        keys.push(normalized);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> (tempfile::TempDir, Arc<dyn Store>, Suppression) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(leak_store::SledStore::open(dir.path()).unwrap());
        let list = Suppression::new(store.clone(), &Secret::from_bytes([3; 32]));
        (dir, store, list)
    }

    #[tokio::test]
    async fn any_spelling_is_suppressed_and_removed() {
        let (_dir, store, list) = list();
        let (hash, new) = list
            .add("Carol+news@Example.test", Source::Web, None, 100)
            .await
            .unwrap();
        assert!(new);
        for variant in [
            "carol@example.test",
            "CAROL@EXAMPLE.TEST",
            "carol+x@example.test",
        ] {
            assert!(list.is_suppressed(variant).unwrap(), "{variant}");
        }
        assert!(!list.is_suppressed("c.arol@example.test").unwrap());
        // An HMAC, not the bare hash of the address.
        let bare = hex::encode(Sha256::digest(b"carol@example.test"));
        assert_ne!(hash, bare);
        let (_, again) = list
            .add("carol@example.test", Source::Bounce, None, 200)
            .await
            .unwrap();
        assert!(!again, "the first entry stays");
        let entries = list.list().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].source, entries[0].added),
            (Source::Web, Some(100))
        );
        assert_eq!(list.added_counts()[Source::Web as usize].1, 1);
        assert_eq!(
            list.remove("CAROL+y@example.test").await.unwrap(),
            Some(hash)
        );
        assert!(!list.is_suppressed("carol@example.test").unwrap());
        assert!(store.kv_scan(TREE).unwrap().is_empty());
    }

    #[tokio::test]
    async fn legacy_entries_are_still_read_listed_and_removable() {
        let (_dir, store, list) = list();
        let old_key = Sha256::digest(b"Bob@example.test").to_vec();
        store
            .kv_put(LEGACY_TREE, &old_key, 50u64.to_be_bytes().to_vec())
            .await
            .unwrap();
        assert!(list.is_suppressed("Bob@EXAMPLE.test").unwrap());
        let entries = list.list().unwrap();
        assert_eq!(
            (entries[0].source, entries[0].added),
            (Source::Legacy, Some(50))
        );
        assert!(list.remove("Bob@example.test").await.unwrap().is_some());
        assert!(!list.is_suppressed("Bob@example.test").unwrap());
    }

    #[test]
    fn tokens_open_to_the_normalised_address() {
        let (_dir, _store, list) = list();
        let token = list.token("Dave+x@Example.test");
        assert_eq!(list.open_token(&token).unwrap(), "dave@example.test");
    }
}
