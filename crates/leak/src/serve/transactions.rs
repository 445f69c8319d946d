//! The SMTP transactions in progress and the limit slots each one holds.
//!
//! The session calls the backend at MAIL FROM, at each RCPT TO, at the end of
//! DATA, and (through `Backend::transaction_ended`) whenever a transaction is
//! abandoned: RSET, EHLO/HELO, a refused DATA, QUIT or a dropped connection.
//! This registry is what ties those calls together: per session, the hourly
//! slot reserved at MAIL and the daily slot of each distinct recipient.
//! Removing a transaction drops its [`Reservation`]s, which gives the slots
//! back, unless the pipeline committed them first.

use super::limits::Reservation;
use leak_smtp::SessionInfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

/// A session, as far as this registry is concerned. The id is random and
/// short; the peer's address and port make it unique among open connections.
type SessionKey = (String, SocketAddr);

fn key(session: &SessionInfo) -> SessionKey {
    (session.id.clone(), session.peer)
}

/// One transaction's reservations.
#[derive(Default)]
pub struct Transaction {
    /// The account's hourly slot; `None` for trusted clients without an account.
    pub message: Option<Reservation>,
    /// Each accepted recipient (keyed by `limits::same_recipient`) and its daily slot.
    pub recipients: HashMap<String, Reservation>,
}

impl Transaction {
    /// Every slot held, to commit together.
    pub fn into_reservations(self) -> Vec<Reservation> {
        self.message
            .into_iter()
            .chain(self.recipients.into_values())
            .collect()
    }
}

/// Open transactions by session.
#[derive(Default)]
pub struct Transactions(Mutex<HashMap<SessionKey, Transaction>>);

impl Transactions {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionKey, Transaction>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the session's transaction at MAIL FROM, giving back the slots
    /// of one it may have left open.
    pub fn begin(&self, session: &SessionInfo, message: Option<Reservation>) {
        let transaction = Transaction {
            message,
            recipients: HashMap::new(),
        };
        let previous = self.lock().insert(key(session), transaction);
        drop(previous);
    }

    /// Whether the transaction already holds this recipient.
    pub fn has_recipient(&self, session: &SessionInfo, recipient: &str) -> bool {
        self.lock()
            .get(&key(session))
            .is_some_and(|t| t.recipients.contains_key(recipient))
    }

    /// Adds an accepted recipient and its slot; `false` (and the slot given
    /// back) when the session has no transaction open.
    pub fn add_recipient(
        &self,
        session: &SessionInfo,
        recipient: String,
        slot: Reservation,
    ) -> bool {
        let mut open = self.lock();
        match open.get_mut(&key(session)) {
            Some(transaction) => {
                transaction.recipients.insert(recipient, slot);
                true
            }
            None => false,
        }
    }

    /// Ends the session's transaction and hands over its slots (dropping the
    /// result gives them back).
    pub fn finish(&self, session: &SessionInfo) -> Option<Transaction> {
        self.lock().remove(&key(session))
    }
}
