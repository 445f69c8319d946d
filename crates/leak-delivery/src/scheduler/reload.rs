//! What a configuration reload may change while the scheduler runs: the
//! DKIM signer (key rotation) and the timing settings (retry intervals and
//! jitter, queue lifetime, random delays, date rounding, DKIM expiry); it
//! also runs the `dane = "auto"` probe again. Everything else the
//! scheduler built at start (resolver, SMTP client, concurrency limits) stays
//! until a restart; the daemon reports those as needing one.
//!
//! Each is held as `RwLock<Arc<_>>`: a delivery task takes the current `Arc`
//! once per attempt, so an attempt already running finishes with what it
//! started with and the next one uses the new value.

use super::{Inner, Scheduler};
use crate::DeliverySettings;
use leak_dkim::Signer;
use std::sync::Arc;

/// Swaps the scheduler's reloadable parts; from [`Scheduler::reloader`].
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

impl Scheduler {
    /// A handle for the daemon's reload, usable while [`Scheduler::run`] runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            inner: self.inner.clone(),
        }
    }
}

impl Reloader {
    /// The signer in force now (what `leak queue cat` signs with).
    pub fn signer(&self) -> Arc<Signer> {
        self.inner.signer()
    }

    /// The delivery settings in force now (a reload may have changed the
    /// timing ones: date rounding, DKIM expiry), for `leak queue cat`.
    pub fn settings(&self) -> Arc<DeliverySettings> {
        self.inner.settings()
    }

    /// With `dane = "auto"`, probes the resolver again now (a reload may
    /// follow a change of resolver); otherwise nothing.
    pub fn reprobe_dane(&self) {
        if self.inner.dane_prober.is_some() {
            self.inner.dane_reprobe.notify_one();
        }
    }

    /// Signs with `signer` from the next delivery attempt on.
    pub fn replace_signer(&self, signer: Signer) {
        *self.inner.signer.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(signer);
    }

    /// Takes the timing settings of `new` (retry intervals and jitter, queue
    /// lifetime, random and report delays, date rounding, DKIM expiry) and
    /// keeps every other setting
    /// as it was at start. Empty retry intervals (which the config check
    /// refuses) leave the old ones.
    pub fn replace_timing(&self, new: &DeliverySettings) {
        let mut slot = self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let mut settings = DeliverySettings::clone(&slot);
        if !new.retry_intervals.is_empty() {
            settings.retry_intervals = new.retry_intervals.clone();
        }
        settings.queue_lifetime = new.queue_lifetime;
        settings.random_delay = new.random_delay;
        settings.report_delay = new.report_delay;
        settings.date_rounding = new.date_rounding;
        settings.retry_jitter = new.retry_jitter;
        settings.dkim_expiry = new.dkim_expiry;
        *slot = Arc::new(settings);
        *self
            .inner
            .hint
            .random_delay
            .write()
            .unwrap_or_else(|e| e.into_inner()) = new.random_delay;
    }
}

impl Inner {
    /// The settings in force now.
    pub(super) fn settings(&self) -> Arc<DeliverySettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The signer in force now.
    pub(super) fn signer(&self) -> Arc<Signer> {
        self.signer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
