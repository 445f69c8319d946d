//! Wiring of the consent loop into `leak serve`: the server secret and the
//! suppression list, the inbound listener's backend and [`Outbox`], the web
//! opt-out listener and the consent metrics. Kept apart from `mod.rs` so the
//! daemon's start-up reads as a list of parts.
//!
//! [`Outbox`]: leak_inbound::Outbox

use super::unsubscribe::Unsubscribe;
use leak_config::Config;
use leak_consent::{Secret, SecretError, Suppression};
use leak_store::{QueuedMessage, Recipient, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the server secret lives: `[web] secret_file`, else
/// `{data_dir}/consent.secret`.
pub fn secret_path(config: &Config) -> PathBuf {
    config
        .web
        .as_ref()
        .and_then(|web| web.secret_file.clone())
        .unwrap_or_else(|| config.server.data_dir.join("consent.secret"))
}

/// The server secret (created at first start).
pub fn secret(config: &Config) -> Result<Secret, SecretError> {
    Secret::load_or_create(&secret_path(config))
}

/// The suppression list under the server secret; its entries in `shared`
/// when this node is part of a cluster.
pub fn suppression(
    store: Arc<dyn Store>,
    secret: &Secret,
    shared: Option<Arc<dyn leak_consent::SharedList>>,
) -> Arc<Suppression> {
    Arc::new(Suppression::with_shared(store, secret, shared))
}

/// `[web] public_url` without its trailing slash.
fn public_url(config: &Config) -> Option<String> {
    config
        .web
        .as_ref()
        .map(|web| web.public_url.trim_end_matches('/').to_string())
}

/// Per-recipient links, when `[web]` is configured.
pub fn unsubscribe(config: &Config, list: &Arc<Suppression>) -> Option<Unsubscribe> {
    Some(Unsubscribe {
        public_url: public_url(config)?,
        optout_address: config.anonymizer.optout_address.clone(),
        list: list.clone(),
    })
}

/// Queues leak's own answers: null envelope sender, marked as reports so
/// that their failure never causes another message. Like every leak
/// message they are stored undated and unsigned: delivery adds `Date`,
/// `Received` and the DKIM signatures at the first attempt.
pub struct Outbox {
    pub store: Arc<dyn Store>,
    pub scheduler: leak_delivery::QueueHint,
}

#[async_trait::async_trait]
impl leak_inbound::Outbox for Outbox {
    async fn send(&self, to: &str, message: Vec<u8>) -> Result<(), String> {
        // Stored undated like every leak message: Date comes at delivery.
        let body = leak_delivery::without_date(message);
        let now = super::pipeline::unix_now();
        let id = leak_store::new_message_id();
        let queued = QueuedMessage {
            id: id.clone(),
            created: now,
            size: body.len() as u64,
            account: String::new(),
            notify: None,
            return_path: String::new(),
            held: false,
            hold_reason: None,
            is_report: true,
            // Answers are not delayed: their timing tells nothing about a sender.
            recipients: vec![Recipient::new(to.to_string(), now)],
            history: Vec::new(),
            stamped: None,
        };
        self.store
            .enqueue(queued, body)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(queue_id = %id, "inbound: answer queued");
        self.scheduler.queued(&id);
        Ok(())
    }
}

/// The inbound role's backend.
pub fn inbound(
    config: &Config,
    list: Arc<Suppression>,
    store: Arc<dyn Store>,
    outbox: Outbox,
    counters: Arc<leak_inbound::Counters>,
) -> leak_inbound::Inbound {
    let anonymizer = &config.anonymizer;
    let mut categories: Vec<String> = anonymizer
        .categories
        .keys()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    categories.push(anonymizer.default_category.to_ascii_lowercase());
    leak_inbound::Inbound {
        settings: leak_inbound::Settings {
            addresses: leak_inbound::Addresses {
                domain: anonymizer.domain.to_ascii_lowercase(),
                optout: anonymizer
                    .optout_address
                    .as_ref()
                    .map(|a| a.to_ascii_lowercase()),
                categories,
            },
            public_url: public_url(config),
        },
        suppression: list,
        store,
        outbox: Arc::new(outbox),
        counters,
    }
}

/// The SMTP settings of the inbound role: those of submission, with every
/// peer allowed to send MAIL FROM (no account is needed to write *to* leak;
/// RCPT TO is the gate).
pub fn inbound_smtp_settings(config: &Config) -> leak_smtp::Settings {
    let mut settings = super::settings::smtp_settings(config);
    // Mail to leak needs no account, but every client stays subject to the
    // per-client limits (connections, rates, junk) of submission.
    settings.accept_without_auth = true;
    settings
}

/// Opt-outs by source, bounces by class, complaints, answered replies, for
/// the metrics endpoint (`metrics.rs` encodes them).
pub fn metric_families(
    list: &Suppression,
    inbound: &leak_inbound::Counters,
) -> Vec<super::metrics::CounterFamily> {
    use super::metrics::CounterFamily;
    use std::sync::atomic::Ordering::Relaxed;
    let added = list
        .added_counts()
        .into_iter()
        .map(|(source, n)| (Some(("source", source.as_str())), n))
        .collect();
    vec![
        CounterFamily {
            name: "leak_suppressions_added",
            help: "Addresses added to the suppression list, by source.",
            samples: added,
        },
        CounterFamily {
            name: "leak_bounces",
            help: "Bounces read on the inbound listener, by class.",
            samples: vec![
                (Some(("class", "hard")), inbound.bounces_hard.load(Relaxed)),
                (Some(("class", "soft")), inbound.bounces_soft.load(Relaxed)),
                (
                    Some(("class", "unknown")),
                    inbound.bounces_unknown.load(Relaxed),
                ),
            ],
        },
        CounterFamily {
            name: "leak_complaints",
            help: "Feedback-loop complaints received.",
            samples: vec![(None, inbound.complaints.load(Relaxed))],
        },
        CounterFamily {
            name: "leak_inbound_optout_mails",
            help: "Messages to the opt-out address.",
            samples: vec![(None, inbound.optout_mails.load(Relaxed))],
        },
        CounterFamily {
            name: "leak_replies",
            help: "Replies to pseudonyms, answered or not.",
            samples: vec![
                (
                    Some(("answered", "true")),
                    inbound.replies_answered.load(Relaxed),
                ),
                (
                    Some(("answered", "false")),
                    inbound.replies_unanswered.load(Relaxed),
                ),
            ],
        },
    ]
}
