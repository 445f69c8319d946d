//! Abuse limits that survive a restart: messages per account per hour, and
//! anonymous messages per recipient per day (from all accounts together).
//! Counters live in the store's `rate` tree, keyed by time bucket; recipient
//! keys are hashed so the tree holds no address, and normalised first
//! (`leak_consent::normalize_address`, as the suppression list) so that
//! `Bob@`, `bob+x@` and `bob@` share one counter.

use leak_store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

const TREE: &str = "rate";
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// The two counters, and their limits from `[limits]`.
pub struct Limits {
    store: Arc<dyn Store>,
    messages_per_hour: u64,
    per_recipient_per_day: u64,
}

impl Limits {
    pub fn new(
        store: Arc<dyn Store>,
        messages_per_hour: u32,
        per_recipient_per_day: u32,
    ) -> Limits {
        Limits {
            store,
            messages_per_hour: messages_per_hour.into(),
            per_recipient_per_day: per_recipient_per_day.into(),
        }
    }

    /// Whether `account` may submit another message now.
    pub fn account_allowed(&self, account: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.read(&account_key(account, now))? < self.messages_per_hour)
    }

    /// Whether `recipient` may receive another anonymous message today.
    pub fn recipient_allowed(&self, recipient: &str, now: u64) -> Result<bool, StoreError> {
        Ok(self.read(&recipient_key(recipient, now))? < self.per_recipient_per_day)
    }

    /// Counts one accepted message. The increments are issued together so the
    /// store commits them in one group (with the message itself, when the
    /// caller runs this beside `enqueue`).
    pub async fn record(
        &self,
        account: Option<&str>,
        recipients: &[String],
        now: u64,
    ) -> Result<(), StoreError> {
        let keys = account
            .map(|account| account_key(account, now))
            .into_iter()
            .chain(recipients.iter().map(|r| recipient_key(r, now)));
        let mut increments = tokio::task::JoinSet::new();
        for key in keys {
            let store = self.store.clone();
            increments.spawn(async move { store.kv_add(TREE, &key, 1).await });
        }
        while let Some(done) = increments.join_next().await {
            done.map_err(|e| StoreError::Database(e.to_string()))??;
        }
        Ok(())
    }

    /// Drops counters of buckets that can no longer matter.
    pub async fn prune(&self, now: u64) -> Result<usize, StoreError> {
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

fn recipient_key(recipient: &str, now: u64) -> Vec<u8> {
    let normalized = leak_consent::normalize_address(recipient);
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
