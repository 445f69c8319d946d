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
//! - `intl.rs`: international addresses — IDNA A-labels for lookups and
//!   SMTP commands, when SMTPUTF8 is needed, RFC 6533 report addresses.
//! - `tls.rs`: the STARTTLS client configurations (opportunistic, verifying).
//! - `mta_sts.rs`: MTA-STS policies (RFC 8461): TXT lookup, HTTPS fetch, cache.
//! - `dane.rs`: DANE (RFC 7672): DNSSEC-validated MX and TLSA lookups, TLSA
//!   matching, the certificate verifier (tests in `dane_tests.rs`).
//! - `dane_probe.rs`: for `dane = "auto"`, whether DNSSEC validation works
//!   through the resolver ([`DaneStatus`], [`DaneWatch`]).
//! - `sessions.rs`: SMTP sessions kept open for the next message to the same MX.
//! - `shaping.rs`: limits per MX host set (connections, messages per
//!   minute), suspension after throttling replies, retry jitter.
//! - `scheduler/mod.rs`: [`Scheduler`] — picks due recipients, limits
//!   concurrency, runs attempts; `scheduler/results.rs` writes their results,
//!   expires old recipients, queues failure reports and removes finished mail.
//! - `agenda.rs`: the scheduler's in-memory plan of when each message is due
//!   and which wait for a connection slot.
//! - `stamp.rs`: what is added at the first attempt — `Date`, leak's
//!   `Received` line (the rounded attempt time, kept for retries) and the
//!   DKIM signatures — to the stored message, which carries none of them.
//! - `report.rs`: RFC 3464 failure reports to the account's notify address,
//!   sent after their own random delay on a connection of their own.
//! - `tlsrpt.rs`: TLS-RPT (RFC 8460): results per policy domain in the
//!   store, the periodic aggregate reports by mail and HTTPS POST.
//! - `counters.rs`: [`DeliveryCounters`], outcome totals for the metrics endpoint
//!   (with outbound TLS: deliveries by TLS mode, failures by type).
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
mod dane;
mod dane_probe;
mod dns;
mod intl;
mod mta_sts;
mod report;
pub mod review;
mod scheduler;
mod sessions;
mod shaping;
mod stamp;
mod tls;
mod tlsrpt;

