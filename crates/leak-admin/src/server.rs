//! The daemon side of the admin socket: [`AdminServer`] binds the Unix socket
//! and serves JSON-lines requests (see `protocol.rs`) until shutdown, each
//! connection on its own task, at most [`MAX_CONNECTIONS`] at once.

use std::fs;
use std::io::{self, ErrorKind as IoErrorKind};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use leak_store::{QueuedMessage, Store, UnixTime};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::ops;
use crate::protocol::{
    self, ErrorKind, LineError, ReloadReport, Request, Response, MAX_REQUEST_LINE,
};

/// Most admin connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// How long shutdown waits for requests in progress before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The socket's mode: owner and group (the `leak` group) may use it, nobody else.
const SOCKET_MODE: u32 = 0o660;

/// What the admin server needs from the running daemon.
#[derive(Clone)]
pub struct AdminContext {
    /// The queue.
    pub store: Arc<dyn Store>,
    /// The suppression list `leak optout` edits.
    pub suppression: Arc<leak_consent::Suppression>,
    /// Rung after `retry` and `release`, so the delivery scheduler looks at
    /// the queue now instead of at its next tick.
    pub wake_scheduler: Arc<Notify>,
    /// The daemon's live facts for `leak status` (the queue counts are
    /// computed here from the store).
    pub status: Arc<dyn Fn() -> StatusInfo + Send + Sync>,
    /// The daemon's reload (`leak reload`, the same as SIGHUP).
    pub reload: Arc<dyn Fn() -> ReloadReport + Send + Sync>,
    /// `leak queue cat`: the stored (undated, unsigned) message as it would
    /// go on the wire now — `Received`, `Date` and DKIM signatures added as
    /// delivery adds them at the first attempt.
    pub render_outgoing: RenderOutgoing,
}

/// How the daemon renders a stored message as it would go on the wire.
pub type RenderOutgoing = Arc<dyn Fn(&QueuedMessage, &[u8]) -> Vec<u8> + Send + Sync>;

/// The daemon's side of `leak status`, supplied by `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    pub version: String,
    /// When the daemon started, unix seconds.
    pub started: UnixTime,
    /// One line per listener, e.g. `127.0.0.1:587 (starttls)`.
    pub listeners: Vec<String>,
    /// SMTP sessions open right now.
    pub sessions_open: usize,
    /// Where accounts, opt-outs and counters live and whether they can be
    /// reached (`leak_cluster::PolicyStore::health`).
    pub policy_store: String,
    /// Whether automatic DANE applies, in words (`DaneStatus::describe`).
    pub dane: String,
    pub dane_active: bool,
}

/// A bound admin socket, ready to [`run`](AdminServer::run).
pub struct AdminServer {
    listener: StdUnixListener,
    path: PathBuf,
}

impl AdminServer {
    /// Binds the socket at `path` with mode 0660, creating its folder (0750).
    ///
    /// A leftover socket file from a daemon that died is removed; a socket
    /// some live process still answers on is `AddrInUse` (two daemons on one
    /// store must not happen), and a path that is not a socket is left alone.
    /// Needs no tokio runtime.
    pub fn bind(path: &Path) -> io::Result<AdminServer> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // 0750 whatever the umask (`leak serve` runs with 077): the
            // group must be able to reach the socket inside.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(parent)?;
        }
        remove_stale_socket(path)?;
        let listener = StdUnixListener::bind(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE))?;
        listener.set_nonblocking(true)?;
        Ok(AdminServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket path, for logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves requests until `shutdown` turns true (or its sender is dropped),
    /// then lets requests in progress finish for a few seconds and removes
    /// the socket file.
    pub async fn run(self, ctx: AdminContext, mut shutdown: watch::Receiver<bool>) {
        let listener = match UnixListener::from_std(self.listener) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(path = %self.path.display(), "admin socket unusable: {err:#}");
                return;
            }
        };
        // Removes the socket file however `run` ends, even when its task is aborted.
        let socket_file = SocketFile(self.path.clone());
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        while !*shutdown.borrow() {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
                        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
                        connections.spawn(async move {
                            serve_connection(stream, &ctx, shutdown).await;
                            drop(permit);
                        });
                    }
                    Err(err) => {
                        tracing::warn!("admin socket accept failed: {err:#}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                changed = shutdown.changed() => if changed.is_err() { break },
            }
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        drop(socket_file);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            tracing::warn!("admin requests still running at shutdown were abandoned");
        }
    }
}

/// The bound socket's path; dropping it removes the file, so clients get
/// "not running" instead of a refused connection on a dead socket.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Removes `path` if it is a socket nobody listens on.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == IoErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            IoErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    if StdUnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            IoErrorKind::AddrInUse,
            format!(
                "{} is in use: is another leak daemon running?",
                path.display()
            ),
        ));
    }
    fs::remove_file(path)
}

/// Answers requests on one connection until the client hangs up, sends
/// something unreadable, or the daemon shuts down between requests.
async fn serve_connection(
    stream: UnixStream,
    ctx: &AdminContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let line = tokio::select! {
            line = protocol::read_line(&mut reader, MAX_REQUEST_LINE) => line,
            _ = shutdown.changed() => return,
        };
        let (response, keep_going) = match line {
            Ok(None) => return,
            Ok(Some(line)) => match serde_json::from_slice::<Request>(&line) {
                Ok(request) => (ops::handle(ctx, request).await, true),
                Err(err) => (bad_request(format!("unreadable request: {err}")), true),
            },
            Err(LineError::TooLong(limit)) => (
                bad_request(format!("request longer than {limit} bytes")),
                false,
            ),
            Err(LineError::Io(err)) => {
                tracing::debug!("admin connection read failed: {err:#}");
                return;
            }
        };
        if let Err(err) = write.write_all(&protocol::to_line(&response)).await {
            tracing::debug!("admin connection write failed: {err:#}");
            return;
        }
        if !keep_going {
            return;
        }
    }
}

fn bad_request(message: String) -> Response {
    Response::Error {
        kind: ErrorKind::BadRequest,
        message,
    }
}
