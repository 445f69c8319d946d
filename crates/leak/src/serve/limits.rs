//! Abuse limits that survive a restart and cannot be raced: messages per
//! account per hour, and anonymous messages per recipient per day (from all
//! accounts together).
//!
//! # Counting
//!
//! A slot is *reserved* when the transaction asks for it (MAIL FROM for the
//! account's hour, each RCPT TO for the recipient's day): the policy store
//! (`leak_cluster::PolicyStore`) checks and increments in one atomic step —
//! under a lock on a single node, in one SQL statement in a cluster — so
//! concurrent sessions, on this node or another, can never all see the last
//! free slot. A [`Reservation`] is released when dropped (RSET, QUIT, a
//! dropped connection, a refused DATA) and made durable by
//! [`Limits::commit`] when the transaction ends in a stored (or
//! moderation-refused) message.
//!
//! Which window a counter belongs to and how its key hides the recipient is
//! `leak_cluster::Counter`.

use leak_cluster::{ClusterError, Counter, PolicyStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The two limits from `[limits]` (atomics, so that a reload changes them
/// without stopping anything) and the store that counts.
pub struct Limits {
    policy: Arc<dyn PolicyStore>,
    messages_per_hour: AtomicU64,
    per_recipient_per_day: AtomicU64,
}

/// One slot of one counter, held by a transaction. Dropping it gives the slot
/// back; [`Limits::commit`] keeps it for good.
pub struct Reservation {
    policy: Arc<dyn PolicyStore>,
    counter: Counter,
    held: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held {
            self.policy.release(&self.counter);
        }
    }
}

impl Limits {
    pub fn new(
        policy: Arc<dyn PolicyStore>,
        messages_per_hour: u32,
        per_recipient_per_day: u32,
    ) -> Limits {
        Limits {
            policy,
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
    pub async fn reserve_message(
        &self,
        account: &str,
        now: u64,
    ) -> Result<Option<Reservation>, ClusterError> {
        let limit = self.messages_per_hour();
        self.reserve(Counter::account(account, now), limit).await
    }

    /// Reserves one message of the hour of a client without an account (a
    /// trusted network's), counted by its IP address under the same
    /// `messages_per_hour`; `None` when the limit is reached.
    pub async fn reserve_client(
        &self,
        ip: std::net::IpAddr,
        now: u64,
    ) -> Result<Option<Reservation>, ClusterError> {
        let limit = self.messages_per_hour();
        self.reserve(Counter::client(ip, now), limit).await
    }

    /// Reserves one of `recipient`'s anonymous messages of the day; `None`
    /// when the limit is reached.
    pub async fn reserve_recipient(
        &self,
        recipient: &str,
        now: u64,
    ) -> Result<Option<Reservation>, ClusterError> {
        let limit = self.per_recipient_per_day();
        self.reserve(Counter::recipient(recipient, now), limit)
            .await
    }

    async fn reserve(
        &self,
        counter: Counter,
        limit: u64,
    ) -> Result<Option<Reservation>, ClusterError> {
        Ok(self
            .policy
            .reserve(&counter, limit)
            .await?
            .then(|| Reservation {
                policy: self.policy.clone(),
                counter,
                held: true,
            }))
    }

    /// Makes reservations durable: they count from now on, across restarts.
    pub async fn commit(&self, reservations: Vec<Reservation>) -> Result<(), ClusterError> {
        let counters = reservations
            .into_iter()
            .map(|mut reservation| {
                reservation.held = false;
                reservation.counter.clone()
            })
            .collect();
        self.policy.commit(counters).await
    }

    /// Drops counters of windows that can no longer matter.
    pub async fn prune(&self, now: u64) -> Result<usize, ClusterError> {
        self.policy.prune(now).await
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropped_reservations_are_given_back_committed_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(leak_store::SledStore::open(dir.path()).unwrap());
        let policy = leak_cluster::Embedded::open(store, dir.path().join("users")).unwrap();
        let limits = Limits::new(Arc::new(policy), 2, 1);
        let now = 864_000;
        let first = limits.reserve_message("alice", now).await.unwrap().unwrap();
        let second = limits.reserve_message("alice", now).await.unwrap().unwrap();
        assert!(limits
            .reserve_message("alice", now)
            .await
            .unwrap()
            .is_none());
        drop(second);
        limits.commit(vec![first]).await.unwrap();
        let _last = limits.reserve_message("alice", now).await.unwrap().unwrap();
        assert!(limits
            .reserve_message("alice", now)
            .await
            .unwrap()
            .is_none());
        let bob = limits.reserve_recipient("Bob@x.test", now).await.unwrap();
        assert!(bob.is_some());
        assert!(limits
            .reserve_recipient("bob+y@X.test", now)
            .await
            .unwrap()
            .is_none());
    }
}
