//! Counters that show the group commit at work (tests and operators read them
//! through [`crate::SledStore::stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the store's write counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Group commits run: each answers every request it took in.
    pub batches: u64,
    /// Mutating requests handled (enqueue, update, modify, remove, kv writes, flush).
    pub operations: u64,
    /// fdatasync calls on segment files.
    pub segment_syncs: u64,
    /// sled flushes (each one covers every envelope and kv write of its batch).
    pub db_flushes: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Segment files deleted because nothing referenced them any more.
    pub segments_deleted: u64,
}

/// The live counters behind [`StoreStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    batches: AtomicU64,
    operations: AtomicU64,
    segment_syncs: AtomicU64,
    db_flushes: AtomicU64,
    segments_created: AtomicU64,
    segments_deleted: AtomicU64,
}

impl Stats {
    pub(crate) fn count_batch(&self, operations: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.operations
            .fetch_add(operations as u64, Ordering::Relaxed);
    }

    pub(crate) fn count_segment_sync(&self) {
        self.segment_syncs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_db_flush(&self) {
        self.db_flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_segment_created(&self) {
        self.segments_created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_segment_deleted(&self) {
        self.segments_deleted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            batches: self.batches.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            segment_syncs: self.segment_syncs.load(Ordering::Relaxed),
            db_flushes: self.db_flushes.load(Ordering::Relaxed),
            segments_created: self.segments_created.load(Ordering::Relaxed),
            segments_deleted: self.segments_deleted.load(Ordering::Relaxed),
        }
    }
}
