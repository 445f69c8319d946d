//! The admin socket: how `leak queue`, `leak optout` and `leak status` reach
//! the running daemon, which alone holds the store open.
//!
//! The daemon binds an [`AdminServer`] on `server.admin_socket` (a Unix
//! socket, mode 0660) and runs it with an [`AdminContext`]; the CLI connects
//! with an [`AdminClient`]. They speak JSON lines: one [`Request`] object per
//! line, one [`Response`] per request.
//!
//! # Layout
//!
//! - `protocol.rs`: [`Request`], [`Response`] and the bounded line reader.
//! - `server.rs`: [`AdminServer`] (bind, accept loop, shutdown) and
//!   [`AdminContext`], what it needs from the daemon.
//! - `ops.rs`: what each request does to the [`leak_store::Store`]: list,
//!   show, retry, hold, release, delete, opt-out, status.
//! - `optout.rs`: `leak optout` over the suppression list
//!   ([`leak_consent::Suppression`], which RCPT TO checks too).
//! - `filter.rs`: the `queue list|retry|delete` filters and `queue summary`'s
//!   per-domain shape, applied on the CLI's side.
//! - `client.rs`: [`AdminClient`] and its typed calls, [`ClientError`].
//! - `render/`: what the CLI prints: the CONTRACT.md JSON and the tables.

mod client;
pub mod filter;
mod ops;
pub mod optout;
mod protocol;
pub mod render;
mod server;

pub use client::{AdminClient, ClientError, Retried, DEFAULT_TIMEOUT};
pub use ops::OPERATOR_HOLD_REASON;
pub use protocol::{
    ErrorKind, OptoutEntry, QueueCounts, ReloadReport, Request, Response, StatusReport, Target,
    MAX_REQUEST_LINE,
};
pub use server::{AdminContext, AdminServer, RenderOutgoing, StatusInfo, MAX_CONNECTIONS};
