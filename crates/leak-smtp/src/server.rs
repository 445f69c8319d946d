//! Accept loops: one per listener, a cap on concurrent connections, TLS
//! (implicit or after STARTTLS), and a graceful stop.

use crate::backend::{Backend, SessionInfo, TransactionGuard};
use crate::reply::Reply;
use crate::session::{Ended, Session};
use crate::throttle::AuthThrottle;
use crate::tls::TlsProvider;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

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
    /// Addresses that may submit without AUTH.
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Concurrent connections across all listeners.
    pub max_connections: usize,
    /// Delay added per failed AUTH from one address (grows with each failure).
    pub auth_failure_delay: Duration,
}

/// What every session shares.
pub(crate) struct Shared {
    pub settings: Settings,
    pub backend: Arc<dyn Backend>,
    pub tls: Option<Arc<TlsProvider>>,
    pub throttle: AuthThrottle,
}

/// The submission server. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    connections: Arc<Semaphore>,
}

impl Server {
    pub fn new(
        settings: Settings,
        backend: Arc<dyn Backend>,
        tls: Option<Arc<TlsProvider>>,
    ) -> Server {
        let connections = Arc::new(Semaphore::new(settings.max_connections));
        let throttle = AuthThrottle::new(settings.auth_failure_delay);
        Server {
            shared: Arc::new(Shared {
                settings,
                backend,
                tls,
                throttle,
            }),
            connections,
        }
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
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                tokio::spawn(refuse_busy(stream));
                continue;
            };
            let server = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                server.connection(stream, peer, mode, shutdown).await;
                drop(permit);
            });
        }
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
            trusted: shared
                .settings
                .trusted_networks
                .iter()
                .any(|net| net.contains(&peer.ip())),
        };
        tracing::info!(session = %info.id, peer = %peer, "connection");
        let _transaction = TransactionGuard {
            backend: shared.backend.clone(),
            session: info.clone(),
        };
        let plain = match mode {
            ListenerMode::Implicit => {
                self.over_tls(stream, info, mode, true, shutdown).await;
                return;
            }
            ListenerMode::StartTls | ListenerMode::Plain => {
                Session::new(stream, shared, info.clone(), mode)
                    .run(true, shutdown.clone())
                    .await
            }
        };
        if let Ended::StartTls(stream) = plain {
            self.over_tls(stream, info, mode, false, shutdown).await;
        }
    }

    async fn over_tls<S>(
        &self,
        stream: S,
        mut info: SessionInfo,
        mode: ListenerMode,
        greet: bool,
        shutdown: watch::Receiver<bool>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(tls) = &self.shared.tls else {
            return;
        };
        let handshake = tls.acceptor().accept(stream);
        let stream =
            match tokio::time::timeout(self.shared.settings.command_timeout, handshake).await {
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
        let _ = Session::new(stream, &self.shared, info, mode)
            .run(greet, shutdown)
            .await;
    }
}

/// Tells a client over the connection cap to come back later.
async fn refuse_busy(mut stream: TcpStream) {
    let reply = Reply::too_many_connections().to_wire();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&reply)).await;
    let _ = stream.shutdown().await;
}
