//! What the session asks the product about: accounts, limits, and what to do
//! with a received message.

use crate::reply::Reply;
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a backend knows about the session it is asked about.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Short random id shared by every log line of this session.
    pub id: String,
    pub peer: SocketAddr,
    /// Whether the connection is encrypted.
    pub tls: bool,
    /// The authenticated account, if any.
    pub account: Option<String>,
    /// The peer is in `auth.trusted_networks`.
    pub trusted: bool,
}

/// One transaction's envelope.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub recipients: Vec<String>,
}

/// The product side of a session. Replies returned here go to the client as
/// they are, so their text must never reveal internals.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Checks credentials; `Some(account name)` when right. May be slow
    /// (argon2): implementations run it off the async executor.
    async fn authenticate(&self, username: &str, password: &str) -> Option<String>;

    /// [`Backend::authenticate`] with a way to say "cannot tell now":
    /// `Err(reply)` goes to the client as is (e.g. `454 4.7.0` when the
    /// accounts cannot be read) and does not count as a failed attempt.
    /// The session calls this one; the default never defers.
    async fn authenticate_or_defer(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<String>, Reply> {
        Ok(self.authenticate(username, password).await)
    }

    /// Called at MAIL FROM for an allowed sender (authenticated or trusted):
    /// rate limits. `Err` is sent to the client.
    async fn check_sender(&self, session: &SessionInfo, mail_from: &str) -> Result<(), Reply>;

    /// Called at each RCPT TO: opt-out list, per-recipient limits.
    async fn check_recipient(&self, session: &SessionInfo, recipient: &str) -> Result<(), Reply>;

    /// The message is complete and well-formed (CRLF lines, dots un-stuffed).
    /// Returns the final reply: `250` only once the message is durably stored.
    async fn receive(&self, session: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply;

    /// The session's transaction is over: after DATA whatever its outcome,
    /// at RSET, EHLO/HELO, STARTTLS, and when the connection ends for any
    /// reason. Lets a backend give back what it reserved at MAIL and RCPT.
    /// Called possibly more than once per transaction, and when none is
    /// open: must be idempotent. The session is named by `id` and `peer`.
    fn transaction_ended(&self, _session: &SessionInfo) {}
}

/// Tells the backend the transaction is over when a connection ends, however
/// it ends (QUIT, timeout, error, the task dropped at shutdown).
pub(crate) struct TransactionGuard {
    pub backend: Arc<dyn Backend>,
    pub session: SessionInfo,
}

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        self.backend.transaction_ended(&self.session);
    }
}
