//! The SMTP backend: what happens to a transaction. Accounts and limits at
//! AUTH, MAIL and RCPT; at the end of DATA the message is anonymized in memory,
//! moderated, DKIM-signed and durably stored, and only then acknowledged.

use super::limits::Limits;
use super::metrics::{Metrics, Refusal};
use leak_accounts::Users;
use leak_config::ModerationAction;
use leak_smtp::{Envelope, Reply, SessionInfo};
use leak_store::{QueuedMessage, Recipient, Store};
use std::sync::{Arc, RwLock};

/// Everything the backend needs, built once at start (and the users file
/// replaced on SIGHUP).
pub struct Pipeline {
    pub users: RwLock<Arc<Users>>,
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    pub anonymizer: leak_anonymizer::Options,
    /// `None` when moderation is disabled.
    pub classifier: Option<leak_moderation::Classifier>,
    pub moderation_action: ModerationAction,
    /// `[moderation] review`: hold the model's uncertain band for review.
    pub moderation_review: bool,
    pub signer: Arc<leak_dkim::Signer>,
    /// Names each queued message to the delivery scheduler.
    pub scheduler: leak_delivery::QueueHint,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    /// Swaps in a freshly loaded users file.
    pub fn replace_users(&self, users: Users) {
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
    }

    fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Anonymize → moderate → sign, off the async executor. `Err` is the reply.
    async fn prepare(
        &self,
        session: &SessionInfo,
        envelope: &Envelope,
        data: Vec<u8>,
    ) -> Result<Prepared, Reply> {
        let account = session.account.clone().unwrap_or_default();
        let aliases = self
            .users()
            .users
            .get(&account)
            .map(|a| a.aliases.clone())
            .unwrap_or_default();
        let options = self.anonymizer.clone();
        let mail_from = envelope.mail_from.clone();
        let now = unix_now();
        let anonymized = tokio::task::spawn_blocking(move || {
            let submission = leak_anonymizer::Submission {
                data: &data,
                mail_from: &mail_from,
                account: &account,
                aliases: &aliases,
            };
            leak_anonymizer::anonymize(&submission, &options, now)
        })
        .await
        .map_err(|_| Reply::local_error())?
        .map_err(|error| {
            self.metrics.refused(Refusal::InvalidMessage);
            Reply::new(554, [5, 6, 0], format!("Message refused: {error}"))
        })?;

        // Classifying and RSA signing take up to a millisecond or so each:
        // let the runtime move other sessions to another thread meanwhile.
        tokio::task::block_in_place(|| {
            let hold_reason = self.moderate(&anonymized)?;
            let mut signed = self.signer.sign(&anonymized.message).map_err(|error| {
                tracing::error!(session = %session.id, %error, "DKIM signing failed");
                Reply::local_error()
            })?;
            signed.extend_from_slice(&anonymized.message);
            Ok(Prepared {
                body: signed,
                hold_reason,
            })
        })
    }

