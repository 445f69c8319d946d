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
//! Reads never see a half-written message: a message appears in [`Store::list`]
//! only once both its body and its envelope are durable.
//!
//! A damaged record (bad checksum, unknown format version, undecodable) is
//! reported through [`Store::damaged`] and logged; it never makes the store
//! refuse to open or panic.
//!
//! # Layout
//!
//! - `model.rs`: the queue entry types ([`QueuedMessage`], [`Recipient`], …).
//! - `lib.rs`: the [`Store`] trait and its error type.
//! - the sled-backed implementation lives in its own module(s).

mod model;

pub use model::{Attempt, QueuedMessage, Recipient, RecipientStatus};

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
    async fn modify(
        &self,
        id: &str,
        change: Box<dyn FnOnce(&mut QueuedMessage) + Send>,
    ) -> Result<QueuedMessage>;

    /// Removes a message and, eventually, its body's bytes from disk.
    /// Durable when it resolves `Ok`. Removing an unknown id is `NotFound`.
    async fn remove(&self, id: &str) -> Result<()>;

    /// One message's envelope.
    fn get(&self, id: &str) -> Result<Option<QueuedMessage>>;

    /// Every readable message, oldest first. Damaged records are skipped and
    /// reported through [`Store::damaged`].
    fn list(&self) -> Result<Vec<QueuedMessage>>;

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
