//! The queue entry: what delivery, failure reports and the operator CLI need to
//! know about an accepted message. Bodies are stored separately.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (UTC). Plain integers keep records compact and portable.
pub type UnixTime = u64;

/// One accepted message and the state of each of its recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// Queue id: 16 lowercase hex characters, random.
    pub id: String,
    /// When leak accepted it.
    pub created: UnixTime,
    /// Body size in bytes.
    pub size: u64,
    /// The submitting account (empty for trusted-network submissions). Never
    /// logged next to a recipient above `debug`.
    pub account: String,
    /// Where failure reports go (the account's `--notify` address), if anywhere.
    pub notify: Option<String>,
    /// The envelope sender used on delivery: always at the anonymizer domain.
    pub return_path: String,
    /// A held message is never attempted until released.
    pub held: bool,
    /// Why it is held (moderation reason, operator), shown to operators.
    pub hold_reason: Option<String>,
    /// True for leak's own failure reports: a report never triggers another report.
    pub is_report: bool,
    /// Each recipient and how far delivery to it has come.
    pub recipients: Vec<Recipient>,
    /// Every delivery attempt, oldest first.
    pub history: Vec<Attempt>,
    /// The time written in `Date` and leak's `Received` line, fixed at the
    /// first delivery attempt (rounded) so every retry and every recipient
    /// domain gets the same headers. `None` until then; records written
    /// before this field existed load as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamped: Option<UnixTime>,
}

/// Sorts messages oldest first (ties by id), the order listings show.
pub fn sort_oldest_first(messages: &mut [QueuedMessage]) {
    messages.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
}

impl QueuedMessage {
    /// A message leaves the queue once every recipient is delivered or failed.
    pub fn is_finished(&self) -> bool {
        self.recipients.iter().all(|r| r.status.is_final())
    }

    /// Finished, with no failure report left to queue: nothing is left to
    /// do with the message, it may leave the queue.
    pub fn is_done(&self) -> bool {
        self.is_finished() && !self.recipients.iter().any(|r| r.report_pending)
    }
}

/// One envelope recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The RCPT TO address, as given.
    pub address: String,
    pub status: RecipientStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (for `queued` and `deferred`).
    pub next_attempt: Option<UnixTime>,
    /// The last remote reply or local error, e.g. `451 4.3.0 try later`.
    pub last_error: Option<String>,
    /// This recipient failed and its failure report is not queued yet. Set in
    /// the same write that fails the recipient, cleared once the report is
    /// durably queued, so a crash in between delays the report but never
    /// loses it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub report_pending: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Recipient {
    /// A fresh recipient, due at `due`.
    pub fn new(address: impl Into<String>, due: UnixTime) -> Self {
        Recipient {
            address: address.into(),
            status: RecipientStatus::Queued,
            attempts: 0,
            next_attempt: Some(due),
            last_error: None,
            report_pending: false,
        }
    }
}

/// Where delivery to one recipient stands (names as in CONTRACT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    /// No attempt yet.
    Queued,
    /// Temporary failure; will retry at `next_attempt`.
    Deferred,
    Delivered,
    /// Permanent failure or queue lifetime exceeded.
    Failed,
}

impl RecipientStatus {
    pub fn is_final(self) -> bool {
        matches!(self, RecipientStatus::Delivered | RecipientStatus::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Queued => "queued",
            RecipientStatus::Deferred => "deferred",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Failed => "failed",
        }
    }
}

/// One delivery attempt to one recipient, for `leak queue show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: UnixTime,
    pub recipient: String,
    /// The MX host tried, if the attempt got that far.
    pub mx: Option<String>,
    /// The outcome: the remote reply or the local error.
    pub result: String,
}
