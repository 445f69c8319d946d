//! The SMTP backend: what happens to a transaction. Accounts at AUTH; limit
//! slots reserved at MAIL and RCPT (`limits.rs`, held per session in
//! `transactions.rs`); at the end of DATA the message is anonymized in
//! memory, moderated and durably stored, and only then acknowledged, its
//! slots committed with it. It is stored without `Date`, `Received` or DKIM
//! signature: delivery adds them at the first attempt
//! (`leak_delivery::outgoing`), so nothing the recipient gets carries the
//! submission time. RCPT TO checks the suppression list (`leak_consent`);
//! with `[web]` configured, one message is prepared and stored per recipient
//! so each carries its own `List-Unsubscribe` link (`unsubscribe.rs`), signed
//! at delivery with the rest.

use super::limits::{same_recipient, Limits};
use super::metrics::{Metrics, Refusal};
use super::replies;
use super::transactions::{Transaction, Transactions};
use super::unsubscribe::Unsubscribe;
use leak_accounts::{Account, Users};
use leak_cluster::PolicyStore;
use leak_config::ModerationAction;
use leak_smtp::{Envelope, Reply, SessionInfo};
use leak_store::{QueuedMessage, Recipient, Store};
use std::sync::{Arc, RwLock};

/// Everything the backend needs, built once at start; the users file, the
/// limits and the [`Policy`] are replaced by a reload (`reload.rs`).
pub struct Pipeline {
    /// Accounts (and, through `limits` and `suppression`, the counters and
    /// the list): this node's own, or the cluster's (`leak_cluster`).
    pub shared: Arc<dyn PolicyStore>,
    /// Recently verified logins (`[limits] auth_cache_ttl`); cleared
    /// whenever the users file is swapped.
    pub auth_cache: Arc<leak_accounts::CredentialCache>,
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    /// The limit slots held by each open transaction.
    pub transactions: Transactions,
    pub policy: RwLock<Arc<Policy>>,
    /// Names each queued message to the delivery scheduler, and draws when
    /// its first attempt is due (`[delivery] random_delay`).
    pub scheduler: leak_delivery::QueueHint,
    pub metrics: Arc<Metrics>,
    /// Opt-outs, hard bounces and complaints, checked at RCPT TO.
    pub suppression: Arc<leak_consent::Suppression>,
    /// Per-recipient `List-Unsubscribe` links (`[web] public_url` set): one
    /// stored message per recipient (see `unsubscribe.rs`).
    pub unsubscribe: Option<Unsubscribe>,
}

/// What the anonymizer and moderation do with a message: swapped whole by a
/// reload, so one message is handled under one policy from start to end.
pub struct Policy {
    pub anonymizer: leak_anonymizer::Options,
    /// `None` when moderation is disabled.
    pub classifier: Option<leak_moderation::Classifier>,
    pub moderation_action: ModerationAction,
    /// `[moderation] review`: hold the model's uncertain band for review.
    pub moderation_review: bool,
}

impl Pipeline {
    /// Swaps in a new policy (from a reload).
    pub fn replace_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swaps in a freshly loaded users file (a cluster ignores it) and
    /// empties the credential cache, with its TTL from the new config. A
    /// login in flight cannot revive an old password: a cached tag covers
    /// the stored hash it was verified against.
    pub fn replace_users(&self, users: Users, auth_cache_ttl: std::time::Duration) {
        self.shared.replace_users(users);
        self.auth_cache.reset(auth_cache_ttl);
    }

    /// The session's account (aliases to scrub, notify address). When it
    /// cannot be read, the message is refused for now: sending it without
    /// scrubbing the aliases is not an option.
    async fn account(&self, session: &SessionInfo) -> Result<Option<Account>, Reply> {
        let Some(name) = &session.account else {
            return Ok(None);
        };
        self.shared.account(name).await.map_err(|error| {
            tracing::error!(session = %session.id, %error, "account unreadable");
            replies::policy_unavailable()
        })
    }

