//! One SMTP session over any byte stream: the state machine and the command
//! loop. The verbs live in `greeting.rs`, `auth.rs` and `transaction.rs`.
//!
//! The loop bounds what one client can hold: each command line must arrive
//! whole within `command_timeout` (a trickle of bytes does not extend it),
//! the whole connection ends at `max_session_duration`, and junk commands
//! (NOOP, RSET, HELP, VRFY and refused commands) are limited.

mod auth;
mod greeting;
mod transaction;

use crate::backend::{Envelope, SessionInfo};
use crate::io::{Connection, Line, ReadFailure};
use crate::reply::Reply;
use crate::server::{ListenerMode, Shared};
use smtp_proto::Request;
use std::borrow::Cow;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;
/// Unrecognised or out-of-sequence commands tolerated before closing.
const MAX_ERRORS: u32 = 10;

/// How a session ended.
pub(crate) enum Ended<S> {
    /// The connection is finished.
    Closed,
    /// The client asked for STARTTLS and was told to go ahead: the caller
    /// runs the handshake on this stream and starts a fresh session over it.
    StartTls(S),
}

/// What the command loop should do after a command.
enum Next {
    Continue,
    Close,
    StartTls,
}

/// The state of one session. Everything here is reset by STARTTLS, since
/// nothing said in plaintext may carry over into the encrypted session.
pub(crate) struct Session<'a, S> {
    conn: Connection<S>,
    shared: &'a Shared,
    info: SessionInfo,
    mode: ListenerMode,
    /// The EHLO/HELO name; `None` until the client has greeted.
    helo: Option<String>,
    /// The transaction in progress, from MAIL FROM on.
    envelope: Option<Envelope>,
    /// Refused or unrecognised commands so far.
    errors: u32,
    /// Failed AUTH attempts in this session.
    auth_failures: u32,
    /// Junk commands so far: NOOP, RSET, HELP, VRFY and refused ones.
    junk: u32,
    /// When the connection must end (`limits.max_session_duration`).
    ends: Instant,
    /// The transaction's MAIL FROM carried `SMTPUTF8` (RFC 6531): only then
    /// may its addresses hold UTF-8.
    smtputf8: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(
        stream: S,
        shared: &'a Shared,
        info: SessionInfo,
        mode: ListenerMode,
        ends: Instant,
    ) -> Self {
        Session {
            conn: Connection::new(stream),
            shared,
            info,
            mode,
            helo: None,
            envelope: None,
            errors: 0,
            auth_failures: 0,
            junk: 0,
            ends,
            smtputf8: false,
        }
    }

    /// Runs the session until the client quits, misbehaves, times out, asks
    /// for STARTTLS, or the server shuts down.
    pub async fn run(mut self, greet: bool, mut shutdown: watch::Receiver<bool>) -> Ended<S> {
        if greet {
            let banner = format!("220 {} ESMTP ready\r\n", self.shared.settings.hostname);
            self.conn.queue_raw(banner.as_bytes());
        }
        loop {
            let deadline = self.line_deadline();
            let line = tokio::select! {
                line = self.conn.read_line_until(MAX_COMMAND_LINE, deadline) => line,
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.conn.queue(&Reply::shutting_down());
                    break;
                }
            };
            let next = match line {
                Ok(Line::Complete(line)) => self.handle_line(&line).await,
                Ok(Line::TooLong) => self.refuse(Reply::line_too_long()),
                Err(ReadFailure::Timeout) if Instant::now() >= self.ends => {
                    self.conn.queue(&Reply::session_too_long());
                    Next::Close
                }
                Err(ReadFailure::Timeout) => {
                    self.conn.queue(&Reply::idle_timeout());
                    Next::Close
                }
                Err(ReadFailure::Closed) => return Ended::Closed,
                Err(ReadFailure::Io(error)) => {
                    tracing::debug!(session = %self.info.id, %error, "connection error");
                    return Ended::Closed;
                }
            };
            match next {
                Next::Continue => {}
                Next::Close => break,
                Next::StartTls => return self.start_tls().await,
            }
        }
        let flush = tokio::time::timeout(std::time::Duration::from_secs(5), self.conn.flush());
        let _ = flush.await;
        Ended::Closed
    }

    /// When the next command line must be complete.
    fn line_deadline(&self) -> Instant {
        (Instant::now() + self.shared.settings.command_timeout).min(self.ends)
    }

    async fn handle_line(&mut self, line: &[u8]) -> Next {
        // Commands end in CRLF. A bare LF is how SMTP smuggling splits one
        // line into two for a server that is lax about it: refuse the line.
        let Some(content) = line.strip_suffix(b"\r\n") else {
            return self.refuse(Reply::new(500, [5, 5, 2], "Commands must end with CRLF"));
        };
        // A CR or NUL inside a command could smuggle a second command or
        // truncate an address further down the line, and invalid UTF-8 has
        // no meaning even with SMTPUTF8: refuse the whole line.
        if content.iter().any(|&b| b == b'\r' || b == 0) || std::str::from_utf8(content).is_err() {
            return self.refuse(Reply::new(500, [5, 5, 2], "Invalid characters in command"));
        }
        if let Err(reply) = check_size_parameter(content) {
            return self.refuse(reply);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => return self.refuse(parse_error_reply(error)),
        };
        match request {
            Request::Ehlo { host } => self.ehlo(host.into_owned()),
            Request::Helo { host } => self.helo(host.into_owned()),
            Request::StartTls => self.starttls_command(),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response.into_owned()).await,
            Request::Mail { from } => self.mail(from.into_owned()).await,
            Request::Rcpt { to } => self.rcpt(to.into_owned()).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.end_transaction();
                self.junk(Reply::ok("Reset"))
            }
            Request::Noop { .. } => self.junk(Reply::ok("OK")),
            Request::Quit => {
                self.conn.queue(&Reply::new(221, [2, 0, 0], "Bye"));
                Next::Close
            }
            Request::Vrfy { .. } => self.junk(Reply::new(
                252,
                [2, 5, 0],
                "Cannot verify users here, send the message and delivery will be attempted",
            )),
            Request::Help { .. } => self.junk(Reply::new(
                214,
                [2, 0, 0],
                "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT",
            )),
            _ => self.refuse(Reply::not_implemented()),
        }
    }

    /// Drops the transaction in progress, if any, and tells the backend.
    fn end_transaction(&mut self) {
        self.envelope = None;
        self.shared.backend.transaction_ended(&self.info);
    }

    /// Queues a reply that does not count as an error.
    fn reply(&mut self, reply: Reply) -> Next {
        self.conn.queue(&reply);
        Next::Continue
    }

    /// Queues an error reply; too many of them end the session.
    fn refuse(&mut self, reply: Reply) -> Next {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.conn.queue(&reply);
            self.conn.queue(&Reply::too_many_errors());
            return Next::Close;
        }
        self.junk(reply)
    }

    /// Queues the reply to a command that moves nothing forward; past
    /// `limits.max_junk_commands` of them the session ends.
    fn junk(&mut self, reply: Reply) -> Next {
        self.conn.queue(&reply);
        self.junk += 1;
        if self.junk > self.shared.settings.max_junk_commands {
            self.conn.queue(&Reply::too_many_junk_commands());
            return Next::Close;
        }
        Next::Continue
    }

    fn starttls_command(&mut self) -> Next {
        if self.mode != ListenerMode::StartTls || self.info.tls {
            return self.refuse(Reply::bad_sequence("STARTTLS not available"));
        }
        if self.shared.tls.is_none() {
            return self.refuse(Reply::new(454, [4, 7, 0], "TLS not available"));
        }
        self.conn
            .queue(&Reply::new(220, [2, 0, 0], "Ready to start TLS"));
        Next::StartTls
    }

    async fn start_tls(mut self) -> Ended<S> {
        self.end_transaction();
        if self.conn.flush().await.is_err() {
            return Ended::Closed;
        }
        let discarded = self.conn.discard_buffered();
        if discarded > 0 {
            tracing::info!(
                session = %self.info.id,
                bytes = discarded,
                "discarded plaintext pipelined after STARTTLS"
            );
        }
        Ended::StartTls(self.conn.into_inner())
    }
}

