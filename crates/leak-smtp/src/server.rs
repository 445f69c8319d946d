//! Accept loops: one per listener, a cap on concurrent connections in all
//! and per client, TLS (implicit or after STARTTLS), and a graceful stop.
//!
//! A refused connection is told why with a `421`; on an implicit-TLS
//! listener that reply goes inside TLS (a short handshake first), since a
//! client there cannot read plaintext. Those refusals run in a bounded
//! number of tasks; past that, extra connections are simply closed.

use crate::anvil::{Anvil, ClientKey, ClientLimits, Refused};
use crate::backend::{Backend, SessionInfo, TransactionGuard};
use crate::gate::Gate;
use crate::reply::Reply;
use crate::session::{Ended, Session};
use crate::throttle::{AuthLedger, AuthThrottle};
use crate::tls::TlsProvider;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// Refusals inside TLS being handshaken at once; more are just closed.
const MAX_REFUSALS: usize = 64;
/// How long a refusal may take, TLS handshake included.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How a listener speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerMode {
    /// Plaintext, upgraded with STARTTLS.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// Never TLS (trusted networks only, since AUTH needs TLS).
    Plain,
}

/// Protocol limits and identity, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Banner and EHLO name.
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Per command (and per read during DATA).
    pub command_timeout: Duration,
    /// The whole DATA phase.
    pub data_timeout: Duration,
    /// Failed AUTH per session before it is closed.
    pub max_auth_failures: u32,
    /// Addresses that may submit without AUTH (and are exempt from the
    /// per-client limits).
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Mail *to* this server (the inbound role): MAIL and RCPT need no AUTH
    /// and the backend alone decides which recipients it takes. Unlike a
    /// trusted network, this exempts nobody from the per-client limits.
    pub accept_without_auth: bool,
    /// Concurrent connections across all listeners.
    pub max_connections: usize,
    /// Delay added per failed AUTH from one address (grows with each failure).
    pub auth_failure_delay: Duration,
    /// Per-client connection, message, recipient and AUTH limits.
    pub client_limits: ClientLimits,
    /// Longest a connection may last, whatever it does.
    pub max_session_duration: Duration,
    /// NOOP, RSET, HELP, VRFY and refused commands tolerated per session.
    pub max_junk_commands: u32,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Password verifications running at once.
    pub auth_workers: usize,
    /// Verifications waiting per queue before AUTH is answered `454`.
    pub auth_queue: usize,
}

impl Default for Settings {
    /// leak's defaults, as documented in `config/leak.toml`.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Settings {
            hostname: "localhost".into(),
            max_message_size: 25_000_000,
            max_recipients: 50,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            max_auth_failures: 3,
            trusted_networks: Vec::new(),
            accept_without_auth: false,
            max_connections: 256,
            auth_failure_delay: Duration::from_secs(1),
            client_limits: ClientLimits::default(),
            max_session_duration: Duration::from_secs(30 * 60),
            max_junk_commands: 50,
            tls_handshake_timeout: Duration::from_secs(10),
            auth_workers: cpus,
            auth_queue: 4 * cpus,
        }
    }
}

/// What every session shares.
pub(crate) struct Shared {
    pub settings: Settings,
    pub backend: Arc<dyn Backend>,
    pub tls: Option<Arc<TlsProvider>>,
    pub throttle: AuthThrottle,
    pub anvil: Arc<Anvil>,
    pub gate: Gate,
}

/// The submission server. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    connections: Arc<Semaphore>,
    handshakes: Arc<Handshakes>,
    refusals: Arc<Semaphore>,
}

