//! MAIL FROM, RCPT TO and DATA: one transaction from envelope to stored message.

use super::{printable, Next, Session};
use crate::anvil::{ClientKey, Event};
use crate::backend::Envelope;
use crate::data::{DataError, DataReceiver, DataStatus};
use crate::io::ReadFailure;
use crate::reply::Reply;
use smtp_proto::{MailFrom, RcptTo, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(super) async fn mail(&mut self, from: MailFrom<String>) -> Next {
        if self.helo.is_none() {
            return self.refuse(Reply::bad_sequence("Send EHLO first"));
        }
        if self.envelope.is_some() {
            return self.refuse(Reply::bad_sequence("Nested MAIL command"));
        }
        // Nobody relays through leak without an account or a trusted address.
        let open = self.shared.settings.accept_without_auth;
        if self.info.account.is_none() && !self.info.trusted && !open {
            return self.refuse(Reply::auth_required());
        }
        if !is_valid_address(&from.address, true) {
            return self.refuse(Reply::new(553, [5, 1, 7], "Invalid sender address"));
        }
        self.smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !from.address.is_ascii() && !self.smtputf8 {
            return self.refuse(not_internationalized());
        }
        if from.size > self.shared.settings.max_message_size {
            return self.refuse(Reply::message_too_big());
        }
        if let Err(reply) = only_advertised_mail_parameters(&from) {
            return self.refuse(reply);
        }
        if !self.client_allows(Event::Message) {
            return self.refuse(Reply::new(
                450,
                [4, 7, 1],
                "Too many messages from your address, try again later",
            ));
        }
        if let Err(reply) = self
            .shared
            .backend
            .check_sender(&self.info, &from.address)
            .await
        {
            return self.refuse(reply);
        }
        self.envelope = Some(Envelope {
            mail_from: from.address,
            recipients: Vec::new(),
        });
        self.reply(Reply::new(250, [2, 1, 0], "Sender OK"))
    }

    pub(super) async fn rcpt(&mut self, to: RcptTo<String>) -> Next {
        let Some(envelope) = &self.envelope else {
            return self.refuse(Reply::bad_sequence("Send MAIL FROM first"));
        };
        if envelope.recipients.len() >= self.shared.settings.max_recipients {
            return self.refuse(Reply::too_many_recipients());
        }
        if !is_valid_address(&to.address, false) {
            return self.refuse(Reply::new(553, [5, 1, 3], "Invalid recipient address"));
        }
        // DSN (RFC 3461) is not advertised, so NOTIFY= and ORCPT= are not
        // understood, and what leak does not understand it refuses.
        if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
            return self.refuse(unsupported_parameter());
        }
        if !self.client_allows(Event::Recipient) {
            return self.refuse(Reply::new(
                450,
                [4, 7, 1],
                "Too many recipients from your address, try again later",
            ));
        }
        if !to.address.is_ascii() && !self.smtputf8 {
            return self.refuse(not_internationalized());
        }
        if let Err(reply) = self
            .shared
            .backend
            .check_recipient(&self.info, &to.address)
            .await
        {
            return self.refuse(reply);
        }
        tracing::debug!(session = %self.info.id, recipient = %printable(&to.address), "recipient accepted");
        if let Some(envelope) = &mut self.envelope {
            envelope.recipients.push(to.address);
        }
        self.reply(Reply::new(250, [2, 1, 5], "Recipient OK"))
    }

    pub(super) async fn data(&mut self) -> Next {
        let Some(envelope) = self.envelope.take() else {
            return self.refuse(Reply::bad_sequence("Send MAIL FROM first"));
        };
        if envelope.recipients.is_empty() {
            self.envelope = Some(envelope);
            return self.refuse(Reply::new(554, [5, 5, 1], "No valid recipients"));
        }
        self.conn.queue(&Reply::new(
            354,
            [2, 0, 0],
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        let next = match self.receive_data().await {
            Ok(message) => {
                let reply = self
                    .shared
                    .backend
                    .receive(&self.info, &envelope, message)
                    .await;
                self.reply(reply)
            }
            Err(DataEnd::Refused(reply)) => self.refuse(reply),
            Err(DataEnd::Fatal(reply)) => {
                self.conn.queue(&reply);
                Next::Close
            }
            Err(DataEnd::Gone) => Next::Close,
        };
        self.shared.backend.transaction_ended(&self.info);
        next
    }

    /// Reads the message up to `CRLF.CRLF` within `limits.data_timeout`.
    async fn receive_data(&mut self) -> Result<Vec<u8>, DataEnd> {
        let settings = &self.shared.settings;
        let deadline = (Instant::now() + settings.data_timeout).min(self.ends);
        let mut receiver = DataReceiver::new(settings.max_message_size);
        loop {
            let (used, status) = receiver.feed(self.conn.buffered());
            self.conn.consume(used);
            match status {
                DataStatus::NeedMore => {}
                DataStatus::Done(Ok(message)) => return Ok(message),
                DataStatus::Done(Err(error)) => return Err(DataEnd::Refused(data_reply(error))),
                DataStatus::Fatal(error) => {
                    tracing::info!(session = %self.info.id, %error, "closing: malformed message data");
                    return Err(DataEnd::Fatal(data_reply(error)));
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait = remaining.min(settings.command_timeout);
            match self.conn.fill(wait).await {
                Ok(()) => {}
                Err(ReadFailure::Timeout) => {
                    return Err(DataEnd::Fatal(Reply::new(
                        421,
                        [4, 4, 2],
                        "Timeout during DATA, closing connection",
                    )))
                }
                Err(_) => return Err(DataEnd::Gone),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Counts a per-client event; trusted networks are not limited.
    pub(super) fn client_allows(&self, event: Event) -> bool {
        self.info.trusted
            || self
                .shared
                .anvil
                .allow(ClientKey::of(self.info.peer.ip()), event)
    }
}

/// MAIL FROM may carry what EHLO advertised (SIZE, BODY=7BIT/8BITMIME,
/// SMTPUTF8) and AUTH= (RFC 4954); DSN's RET= and ENVID=, and every other
/// extension's parameters, are refused.
fn only_advertised_mail_parameters(from: &MailFrom<String>) -> Result<(), Reply> {
    let known = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_SMTPUTF8;
    let unknown = from.flags & !known != 0
        || from.env_id.is_some()
        || from.trans_id.is_some()
        || from.solicit.is_some()
        || from.mtrk.is_some()
        || from.by != 0
        || from.hold_for != 0
        || from.hold_until != 0
        || from.mt_priority != 0;
    if unknown {
        return Err(unsupported_parameter());
    }
    Ok(())
}

fn unsupported_parameter() -> Reply {
    Reply::new(
        555,
        [5, 5, 4],
        "Unsupported parameter (DSN and other extensions are not offered)",
    )
}

/// How DATA ended when no message came out of it.
enum DataEnd {
    /// Refused, but the session can go on.
    Refused(Reply),
    /// Refused, and the session must end.
    Fatal(Reply),
    /// The client went away.
    Gone,
}

fn data_reply(error: DataError) -> Reply {
    match error {
        DataError::TooBig => Reply::message_too_big(),
        DataError::LineTooLong => Reply::new(500, [5, 5, 2], "Line too long (1000 octets at most)"),
        DataError::BareLf | DataError::BareCr | DataError::Nul => Reply::new(
            554,
            [5, 5, 2],
            format!("Message refused: {error}; lines must end with CRLF. Closing connection"),
        ),
    }
}

/// An envelope address as leak accepts it: `local@domain` without control
/// characters or spaces; the null sender `<>` only for MAIL FROM.
/// RFC 6531 §3.4: a UTF-8 address needs `SMTPUTF8` on MAIL FROM.
fn not_internationalized() -> Reply {
    Reply::new(
        553,
        [5, 6, 7],
        "UTF-8 address without SMTPUTF8 on MAIL FROM",
    )
}

fn is_valid_address(address: &str, null_allowed: bool) -> bool {
    if address.is_empty() {
        return null_allowed;
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && !address.chars().any(|c| c.is_control() || c.is_whitespace())
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::is_valid_address;

    #[test]
    fn addresses() {
        assert!(is_valid_address("bob@example.test", false));
        assert!(is_valid_address("", true));
        assert!(!is_valid_address("", false));
        assert!(!is_valid_address("bob", false));
        assert!(!is_valid_address("bob@", false));
        assert!(!is_valid_address("bo\0b@example.test", false));
        assert!(!is_valid_address("bob@exa..mple", false));
        assert!(is_valid_address("élodie@exemple.fr", false));
    }
}
