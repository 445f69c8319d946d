//! The CLI side of the admin socket: [`AdminClient`] sends one [`Request`]
//! at a time and turns the daemon's [`Response`] into a typed result.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use leak_store::QueuedMessage;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::protocol::{
    self, ErrorKind, LineError, OptoutEntry, ReloadReport, Request, Response, StatusReport, Target,
    MAX_RESPONSE_LINE,
};

/// How long the client waits for an answer by default. `retry --all` and
/// `delete --all` on a large queue take seconds, not minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an admin request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket (exit 2).
    #[error("the daemon is not running (cannot connect to {}: {cause})", path.display())]
    NotRunning { path: PathBuf, cause: io::Error },
    /// The connection broke or the daemon answered nonsense (exit 2).
    #[error("admin socket {}: {reason}", path.display())]
    Protocol { path: PathBuf, reason: String },
    /// The daemon refused or failed the request; `kind` says which (exit 1 or 2).
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
}

impl ClientError {
    /// True when the operator's input was at fault (exit 1), false when the
    /// daemon or its environment was (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ClientError::Daemon {
                kind: ErrorKind::NotFound | ErrorKind::BadRequest,
                ..
            }
        )
    }
}

/// Outcome of `retry`: messages touched, pending recipients now due, and
/// how many of those messages are held (a retry does not release them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    pub messages: usize,
    pub recipients: usize,
    pub held: usize,
}

/// A connection to the daemon's admin socket.
pub struct AdminClient {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
}

impl AdminClient {
    /// Connects to the daemon. Failing to connect is [`ClientError::NotRunning`].
    pub async fn connect(path: &Path) -> Result<AdminClient, ClientError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|cause| ClientError::NotRunning {
                path: path.to_path_buf(),
                cause,
            })?;
        let (read, writer) = stream.into_split();
        Ok(AdminClient {
            path: path.to_path_buf(),
            reader: BufReader::new(read),
            writer,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Changes how long each request may take.
    pub fn with_timeout(mut self, timeout: Duration) -> AdminClient {
        self.timeout = timeout;
        self
    }

    /// Sends one request and reads its answer. A [`Response::Error`] is
    /// returned as [`ClientError::Daemon`].
    pub async fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let exchange = async {
            self.writer.write_all(&protocol::to_line(request)).await?;
            protocol::read_line(&mut self.reader, MAX_RESPONSE_LINE).await
        };
        let line = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Err(self.protocol(format!("no answer within {:?}", self.timeout))),
            Ok(Err(LineError::Io(err))) => return Err(self.protocol(err.to_string())),
            Ok(Err(err @ LineError::TooLong(_))) => return Err(self.protocol(err.to_string())),
            Ok(Ok(None)) => return Err(self.protocol("the daemon closed the connection".into())),
            Ok(Ok(Some(line))) => line,
        };
        match serde_json::from_slice(&line) {
            Ok(Response::Error { kind, message }) => Err(ClientError::Daemon { kind, message }),
            Ok(response) => Ok(response),
            Err(err) => Err(self.protocol(format!("unreadable answer: {err}"))),
        }
    }

    fn protocol(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            path: self.path.clone(),
            reason,
        }
    }

    fn unexpected(&self, response: &Response) -> ClientError {
        self.protocol(format!("unexpected answer {response:?}"))
    }

    /// Every message in the queue, oldest first, without attempt histories.
    /// Asked for a page at a time, so the daemon never holds the whole queue
    /// for one listing.
    pub async fn list(&mut self) -> Result<Vec<QueuedMessage>, ClientError> {
        let mut all: Vec<QueuedMessage> = Vec::new();
        loop {
            let after = all.last().map(|m| m.id.clone());
            let mut page = match self.call(&Request::QueueList { after }).await? {
                Response::Messages { messages } => messages,
                other => return Err(self.unexpected(&other)),
            };
            let last_page = page.len() < leak_store::LIST_PAGE;
            all.append(&mut page);
            if last_page {
                break;
            }
        }
        leak_store::sort_oldest_first(&mut all);
        Ok(all)
    }

    /// One message with its history.
    pub async fn show(&mut self, id: &str) -> Result<QueuedMessage, ClientError> {
        match self.call(&Request::QueueShow { id: id.into() }).await? {
            Response::Message { message } => Ok(message),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The stored bytes of one message, as the recipient would receive them.
    pub async fn cat(&mut self, id: &str) -> Result<Vec<u8>, ClientError> {
        use base64::Engine;
        match self.call(&Request::QueueCat { id: id.into() }).await? {
            Response::Body { base64, .. } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| self.protocol(format!("bad body encoding: {e}"))),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Makes the pending recipients of one message (or all) due now.
    pub async fn retry(&mut self, target: Target) -> Result<Retried, ClientError> {
        match self.call(&Request::QueueRetry { target }).await? {
            Response::Retried {
                messages,
                recipients,
                held,
            } => Ok(Retried {
                messages,
                recipients,
                held,
            }),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Holds a message; false if it was already held.
    pub async fn hold(&mut self, id: &str) -> Result<bool, ClientError> {
        match self.call(&Request::QueueHold { id: id.into() }).await? {
            Response::Held { changed, .. } => Ok(changed),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Releases a message; false if it was not held.
    pub async fn release(&mut self, id: &str) -> Result<bool, ClientError> {
        match self.call(&Request::QueueRelease { id: id.into() }).await? {
            Response::Released { changed, .. } => Ok(changed),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Deletes one message (or all); returns how many were removed.
    pub async fn delete(&mut self, target: Target) -> Result<usize, ClientError> {
        match self.call(&Request::QueueDelete { target }).await? {
            Response::Deleted { messages } => Ok(messages),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Opts an address out; returns the stored hash and whether it was new.
    pub async fn optout_add(&mut self, address: &str) -> Result<(String, bool), ClientError> {
        let request = Request::OptoutAdd {
            address: address.into(),
        };
        match self.call(&request).await? {
            Response::OptoutAdded { hash, changed } => Ok((hash, changed)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Takes an address off the list; returns the removed hash.
    pub async fn optout_remove(&mut self, address: &str) -> Result<String, ClientError> {
        let request = Request::OptoutRemove {
            address: address.into(),
        };
        match self.call(&request).await? {
            Response::OptoutRemoved { hash } => Ok(hash),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Every opt-out entry (hashes only).
    pub async fn optout_list(&mut self) -> Result<Vec<OptoutEntry>, ClientError> {
        match self.call(&Request::OptoutList).await? {
            Response::Optouts { entries } => Ok(entries),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The daemon's version, uptime, listeners and queue counts.
    pub async fn status(&mut self) -> Result<StatusReport, ClientError> {
        match self.call(&Request::Status).await? {
            Response::Status(report) => Ok(report),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks the daemon to reload its config; a refused config is a report
    /// with `accepted` false, not an error.
    pub async fn reload(&mut self) -> Result<ReloadReport, ClientError> {
        match self.call(&Request::Reload).await? {
            Response::Reloaded(report) => Ok(report),
            other => Err(self.unexpected(&other)),
        }
    }
}