    /// Anonymize → moderate → write. A message of up to
    /// [`INLINE_PREPARE_LIMIT`] bytes is prepared on the session's worker
    /// (a fraction of a millisecond for a typical message; handing it to
    /// another thread and back cost more in thread switches than it took).
    /// A larger one is prepared off the async executor, so other sessions
    /// go on meanwhile. When `data` is the last reference to the DATA
    /// buffer, the anonymizer takes the buffer and frees it as soon as it is
    /// parsed.
    async fn prepare(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        data: Arc<Vec<u8>>,
        recipient: Option<&str>,
    ) -> Result<Prepared, Unprepared> {
        let account = session.account.clone().unwrap_or_default();
        let (aliases, notify) = self
            .account(session)
            .await?
            .map(|a| (a.aliases, a.notify))
            .unwrap_or_default();
        let policy = self.policy();
        let options = match (&self.unsubscribe, recipient) {
            (Some(unsubscribe), Some(recipient)) => {
                unsubscribe.options_for(&policy.anonymizer, recipient)
            }
            _ => policy.anonymizer.clone(),
        };
        let mail_from = envelope.mail_from.clone();
        let inline = prepares_inline(data.len());
        let anonymize = move || {
            let sender = leak_anonymizer::Sender {
                mail_from: &mail_from,
                account: &account,
                aliases: &aliases,
                notify: notify.as_deref(),
            };
            draft_shared(data, &sender, &options)
        };
        let draft = if inline {
            anonymize()
        } else {
            tokio::task::spawn_blocking(anonymize)
                .await
                .map_err(|_| Reply::local_error())?
        }
        .map_err(|error| self.refusal(session, error))?;

        // The moderation text is freed before the message is written (peak
        // memory with a large text attachment).
        let finish = || {
            let hold_reason = self
                .moderate(&policy, &draft)
                .map_err(Unprepared::Moderated)?;
            let message = draft
                .write()
                .map_err(|error| self.refusal(session, error))?;
            let body = match (&self.unsubscribe, recipient) {
                (Some(unsubscribe), Some(recipient)) => {
                    unsubscribe.add_headers(&message, recipient)
                }
                _ => message,
            };
            Ok(Prepared { body, hold_reason })
        };
        if inline {
            finish()
        } else {
            // Classifying and writing a large message takes a while: let
            // the runtime move other sessions to another thread meanwhile.
            tokio::task::block_in_place(finish)
        }
    }

    /// The reply to a message the anonymizer could not rebuild.
    fn refusal(&self, session: &SessionInfo, error: leak_anonymizer::AnonymizeError) -> Reply {
        match error {
            // The operator's settings, not the message: try again later.
            leak_anonymizer::AnonymizeError::Misconfigured => {
                tracing::error!(session = %session.id, "anonymizer misconfigured");
                Reply::local_error()
            }
            // A To or Cc at the sender's own address, or carrying their
            // name beside others, is a policy refusal, not a malformed
            // message.
            leak_anonymizer::AnonymizeError::OwnAddress
            | leak_anonymizer::AnonymizeError::NamedAddress => {
                self.metrics.refused(Refusal::InvalidMessage);
                Reply::new(550, [5, 7, 1], format!("Message refused: {error}"))
            }
            // Everything else is the message itself: a part leak cannot
            // clean, a structure it refuses. The text names the attachment
            // and what to do, in English and French.
            error => {
                self.metrics.refused(Refusal::InvalidMessage);
                Reply::new(554, [5, 6, 0], format!("Message refused: {error}"))
            }
        }
    }

