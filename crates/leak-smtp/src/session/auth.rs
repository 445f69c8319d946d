//! AUTH PLAIN and AUTH LOGIN (RFC 4954), offered only over TLS. Failures are
//! slowed down, counted per session, per client and per username, and end
//! the session after `auth.max_auth_failures`.
//!
//! The order matters for memory and fairness: the per-client AUTH rate, then
//! the throttle counts the attempt (refusing blocked clients and names), and
//! only then does the attempt queue at the verification gate, where clients
//! that logged in before go first, then unknown ones, then those with recent
//! failures. A full queue gets `454 4.7.0`.

use super::{Next, Session};
use crate::anvil::Event;
use crate::io::Line;
use crate::reply::Reply;
use crate::throttle::Blocked;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tokio::io::{AsyncRead, AsyncWrite};

/// Longest SASL response line we accept.
const MAX_SASL_LINE: usize = 2048;

/// Why a SASL exchange did not produce credentials.
enum SaslFailure {
    /// The client sent `*`, bad base64 or a malformed PLAIN message.
    Malformed(Reply),
    /// The connection broke or timed out: end the session.
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(super) async fn auth(&mut self, mechanism: u64, initial: String) -> Next {
        if !self.info.tls {
            return self.refuse(Reply::encryption_required());
        }
        if self.helo.is_none() {
            return self.refuse(Reply::bad_sequence("Send EHLO first"));
        }
        if self.info.account.is_some() {
            return self.refuse(Reply::bad_sequence("Already authenticated"));
        }
        if self.envelope.is_some() {
            return self.refuse(Reply::bad_sequence("AUTH not allowed during a transaction"));
        }
        if !self.client_allows(Event::Auth) {
            return self.refuse(Reply::new(
                454,
                [4, 7, 0],
                "Too many authentications from your address, try again later",
            ));
        }
        let credentials = match mechanism {
            AUTH_PLAIN => self.sasl_plain(initial).await,
            AUTH_LOGIN => self.sasl_login(initial).await,
            _ => {
                return self.refuse(Reply::new(
                    504,
                    [5, 5, 4],
                    "Unrecognized authentication type",
                ))
            }
        };
        match credentials {
            Ok((username, password)) => self.check_credentials(username, password).await,
            Err(SaslFailure::Malformed(reply)) => self.refuse(reply),
            Err(SaslFailure::Gone) => Next::Close,
        }
    }

    async fn check_credentials(&mut self, username: String, password: String) -> Next {
        let ip = self.info.peer.ip();
        let shared = self.shared;
        let lane = shared.throttle.lane(ip);
        let attempt = match shared.throttle.begin(ip, &username) {
            Ok(attempt) => attempt,
            Err(Blocked::Client) => {
                self.conn.queue(&auth_blocked());
                return Next::Close;
            }
            Err(Blocked::User) => {
                return self.refuse(Reply::new(
                    454,
                    [4, 7, 0],
                    "Too many failed authentications for this name, try again later",
                ))
            }
        };
        let Ok(permit) = shared.gate.enter(lane).await else {
            shared.throttle.turned_away(attempt);
            // Debug only: under a flood this line would come hundreds of
            // times a second; the block lines are what operators act on.
            tracing::debug!(session = %self.info.id, ?lane, "authentication queue full");
            // Answered after the usual failure delay, so that a flood does
            // not spin on this reply.
            tokio::time::sleep(shared.settings.auth_failure_delay).await;
            return self.refuse(Reply::busy_try_later());
        };
        let verified = shared
            .backend
            .authenticate_or_defer(&username, &password)
            .await;
        drop(permit);
        let verified = match verified {
            Ok(verified) => verified,
            Err(reply) => {
                // Not judged: neither a failure nor a success for the throttle.
                shared.throttle.turned_away(attempt);
                return self.refuse(reply);
            }
        };
        let delay = shared
            .throttle
            .finish(attempt, verified.is_some(), &username, ip);
        match verified {
            Some(account) => {
                tracing::info!(session = %self.info.id, account = %account, "authenticated");
                self.info.account = Some(account);
                self.reply(Reply::new(235, [2, 7, 0], "Authentication succeeded"))
            }
            None => {
                self.auth_failures += 1;
                tracing::info!(session = %self.info.id, failures = self.auth_failures, "authentication failed");
                tokio::time::sleep(delay).await;
                self.conn.queue(&Reply::new(
                    535,
                    [5, 7, 8],
                    "Authentication credentials invalid",
                ));
                if self.auth_failures >= self.shared.settings.max_auth_failures {
                    self.conn.queue(&Reply::new(
                        421,
                        [4, 7, 0],
                        "Too many failed authentications, closing connection",
                    ));
                    return Next::Close;
                }
                Next::Continue
            }
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`, base64.
    async fn sasl_plain(&mut self, initial: String) -> Result<(String, String), SaslFailure> {
        let encoded = if initial.is_empty() {
            self.challenge("").await?
        } else {
            initial
        };
        let decoded = decode(&encoded)?;
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(_authzid), Some(user), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        Ok((utf8(user)?, utf8(pass)?))
    }

    /// The LOGIN mechanism: username and password, each asked for in base64.
    async fn sasl_login(&mut self, initial: String) -> Result<(String, String), SaslFailure> {
        let user = if initial.is_empty() {
            self.challenge("VXNlcm5hbWU6").await?
        } else {
            initial
        };
        let user = utf8(&decode(&user)?)?;
        let pass = self.challenge("UGFzc3dvcmQ6").await?;
        let pass = utf8(&decode(&pass)?)?;
        Ok((user, pass))
    }

    /// Sends `334 <challenge>` and reads the client's answer line.
    async fn challenge(&mut self, challenge: &str) -> Result<String, SaslFailure> {
        self.conn
            .queue_raw(format!("334 {challenge}\r\n").as_bytes());
        let deadline = self.line_deadline();
        match self.conn.read_line_until(MAX_SASL_LINE, deadline).await {
            Ok(Line::Complete(line)) => {
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                if text == "*" {
                    Err(SaslFailure::Malformed(Reply::new(
                        501,
                        [5, 0, 0],
                        "Authentication cancelled",
                    )))
                } else {
                    Ok(text)
                }
            }
            Ok(Line::TooLong) => Err(SaslFailure::Malformed(Reply::line_too_long())),
            Err(_) => Err(SaslFailure::Gone),
        }
    }
}

fn auth_blocked() -> Reply {
    Reply::new(
        421,
        [4, 7, 0],
        "Too many failed authentications, try again later",
    )
}

fn decode(text: &str) -> Result<Vec<u8>, SaslFailure> {
    BASE64.decode(text.trim()).map_err(|_| malformed())
}

fn utf8(bytes: &[u8]) -> Result<String, SaslFailure> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed())
}

fn malformed() -> SaslFailure {
    SaslFailure::Malformed(Reply::new(501, [5, 5, 2], "Malformed authentication data"))
}
