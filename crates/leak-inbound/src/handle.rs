//! What is done with one accepted message, per kind of address.

use crate::answer::{self, Answer};
use crate::reports::{self, BounceClass, Complaint};
use crate::{Inbound, Target};
use leak_consent::Source;
use leak_store::StoreError;
use mail_parser::MessageParser;
use std::sync::atomic::Ordering;

/// The kv tree recording when each writer was last answered (HMAC key +
/// day), so a writer gets one automatic answer a day at most.
const ANSWERED_TREE: &str = "autoreply";

/// Why a message could not be processed (the sender is told to retry).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandleError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("queueing an answer: {0}")]
    Outbox(String),
}

impl Inbound {
    pub(crate) async fn handle(
        &self,
        target: &Target,
        mail_from: &str,
        message: &[u8],
    ) -> Result<(), HandleError> {
        match target {
            Target::Bounce(id) => match reports::parse_complaint(message) {
                Some(complaint) => self.complaint(complaint, Some(id)).await,
                None => self.bounce(id, message).await,
            },
            Target::Abuse => match reports::parse_complaint(message) {
                Some(complaint) => self.complaint(complaint, None).await,
                None => {
                    tracing::info!("inbound: mail at abuse@ that is no feedback report");
                    Ok(())
                }
            },
            Target::Optout => self.optout(mail_from, message).await,
            Target::Pseudonym => self.reply(mail_from, message).await,
        }
    }