/// TLS handshakes since start (STARTTLS and implicit), for the metrics.
#[derive(Debug, Default)]
struct Handshakes {
    completed: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl Server {
    /// A server whose AUTH failure counts live in memory only.
    pub fn new(
        settings: Settings,
        backend: Arc<dyn Backend>,
        tls: Option<Arc<TlsProvider>>,
    ) -> Server {
        Server::with_ledger(settings, backend, tls, None)
    }

    /// A server that keeps AUTH failure counts in `ledger` across restarts.
    pub fn with_ledger(
        settings: Settings,
        backend: Arc<dyn Backend>,
        tls: Option<Arc<TlsProvider>>,
        ledger: Option<Arc<dyn AuthLedger>>,
    ) -> Server {
        let connections = Arc::new(Semaphore::new(settings.max_connections));
        let throttle = AuthThrottle::new(settings.auth_failure_delay, ledger);
        let anvil = Anvil::new(settings.client_limits);
        let gate = Gate::new(settings.auth_workers, settings.auth_queue);
        Server {
            shared: Arc::new(Shared {
                settings,
                backend,
                tls,
                throttle,
                anvil,
                gate,
            }),
            connections,
            handshakes: Arc::default(),
            refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
        }
    }

    /// TLS handshakes completed and failed (or timed out) since start.
    pub fn tls_handshakes(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let h = &self.handshakes;
        (h.completed.load(Relaxed), h.failed.load(Relaxed))
    }

    /// Sessions currently open.
    pub fn open_sessions(&self) -> usize {
        self.shared.settings.max_connections - self.connections.available_permits()
    }

    /// Accepts connections on `listener` until `shutdown` turns true.
    pub async fn serve(
        &self,
        listener: TcpListener,
        mode: ListenerMode,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let client = if self.is_trusted(peer) {
                None
            } else {
                match self.shared.anvil.connect(ClientKey::of(peer.ip())) {
                    Ok(guard) => Some(guard),
                    Err(refused) => {
                        tracing::debug!(client = %ClientKey::of(peer.ip()), ?refused, "connection refused");
                        self.refuse(stream, mode, refused);
                        continue;
                    }
                }
            };
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                self.refuse(stream, mode, Refused::TooManyOpen);
                continue;
            };
            let server = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                server.connection(stream, peer, mode, shutdown).await;
                drop(permit);
                drop(client);
            });
        }
    }

    fn is_trusted(&self, peer: SocketAddr) -> bool {
        let networks = &self.shared.settings.trusted_networks;
        networks.iter().any(|net| net.contains(&peer.ip()))
    }

    /// Answers `421` and closes. In plaintext the reply fits in the fresh
    /// socket's send buffer, so it is written at once without a task; inside
    /// TLS (implicit listeners) a bounded number of tasks do the handshake.
    fn refuse(&self, stream: TcpStream, mode: ListenerMode, why: Refused) {
        let reply = match why {
            Refused::TooManyOpen => Reply::too_many_connections(),
            Refused::TooFast => Reply::new(
                421,
                [4, 7, 0],
                "Too many connections from your address, try again later",
            ),
        };
        let tls = match (mode, &self.shared.tls) {
            (ListenerMode::Implicit, Some(tls)) => tls.clone(),
            _ => {
                let _ = stream.try_write(&reply.to_wire());
                return;
            }
        };
        let Ok(slot) = self.refusals.clone().try_acquire_owned() else {
            return;
        };
        let handshake = self
            .shared
            .settings
            .tls_handshake_timeout
            .min(REFUSAL_TIMEOUT);
        tokio::spawn(async move {
            let refusal = refuse_inside_tls(stream, reply, tls, handshake);
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refusal).await;
            drop(slot);
        });
    }

    /// Waits until every session has ended, at most `timeout`. Returns whether
    /// all ended.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let all = self.shared.settings.max_connections as u32;
        tokio::time::timeout(timeout, self.connections.acquire_many(all))
            .await
            .is_ok()
    }

    /// Runs one connection: a session, and a second one over TLS after STARTTLS.
    pub async fn connection<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        mode: ListenerMode,
        shutdown: watch::Receiver<bool>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let shared = &*self.shared;
        let info = SessionInfo {
            id: format!("{:08x}", rand::random::<u32>()),
            peer,
            tls: false,
            account: None,
            trusted: self.is_trusted(peer),
        };
        tracing::info!(session = %info.id, peer = %crate::logged_peer(peer), "connection");
        let _transaction = TransactionGuard {
            backend: shared.backend.clone(),
            session: info.clone(),
        };
        let ends = Instant::now() + shared.settings.max_session_duration;
        let plain = match mode {
            ListenerMode::Implicit => {
                self.over_tls(stream, info, mode, true, (shutdown, ends))
                    .await;
                return;
            }
            ListenerMode::StartTls | ListenerMode::Plain => {
                Session::new(stream, shared, info.clone(), mode, ends)
                    .run(true, shutdown.clone())
                    .await
            }
        };
        if let Ended::StartTls(stream) = plain {
            self.over_tls(stream, info, mode, false, (shutdown, ends))
                .await;
        }
    }

    /// The TLS handshake (within `limits.tls_handshake_timeout`), then a
    /// session over it. `until` is the shutdown signal and the session's end.
    async fn over_tls<S>(
        &self,
        stream: S,
        mut info: SessionInfo,
        mode: ListenerMode,
        greet: bool,
        until: (watch::Receiver<bool>, Instant),
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(tls) = &self.shared.tls else {
            return;
        };
        let (shutdown, ends) = until;
        let handshake = tls.acceptor().accept(stream);
        let timeout = self.shared.settings.tls_handshake_timeout;
        let outcome = tokio::time::timeout(timeout, handshake).await;
        let counter = match &outcome {
            Ok(Ok(_)) => &self.handshakes.completed,
            _ => &self.handshakes.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stream = match outcome {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::info!(session = %info.id, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(session = %info.id, "TLS handshake timed out");
                return;
            }
        };
        info.tls = true;
        let _ = Session::new(stream, &self.shared, info, mode, ends)
            .run(greet, shutdown)
            .await;
    }
}

/// Tells a refused client on an implicit-TLS listener to come back later,
/// inside TLS, then closes.
async fn refuse_inside_tls(
    stream: TcpStream,
    reply: Reply,
    tls: Arc<TlsProvider>,
    handshake: Duration,
) {
    let accept = tls.acceptor().accept(stream);
    if let Ok(Ok(mut stream)) = tokio::time::timeout(handshake, accept).await {
        let _ = stream.write_all(&reply.to_wire()).await;
        let _ = stream.shutdown().await;
    }
}
