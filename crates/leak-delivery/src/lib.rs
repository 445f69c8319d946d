//! Delivery: takes messages from the durable queue and hands them to each
//! recipient domain's MX hosts over SMTP, with retries, expiry and failure reports.
//!
//! # Layout
//!
//! - `lib.rs`: [`DeliverySettings`], [`TlsMode`], the error type.
//! - `dns.rs`: [`MxResolver`] — MX lookup, preference order, implicit and null MX,
//!   permanent vs temporary DNS failures (hickory-resolver, TTL-respecting cache).
//! - `client.rs`: one SMTP transaction per domain (mail-send): MX fallback,
//!   opportunistic or required STARTTLS, per-recipient results, canonical body.
//! - `tls.rs`: the STARTTLS client configuration.
//! - `sessions.rs`: SMTP sessions kept open for the next message to the same MX.
//! - `scheduler/mod.rs`: [`Scheduler`] — picks due recipients, limits
//!   concurrency, runs attempts; `scheduler/results.rs` writes their results,
//!   expires old recipients, queues failure reports and removes finished mail.
//! - `agenda.rs`: the scheduler's in-memory plan of when each message is due
//!   and which wait for a connection slot.
//! - `report.rs`: RFC 3464 failure reports to the account's notify address.
//! - `counters.rs`: [`DeliveryCounters`], outcome totals for the metrics endpoint.
//!
//! # Durability
//!
//! Before an attempt, the scheduler records it in the store (attempt count and
//! next retry time), so a crash mid-attempt never causes an immediate retry
//! storm; after it, the results are written with [`leak_store::Store::modify`]
//! before anything else (report, removal) happens. A message deleted by an
//! operator during an attempt stays deleted (its results are dropped); one held
//! during an attempt stays held. The only duplicate possible is the unavoidable
//! one: a crash between the remote `250` and the store write.

mod agenda;
mod client;
mod counters;
mod dns;
mod report;
pub mod review;
mod scheduler;
mod sessions;
mod tls;

pub use client::{DomainResult, Outcome, RecipientResult};
pub use counters::DeliveryCounters;
pub use dns::{DnsFailure, MxResolver, MxTarget};
pub use review::ReviewDeadline;
pub use scheduler::{QueueHint, Scheduler};

use std::net::SocketAddr;
use std::time::Duration;

/// Whether a session without STARTTLS may carry mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Use STARTTLS when the MX offers it, cleartext otherwise (what MTAs do).
    #[default]
    Opportunistic,
    /// Never send in cleartext: an MX without STARTTLS is skipped, and the
    /// recipient deferred if none offers it.
    Required,
}

/// Everything delivery needs from the config (`[delivery]`, `[dns]`,
/// `server.hostname`, `anonymizer.domain`).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Our name in EHLO (`server.hostname`).
    pub hostname: String,
    /// The SMTP port on every MX host (25; tests use their own).
    pub mx_port: u16,
    /// Waits between attempts; the last one repeats. Never empty.
    pub retry_intervals: Vec<Duration>,
    /// After this long in the queue a recipient fails as expired.
    pub queue_lifetime: Duration,
    pub tls: TlsMode,
    /// Up to this long before a message's first attempt, so arrival time does
    /// not reveal when it was written. Zero disables it.
    pub random_delay: Duration,
    /// Simultaneous SMTP transactions overall.
    pub max_concurrent: usize,
    /// Simultaneous SMTP transactions to one recipient domain.
    pub max_per_domain: usize,
    /// DNS servers to ask (`dns.nameservers`); empty means the system's.
    pub nameservers: Vec<SocketAddr>,
    /// The anonymizer domain: failure reports come from `mailer-daemon@` it.
    pub return_domain: String,
    /// TCP connect timeout per MX address.
    pub connect_timeout: Duration,
    /// Timeout for each SMTP command's reply.
    pub command_timeout: Duration,
    /// Timeout for sending the body and reading the final reply (RFC 5321 §4.5.3.2
    /// suggests 10 minutes).
    pub data_timeout: Duration,
    /// Timeout for one DNS query.
    pub dns_timeout: Duration,
    /// How often the queue is rescanned when nothing wakes the scheduler.
    pub poll_interval: Duration,
    /// How long in-flight attempts may run on after shutdown is requested.
    pub shutdown_grace: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            hostname: "localhost".into(),
            mx_port: 25,
            retry_intervals: [5, 10, 30, 60, 120, 240]
                .iter()
                .map(|m| Duration::from_secs(m * 60))
                .collect(),
            queue_lifetime: Duration::from_secs(5 * 24 * 3600),
            tls: TlsMode::Opportunistic,
            random_delay: Duration::ZERO,
            max_concurrent: 20,
            max_per_domain: 4,
            nameservers: Vec::new(),
            return_domain: "localhost".into(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            dns_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl DeliverySettings {
    /// The wait after the `attempts`-th attempt (1-based); the last interval repeats.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.retry_intervals.len().saturating_sub(1));
        self.retry_intervals
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(300))
    }
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid delivery settings: {0}")]
    Settings(String),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_retry_interval_repeats() {
        let s = DeliverySettings {
            retry_intervals: vec![Duration::from_secs(1), Duration::from_secs(7)],
            ..Default::default()
        };
        assert_eq!(s.retry_delay(1), Duration::from_secs(1));
        assert_eq!(s.retry_delay(2), Duration::from_secs(7));
        assert_eq!(s.retry_delay(9), Duration::from_secs(7));
    }
}
