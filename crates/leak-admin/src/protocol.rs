//! The admin protocol: one JSON object per line each way. The client writes a
//! [`Request`], the daemon answers with exactly one [`Response`], and the
//! connection may carry further requests.
//!
//! The protocol is private to one build of leak (the CLI and the daemon come
//! from the same binary), so it carries the store's own [`QueuedMessage`]
//! and leaves the outside JSON schema of CONTRACT.md to [`crate::render`].

use leak_store::{QueuedMessage, UnixTime};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest request line the daemon reads; anything longer is refused, so a
/// stray writer on the socket cannot make the daemon buffer without bound.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest response line the client reads (a page of the queue is a few
/// hundred KB; the margin is for messages with many recipients).
pub const MAX_RESPONSE_LINE: usize = 256 * 1024 * 1024;

/// What the CLI asks of the daemon, one per command of CONTRACT.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// One page of the queue: messages whose id sorts after `after`.
    QueueList {
        #[serde(default)]
        after: Option<String>,
    },
    QueueShow {
        id: String,
    },
    /// `queue cat`: the stored message, as the recipient would receive it.
    QueueCat {
        id: String,
    },
    QueueRetry {
        target: Target,
    },
    QueueHold {
        id: String,
    },
    QueueRelease {
        id: String,
    },
    QueueDelete {
        target: Target,
    },
    OptoutAdd {
        address: String,
    },
    OptoutRemove {
        address: String,
    },
    OptoutList,
    Status,
    /// `leak reload`: re-read the config and swap what can be swapped.
    Reload,
}

/// Which messages `retry` and `delete` act on: `ID` or `--all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    One(String),
    All,
}

/// The daemon's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// `queue list`: one page of readable messages in id order, at most
    /// [`leak_store::LIST_PAGE`], without their histories; a shorter page is
    /// the last.
    Messages { messages: Vec<QueuedMessage> },
    /// `queue show`: one message with its history.
    Message { message: QueuedMessage },
    /// `queue cat`: the message's stored bytes, base64 (a body need not be UTF-8).
    Body { id: String, base64: String },
    /// `queue retry`: how many messages and pending recipients are now due,
    /// and how many of those messages are held (a retry does not release).
    Retried {
        messages: usize,
        recipients: usize,
        held: usize,
    },
    /// `queue hold`: `changed` is false when it was already held.
    Held { id: String, changed: bool },
    /// `queue release`: `changed` is false when it was not held.
    Released { id: String, changed: bool },
    /// `queue delete`: how many messages were removed.
    Deleted { messages: usize },
    /// `optout add`: the stored hash; `changed` is false when already listed.
    OptoutAdded { hash: String, changed: bool },
    /// `optout remove`: the hash that was removed.
    OptoutRemoved { hash: String },
    /// `optout list`: every stored entry, in hash order.
    Optouts { entries: Vec<OptoutEntry> },
    /// `status`.
    Status(StatusReport),
    /// `reload`: what changed, what failed and what needs a restart.
    Reloaded(ReloadReport),
    /// The request was refused or failed; `kind` decides the CLI's exit status.
    Error { kind: ErrorKind, message: String },
}

/// Why a request failed, so the CLI can choose between exit 1 and exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such message or opt-out entry (exit 1).
    NotFound,
    /// The request itself is wrong: bad address, unreadable line (exit 1).
    BadRequest,
    /// The store failed: the environment is broken (exit 2).
    Store,
}

/// One suppression record. Only the hash is stored, never the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptoutEntry {
    /// Lowercase hex HMAC of the normalised address (SHA-256 for `legacy`).
    pub hash: String,
    /// When it was added, if the record says so.
    pub added: Option<UnixTime>,
    /// `cli`, `web`, `mail`, `bounce`, `complaint` or `legacy`.
    #[serde(default)]
    pub source: Option<String>,
    /// For bounces and complaints: the status code or feedback type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `leak status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    /// When the daemon started (unix seconds).
    pub started: UnixTime,
    /// The daemon's clock when it answered, so uptime needs no clock agreement.
    pub now: UnixTime,
    /// One line per listener, e.g. `127.0.0.1:587 (starttls)`.
    pub listeners: Vec<String>,
    pub sessions_open: usize,
    /// The policy store's health (embedded, or the cluster's database).
    #[serde(default)]
    pub policy_store: String,
    /// Whether automatic DANE applies (`delivery.dane`), in words.
    #[serde(default)]
    pub dane: String,
    #[serde(default)]
    pub dane_active: bool,
    pub queue: QueueCounts,
}

