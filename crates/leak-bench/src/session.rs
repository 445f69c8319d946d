//! The session mode: what a mail client does per message. `concurrency`
//! workers share a counter of `sessions`; each session connects, reads the
//! greeting, EHLO, STARTTLS, EHLO again, AUTH PLAIN, sends one message and
//! QUITs. Reports sessions per second and the time from the connection to
//! the `250` after the dot (p50/p99), and the AUTH round trip alone, which
//! shows whether argon2id (or the server's credential cache) is the limit.

use crate::client::{Client, Reply};
use crate::stats::{millis, Latencies};
use crate::{message, tls, SessionArgs};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What one run did.
#[derive(Debug, Default)]
pub struct SessionSummary {
    /// Sessions started.
    pub started: usize,
    /// Sessions whose message got a final 2xx.
    pub completed: usize,
    /// Negative replies to AUTH or the transaction, by code.
    pub refused: BTreeMap<u16, usize>,
    /// Sessions lost to a broken connection, a TLS failure or a timeout.
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    /// Connection start to the 250 after the dot, per completed session.
    to_250: Vec<Duration>,
    /// AUTH sent to its 235, per completed session.
    auth: Vec<Duration>,
}

/// How one session ended.
enum Outcome {
    Done { to_250: Duration, auth: Duration },
    Refused(Reply),
}

impl SessionSummary {
    fn merge(&mut self, other: SessionSummary) {
        self.started += other.started;
        self.completed += other.completed;
        for (code, n) in other.refused {
            *self.refused.entry(code).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.to_250.extend(other.to_250);
        self.auth.extend(other.auth);
    }

    /// The summary as one JSON object (what the script parses).
    pub fn to_json(&self) -> serde_json::Value {
        let seconds = self.wall.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.completed as f64 / seconds
        } else {
            0.0
        };
        let (to_250, auth) = (
            Latencies::new(self.to_250.clone()),
            Latencies::new(self.auth.clone()),
        );
        let refused: serde_json::Map<String, serde_json::Value> = self
            .refused
            .iter()
            .map(|(code, n)| (code.to_string(), (*n).into()))
            .collect();
        serde_json::json!({
            "started": self.started,
            "completed": self.completed,
            "refused": refused,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "sessions_per_second": (rate * 10.0).round() / 10.0,
            "time_to_250_ms": {
                "p50": millis(to_250.percentile(50.0)),
                "p99": millis(to_250.percentile(99.0)),
                "max": millis(to_250.percentile(100.0)),
            },
            "auth_ms": {
                "p50": millis(auth.percentile(50.0)),
                "p99": millis(auth.percentile(99.0)),
            },
        })
    }
}

/// Runs every session and returns the summary.
pub async fn run(args: SessionArgs) -> anyhow::Result<SessionSummary> {
    let connector = tls::connector()?;
    let args = Arc::new(args);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        tasks.spawn(worker(args.clone(), connector.clone(), next.clone()));
    }
    let mut summary = SessionSummary::default();
    while let Some(done) = tasks.join_next().await {
        summary.merge(done?);
    }
    summary.wall = started.elapsed();
    Ok(summary)
}

/// Sessions one after another until the shared counter runs out.
async fn worker(
    args: Arc<SessionArgs>,
    connector: TlsConnector,
    next: Arc<AtomicUsize>,
) -> SessionSummary {
    let mut summary = SessionSummary::default();
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= args.sessions {
            break;
        }
        summary.started += 1;
        match one_session(&args, &connector, seq).await {
            Ok(Outcome::Done { to_250, auth }) => {
                summary.completed += 1;
                summary.to_250.push(to_250);
                summary.auth.push(auth);
            }
            Ok(Outcome::Refused(reply)) => {
                *summary.refused.entry(reply.code).or_default() += 1;
                summary
                    .first_error
                    .get_or_insert(format!("refused: {reply}"));
            }
            Err(e) => {
                summary.errors += 1;
                summary.first_error.get_or_insert(format!("{e:#}"));
            }
        }
    }
    summary
}

async fn one_session(
    args: &SessionArgs,
    connector: &TlsConnector,
    seq: usize,
) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout);
    let began = Instant::now();
    let stream = tokio::time::timeout(timeout, TcpStream::connect(args.server))
        .await
        .map_err(|_| anyhow::anyhow!("timed out connecting to {}", args.server))??;
    stream.set_nodelay(true)?;
    let plain = Client::start(stream, &args.helo, timeout).await?;
    let stream = plain.starttls().await?;
    let stream = tokio::time::timeout(timeout, tls::handshake(connector, stream))
        .await
        .map_err(|_| anyhow::anyhow!("timed out in the TLS handshake"))??;
    let mut smtp = Client::resume(stream, &args.helo, timeout).await?;
    let auth_began = Instant::now();
    let reply = smtp.auth_plain(&args.user, &args.password).await?;
    let auth = auth_began.elapsed();
    if reply.code != 235 {
        return Ok(Outcome::Refused(reply));
    }
    let body = message::build(seq, &args.from, &args.to, args.size);
    let reply = smtp.send(&args.from, &args.to, &body).await?;
    if !(200..300).contains(&reply.code) {
        return Ok(Outcome::Refused(reply));
    }
    let to_250 = began.elapsed();
    // The server may close first: not a failure of the session.
    let _ = smtp.quit().await;
    Ok(Outcome::Done { to_250, auth })
}
