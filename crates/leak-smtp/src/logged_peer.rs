//! How log lines show a client's address (`[log] client_ip` in the daemon's
//! config): as is, as a keyed hash, or not at all. The choice is made once
//! per process with [`log_client_ips`]; every line that names a client
//! formats it with [`logged_peer`] or [`logged_ip`] (among them the `AUTH
//! blocked` line fail2ban reads: it finds no address unless "full").
//!
//! The hash is HMAC-SHA-256 (ring, already linked for TLS) of the IP address
//! (not the port, so a client's connections correlate) under a key drawn from
//! the OS at start and never written anywhere: lines of one process can be
//! tied together, but the address cannot be recovered from them, nor
//! matched across restarts.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// How a client's address appears in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientIpLog {
    /// `203.0.113.9:51234`.
    #[default]
    Full,
    /// `ip-3fa2b1c9d0e4f5a6`: the same for every connection from one address.
    Hashed,
    /// `-`.
    Hidden,
}

struct Mode {
    mode: ClientIpLog,
    key: aws_lc_rs::hmac::Key,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Chooses how client addresses are logged, for the life of the process;
/// the first call wins. Without a call they are logged in full.
pub fn log_client_ips(mode: ClientIpLog) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    // A key that cannot be drawn means no hashing is possible: hide instead.
    let (mode, key) = match aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng) {
        Ok(key) => (mode, key),
        Err(_) => (
            ClientIpLog::Hidden,
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[]),
        ),
    };
    let _ = MODE.set(Mode { mode, key });
}

/// The client's address and port as the log shows them (`Display`).
pub fn logged_peer(peer: SocketAddr) -> LoggedPeer {
    LoggedPeer(peer.ip(), Some(peer.port()))
}

/// The client's address alone as the log shows it (`Display`).
pub fn logged_ip(ip: IpAddr) -> LoggedPeer {
    LoggedPeer(ip, None)
}

/// A client address (and port) formatted per [`log_client_ips`].
pub struct LoggedPeer(IpAddr, Option<u16>);

impl LoggedPeer {
    fn full(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(port) => write!(f, "{}", SocketAddr::new(self.0, port)),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for LoggedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(mode) = MODE.get() else {
            return self.full(f);
        };
        match mode.mode {
            ClientIpLog::Full => self.full(f),
            ClientIpLog::Hidden => f.write_str("-"),
            ClientIpLog::Hashed => {
                let tag = aws_lc_rs::hmac::sign(&mode.key, self.0.to_string().as_bytes());
                f.write_str("ip-")?;
                tag.as_ref()[..8]
                    .iter()
                    .try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}
