//! The JSON the CLI prints. [`MessageJson`] is exactly the `queue list --json`
//! element of CONTRACT.md: field names, order, RFC 3339 times, and `null`
//! (never a missing key) for absent values. `queue show --json` adds the
//! envelope and the history; `status --json` is ours to define.

use leak_store::{Attempt, QueuedMessage, Recipient};
use serde::Serialize;

use super::rfc3339;
use crate::protocol::StatusReport;

/// One element of `leak queue list --json`.
#[derive(Debug, Serialize)]
pub struct MessageJson<'a> {
    pub id: &'a str,
    pub created: String,
    pub size: u64,
    pub held: bool,
    pub recipients: Vec<RecipientJson<'a>>,
}

/// One recipient inside [`MessageJson`].
#[derive(Debug, Serialize)]
pub struct RecipientJson<'a> {
    pub address: &'a str,
    pub status: &'static str,
    pub attempts: u32,
    pub next_attempt: Option<String>,
    pub last_error: Option<&'a str>,
}

impl<'a> MessageJson<'a> {
    pub fn new(message: &'a QueuedMessage) -> Self {
        MessageJson {
            id: &message.id,
            created: rfc3339(message.created),
            size: message.size,
            held: message.held,
            recipients: message.recipients.iter().map(RecipientJson::new).collect(),
        }
    }
}

impl<'a> RecipientJson<'a> {
    pub fn new(recipient: &'a Recipient) -> Self {
        RecipientJson {
            address: &recipient.address,
            status: recipient.status.as_str(),
            attempts: recipient.attempts,
            next_attempt: recipient.next_attempt.map(rfc3339),
            last_error: recipient.last_error.as_deref(),
        }
    }
}

/// `leak queue list --json`: one array, oldest message first.
pub fn list_json(messages: &[QueuedMessage]) -> Vec<MessageJson<'_>> {
    messages.iter().map(MessageJson::new).collect()
}

/// `leak queue show --json`: the list element plus the envelope and the history.
#[derive(Debug, Serialize)]
pub struct ShowJson<'a> {
    #[serde(flatten)]
    pub message: MessageJson<'a>,
    pub hold_reason: Option<&'a str>,
    pub return_path: &'a str,
    pub account: &'a str,
    pub notify: Option<&'a str>,
    pub is_report: bool,
    pub history: Vec<AttemptJson<'a>>,
}

/// One delivery attempt inside [`ShowJson`].
#[derive(Debug, Serialize)]
pub struct AttemptJson<'a> {
    pub at: String,
    pub recipient: &'a str,
    pub mx: Option<&'a str>,
    pub result: &'a str,
}

/// `leak queue show --json`.
pub fn show_json(message: &QueuedMessage) -> ShowJson<'_> {
    ShowJson {
        message: MessageJson::new(message),
        hold_reason: message.hold_reason.as_deref(),
        return_path: &message.return_path,
        account: &message.account,
        notify: message.notify.as_deref(),
        is_report: message.is_report,
        history: message.history.iter().map(attempt_json).collect(),
    }
}

fn attempt_json(attempt: &Attempt) -> AttemptJson<'_> {
    AttemptJson {
        at: rfc3339(attempt.at),
        recipient: &attempt.recipient,
        mx: attempt.mx.as_deref(),
        result: &attempt.result,
    }
}

/// `leak status --json`.
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    pub version: &'a str,
    pub started: String,
    pub uptime_seconds: u64,
    pub listeners: &'a [String],
    pub sessions_open: usize,
    pub policy_store: &'a str,
    pub dane: &'a str,
    pub dane_active: bool,
    pub queue: QueueJson,
}

/// Queue counts inside [`StatusJson`]: messages, and recipients by state.
#[derive(Debug, Serialize)]
pub struct QueueJson {
    pub messages: usize,
    pub held: usize,
    pub recipients: RecipientCountsJson,
}

/// Recipients by CONTRACT.md state.
#[derive(Debug, Serialize)]
pub struct RecipientCountsJson {
    pub queued: usize,
    pub deferred: usize,
    pub delivered: usize,
    pub failed: usize,
}

/// `leak status --json`.
pub fn status_json(report: &StatusReport) -> StatusJson<'_> {
    let q = &report.queue;
    StatusJson {
        version: &report.version,
        started: rfc3339(report.started),
        uptime_seconds: report.now.saturating_sub(report.started),
        listeners: &report.listeners,
        sessions_open: report.sessions_open,
        policy_store: &report.policy_store,
        dane: &report.dane,
        dane_active: report.dane_active,
        queue: QueueJson {
            messages: q.messages,
            held: q.held,
            recipients: RecipientCountsJson {
                queued: q.queued,
                deferred: q.deferred,
                delivered: q.delivered,
                failed: q.failed,
            },
        },
    }
}
