//! The credential cache: recently verified logins, so that a client that
//! logs in again within a few minutes does not pay argon2id (~20 ms of a
//! core and ~19 MiB) each time, as Dovecot's auth cache does.
//!
//! What is kept per account is one HMAC-SHA256 tag of (account name,
//! password, stored PHC hash) under a key drawn at random when the process
//! starts and never written anywhere, with the time it expires. No password
//! and no unkeyed hash of one is held: a memory dump gives nothing an
//! offline guesser can test without the key, and the key dies with the
//! process. Binding the tag to the stored hash means a password changed in
//! the users file invalidates the entry as soon as the daemon has the new
//! file, even before the cache is cleared (the daemon also clears it on
//! every reload).
//!
//! Only successes are cached: a wrong password always costs a full argon2id
//! verification, so the cache gives a guesser nothing. Entries exist only
//! for accounts that logged in, so the map is bounded by the number of
//! accounts.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Tag = Hmac<Sha256>;

/// One account's last verified login.
struct Entry {
    tag: [u8; 32],
    expires: Instant,
}

/// Recently verified (account, password) pairs, keyed by account name.
pub struct CredentialCache {
    key: [u8; 32],
    state: Mutex<State>,
}

struct State {
    ttl: Duration,
    entries: HashMap<String, Entry>,
}

impl CredentialCache {
    /// An empty cache keeping entries for `ttl`; zero disables it.
    pub fn new(ttl: Duration) -> CredentialCache {
        use rand::RngCore as _;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        CredentialCache {
            key,
            state: Mutex::new(State {
                ttl,
                entries: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mac(&self, name: &str, password: &str, stored_hash: &str) -> Tag {
        // Keyed by construction, so the key length cannot be refused.
        let mut mac = Tag::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Length-prefixed, so that no two triples feed the same bytes.
        for part in [name, password, stored_hash] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// Whether `password` was verified for `name` (whose stored hash is
    /// `stored_hash`) within the TTL. Compares in constant time; an expired
    /// entry is dropped.
    pub fn check(&self, name: &str, password: &str, stored_hash: &str) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        let Some(entry) = state.entries.get(name) else {
            return false;
        };
        if entry.expires <= now {
            state.entries.remove(name);
            return false;
        }
        self.mac(name, password, stored_hash)
            .verify_slice(&entry.tag)
            .is_ok()
    }

    /// Records a successful argon2id verification. Call only on success.
    pub fn remember(&self, name: &str, password: &str, stored_hash: &str) {
        let mut state = self.state();
        if state.ttl.is_zero() {
            return;
        }
        let tag = self
            .mac(name, password, stored_hash)
            .finalize()
            .into_bytes()
            .into();
        let expires = Instant::now() + state.ttl;
        state
            .entries
            .insert(name.to_owned(), Entry { tag, expires });
    }

    /// Forgets everything and applies a new TTL (a reload).
    pub fn reset(&self, ttl: Duration) {
        let mut state = self.state();
        state.ttl = ttl;
        state.entries.clear();
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.state().entries.clear();
    }

    /// Accounts with an entry (expired ones included until looked up).
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether no account has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    #[test]
    fn remembers_only_the_same_name_password_and_hash() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        assert!(!cache.check("alice", "pw", HASH));
        cache.remember("alice", "pw", HASH);
        assert!(cache.check("alice", "pw", HASH));
        assert!(!cache.check("alice", "pw2", HASH));
        assert!(!cache.check("alice", "pw", "$argon2id$other"));
        assert!(!cache.check("bob", "pw", HASH));
        // Moving bytes between the parts does not collide.
        cache.remember("ab", "c", HASH);
        assert!(!cache.check("a", "bc", HASH));
    }

    #[test]
    fn entries_expire_and_zero_disables() {
        let cache = CredentialCache::new(Duration::from_millis(30));
        cache.remember("alice", "pw", HASH);
        assert!(cache.check("alice", "pw", HASH));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!cache.check("alice", "pw", HASH));
        assert!(cache.is_empty(), "the expired entry is dropped");

        let off = CredentialCache::new(Duration::ZERO);
        off.remember("alice", "pw", HASH);
        assert!(!off.check("alice", "pw", HASH));
        assert!(off.is_empty());
    }

    #[test]
    fn reset_forgets_and_changes_the_ttl() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        cache.remember("alice", "pw", HASH);
        cache.reset(Duration::ZERO);
        assert!(!cache.check("alice", "pw", HASH));
        cache.remember("alice", "pw", HASH);
        assert!(cache.is_empty());
        cache.reset(Duration::from_secs(60));
        cache.remember("alice", "pw", HASH);
        cache.clear();
        assert!(!cache.check("alice", "pw", HASH));
    }

    #[test]
    fn two_caches_use_different_keys() {
        let (a, b) = (
            CredentialCache::new(Duration::from_secs(60)),
            CredentialCache::new(Duration::from_secs(60)),
        );
        assert_ne!(
            a.mac("x", "y", HASH).finalize().into_bytes(),
            b.mac("x", "y", HASH).finalize().into_bytes()
        );
    }
}
