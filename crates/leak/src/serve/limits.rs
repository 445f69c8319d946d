//! Abuse limits that survive a restart and cannot be raced: messages per
//! account per hour, and anonymous messages per recipient per day (from all
//! accounts together).
//!
//! # Counting
//!
//! A slot is *reserved* when the transaction asks for it (MAIL FROM for the
//! account's hour, each RCPT TO for the recipient's day): the check and the
//! increment happen under one lock, so concurrent sessions can never all see
//! the last free slot. A [`Reservation`] is released when dropped (RSET, QUIT,
//! a dropped connection, a refused DATA) and made durable by
//! [`Limits::commit`] when the transaction ends in a stored (or
//! moderation-refused) message.
//!
//! The in-memory table holds, per counter key, the durable count read from the
//! store the first time the key is used in this process plus every
//! reservation since (pending or committed). This process is the only writer
//! of the `rate` tree, so the table stays exact; after a restart it is
//! rebuilt from the durable counts, and reservations of transactions that
//! died with the old process are gone with them.
//!
//! Counters live in the store's `rate` tree, keyed by time bucket; recipient
//! keys are hashed so the tree holds no address, and normalised first
//! (`leak_consent::normalize_address`, as the suppression list) so that
//! `Bob@`, `bob+x@` and `bob@` share one counter.

use leak_store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const TREE: &str = "rate";
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Counts per key: durable count plus reservations made by this process.
#[derive(Default)]
struct Table(Mutex<HashMap<Vec<u8>, u64>>);

impl Table {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives a slot back. A key back at zero is forgotten (the store holds
    /// nothing for it either), so that RCPT TO to ever new addresses followed
    /// by RSET cannot grow the table: it holds only keys with a stored
    /// message or a transaction in progress.
    fn release(&self, key: &[u8]) {
        let mut table = self.lock();
        if let Some(count) = table.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(key);
            }
        }
    }
}

/// The two counters, and their limits from `[limits]` (atomics, so that a
/// reload changes them without stopping anything).
pub struct Limits {
    store: Arc<dyn Store>,
    table: Arc<Table>,
    messages_per_hour: AtomicU64,
    per_recipient_per_day: AtomicU64,
}

/// One slot of one counter, held by a transaction. Dropping it gives the slot
/// back; [`Limits::commit`] keeps it for good.
pub struct Reservation {
    table: Arc<Table>,
    key: Vec<u8>,
    held: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held {
            self.table.release(&self.key);
        }
    }
}

impl Limits {
    pub fn new(
        store: Arc<dyn Store>,
        messages_per_hour: u32,
        per_recipient_per_day: u32,
    ) -> Limits {
        Limits {
            store,
            table: Arc::default(),
            messages_per_hour: AtomicU64::new(messages_per_hour.into()),
            per_recipient_per_day: AtomicU64::new(per_recipient_per_day.into()),
        }
    }

    /// New limits from a reload; counts so far are kept.
    pub fn set(&self, messages_per_hour: u32, per_recipient_per_day: u32) {
        let (hour, day) = (&self.messages_per_hour, &self.per_recipient_per_day);
        hour.store(messages_per_hour.into(), Ordering::Relaxed);
        day.store(per_recipient_per_day.into(), Ordering::Relaxed);
    }

    /// The hourly limit in force (for the refusal reply).
    pub fn messages_per_hour(&self) -> u64 {
        self.messages_per_hour.load(Ordering::Relaxed)
    }

    /// The daily per-recipient limit in force (for the refusal reply).
    pub fn per_recipient_per_day(&self) -> u64 {
        self.per_recipient_per_day.load(Ordering::Relaxed)
    }

    /// Reserves one message of `account`'s hour; `None` when the limit is reached.
    pub fn reserve_message(
        &self,
        account: &str,
        now: u64,
    ) -> Result<Option<Reservation>, StoreError> {
        self.reserve(account_key(account, now), self.messages_per_hour())
    }

    /// Reserves one message of the hour of a client without an account (a
    /// trusted network's), counted by its IP address under the same
    /// `messages_per_hour`; `None` when the limit is reached.
    pub fn reserve_client(
        &self,
        ip: std::net::IpAddr,
        now: u64,
    ) -> Result<Option<Reservation>, StoreError> {
        self.reserve(client_key(ip, now), self.messages_per_hour())
    }

    /// Reserves one of `recipient`'s anonymous messages of the day; `None`
    /// when the limit is reached.
    pub fn reserve_recipient(
        &self,
        recipient: &str,
        now: u64,
    ) -> Result<Option<Reservation>, StoreError> {
        self.reserve(recipient_key(recipient, now), self.per_recipient_per_day())
    }

    /// Check and increment in one step, under the table's lock.
    fn reserve(&self, key: Vec<u8>, limit: u64) -> Result<Option<Reservation>, StoreError> {
        let mut table = self.table.lock();
        let count = match table.get_mut(&key) {
            Some(count) => count,
            None => table.entry(key.clone()).or_insert(self.read(&key)?),
        };
        if *count >= limit {
            return Ok(None);
        }
        *count += 1;
        Ok(Some(Reservation {
            table: self.table.clone(),
            key,
            held: true,
        }))
    }