/// The reply for a line smtp-proto could not parse.
fn parse_error_reply(error: smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand | Error::NeedsMoreData { .. } => Reply::unknown_command(),
        Error::InvalidSenderAddress => Reply::new(553, [5, 1, 7], "Invalid sender address"),
        Error::InvalidRecipientAddress => Reply::new(553, [5, 1, 3], "Invalid recipient address"),
        Error::SyntaxError { syntax } => Reply::syntax(syntax),
        Error::InvalidParameter { param } => {
            Reply::new(501, [5, 5, 4], format!("Invalid parameter {param}"))
        }
        Error::UnsupportedParameter { param } => Reply::new(
            555,
            [5, 5, 4],
            format!("Unsupported parameter {}", printable(&param)),
        ),
        Error::ResponseTooLong | Error::InvalidResponse { .. } => Reply::unknown_command(),
    }
}

/// Looks at a `MAIL FROM` line's `SIZE=` before smtp-proto does: its parser
/// wraps an overflowing number around to a small value, which would be
/// accepted. A value that is not a number is a syntax error (501), one too
/// large for any counter is simply too big (552).
fn check_size_parameter(line: &[u8]) -> Result<(), Reply> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Ok(());
    };
    if !text
        .get(..5)
        .is_some_and(|verb| verb.eq_ignore_ascii_case("MAIL "))
    {
        return Ok(());
    }
    let params = text.rsplit_once('>').map_or("", |(_, rest)| rest);
    for param in params.split_ascii_whitespace() {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.eq_ignore_ascii_case("SIZE") {
            continue;
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Reply::new(501, [5, 5, 4], "Invalid SIZE parameter"));
        }
        if value
            .parse::<u64>()
            .map_or(true, |size| size > usize::MAX as u64 / 2)
        {
            return Err(Reply::message_too_big());
        }
    }
    Ok(())
}

/// Client-supplied text made safe to echo: printable ASCII only, bounded.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if text.len() <= 64 && text.chars().all(|c| c.is_ascii_graphic()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect(),
        )
    }
}