    async fn bounce(&self, id: &str, message: &[u8]) -> Result<(), HandleError> {
        let bounced = reports::parse_bounce(message);
        let counters = &self.counters;
        if bounced.is_empty() {
            counters.bounces_unknown.fetch_add(1, Ordering::Relaxed);
            tracing::info!(queue_id = %id, class = "unknown", "inbound: unreadable bounce");
            return Ok(());
        }
        for item in bounced {
            let counter = match item.class {
                BounceClass::Hard => &counters.bounces_hard,
                BounceClass::Soft => &counters.bounces_soft,
                BounceClass::Unknown => &counters.bounces_unknown,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::info!(queue_id = %id, class = item.class.as_str(), status = %item.status, "inbound: bounce");
            if item.class != BounceClass::Hard {
                continue;
            }
            let Some(recipient) = item.recipient.or_else(|| self.sole_recipient(id)) else {
                continue;
            };
            let reason = format!("bounce {}", item.status);
            let (hash, _) = self
                .suppression
                .add(&recipient, Source::Bounce, Some(reason.clone()), unix_now())
                .await?;
            tracing::info!(%hash, source = "bounce", "suppressed");
            self.mark(id, &recipient, reason).await;
        }
        Ok(())
    }

    /// The recipient of a queued message that has only one (always the
    /// case with `[web] public_url`, where messages are split per recipient).
    fn sole_recipient(&self, id: &str) -> Option<String> {
        let message = self.store.get(id).ok().flatten()?;
        match message.recipients.as_slice() {
            [only] => Some(only.address.clone()),
            _ => None,
        }
    }

    /// Notes the bounce on the queued message, if it is still in the queue.
    async fn mark(&self, id: &str, recipient: &str, reason: String) {
        let Ok(Some(_)) = self.store.get(id) else {
            return;
        };
        let wanted = leak_consent::normalize_address(recipient);
        let change = Box::new(move |message: &mut leak_store::QueuedMessage| {
            for r in &mut message.recipients {
                if leak_consent::normalize_address(&r.address) == wanted {
                    r.last_error = Some(reason.clone());
                }
            }
        });
        if let Err(error) = self.store.modify(id, change).await {
            tracing::debug!(queue_id = %id, %error, "bounce not marked on the message");
        }
    }

    async fn complaint(&self, complaint: Complaint, id: Option<&str>) -> Result<(), HandleError> {
        self.counters.complaints.fetch_add(1, Ordering::Relaxed);
        let from_token = reports::optout_token(&complaint.original)
            .and_then(|token| self.suppression.open_token(&token).ok());
        let verp_id = id
            .map(str::to_string)
            .or_else(|| verp_id(&complaint.original, &self.settings.addresses.domain));
        let recipient = complaint
            .rcpt_to
            .clone()
            .filter(|a| a.contains('@'))
            .or(from_token)
            .or_else(|| verp_id.as_deref().and_then(|id| self.sole_recipient(id)));
        let Some(recipient) = recipient else {
            tracing::warn!(feedback_type = %complaint.feedback_type, "inbound: complaint names no recipient leak can find");
            return Ok(());
        };
        let (hash, _) = self
            .suppression
            .add(
                &recipient,
                Source::Complaint,
                Some(format!("complaint {}", complaint.feedback_type)),
                unix_now(),
            )
            .await?;
        tracing::info!(%hash, source = "complaint", feedback_type = %complaint.feedback_type, "suppressed");
        Ok(())
    }

    async fn optout(&self, mail_from: &str, message: &[u8]) -> Result<(), HandleError> {
        let Some(parsed) = MessageParser::default().parse(message) else {
            return Ok(());
        };
        let writer = parsed
            .from()
            .and_then(|list| list.first())
            .and_then(|addr| addr.address())
            .map(str::to_string)
            .filter(|a| a.contains('@'))
            .or_else(|| (!mail_from.is_empty()).then(|| mail_from.to_string()));
        let Some(writer) = writer else {
            return Ok(());
        };
        self.counters.optout_mails.fetch_add(1, Ordering::Relaxed);
        let (hash, new) = self
            .suppression
            .add(&writer, Source::Mail, None, unix_now())
            .await?;
        tracing::info!(%hash, new, source = "mail", "suppressed");
        if !answer::may_answer(mail_from, &parsed) || !self.first_answer_today(&writer).await? {
            return Ok(());
        }
        let from = self
            .settings
            .addresses
            .optout
            .clone()
            .unwrap_or_else(|| format!("postmaster@{}", self.settings.addresses.domain));
        let text = answer::optout_confirmation(&Answer {
            from: &from,
            to: &writer,
            in_reply_to: parsed.message_id(),
            subject: parsed.subject().unwrap_or(""),
            optout_url: None,
            optout_address: None,
            domain: &self.settings.addresses.domain,
            now: unix_now() as i64,
        })
        .map_err(|e| HandleError::Outbox(e.to_string()))?;
        self.outbox
            .send(&writer, text)
            .await
            .map_err(HandleError::Outbox)
    }

    async fn reply(&self, mail_from: &str, message: &[u8]) -> Result<(), HandleError> {
        let parsed = MessageParser::default().parse(message);
        let allowed = parsed
            .as_ref()
            .is_some_and(|parsed| answer::may_answer(mail_from, parsed));
        let counters = &self.counters;
        let Some(parsed) = parsed.filter(|_| allowed) else {
            counters.replies_unanswered.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if !self.first_answer_today(mail_from).await? {
            counters.replies_unanswered.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        // Answered from the pseudonym written to (its To), else the default.
        let domain = &self.settings.addresses.domain;
        let pseudonym = parsed
            .to()
            .into_iter()
            .flat_map(|list| list.iter())
            .filter_map(|addr| addr.address())
            .find(|a| self.settings.addresses.classify(a) == Some(Target::Pseudonym))
            .map(str::to_string)
            .unwrap_or_else(|| format!("postmaster@{domain}"));
        let url = self
            .settings
            .public_url
            .as_ref()
            .map(|base| format!("{base}/optout/{}", self.suppression.token(mail_from)));
        let text = answer::auto_reply(&Answer {
            from: &pseudonym,
            to: mail_from,
            in_reply_to: parsed.message_id(),
            subject: parsed.subject().unwrap_or(""),
            optout_url: url.as_deref(),
            optout_address: self.settings.addresses.optout.as_deref(),
            domain,
            now: unix_now() as i64,
        })
        .map_err(|e| HandleError::Outbox(e.to_string()))?;
        self.outbox
            .send(mail_from, text)
            .await
            .map_err(HandleError::Outbox)?;
        counters.replies_answered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records that `address` is answered today; false if it already was.
    /// Keys are the day then the address's HMAC, so past days are dropped
    /// by [`prune_answered`](Self::prune_answered) without reading values.
    async fn first_answer_today(&self, address: &str) -> Result<bool, HandleError> {
        let today = unix_now() / 86_400;
        let mut key = today.to_be_bytes().to_vec();
        key.extend_from_slice(&self.suppression.key(address));
        if self.store.kv_get(ANSWERED_TREE, &key)?.is_some() {
            return Ok(false);
        }
        self.store.kv_put(ANSWERED_TREE, &key, Vec::new()).await?;
        // About once in 64 answers, forget the records of past days.
        if rand::random::<u8>() < 4 {
            self.prune_answered(today).await?;
        }
        Ok(true)
    }

    /// Removes the answer records of days before `today`.
    async fn prune_answered(&self, today: u64) -> Result<(), HandleError> {
        for (key, _) in self.store.kv_scan(ANSWERED_TREE)? {
            let day = key
                .get(..8)
                .and_then(|d| <[u8; 8]>::try_from(d).ok())
                .map(u64::from_be_bytes);
            if day.is_none_or(|day| day < today) {
                self.store.kv_remove(ANSWERED_TREE, &key).await?;
            }
        }
        Ok(())
    }
}

/// The queue id in a `bounce-<id>@domain` address quoted in `text` (the
/// reported message's Return-Path).
fn verp_id(text: &str, domain: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let suffix = format!("@{domain}");
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("bounce-") {
        let candidate = &rest[at + "bounce-".len()..];
        let id: String = candidate
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !id.is_empty() && candidate[id.len()..].starts_with(&suffix) {
            return Some(id);
        }
        rest = &rest[at + 1..];
    }
    None
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verp_ids_in_quoted_headers() {
        let text = "Return-Path: <bounce-01ABc@anon.example>\r\nFrom: x\r\n";
        assert_eq!(
            super::verp_id(text, "anon.example").as_deref(),
            Some("01abc")
        );
        assert_eq!(
            super::verp_id("bounce-x@other.example", "anon.example"),
            None
        );
    }
}
