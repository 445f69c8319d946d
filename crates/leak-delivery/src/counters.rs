//! Running totals of delivery outcomes, per recipient, for the metrics
//! endpoint. Counted when a result is recorded, since the daemon started;
//! with MX lookup outcomes and the time from queueing to delivery (a
//! prometheus-client histogram, which the daemon registers as it is).

use crate::tls::{TlsFailure, TlsUsed};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the delivery latency buckets: from seconds (no
/// random delay) to the days a deferred recipient can take.
const LATENCY_BUCKETS: [f64; 14] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 43_200.0, 86_400.0,
    259_200.0, 432_000.0,
];

/// Outcomes of recipient attempts since start.
#[derive(Debug)]
pub struct DeliveryCounters {
    delivered: AtomicU64,
    deferred: AtomicU64,
    failed: AtomicU64,
    dns_resolved: AtomicU64,
    dns_failed: AtomicU64,
    /// Seconds from queueing to delivery, per delivered recipient.
    latency: Histogram,
    /// Delivered recipients by how the session was protected ([`TlsUsed`] order).
    tls_delivered: [AtomicU64; 5],
    /// Hosts that failed a TLS policy, by [`TlsFailure::ALL`] order.
    tls_failures: [AtomicU64; TlsFailure::ALL.len()],
}

impl Default for DeliveryCounters {
    fn default() -> Self {
        DeliveryCounters {
            delivered: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dns_resolved: AtomicU64::new(0),
            dns_failed: AtomicU64::new(0),
            latency: Histogram::new(LATENCY_BUCKETS),
            tls_delivered: Default::default(),
            tls_failures: Default::default(),
        }
    }
}

impl DeliveryCounters {
    /// A recipient delivered `seconds` after its message was queued.
    pub(crate) fn delivered_after(&self, seconds: u64) {
        self.latency.observe(seconds as f64);
    }

    /// One MX lookup (with its address lookups) done or failed.
    pub(crate) fn resolved(&self, ok: bool) {
        let counter = match ok {
            true => &self.dns_resolved,
            false => &self.dns_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// MX lookups that gave hosts to try, and those that failed.
    pub fn dns_lookups(&self) -> (u64, u64) {
        let (ok, failed) = (&self.dns_resolved, &self.dns_failed);
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    }

    /// The delivery latency histogram (shares its data with this one).
    pub fn latency(&self) -> Histogram {
        self.latency.clone()
    }

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

    pub(crate) fn tls_delivered(&self, mode: TlsUsed, recipients: u64) {
        let i = TlsUsed::ALL.iter().position(|m| *m == mode).unwrap_or(0);
        self.tls_delivered[i].fetch_add(recipients, Ordering::Relaxed);
    }

    pub(crate) fn tls_failed(&self, failure: TlsFailure) {
        let i = TlsFailure::ALL
            .iter()
            .position(|f| *f == failure)
            .unwrap_or(0);
        self.tls_failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Delivered recipients per TLS mode, every mode listed.
    pub fn tls_deliveries(&self) -> Vec<(TlsUsed, u64)> {
        TlsUsed::ALL
            .iter()
            .zip(&self.tls_delivered)
            .map(|(m, n)| (*m, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// TLS policy failures per type, every type listed.
    pub fn tls_failures(&self) -> Vec<(TlsFailure, u64)> {
        TlsFailure::ALL
            .iter()
            .zip(&self.tls_failures)
            .map(|(f, n)| (*f, n.load(Ordering::Relaxed)))
            .collect()
    }
}
