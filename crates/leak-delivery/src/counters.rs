//! Running totals of delivery outcomes, per recipient, for the metrics
//! endpoint. Counted when a result is recorded, since the daemon started.

use std::sync::atomic::{AtomicU64, Ordering};

/// Outcomes of recipient attempts since start.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    delivered: AtomicU64,
    deferred: AtomicU64,
    failed: AtomicU64,
}

impl DeliveryCounters {
    pub(crate) fn count(&self, outcome: crate::Outcome, expired: bool) {
        let counter = match outcome {
            crate::Outcome::Delivered => &self.delivered,
            crate::Outcome::Failed => &self.failed,
            crate::Outcome::Deferred if expired => &self.failed,
            crate::Outcome::Deferred => &self.deferred,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_expired(&self, recipients: usize) {
        self.failed.fetch_add(recipients as u64, Ordering::Relaxed);
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    pub fn deferred(&self) -> u64 {
        self.deferred.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}
