//! leak-inbound: the inbound SMTP role (`[[listener]] role = "inbound"`),
//! the MX of `anonymizer.domain`.
//!
//! It reuses leak-smtp's server and session (same limits on size, line
//! length, bare CR/LF, timeouts and connections) with [`Inbound`] as the
//! [`leak_smtp::Backend`]. The binary starts that server with
//! `accept_without_auth` (mail *to* leak needs no account, yet every client
//! stays under the per-client limits of submission); the only gate is RCPT
//! TO, where [`address::Addresses::classify`] accepts leak's own addresses
//! and nothing else (`550 5.7.1` for other domains: never a relay).
//! Nothing received is ever forwarded or stored: each message is read in
//! memory and acted upon:
//!
//! - at `bounce-<id>@` (VERP): an ARF report is a complaint; otherwise a DSN
//!   (or a common non-standard bounce), whose hard-bounced (5.x.x)
//!   recipients are suppressed with the status as reason, and marked on the
//!   queued message if it is still there;
//! - at `abuse@`/`postmaster@`: ARF reports (feedback loops) suppress the
//!   complaining recipient at once;
//! - at the opt-out address: the writer's `From` is suppressed and a
//!   confirmation is queued;
//! - at a category address (a reply to a pseudonym): a bilingual automatic
//!   answer is queued, once a day per writer at most, never to automatic mail.
//!
//! Answers go out through an [`Outbox`] the binary provides (DKIM signing,
//! the store, the scheduler) with a null envelope sender.
//!
//! # Layout
//!
//! - `address.rs`: which recipients are accepted and what they are for.
//! - `reports.rs`: DSN, non-standard bounce and ARF parsing.
//! - `answer.rs`: the automatic answer, the opt-out confirmation and the
//!   RFC 3834 loop rules.
//! - `handle.rs`: what is done with each accepted message.
//! - `lib.rs`: [`Inbound`] (the backend), [`Outbox`], [`Counters`].

pub mod address;
pub mod answer;
mod handle;
pub mod reports;

use leak_consent::Suppression;
use leak_smtp::{Envelope, Reply, SessionInfo};
use leak_store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use address::{Addresses, Target};

/// Where leak's answers go: signed, stored and delivered like any message.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Durably queues `message` for `to` with a null envelope sender, as a
    /// report (it never causes a failure report itself).
    async fn send(&self, to: &str, message: Vec<u8>) -> Result<(), String>;
}

/// What the inbound role was configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addresses: Addresses,
    /// `[web] public_url` without trailing slash, for opt-out links.
    pub public_url: Option<String>,
}

/// Counts for the metrics endpoint, since start.
#[derive(Debug, Default)]
pub struct Counters {
    pub bounces_hard: AtomicU64,
    pub bounces_soft: AtomicU64,
    pub bounces_unknown: AtomicU64,
    pub complaints: AtomicU64,
    pub optout_mails: AtomicU64,
    pub replies_answered: AtomicU64,
    pub replies_unanswered: AtomicU64,
}

impl Counters {
    /// `(name, labels, value)` triples for the exposition format.
    pub fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "leak_bounces_total",
                "{class=\"hard\"}",
                load(&self.bounces_hard),
            ),
            (
                "leak_bounces_total",
                "{class=\"soft\"}",
                load(&self.bounces_soft),
            ),
            (
                "leak_bounces_total",
                "{class=\"unknown\"}",
                load(&self.bounces_unknown),
            ),
            ("leak_complaints_total", "", load(&self.complaints)),
            (
                "leak_inbound_optout_mails_total",
                "",
                load(&self.optout_mails),
            ),
            (
                "leak_replies_total",
                "{answered=\"true\"}",
                load(&self.replies_answered),
            ),
            (
                "leak_replies_total",
                "{answered=\"false\"}",
                load(&self.replies_unanswered),
            ),
        ]
    }
}

/// The inbound backend.
pub struct Inbound {
    pub settings: Settings,
    pub suppression: Arc<Suppression>,
    /// The queue (to mark bounced recipients) and the auto-answer records.
    pub store: Arc<dyn Store>,
    pub outbox: Arc<dyn Outbox>,
    pub counters: Arc<Counters>,
}

#[async_trait::async_trait]
impl leak_smtp::Backend for Inbound {
    /// No AUTH on this role.
    async fn authenticate(&self, _username: &str, _password: &str) -> Option<String> {
        None
    }

    async fn check_sender(&self, _session: &SessionInfo, _mail_from: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn check_recipient(&self, session: &SessionInfo, recipient: &str) -> Result<(), Reply> {
        let addresses = &self.settings.addresses;
        if self.settings.addresses.classify(recipient).is_some() {
            return Ok(());
        }
        let ours = recipient
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&addresses.domain));
        tracing::info!(session = %session.id, ours, "inbound: recipient refused");
        Err(if ours {
            Reply::new(550, [5, 1, 1], "No such mailbox here")
        } else {
            Reply::new(
                550,
                [5, 7, 1],
                "Relaying denied: this server takes mail for its own domain only",
            )
        })
    }

    async fn receive(&self, session: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        let mut targets: Vec<Target> = envelope
            .recipients
            .iter()
            .filter_map(|r| self.settings.addresses.classify(r))
            .collect();
        targets.dedup();
        for target in targets {
            if let Err(error) = self.handle(&target, &envelope.mail_from, &message).await {
                tracing::error!(session = %session.id, %error, "inbound: message not processed");
                return Reply::new(451, [4, 3, 0], "Temporary local problem, try again later");
            }
        }
        Reply::ok("Received")
    }
}
