//! The durable queue store: every message leak has accepted, until each of its
//! recipients is delivered or has failed.
//!
//! # Contract
//!
//! [`Store`] is the seam between the SMTP side (which enqueues), the delivery
//! scheduler (which updates) and the operator CLI (which lists, holds, deletes).
//! Every mutating method is **durable when its future resolves `Ok`**: the data
//! has been fsynced and survives `kill -9` and power loss. Callers send `250`
//! after DATA only after [`Store::enqueue`] returned `Ok`.
//!
//! Reads never see a half-written message: a message appears in
//! [`Store::page`] (and the walks built on it) only once both its body and
//! its envelope are durable. Whole-queue readers walk it a page at a time
//! ([`QueuePages`], [`Store::for_each_message`]), so memory stays flat
//! however long the queue. A change to an existing record (update, modify,
//! remove, kv writes) may be seen by reads a moment before it is durable;
//! whoever acts on a change waits for its `Ok`.
//!
//! A damaged record (bad checksum, unknown format version, undecodable) is
//! reported through [`Store::damaged`] and logged; it never makes the store
//! refuse to open or panic.
//!
//! # Layout
//!
//! - `model.rs`: the queue entry types ([`QueuedMessage`], [`Recipient`], …).
//! - `lib.rs`: the [`Store`] trait, its error type, [`QueuePages`] and
//!   [`new_message_id`].
//! - `sled_store.rs`: [`SledStore`], the implementation: opening (reference
//!   counts rebuilt, damaged records reported) and the reads.
//! - `writer.rs`: the group commit. One writer thread takes every waiting
//!   mutation as a batch: appends the bodies, one fdatasync, applies the
//!   envelope and kv changes to sled, one sled flush, then answers them all.
//! - `segments.rs`: append-only body segment files, rolled past a size and
//!   deleted once no envelope references them.
//! - `record.rs`: the on-disk record formats (version byte + crc32 on each).
//! - `damage.rs`, `stats.rs`: the damaged-record register and write counters.
//! - `private.rs`: file modes: directories 0700 and files 0600 whatever the
//!   umask, too-open ones tightened (with a warning) at open.
//!
//! # On disk
//!
//! ```text
//! <data_dir>/db/                        sled: tree `envelopes` (id → envelope),
//!                                       trees `kv.<name>` (the kv records)
//! <data_dir>/segments/<16 hex>.seg      body records, append-only
//! ```
//!
//! Directories are mode 0700 and files 0600 (see `private.rs`).
//!
//! Bodies stay out of sled because sled 0.34 amplifies disk use badly for
//! large values and keeps deleted data around. An envelope holds the
//! (segment, offset, length, crc) of its body, and is written only after the
//! body is durable, so `kill -9` at any moment leaves either both or an
//! unreferenced body record that disappears with its segment.

mod damage;
mod model;
mod private;
mod record;
mod segments;
mod sled_store;
mod stats;
mod writer;

pub use model::{sort_oldest_first, Attempt, QueuedMessage, Recipient, RecipientStatus, UnixTime};
pub use sled_store::{SledStore, StoreOptions};
pub use stats::StoreStats;

/// A fresh queue id: 16 lowercase hex characters from 64 random bits, so ids
/// reveal nothing about order or volume.
pub fn new_message_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

use async_trait::async_trait;

/// Why a store operation failed. The text is for operators' logs, never for SMTP clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("store database error: {0}")]
    Database(String),
    #[error("damaged record {key}: {reason}")]
    Damaged { key: String, reason: String },
    #[error("no message with id {0}")]
    NotFound(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A record the store could not decode, reported to operators instead of crashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Which record: a message id, or a tree and key.
    pub key: String,
    /// What was wrong with it (checksum mismatch, unknown version, …).
    pub reason: String,
}

/// The change [`Store::modify`] applies to an envelope.
///
/// A named type on purpose: written out inside an `#[async_trait]` method,
/// `Box<dyn FnOnce(&mut QueuedMessage) + Send>` has its elided `&mut` lifetime
/// rewritten into a method lifetime, which makes the closure impossible to call
/// on a local value. Implementations name this alias in their signature too.
pub type MessageChange = Box<dyn FnOnce(&mut QueuedMessage) + Send>;

/// What [`Store::modify_or_remove`] did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Still queued (something is left to do): the envelope as written.
    Kept(Box<QueuedMessage>),
    /// Done and removed from the queue.
    Removed,
}

/// A walk through the whole queue, [`LIST_PAGE`] messages at a time, for
/// callers that await between pages (the scheduler's rescan).
#[derive(Debug, Default)]
pub struct QueuePages {
    after: Option<String>,
    done: bool,
}

impl QueuePages {
    /// The next page, or `None` once the walk has passed the last message.
    pub fn next<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<Vec<QueuedMessage>>> {
        if self.done {
            return Ok(None);
        }
        let page = store.page(self.after.as_deref(), LIST_PAGE)?;
        self.done = page.len() < LIST_PAGE;
        self.after = page.last().map(|m| m.id.clone());
        Ok(if page.is_empty() { None } else { Some(page) })
    }
}

/// How many messages [`Store::for_each_message`] reads at a time: large enough
/// that a page costs one short walk of the tree, small enough that a queue of
/// any size is read in bounded memory.
pub const LIST_PAGE: usize = 512;