    /// Makes reservations durable: they count from now on, across restarts.
    /// The increments are issued together so the store commits them in one
    /// group (with the message itself, when the caller runs this beside
    /// `enqueue`). Should the store fail, the in-memory counts keep them
    /// anyway: limits err on the safe side.
    pub async fn commit(&self, reservations: Vec<Reservation>) -> Result<(), StoreError> {
        let mut increments = tokio::task::JoinSet::new();
        for mut reservation in reservations {
            reservation.held = false;
            let (store, key) = (self.store.clone(), std::mem::take(&mut reservation.key));
            increments.spawn(async move { store.kv_add(TREE, &key, 1).await });
        }
        while let Some(done) = increments.join_next().await {
            done.map_err(|e| StoreError::Database(e.to_string()))??;
        }
        Ok(())
    }

    /// Drops counters of buckets that can no longer matter, on disk and in memory.
    pub async fn prune(&self, now: u64) -> Result<usize, StoreError> {
        self.table.lock().retain(|key, _| !is_stale(key, now));
        let mut removed = 0;
        for (key, _) in self.store.kv_scan(TREE)? {
            if is_stale(&key, now) {
                self.store.kv_remove(TREE, &key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn read(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self
            .store
            .kv_get(TREE, key)?
            .and_then(|value| value.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }
}

fn account_key(account: &str, now: u64) -> Vec<u8> {
    format!("h/{}/{account}", now / HOUR).into_bytes()
}

/// A client address's hour, under `h/` like an account's (so pruning treats
/// it alike) but after `@client/`, which no account name contains; hashed,
/// so the tree holds no address.
fn client_key(ip: std::net::IpAddr, now: u64) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(ip.to_string().as_bytes()));
    format!("h/{}/@client/{digest}", now / HOUR).into_bytes()
}

/// One recipient, however spelled: `leak_consent::normalize_address`
/// (lowercase, `+tag` dropped, Gmail dots dropped, IDN domains as A-labels),
/// the form the suppression list compares too. Local parts may be
/// case-sensitive in theory, but nearly every mailbox ignores case, so `Bob@`,
/// `bob+x@` and `bob@` are one person for the limits and the deduplication of
/// RCPT TO.
pub fn same_recipient(recipient: &str) -> String {
    leak_consent::normalize_address(recipient)
}

fn recipient_key(recipient: &str, now: u64) -> Vec<u8> {
    let normalized = same_recipient(recipient);
    let digest = hex::encode(Sha256::digest(normalized.as_bytes()));
    format!("d/{}/{digest}", now / DAY).into_bytes()
}

fn is_stale(key: &[u8], now: u64) -> bool {
    let text = String::from_utf8_lossy(key);
    let mut parts = text.splitn(3, '/');
    match (
        parts.next(),
        parts.next().and_then(|b| b.parse::<u64>().ok()),
    ) {
        (Some("h"), Some(bucket)) => bucket < now / HOUR,
        (Some("d"), Some(bucket)) => bucket < now / DAY,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(dir: &std::path::Path, per_hour: u32) -> Limits {
        let store = Arc::new(leak_store::SledStore::open(dir).unwrap());
        Limits::new(store, per_hour, 2)
    }

    #[test]
    fn slots_are_reserved_released_and_committed() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let now = 10 * DAY;
        {
            let limits = limits(dir.path(), 2);
            let first = limits.reserve_message("alice", now).unwrap().unwrap();
            let second = limits.reserve_message("alice", now).unwrap().unwrap();
            assert!(limits.reserve_message("alice", now).unwrap().is_none());
            drop(second);
            let again = limits.reserve_message("alice", now).unwrap().unwrap();
            runtime.block_on(limits.commit(vec![first])).unwrap();
            drop(again);
            // One committed, one free.
            let last = limits.reserve_message("alice", now).unwrap().unwrap();
            assert!(limits.reserve_message("alice", now).unwrap().is_none());
            drop(last);
            let bob = limits.reserve_recipient("Bob@Example.test", now).unwrap();
            let bob2 = limits.reserve_recipient("bob@example.TEST", now).unwrap();
            assert!(limits
                .reserve_recipient("BOB@example.test", now)
                .unwrap()
                .is_none());
            drop((bob, bob2));
            assert!(limits.table.lock().keys().all(|k| k.starts_with(b"h/")));
        }
        // Committed slots survive a reopen; uncommitted ones do not.
        let limits = limits(dir.path(), 2);
        let _one = limits.reserve_message("alice", now).unwrap().unwrap();
        assert!(limits.reserve_message("alice", now).unwrap().is_none());
        assert!(limits
            .reserve_recipient("bob@example.test", now)
            .unwrap()
            .is_some());
    }

    #[test]
    fn buckets_go_stale() {
        let now = 10 * DAY + 5;
        assert!(!is_stale(&account_key("alice", now), now));
        assert!(is_stale(&account_key("alice", now - HOUR), now));
        assert!(!is_stale(&recipient_key("Bob@Example.test", now), now));
        assert!(is_stale(&recipient_key("bob@example.test", now - DAY), now));
        assert_eq!(
            recipient_key("Bob+x@EXAMPLE.test", now),
            recipient_key("bob@example.test", now)
        );
    }
}
