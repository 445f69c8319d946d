//! The SMTP submission server: listeners, TLS, and the ESMTP session that mail
//! clients talk to.
//!
//! This crate knows the protocol, not the product: what happens to a
//! transaction (limits, the opt-out list, anonymizing, moderation, storage) is
//! decided by a [`Backend`] the binary provides. Sessions are generic over
//! `AsyncRead + AsyncWrite`, so tests drive them over in-memory streams.
//!
//! # Layout
//!
//! - `reply.rs`: [`Reply`], an SMTP reply as a typed value (code, enhanced
//!   status code, text), and the replies the session uses.
//! - `backend.rs`: the [`Backend`] trait and what a session tells it.
//! - `io.rs`: buffered line reading with length limits and timeouts, and
//!   reply batching for PIPELINING.
//! - `data.rs`: the DATA receiver, a sans-I/O state machine that un-stuffs
//!   dots and refuses bare CR, bare LF, NUL, long lines and oversize messages.
//! - `session/`: the session state machine, one file per group of verbs
//!   (`greeting.rs` EHLO/HELO, `auth.rs`, `transaction.rs` MAIL/RCPT/DATA).
//! - `server.rs`: accept loops, the connection caps (421 inside TLS on
//!   implicit listeners), STARTTLS/implicit TLS, graceful shutdown.
//! - `tls.rs`: loading (and reloading) the certificate into rustls.
//! - `throttle.rs`: slows down and then refuses repeated AUTH failures, per
//!   client and per username, counted before verification and kept across
//!   restarts through an [`AuthLedger`].
//! - `anvil.rs`: per-client limits (connections at once, connection, message,
//!   recipient and AUTH rates), IPv6 grouped per /64.
//! - `gate.rs`: admission to password verification: a few at once, bounded
//!   queues, clients without recent failures first.
//! - `logged_peer.rs`: how log lines show the client's address (`[log]
//!   client_ip`: full, keyed hash, or hidden).

mod anvil;
mod backend;
mod data;
mod gate;
mod io;
mod logged_peer;
mod reply;
mod server;
mod session;
mod throttle;
mod tls;

pub use anvil::ClientLimits;
pub use backend::{Backend, Envelope, SessionInfo};
pub use data::{dot_stuff, DataError, DataReceiver, DataStatus};
pub use logged_peer::{log_client_ips, logged_ip, logged_peer, ClientIpLog, LoggedPeer};
pub use reply::Reply;
pub use server::{ListenerMode, Server, Settings};
pub use throttle::{AuthLedger, BUCKET_SECONDS};
pub use tls::{TlsError, TlsProvider};
