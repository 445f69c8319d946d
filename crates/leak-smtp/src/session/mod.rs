//! One SMTP session over any byte stream: the state machine and the command
//! loop. The verbs live in `greeting.rs`, `auth.rs` and `transaction.rs`.

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
    /// The transaction's MAIL FROM carried `SMTPUTF8` (RFC 6531): only then
    /// may its addresses hold UTF-8.
    smtputf8: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(stream: S, shared: &'a Shared, info: SessionInfo, mode: ListenerMode) -> Self {
        Session {
            conn: Connection::new(stream),
            shared,
            info,
            mode,
            helo: None,
            envelope: None,
            errors: 0,
            auth_failures: 0,
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
            let line = tokio::select! {
                line = self.conn.read_line(MAX_COMMAND_LINE, self.shared.settings.command_timeout) => line,
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.conn.queue(&Reply::shutting_down());
                    break;
                }
            };
            let next = match line {
                Ok(Line::Complete(line)) => self.handle_line(&line).await,
                Ok(Line::TooLong) => self.refuse(Reply::line_too_long()),
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
        let _ = self.conn.flush().await;
        Ended::Closed
    }

    async fn handle_line(&mut self, line: &[u8]) -> Next {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        // A CR or NUL inside a command could smuggle a second command or
        // truncate an address further down the line, and invalid UTF-8 has
        // no meaning even with SMTPUTF8: refuse the whole line.
        if content.iter().any(|&b| b == b'\r' || b == 0) || std::str::from_utf8(content).is_err() {
            return self.refuse(Reply::new(500, [5, 5, 2], "Invalid characters in command"));
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
                self.reply(Reply::ok("Reset"))
            }
            Request::Noop { .. } => self.reply(Reply::ok("OK")),
            Request::Quit => {
                self.conn.queue(&Reply::new(221, [2, 0, 0], "Bye"));
                Next::Close
            }
            Request::Vrfy { .. } => self.reply(Reply::new(
                252,
                [2, 5, 0],
                "Cannot verify users here, send the message and delivery will be attempted",
            )),
            Request::Help { .. } => self.reply(Reply::new(
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
        self.conn.queue(&reply);
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.conn.queue(&Reply::too_many_errors());
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
