//! SMTP sessions kept open after a transaction, so the next message to the
//! same MX address skips the connect, greeting, EHLO and TLS handshake (as
//! Postfix's connection cache does). A kept session is checked with `RSET`
//! before reuse (sent with the transaction's commands when the host offers
//! PIPELINING); one idle longer than [`MAX_IDLE`] is closed instead.

use mail_send::SmtpClient;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How long a kept session may sit unused (receivers commonly drop idle
/// clients after 30 s or more; stay well inside that).
const MAX_IDLE: Duration = Duration::from_secs(10);

/// An open session, after EHLO (and STARTTLS when the host offered it),
/// with what the host's last EHLO offered.
pub(crate) enum Session {
    Plain(SmtpClient<TcpStream>, Capabilities),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>, Capabilities),
}

/// The EHLO extensions the transaction uses (RFC 6531, 6152, 1870).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    pub smtputf8: bool,
    pub eight_bit_mime: bool,
    /// `SIZE` was offered (with or without a limit).
    pub size: bool,
    /// `PIPELINING` (RFC 2920): the envelope's commands go in one write.
    pub pipelining: bool,
    /// How the session is protected: what its certificate was checked against.
    pub tls: crate::tls::TlsUsed,
    /// Opened for an MTA-STS `testing` policy: what `enforce` would have
    /// refused (reported through TLS-RPT, the mail delivered anyway).
    pub sts_testing: Option<crate::tls::TlsFailure>,
}

/// A kept session: since when it is idle, and how many transactions it carried.
type Idle = (Instant, Session, u32);

/// Idle sessions by MX address.
pub(crate) struct SessionCache {
    /// Each with when it went idle and how many transactions it carried.
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    /// Sessions kept per address at most (the per-domain concurrency limit).
    per_address: usize,
}

impl SessionCache {
    pub fn new(per_address: usize) -> SessionCache {
        SessionCache {
            idle: Mutex::default(),
            per_address,
        }
    }

    /// The most recently used idle session to `addr` that is still fresh.
    pub fn take(&self, addr: SocketAddr) -> Option<(Session, u32)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let sessions = idle.get_mut(&addr)?;
        sessions.retain(|(since, _, _)| since.elapsed() < MAX_IDLE);
        let session = sessions.pop().map(|(_, session, used)| (session, used));
        if sessions.is_empty() {
            idle.remove(&addr);
        }
        session
    }

    /// Keeps a session that just finished a transaction cleanly.
    pub fn keep(&self, addr: SocketAddr, session: Session, used: u32) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let sessions = idle.entry(addr).or_default();
        sessions.retain(|(since, _, _)| since.elapsed() < MAX_IDLE);
        if sessions.len() < self.per_address {
            sessions.push((Instant::now(), session, used));
        }
    }
}