pub use client::{DomainResult, Outcome, RecipientResult};
pub use counters::DeliveryCounters;
pub use dane_probe::{DaneStatus, DaneWatch};
pub use dns::{build_resolver, DnsFailure, MxResolver, MxTarget};
pub use intl::ascii_domain;
pub use report::without_date;
pub use review::ReviewDeadline;
pub use scheduler::{QueueHint, Reloader, Scheduler};
pub use stamp::{outgoing, stamp_time};
pub use tls::{TlsFailure, TlsUsed};

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How mail to one recipient domain uses TLS (`[[delivery.domain]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// The global [`TlsMode`].
    #[default]
    Opportunistic,
    /// STARTTLS with a certificate that chains to a trusted root and names
    /// the MX host; otherwise the recipients are deferred, never sent in clear.
    Verify,
    /// DANE required (RFC 7672): the MX RRset must be DNSSEC-validated and
    /// every MX host must publish usable TLSA records its certificate
    /// matches; otherwise the recipients are deferred.
    Dane,
}

/// `delivery.dane`: when automatic DANE applies to domains without a
/// `[[delivery.domain]]` policy (see `dane_probe.rs`). The config's default
/// is `Auto`; this type's is `Never` (a library user opts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DaneMode {
    /// While a probe shows that DNSSEC validation works through the resolver.
    Auto,
    /// Always: a resolver that strips DNSSEC then defers mail.
    Always,
    #[default]
    Never,
}

/// Which MX addresses delivery connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    #[default]
    Any,
    Ipv4,
    Ipv6,
}

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
    /// The wait before a message's first attempt, drawn once when it is
    /// queued, so its arrival at the recipient's MX does not match its
    /// submission. Zero disables it.
    pub random_delay: RandomDelay,
    /// The wait before a failure report's first attempt, so the notify
    /// address's mail system cannot pair it with the refused message by time.
    pub report_delay: RandomDelay,
    /// `Date` and `Received` carry the first attempt's time rounded down to a
    /// multiple of this (at least one second).
    pub date_rounding: Duration,
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
    /// DKIM `x=`: signatures expire this long after the attempt's time
    /// rounded down to `date_rounding`; `None` writes no `x=`.
    pub dkim_expiry: Option<Duration>,
    /// Each retry wait is drawn within ± this fraction of its interval.
    pub retry_jitter: f64,
    /// Simultaneous transactions to one MX host set; 0: no limit.
    pub max_per_mx: usize,
    /// Transactions per minute to one MX host set; 0: no limit.
    pub messages_per_minute: u32,
    /// Transactions over one kept connection before it is closed; 0: no limit.
    pub messages_per_connection: u32,
    /// How long an MX host set is left alone after a throttling reply.
    pub throttle_suspend: Duration,
    /// Local addresses outbound connections are bound to.
    pub source_ipv4: Option<Ipv4Addr>,
    pub source_ipv6: Option<Ipv6Addr>,
    pub ip_family: IpFamily,
    /// Per-domain TLS policies, by domain in ASCII (A-labels, lowercase).
    pub domain_tls: std::collections::HashMap<String, TlsPolicy>,
    /// Extra CA certificates (PEM) trusted by the `verify` policy.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Look up and apply MTA-STS policies for domains without an explicit one.
    pub mta_sts: bool,
    /// The HTTPS port of `mta-sts.<domain>` (443; tests use their own).
    pub mta_sts_port: u16,
    /// A daily cap per MX host set that grows while the IP warms up.
    pub warmup: Option<Warmup>,
    /// When to look up DNSSEC-validated TLSA records for every domain
    /// without an explicit policy and apply DANE when they exist (before
    /// MTA-STS).
    pub dane: DaneMode,
    /// DNSKEY trust anchors added to the IANA root's (`dns.dnssec_trust_anchor`).
    pub dnssec_trust_anchor: Option<std::path::PathBuf>,
    /// How often TLS-RPT aggregate reports are sent; zero: never (and no
    /// results are recorded).
    pub tls_report_interval: Duration,
}

/// The warm-up ramp: on day `n` (0-based, UTC days from `start`) at most
/// `daily[n]` transactions to each MX host set; no cap after the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warmup {
    /// Unix second the first day starts.
    pub start: u64,
    pub daily: Vec<u32>,
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
            random_delay: RandomDelay::default(),
            report_delay: RandomDelay::default(),
            date_rounding: Duration::from_secs(300),
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
            dkim_expiry: None,
            retry_jitter: 0.0,
            max_per_mx: 0,
            messages_per_minute: 0,
            messages_per_connection: 0,
            throttle_suspend: Duration::from_secs(15 * 60),
            source_ipv4: None,
            source_ipv6: None,
            ip_family: IpFamily::Any,
            domain_tls: Default::default(),
            tls_ca_file: None,
            mta_sts: false,
            mta_sts_port: 443,
            warmup: None,
            dane: DaneMode::Never,
            dnssec_trust_anchor: None,
            tls_report_interval: Duration::from_secs(24 * 3600),
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

    /// [`DeliverySettings::retry_delay`] with the configured ± jitter.
    pub(crate) fn jittered_retry_delay(&self, attempts: u32) -> Duration {
        shaping::jittered(self.retry_delay(attempts), self.retry_jitter)
    }
}

/// A wait drawn uniformly from `min..=max` (whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RandomDelay {
    pub min: Duration,
    pub max: Duration,
}

impl RandomDelay {
    /// One draw, from the operating system's random source: nothing a
    /// recipient sees (queue id, Message-ID) predicts it.
    pub fn draw(&self) -> Duration {
        use rand::Rng;
        let (min, max) = (self.min.as_secs(), self.max.as_secs());
        if max <= min {
            return Duration::from_secs(min);
        }
        Duration::from_secs(rand::rngs::OsRng.gen_range(min..=max))
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
    #[error("cannot read the delivery CA file {0}")]
    TlsCa(String),
    #[error("cannot read the DNSSEC trust anchor file {0}")]
    TrustAnchor(String),
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

    #[test]
    fn random_delays_stay_in_range_and_vary() {
        let delay = RandomDelay {
            min: Duration::from_secs(10),
            max: Duration::from_secs(70),
        };
        let draws: std::collections::HashSet<u64> =
            (0..300).map(|_| delay.draw().as_secs()).collect();
        assert!(draws.iter().all(|d| (10..=70).contains(d)), "{draws:?}");
        assert!(draws.len() > 20, "{draws:?}");
        assert_eq!(RandomDelay::default().draw(), Duration::ZERO);
        let fixed = RandomDelay {
            min: Duration::from_secs(5),
            max: Duration::from_secs(5),
        };
        assert_eq!(fixed.draw(), Duration::from_secs(5));
    }
}
