//! What happens after an attempt: results written to the store, failure
//! reports for recipients that failed (durably pending until queued), expiry,
//! and the removal of finished messages.

use super::Inner;
use crate::client::{DomainResult, Outcome};
use crate::report::{self, FailedRecipient, ReportContext};
use leak_store::{
    Attempt, MessageChange, QueuedMessage, Recipient, RecipientStatus, Settled, Store, StoreError,
};

impl Inner {
    /// Writes an attempt's results, then reports failures and removes the
    /// message once every recipient is final.
    pub(super) async fn record(&self, id: &str, result: DomainResult, now: u64) {
        let counters = self.counters.clone();
        let settings = self.settings();
        let change = Box::new(move |m: &mut QueuedMessage| {
            let expires = m.created.saturating_add(settings.queue_lifetime.as_secs());
            let wants_report = wants_report(m);
            for res in &result.results {
                let Some(r) = m
                    .recipients
                    .iter_mut()
                    .find(|r| r.address == res.address && !r.status.is_final())
                else {
                    continue;
                };
                let expired = matches!(res.outcome, Outcome::Deferred) && now >= expires;
                match res.outcome {
                    Outcome::Delivered => {
                        r.status = RecipientStatus::Delivered;
                        r.next_attempt = None;
                        r.last_error = None;
                    }
                    Outcome::Failed => {
                        r.status = RecipientStatus::Failed;
                        r.next_attempt = None;
                        r.last_error = Some(res.reply.clone());
                    }
                    Outcome::Deferred if expired => {
                        r.status = RecipientStatus::Failed;
                        r.next_attempt = None;
                        r.last_error = Some(format!("{EXPIRED_PREFIX}{}", res.reply));
                    }
                    Outcome::Deferred if result.retry_at.is_some() => {
                        // Shaping, not the recipient: the attempt does not count.
                        r.status = RecipientStatus::Deferred;
                        r.attempts = r.attempts.saturating_sub(1);
                        r.next_attempt = result.retry_at.map(|at| at.min(expires));
                        r.last_error = Some(res.reply.clone());
                    }
                    Outcome::Deferred => {
                        r.status = RecipientStatus::Deferred;
                        let next = now + settings.jittered_retry_delay(r.attempts).as_secs();
                        r.next_attempt = Some(next.min(expires));
                        r.last_error = Some(res.reply.clone());
                    }
                }
                counters.count(res.outcome, expired);
                if matches!(res.outcome, Outcome::Delivered) {
                    counters.delivered_after(now.saturating_sub(m.created));
                }
                r.report_pending = wants_report && r.status == RecipientStatus::Failed;
                m.history.push(Attempt {
                    at: now,
                    recipient: r.address.clone(),
                    mx: result.mx.clone(),
                    result: res.reply.clone(),
                });
            }
        });
        self.after_change(id, change, now).await;
    }

    /// Fails recipients whose queue lifetime has run out without an attempt
    /// deciding them.
    pub(super) async fn expire(&self, id: &str, rcpts: Vec<String>, now: u64) {
        self.counters.count_expired(rcpts.len());
        let change = Box::new(move |m: &mut QueuedMessage| {
            let wants_report = wants_report(m);
            for r in m.recipients.iter_mut() {
                if r.status.is_final() || !rcpts.contains(&r.address) {
                    continue;
                }
                let last = r
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no attempt made".into());
                r.status = RecipientStatus::Failed;
                r.next_attempt = None;
                r.last_error = Some(format!("{EXPIRED_PREFIX}{last}"));
                r.report_pending = wants_report;
                m.history.push(Attempt {
                    at: now,
                    recipient: r.address.clone(),
                    mx: None,
                    result: "expired: queue lifetime exceeded".into(),
                });
            }
        });
        tracing::info!(queue_id = %id, "recipients expired");
        self.after_change(id, change, now).await;
    }