    /// `Err` refuses the message; `Ok(Some(reason))` holds it for review.
    /// The rules or a confident model score block (or hold, with `action =
    /// "hold"`); the model's uncertain band holds when `review` is on.
    fn moderate(
        &self,
        policy: &Policy,
        message: &leak_anonymizer::Draft,
    ) -> Result<Option<String>, Reply> {
        let Some(classifier) = &policy.classifier else {
            return Ok(None);
        };
        let pseudonym = if message.custom_pseudonym {
            message.pseudonym.as_str()
        } else {
            ""
        };
        let started = std::time::Instant::now();
        let decision = classifier.decide(&leak_moderation::Input {
            subject: &message.subject,
            text: &message.text,
            pseudonym,
        });
        self.metrics.classification_took(started.elapsed());
        // A rules hit the model doubts is held for review; without review
        // there is no one to settle it, and the rules' block stands.
        let outcome = match (decision.outcome, &decision.rules) {
            (leak_moderation::Outcome::Hold, leak_moderation::Verdict::Block { .. })
                if !policy.moderation_review =>
            {
                leak_moderation::Outcome::Block
            }
            (outcome, _) => outcome,
        };
        match outcome {
            leak_moderation::Outcome::Allow => Ok(None),
            leak_moderation::Outcome::Hold if policy.moderation_review => {
                // Score and language only: the matched words are message text.
                tracing::info!(
                    score = decision.score,
                    lang = decision.lang.code(),
                    "message held for moderation review"
                );
                Ok(Some(format!(
                    "{} review: {}",
                    leak_delivery::review::MODERATION_HOLD_PREFIX,
                    decision.detail()
                )))
            }
            leak_moderation::Outcome::Hold => Ok(None),
            leak_moderation::Outcome::Block => match policy.moderation_action {
                ModerationAction::Reject => {
                    tracing::info!(
                        category = decision.category(),
                        score = decision.score,
                        lang = decision.lang.code(),
                        "message refused by moderation"
                    );
                    self.metrics.refused(Refusal::Moderation);
                    Err(Reply::new(
                        550,
                        [5, 7, 1],
                        format!("Message refused: {}", decision.reason()),
                    ))
                }
                ModerationAction::Hold => Ok(Some(format!(
                    "{}: {}",
                    leak_delivery::review::MODERATION_HOLD_PREFIX,
                    decision.detail()
                ))),
            },
        }
    }
}

/// A message ready to store.
struct Prepared {
    body: Vec<u8>,
    hold_reason: Option<String>,
}

/// Why no message came out of `prepare`; each holds the reply.
enum Unprepared {
    /// Refused by moderation: counts toward the account's hourly limit, so
    /// that probing the filter costs as much as sending.
    Moderated(Reply),
    /// Anything else: the transaction's slots are given back.
    Failed(Reply),
}

impl From<Reply> for Unprepared {
    fn from(reply: Reply) -> Self {
        Unprepared::Failed(reply)
    }
}

#[async_trait::async_trait]
impl leak_smtp::Backend for Pipeline {
    async fn authenticate(&self, username: &str, password: &str) -> Option<String> {
        self.authenticate_or_defer(username, password)
            .await
            .ok()
            .flatten()
    }

    /// Deferred (`454 4.7.0`) only when the account cannot be read at all:
    /// a cluster whose database is down and that has no copy of the name.
    async fn authenticate_or_defer(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<String>, Reply> {
        // Mail clients fill in the address (`alice@anon.example`); the
        // account is the part before the anonymizer domain.
        let domain = self.policy().anonymizer.domain.clone();
        let username = match username.rsplit_once('@') {
            Some((name, at)) if at.eq_ignore_ascii_case(&domain) => name,
            _ => username,
        };
        let mut users = Users::default();
        match self.shared.account(username).await {
            Ok(Some(account)) => {
                users.users.insert(username.to_owned(), account);
            }
            // Verified against nothing: costs the same as a wrong password.
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "accounts unreadable at AUTH");
                return Err(replies::auth_unavailable());
            }
        }
        // A login verified within `auth_cache_ttl` is answered without
        // argon2id or a trip to the blocking pool.
        if users
            .verify_from_cache(&self.auth_cache, username, password)
            .is_some()
        {
            self.metrics.authenticated(true);
            self.metrics.auth_cache_hit();
            return Ok(Some(username.to_owned()));
        }
        let (username, password) = (username.to_owned(), password.to_owned());
        let cache = self.auth_cache.clone();
        let account = tokio::task::spawn_blocking(move || {
            users
                .verify_cached(&cache, &username, &password)
                .map(|_| username)
        })
        .await
        .ok()
        .flatten();
        self.metrics.authenticated(account.is_some());
        Ok(account)
    }

    async fn check_sender(&self, session: &SessionInfo, _mail_from: &str) -> Result<(), Reply> {
        // An account's hour, or for a trusted client without one, its
        // address's hour (the same `messages_per_hour`).
        let now = unix_now();
        let (reserved, whom) = match &session.account {
            Some(account) => (
                self.limits.reserve_message(account, now).await,
                replies::Sender::Account,
            ),
            None => (
                self.limits.reserve_client(session.peer.ip(), now).await,
                replies::Sender::ClientAddress,
            ),
        };
        let slot = match reserved {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                self.metrics.refused(Refusal::AccountLimit);
                let limit = self.limits.messages_per_hour();
                return Err(replies::hourly_limit(whom, limit, now));
            }
            Err(error) => {
                tracing::error!(session = %session.id, %error, "rate counter unreadable");
                return Err(replies::sender_limit_unavailable());
            }
        };
        self.transactions.begin(session, Some(slot));
        Ok(())
    }

    async fn check_recipient(&self, session: &SessionInfo, recipient: &str) -> Result<(), Reply> {
        let who = same_recipient(recipient);
        // A repeated recipient (in any case) is answered 250 like the first
        // and stored once: the client asked for one delivery to that person
        // and gets it, without a refusal that some clients would take as a
        // reason to give up the whole message, and without a second slot.
        if self.transactions.has_recipient(session, &who) {
            return Ok(());
        }
        let checks = match self.suppression.is_suppressed(recipient) {
            Ok(true) => Ok(None),
            Ok(false) => self
                .limits
                .reserve_recipient(recipient, unix_now())
                .await
                .map(Some)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        let slot = match checks {
            Ok(None) => {
                self.metrics.refused(Refusal::OptOut);
                return Err(Reply::new(
                    550,
                    [5, 7, 1],
                    "This recipient has asked not to receive anonymous mail",
                ));
            }
            Ok(Some(None)) => {
                self.metrics.refused(Refusal::RecipientLimit);
                let limit = self.limits.per_recipient_per_day();
                return Err(replies::recipient_limit(limit));
            }
            Ok(Some(Some(slot))) => slot,
            Err(error) => {
                tracing::error!(session = %session.id, %error, "recipient checks failed");
                return Err(replies::policy_unavailable());
            }
        };
        if self.transactions.add_recipient(session, who, slot) {
            Ok(())
        } else {
            tracing::error!(session = %session.id, "recipient without a transaction");
            Err(Reply::local_error())
        }
    }

    fn transaction_ended(&self, session: &SessionInfo) {
        drop(self.transactions.finish(session));
    }

    async fn receive(&self, session: &SessionInfo, envelope: &Envelope, data: Vec<u8>) -> Reply {
        let started = std::time::Instant::now();
        let reply = self.store_message(session, envelope, data).await;
        self.metrics.submission_took(started.elapsed());
        reply
    }
}