    /// `Err` refuses the message; `Ok(Some(reason))` holds it for review.
    /// The rules or a confident model score block (or hold, with `action =
    /// "hold"`); the model's uncertain band holds when `review` is on.
    fn moderate(&self, message: &leak_anonymizer::Anonymized) -> Result<Option<String>, Reply> {
        let Some(classifier) = &self.classifier else {
            return Ok(None);
        };
        let pseudonym = if message.custom_pseudonym {
            message.pseudonym.as_str()
        } else {
            ""
        };
        let decision = classifier.decide(&leak_moderation::Input {
            subject: &message.subject,
            text: &message.text,
            pseudonym,
        });
        match decision.outcome {
            leak_moderation::Outcome::Allow => Ok(None),
            leak_moderation::Outcome::Hold if self.moderation_review => {
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
            leak_moderation::Outcome::Block => match self.moderation_action {
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

#[async_trait::async_trait]
impl leak_smtp::Backend for Pipeline {
    async fn authenticate(&self, username: &str, password: &str) -> Option<String> {
        let users = self.users();
        let (username, password) = (username.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || users.verify(&username, &password).map(|_| username))
            .await
            .ok()
            .flatten()
    }

    async fn check_sender(&self, session: &SessionInfo, _mail_from: &str) -> Result<(), Reply> {
        let Some(account) = &session.account else {
            return Ok(());
        };
        match self.limits.account_allowed(account, unix_now()) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.metrics.refused(Refusal::AccountLimit);
                Err(Reply::new(
                    450,
                    [4, 7, 1],
                    "Hourly message limit reached for this account, try again later",
                ))
            }
            Err(error) => {
                tracing::error!(session = %session.id, %error, "rate counter unreadable");
                Err(Reply::local_error())
            }
        }
    }

    async fn check_recipient(&self, session: &SessionInfo, recipient: &str) -> Result<(), Reply> {
        let checks =
            leak_admin::optout::is_opted_out(&*self.store, recipient).and_then(|opted_out| {
                Ok((
                    opted_out,
                    self.limits.recipient_allowed(recipient, unix_now())?,
                ))
            });
        match checks {
            Ok((true, _)) => {
                self.metrics.refused(Refusal::OptOut);
                Err(Reply::new(
                    550,
                    [5, 7, 1],
                    "This recipient has asked not to receive anonymous mail",
                ))
            }
            Ok((false, false)) => {
                self.metrics.refused(Refusal::RecipientLimit);
                Err(Reply::new(
                    450,
                    [4, 7, 1],
                    "This recipient has received too many anonymous messages today, try again later",
                ))
            }
            Ok((false, true)) => Ok(()),
            Err(error) => {
                tracing::error!(session = %session.id, %error, "recipient checks failed");
                Err(Reply::local_error())
            }
        }
    }

    async fn receive(&self, session: &SessionInfo, envelope: &Envelope, data: Vec<u8>) -> Reply {
        let prepared = match self.prepare(session, envelope, data).await {
            Ok(prepared) => prepared,
            Err(reply) => return reply,
        };
        let now = unix_now();
        let id = leak_store::new_message_id();
        let notify = session.account.as_ref().and_then(|account| {
            self.users()
                .users
                .get(account)
                .and_then(|a| a.notify.clone())
        });
        let message = QueuedMessage {
            id: id.clone(),
            created: now,
            size: prepared.body.len() as u64,
            account: session.account.clone().unwrap_or_default(),
            notify,
            return_path: format!("bounce-{id}@{}", self.anonymizer.domain),
            held: prepared.hold_reason.is_some(),
            hold_reason: prepared.hold_reason,
            is_report: false,
            recipients: envelope
                .recipients
                .iter()
                .map(|address| Recipient::new(address.clone(), now))
                .collect(),
            history: Vec::new(),
        };
        let held = message.held;
        // Stored and counted in one group commit. Should the store fail, the
        // counters keep one message too many: limits err on the safe side.
        let (stored, counted) = tokio::join!(
            self.store.enqueue(message, prepared.body),
            self.limits
                .record(session.account.as_deref(), &envelope.recipients, now)
        );
        if let Err(error) = stored {
            tracing::error!(session = %session.id, %error, "cannot store message");
            self.metrics.refused(Refusal::LocalError);
            return Reply::local_error();
        }
        if let Err(error) = counted {
            tracing::warn!(session = %session.id, %error, "rate counters not updated");
        }
        // No session id here: the session's lines name the account and the
        // delivery lines name the recipient domain under the queue id, so
        // tying the two together stays at debug level.
        tracing::info!(queue_id = %id, recipients = envelope.recipients.len(), held, "queued");
        tracing::debug!(session = %session.id, queue_id = %id, account = ?session.account, recipients = ?envelope.recipients, "queued for");
        self.scheduler.queued(&id);
        self.metrics.accepted();
        Reply::ok(format!("Queued as {id}"))
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
