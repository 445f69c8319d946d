//! The review deadline: a message held by moderation (its hold reason starts
//! with `moderation`) that no operator released or deleted within
//! `[moderation] review_deadline` of its submission is dropped, and the
//! sender's notify address (if the account has one) gets a short notice in
//! French and English. An operator's own holds never expire this way.
//!
//! The notice is built here rather than in `report.rs`: it is not a delivery
//! status notification (nothing was attempted), just a plain-text note from
//! `mailer-daemon@`, marked `is_report` like the reports so it can never
//! cause another one. Like every leak message it is stored undated and
//! unsigned: `Date` and DKIM come at delivery (`stamp.rs`). It is queued before the held message is removed:
//! a crash in between can send the notice twice, never lose it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use leak_store::{QueuedMessage, Recipient, Store};
use mail_builder::MessageBuilder;
use tokio::sync::watch;

use crate::QueueHint;

/// How every hold reason given by moderation starts.
pub const MODERATION_HOLD_PREFIX: &str = "moderation";

/// What the sender's notify address reads.
const NOTICE: &str = "\
Votre message anonyme n'a pas ete distribue : il etait retenu pour verification \
par la moderation et n'a pas ete examine a temps. Il a ete supprime.\r\n\r\n\
Your anonymous message was not delivered: it was held for review by moderation \
and was not reviewed in time. It has been deleted.\r\n";

/// Drops the moderation holds older than the deadline.
pub struct ReviewDeadline {
    pub store: Arc<dyn Store>,
    pub hint: QueueHint,
    /// The anonymizer domain: the notice comes from `mailer-daemon@` it.
    pub return_domain: String,
    pub deadline: Duration,
}

impl ReviewDeadline {
    /// How often the held messages are looked at: a quarter of the deadline,
    /// between one second and one minute.
    pub fn period(&self) -> Duration {
        (self.deadline / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// Sweeps every [`Self::period`] until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            match self.sweep(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    messages = n,
                    "held messages dropped: review deadline passed"
                ),
                Err(e) => tracing::warn!(error = %e, "review deadline sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.period()) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Drops the expired moderation holds at `now`; returns how many.
    pub async fn sweep(&self, now: u64) -> Result<usize, leak_store::StoreError> {
        let deadline = self.deadline.as_secs();
        let mut expired = Vec::new();
        self.store.for_each_message(&mut |m| {
            let moderated = m
                .hold_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(MODERATION_HOLD_PREFIX));
            if m.held && moderated && m.created.saturating_add(deadline) <= now {
                expired.push(m);
            }
        })?;
        let mut dropped = 0;
        for message in &expired {
            // Still held by moderation? An operator may have acted meanwhile.
            match self.store.get(&message.id)? {
                Some(m) if m.held => {}
                _ => continue,
            }
            if let Some(notice) = self.notice(message, now) {
                let id = notice.0.id.clone();
                self.store.enqueue(notice.0, notice.1).await?;
                self.hint.queued(&id);
            }
            self.store.remove(&message.id).await?;
            dropped += 1;
            tracing::info!(queue_id = %message.id, "held message dropped: review deadline passed");
        }
        Ok(dropped)
    }

    /// The notice for `original`'s notify address, if it has one.
    fn notice(&self, original: &QueuedMessage, now: u64) -> Option<(QueuedMessage, Vec<u8>)> {
        let notify = original.notify.as_deref().filter(|_| !original.is_report)?;
        let id = leak_store::new_message_id();
        let from = format!("mailer-daemon@{}", self.return_domain);
        let message = MessageBuilder::new()
            .from(("Mail Delivery System", from.as_str()))
            .to(notify)
            .subject("Message non distribue / Message not delivered")
            .message_id(format!("{id}@{}", self.return_domain))
            .header(
                "Auto-Submitted",
                mail_builder::headers::raw::Raw::new("auto-replied"),
            )
            .text_body(NOTICE)
            .write_to_vec()
            .ok()?;
        let body = crate::report::without_date(message);
        let queued = QueuedMessage {
            id,
            created: now,
            size: body.len() as u64,
            account: original.account.clone(),
            notify: None,
            return_path: String::new(),
            held: false,
            hold_reason: None,
            is_report: true,
            recipients: vec![Recipient::new(notify, now)],
            history: Vec::new(),
            stamped: None,
        };
        Some((queued, body))
    }
}