    /// Applies `change`; a message it leaves done (every recipient final, no
    /// report pending) is removed in the same store step, without waiting
    /// for that removal to be durable (a crash only brings it back for
    /// another delivery: see [`Store::modify_or_remove`]). Otherwise the
    /// change is durable before the reports it made pending are queued and
    /// the message removed once finished.
    pub(super) async fn after_change(&self, id: &str, change: MessageChange, now: u64) {
        let msg = match self.store.modify_or_remove(id, change).await {
            Ok(Settled::Kept(m)) => *m,
            Ok(Settled::Removed) => {
                tracing::info!(queue_id = %id, "message finished and removed from the queue");
                return;
            }
            Err(StoreError::NotFound(_)) => {
                tracing::info!(queue_id = %id, "message deleted during the attempt; results dropped");
                return;
            }
            Err(e) => {
                tracing::error!(queue_id = %id, error = %e, "cannot record delivery results");
                return;
            }
        };
        self.settle(msg, |_| true, now).await;
    }

    /// Queues the failure report for the pending recipients `select` picks,
    /// clears their flag once the report is durable, and removes the message
    /// when it is finished with no report left to send.
    pub(super) async fn settle(
        &self,
        msg: QueuedMessage,
        select: impl Fn(&Recipient) -> bool,
        now: u64,
    ) {
        let pending: Vec<FailedRecipient> = msg
            .recipients
            .iter()
            .filter(|r| r.report_pending && select(r))
            .map(failed_recipient)
            .collect();
        let mut msg = msg;
        if !pending.is_empty() && self.report(&msg, &pending, now).await {
            let reported: Vec<String> = pending.into_iter().map(|f| f.address).collect();
            let change = Box::new(move |m: &mut QueuedMessage| {
                for r in m.recipients.iter_mut() {
                    if reported.contains(&r.address) {
                        r.report_pending = false;
                    }
                }
            });
            match self.store.modify(&msg.id, change).await {
                Ok(updated) => msg = updated,
                Err(e) => {
                    tracing::warn!(queue_id = %msg.id, error = %e, "report queued but not marked sent");
                    return;
                }
            }
        }
        if msg.is_finished() && !msg.recipients.iter().any(|r| r.report_pending) {
            remove_finished(&*self.store, &msg.id).await;
        }
    }

    /// Builds and queues one report; true once it is durably queued (or when
    /// none is due after all).
    async fn report(&self, msg: &QueuedMessage, failed: &[FailedRecipient], now: u64) -> bool {
        let body = self.store.body(&msg.id).unwrap_or_default();
        let settings = self.settings();
        let ctx = ReportContext {
            hostname: &settings.hostname,
            return_domain: &settings.return_domain,
        };
        let due = now + settings.report_delay.draw().as_secs();
        match report::build(&ctx, msg, &body, failed, now, due) {
            Ok(Some((report, body))) => {
                let report_id = report.id.clone();
                match self.store.enqueue(report, body).await {
                    Ok(()) => {
                        tracing::info!(queue_id = %msg.id, %report_id, due, "failure report queued");
                        self.hint.queued(&report_id);
                        true
                    }
                    Err(e) => {
                        tracing::error!(queue_id = %msg.id, error = %e, "cannot queue failure report");
                        false
                    }
                }
            }
            Ok(None) => true,
            Err(e) => {
                tracing::error!(queue_id = %msg.id, error = %e, "cannot build failure report");
                false
            }
        }
    }
}

/// How a failure that came from the queue lifetime is recorded in `last_error`.
const EXPIRED_PREFIX: &str = "expired: ";

/// Whether failures of this message are reported (to its notify address).
fn wants_report(message: &QueuedMessage) -> bool {
    message.notify.is_some() && !message.is_report
}

/// What the report says about one failed recipient, from its stored state.
fn failed_recipient(recipient: &Recipient) -> FailedRecipient {
    let last = recipient.last_error.clone().unwrap_or_default();
    let (reply, expired) = match last.strip_prefix(EXPIRED_PREFIX) {
        Some(reply) => (reply.to_owned(), true),
        None => (last, false),
    };
    FailedRecipient {
        address: recipient.address.clone(),
        reply,
        expired,
    }
}

pub(super) async fn remove_finished(store: &dyn Store, id: &str) {
    match store.remove(id).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {
            tracing::info!(queue_id = %id, "message finished and removed from the queue");
        }
        Err(e) => tracing::error!(queue_id = %id, error = %e, "cannot remove finished message"),
    }
}