impl Pipeline {
    /// The end of DATA: anonymize, moderate, store; the reply to send.
    async fn store_message(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        data: Vec<u8>,
    ) -> Reply {
        // The slots leave the registry now: whatever happens below, they are
        // either committed or given back when `transaction` is dropped.
        let Some(transaction) = self.transactions.finish(session) else {
            tracing::error!(session = %session.id, "DATA without a transaction");
            return Reply::local_error();
        };
        let Some(envelope) = distinct_recipients(envelope, &transaction) else {
            tracing::error!(session = %session.id, "recipient without a slot");
            return Reply::local_error();
        };
        let envelope = &envelope;
        // With per-recipient links, one message per recipient; else one for all.
        let parts: Vec<Option<&str>> = match &self.unsubscribe {
            Some(_) => envelope
                .recipients
                .iter()
                .map(|r| Some(r.as_str()))
                .collect(),
            None => vec![None],
        };
        let mut prepared = Vec::with_capacity(parts.len());
        // Shared, not copied: the last preparation takes the buffer itself.
        let mut data = Arc::new(data);
        let last = parts.len().saturating_sub(1);
        for (index, recipient) in parts.into_iter().enumerate() {
            let share = if index == last {
                std::mem::take(&mut data)
            } else {
                Arc::clone(&data)
            };
            match self.prepare(session, envelope, share, recipient).await {
                Ok(ready) => prepared.push((ready, recipient)),
                Err(Unprepared::Failed(reply)) => return reply,
                Err(Unprepared::Moderated(reply)) => {
                    let hourly = transaction.message.into_iter().collect();
                    if let Err(error) = self.limits.commit(hourly).await {
                        tracing::warn!(session = %session.id, %error, "rate counters not updated");
                    }
                    return reply;
                }
            }
        }
        let stored = async {
            let mut ids = Vec::with_capacity(prepared.len());
            for (ready, recipient) in prepared {
                let recipients = match recipient {
                    Some(recipient) => vec![recipient.to_string()],
                    None => envelope.recipients.clone(),
                };
                ids.push(self.store_one(session, ready, recipients).await?);
            }
            Ok::<_, Reply>(ids)
        };
        // Stored and counted in one group commit. Should the store fail, the
        // counters keep one message too many: limits err on the safe side.
        let (stored, counted) =
            tokio::join!(stored, self.limits.commit(transaction.into_reservations()));
        if let Err(error) = counted {
            tracing::warn!(session = %session.id, %error, "rate counters not updated");
        }
        let ids = match stored {
            Ok(ids) => ids,
            Err(reply) => return reply,
        };
        self.metrics.accepted();
        Reply::ok(format!("Queued as {}", ids.join(" ")))
    }
}