/// The durable queue and the small records beside it.
///
/// Mutations are durable when they resolve `Ok` (see the crate docs);
/// implementations batch concurrent mutations into one flush (group commit).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new message: its envelope and its (already anonymized) body.
    /// Durable when it resolves `Ok`.
    async fn enqueue(&self, message: QueuedMessage, body: Vec<u8>) -> Result<()>;

    /// Replaces the envelope of an existing message (recipient states, hold flag,
    /// history). Durable when it resolves `Ok`. `NotFound` if it was deleted.
    async fn update(&self, message: &QueuedMessage) -> Result<()>;

    /// Atomically reads, changes and writes back one envelope, so that concurrent
    /// writers (the scheduler finishing an attempt, an operator holding the message)
    /// never overwrite each other's changes. Returns the envelope as written.
    /// Durable when it resolves `Ok`. `NotFound` if the message is gone.
    async fn modify(&self, id: &str, change: MessageChange) -> Result<QueuedMessage>;

    /// Removes a message and, eventually, its body's bytes from disk.
    /// Durable when it resolves `Ok`. Removing an unknown id is `NotFound`.
    async fn remove(&self, id: &str) -> Result<()>;

    /// [`Store::modify`], then, in the same step, the removal of the message
    /// if the change left it done ([`QueuedMessage::is_done`]: every
    /// recipient final, no failure report pending).
    ///
    /// A kept message ([`Settled::Kept`]) is durable when this resolves, as
    /// with `modify`. A removal ([`Settled::Removed`]) is **not waited for**:
    /// it becomes durable with the store's next flush, moments later. A crash
    /// in between leaves the message as it was before the change, so it is
    /// attempted again (delivered twice at worst, never lost), which is what
    /// Postfix does too when it deletes a delivered queue file.
    async fn modify_or_remove(&self, id: &str, change: MessageChange) -> Result<Settled> {
        let message = self.modify(id, change).await?;
        if !message.is_done() {
            return Ok(Settled::Kept(Box::new(message)));
        }
        match self.remove(id).await {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(Settled::Removed),
            Err(e) => Err(e),
        }
    }

    /// One message's envelope.
    fn get(&self, id: &str) -> Result<Option<QueuedMessage>>;

    /// Up to `limit` readable messages whose id sorts after `after` (from the
    /// first when `None`), in id order: one page of the queue, so that nothing
    /// has to hold the whole queue in memory. Damaged records are skipped and
    /// reported through [`Store::damaged`].
    fn page(&self, after: Option<&str>, limit: usize) -> Result<Vec<QueuedMessage>>;

    /// Calls `visit` with every readable message, in id order, reading the
    /// queue [`LIST_PAGE`] messages at a time.
    fn for_each_message(&self, visit: &mut dyn FnMut(QueuedMessage)) -> Result<()> {
        let mut pages = QueuePages::default();
        while let Some(page) = pages.next(self)? {
            page.into_iter().for_each(&mut *visit);
        }
        Ok(())
    }

    /// Every readable message, oldest first. Holds the whole queue: for small
    /// queues and tests; large ones go through [`Store::page`].
    fn list(&self) -> Result<Vec<QueuedMessage>> {
        let mut messages = Vec::new();
        self.for_each_message(&mut |m| messages.push(m))?;
        sort_oldest_first(&mut messages);
        Ok(messages)
    }

    /// A message's body bytes, checked against their checksum.
    fn body(&self, id: &str) -> Result<Vec<u8>>;

    /// Records found damaged since the store was opened.
    fn damaged(&self) -> Vec<DamagedRecord>;

    /// Small durable records beside the queue (the opt-out list, rate counters),
    /// namespaced by `tree`.
    fn kv_get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Sets a small record. Durable when it resolves `Ok`.
    async fn kv_put(&self, tree: &str, key: &[u8], value: Vec<u8>) -> Result<()>;

    /// Removes a small record; returns whether it existed. Durable when it resolves `Ok`.
    async fn kv_remove(&self, tree: &str, key: &[u8]) -> Result<bool>;

    /// Every record of a tree, in key order.
    fn kv_scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Atomically adds `delta` to the big-endian u64 counter at `key` and returns
    /// the new value. Durable when it resolves `Ok`.
    async fn kv_add(&self, tree: &str, key: &[u8], delta: u64) -> Result<u64>;

    /// Flushes everything outstanding (used at shutdown).
    async fn flush(&self) -> Result<()>;
}

/// Decoding of single on-disk records, for tools that check a data dir and for
/// the fuzz targets: damaged bytes are an error, never a panic.
pub mod inspect {
    use crate::record::{self, BodyRef};
    use crate::QueuedMessage;

    /// An envelope record as stored in sled.
    pub fn decode_envelope_record(bytes: &[u8]) -> Result<QueuedMessage, String> {
        record::decode_envelope(bytes).map(|(_, message)| message)
    }

    /// A body record as stored in a segment, checked against its own checksum
    /// and the message id it must belong to.
    pub fn decode_body_record(bytes: &[u8], id: &str) -> Result<Vec<u8>, String> {
        let payload = record::unseal(bytes)?;
        let expected = BodyRef {
            segment: 0,
            offset: 0,
            len: bytes.len() as u64,
            crc: crc32fast::hash(payload),
        };
        record::decode_body(bytes.to_vec(), id, &expected)
    }
}