/// What a reload did. A refused config (`accepted` false) changed nothing:
/// `failed` holds its problems and the old config stays in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub accepted: bool,
    /// What is now in force that was not before, one line each.
    pub changed: Vec<String>,
    /// Problems: the config's (when refused) or a part that could not be swapped.
    pub failed: Vec<String>,
    /// Config keys whose new value takes effect only after a restart.
    pub needs_restart: Vec<String>,
}

/// Queue size by state: messages, and recipients by [`leak_store::RecipientStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub messages: usize,
    pub held: usize,
    pub queued: usize,
    pub deferred: usize,
    pub delivered: usize,
    pub failed: usize,
}

impl QueueCounts {
    /// Counts the whole queue page by page, never holding it all: what
    /// `status` and a metrics exporter need for "queue size by state".
    pub fn of_store(store: &dyn leak_store::Store) -> leak_store::Result<QueueCounts> {
        let mut counts = QueueCounts::default();
        store.for_each_message(&mut |m| counts.add(&m))?;
        Ok(counts)
    }

    fn add(&mut self, message: &QueuedMessage) {
        use leak_store::RecipientStatus as S;
        self.messages += 1;
        self.held += usize::from(message.held);
        for recipient in &message.recipients {
            match recipient.status {
                S::Queued => self.queued += 1,
                S::Deferred => self.deferred += 1,
                S::Delivered => self.delivered += 1,
                S::Failed => self.failed += 1,
            }
        }
    }
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line longer than {0} bytes")]
    TooLong(usize),
}

/// Reads one `\n`-terminated line of at most `limit` bytes (newline excluded).
/// `Ok(None)` at a clean end of stream; a partial last line is returned as is.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let end = if done { taken - 1 } else { taken };
        if line.len() + end > limit {
            return Err(LineError::TooLong(limit));
        }
        line.extend_from_slice(&available[..end]);
        reader.consume(taken);
        if done {
            return Ok(Some(line));
        }
    }
}

/// Serializes one message of the protocol as a line, newline included.
pub fn to_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("protocol types always serialize");
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_line_splits_limits_and_ends() {
        let mut input: &[u8] = b"one\ntwo\nthree";
        assert_eq!(read_line(&mut input, 10).await.unwrap().unwrap(), b"one");
        assert_eq!(read_line(&mut input, 10).await.unwrap().unwrap(), b"two");
        assert_eq!(read_line(&mut input, 10).await.unwrap().unwrap(), b"three");
        assert!(read_line(&mut input, 10).await.unwrap().is_none());

        let mut long: &[u8] = b"0123456789abc\n";
        assert!(matches!(
            read_line(&mut long, 10).await,
            Err(LineError::TooLong(10))
        ));
    }

    #[test]
    fn requests_have_a_stable_wire_form() {
        let line = to_line(&Request::QueueRetry {
            target: Target::One("ab".into()),
        });
        assert_eq!(
            line,
            b"{\"op\":\"queue_retry\",\"target\":{\"one\":\"ab\"}}\n"
        );
        let all: Request = serde_json::from_str(r#"{"op":"queue_delete","target":"all"}"#).unwrap();
        assert_eq!(
            all,
            Request::QueueDelete {
                target: Target::All
            }
        );
    }

    #[test]
    fn status_round_trips_as_a_tagged_newtype() {
        let report = StatusReport {
            version: "0.1.0".into(),
            started: 1,
            now: 2,
            listeners: vec!["127.0.0.1:587 (starttls)".into()],
            sessions_open: 3,
            policy_store: "embedded".into(),
            dane: "off (delivery.dane = false)".into(),
            dane_active: false,
            queue: QueueCounts::default(),
        };
        let line = to_line(&Response::Status(report.clone()));
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, Response::Status(report));
    }
}