impl Pipeline {
    /// Durably stores one prepared message for `recipients`; returns its id.
    async fn store_one(
        &self,
        session: &SessionInfo,
        prepared: Prepared,
        recipients: Vec<String>,
    ) -> Result<String, Reply> {
        let now = unix_now();
        let due = self.scheduler.first_due(now);
        let id = leak_store::new_message_id();
        let notify = self.account(session).await?.and_then(|a| a.notify);
        let count = recipients.len();
        let message = QueuedMessage {
            id: id.clone(),
            created: now,
            size: prepared.body.len() as u64,
            account: session.account.clone().unwrap_or_default(),
            notify,
            return_path: format!("bounce-{id}@{}", self.policy().anonymizer.domain),
            held: prepared.hold_reason.is_some(),
            hold_reason: prepared.hold_reason,
            is_report: false,
            recipients: recipients
                .iter()
                .map(|address| Recipient::new(address.clone(), due))
                .collect(),
            history: Vec::new(),
            stamped: None,
        };
        let held = message.held;
        if let Err(error) = self.store.enqueue(message, prepared.body).await {
            tracing::error!(session = %session.id, %error, "cannot store message");
            self.metrics.refused(Refusal::LocalError);
            return Err(Reply::local_error());
        }
        // No session id here: the session's lines name the account and the
        // delivery lines name the recipient domain under the queue id, so
        // tying the two together stays at debug level.
        tracing::info!(queue_id = %id, recipients = count, held, "queued");
        tracing::debug!(session = %session.id, queue_id = %id, account = ?session.account, recipients = ?recipients, "queued for");
        self.scheduler.queued(&id);
        Ok(id)
    }
}

/// The largest submission prepared on the session's worker thread rather
/// than off the executor: 32 KiB covers a typical message, text and HTML
/// alternative included. Larger ones (attachments) go to the blocking pool,
/// where a slow message cannot stall the sessions sharing its worker.
const INLINE_PREPARE_LIMIT: usize = 32 * 1024;

/// Whether a submission of `size` bytes is prepared on the worker.
fn prepares_inline(size: usize) -> bool {
    size <= INLINE_PREPARE_LIMIT
}

/// Rebuilds the DATA buffer as an anonymous draft: taken whole when no
/// one else holds it (then freed once parsed, see
/// `leak_anonymizer::draft_owned`), read in place otherwise.
fn draft_shared(
    data: Arc<Vec<u8>>,
    sender: &leak_anonymizer::Sender,
    options: &leak_anonymizer::Options,
) -> Result<leak_anonymizer::Draft, leak_anonymizer::AnonymizeError> {
    match Arc::try_unwrap(data) {
        Ok(owned) => leak_anonymizer::draft_owned(owned, sender, options),
        Err(shared) => {
            let submission = leak_anonymizer::Submission {
                data: &shared,
                mail_from: sender.mail_from,
                account: sender.account,
                aliases: sender.aliases,
                notify: sender.notify,
            };
            leak_anonymizer::draft(&submission, options)
        }
    }
}

/// The envelope with each recipient once (the first spelling kept), checked
/// against the slots the transaction holds: `None` if one has none, which
/// would be a bug; the message is then refused rather than sent unlimited.
fn distinct_recipients(envelope: &Envelope, transaction: &Transaction) -> Option<Envelope> {
    let mut seen = std::collections::HashSet::new();
    let mut recipients = Vec::new();
    for address in &envelope.recipients {
        let who = same_recipient(address);
        if !transaction.recipients.contains_key(&who) {
            return None;
        }
        if seen.insert(who) {
            recipients.push(address.clone());
        }
    }
    Some(Envelope {
        mail_from: envelope.mail_from.clone(),
        recipients,
    })
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
