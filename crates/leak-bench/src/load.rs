//! The load: `sessions` tasks, each with its own SMTP session, taking message
//! numbers from one shared counter until `messages` have been sent. A session
//! that breaks is counted and reopened; one that cannot be reopened after a
//! few tries stops, leaving the rest to the others.

use crate::client::{Client, Reply};
use crate::stats::{millis, Latencies};
use crate::{message, LoadArgs};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Connection attempts in a row after which a session gives up.
const MAX_RECONNECTS: u32 = 5;

/// What one run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Transactions started.
    pub sent: usize,
    /// Final `2xx` after the dot.
    pub accepted: usize,
    /// Negative replies, by code (at MAIL, RCPT, DATA or the dot).
    pub refused: BTreeMap<u16, usize>,
    /// Transactions lost to a broken connection or a timeout.
    pub errors: usize,
    /// The first error or refusal seen, to explain a bad run.
    pub first_error: Option<String>,
    /// From the first connection to the last reply.
    pub wall: Duration,
    /// Latency of each accepted transaction, MAIL FROM to the reply to `.`.
    latencies: Vec<Duration>,
    /// Of each accepted transaction, the final `.` to its reply.
    dot_latencies: Vec<Duration>,
}

impl Summary {
    fn merge(&mut self, other: Summary) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        for (code, n) in other.refused {
            *self.refused.entry(code).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
        self.dot_latencies.extend(other.dot_latencies);
    }

    fn note_error(&mut self, error: String) {
        self.first_error.get_or_insert(error);
    }

    /// The summary as one JSON object (what the script parses).
    pub fn to_json(&self) -> serde_json::Value {
        let latencies = Latencies::new(self.latencies.clone());
        let dot = Latencies::new(self.dot_latencies.clone());
        let seconds = self.wall.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.accepted as f64 / seconds
        } else {
            0.0
        };
        let refused: serde_json::Map<String, serde_json::Value> = self
            .refused
            .iter()
            .map(|(code, n)| (code.to_string(), (*n).into()))
            .collect();
        serde_json::json!({
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": refused,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "accepted_per_second": (rate * 10.0).round() / 10.0,
            "latency_ms": {
                "p50": millis(latencies.percentile(50.0)),
                "p90": millis(latencies.percentile(90.0)),
                "p99": millis(latencies.percentile(99.0)),
                "max": millis(latencies.percentile(100.0)),
                "mean": millis(latencies.mean()),
            },
            "end_of_data_ms": {
                "p50": millis(dot.percentile(50.0)),
                "p99": millis(dot.percentile(99.0)),
                "max": millis(dot.percentile(100.0)),
            },
        })
    }
}

/// Runs the whole load and returns its summary.
pub async fn run(args: LoadArgs) -> anyhow::Result<Summary> {
    let args = Arc::new(args);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.sessions {
        tasks.spawn(session(args.clone(), next.clone()));
    }
    let mut summary = Summary::default();
    while let Some(done) = tasks.join_next().await {
        summary.merge(done?);
    }
    summary.wall = started.elapsed();
    Ok(summary)
}

/// One session's share of the load.
async fn session(args: Arc<LoadArgs>, next: Arc<AtomicUsize>) -> Summary {
    let mut summary = Summary::default();
    let mut client: Option<Client<TcpStream>> = None;
    let mut failures = 0;
    loop {
        if client.is_none() {
            match connect(&args).await {
                Ok(c) => {
                    client = Some(c);
                    failures = 0;
                }
                Err(e) => {
                    summary.note_error(format!("connect: {e:#}"));
                    failures += 1;
                    if failures >= MAX_RECONNECTS {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= args.messages {
            break;
        }
        let Some(smtp) = client.as_mut() else {
            continue;
        };
        let body = message::build(seq, &args.from, &args.to, args.size);
        summary.sent += 1;
        let began = Instant::now();
        match smtp.send(&args.from, &args.to, &body).await {
            Ok(Reply { code, .. }) if (200..300).contains(&code) => {
                summary.accepted += 1;
                summary.latencies.push(began.elapsed());
                summary.dot_latencies.extend(smtp.last_dot_wait);
            }
            Ok(reply) => {
                *summary.refused.entry(reply.code).or_default() += 1;
                summary.note_error(format!("refused: {reply}"));
            }
            Err(e) => {
                summary.errors += 1;
                summary.note_error(format!("{e:#}"));
                client = None;
            }
        }
    }
    if let Some(smtp) = client {
        // The server may already have closed it: not a failure of the run.
        let _ = smtp.quit().await;
    }
    summary
}

async fn connect(args: &LoadArgs) -> anyhow::Result<Client<TcpStream>> {
    let stream = tokio::time::timeout(args.reply_timeout(), TcpStream::connect(args.server))
        .await
        .map_err(|_| anyhow::anyhow!("timed out connecting to {}", args.server))??;
    stream.set_nodelay(true)?;
    Client::start(stream, &args.helo, args.reply_timeout()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// A tiny SMTP server: accepts every message except each `refuse_every`-th
    /// one (counted over all sessions), which gets 451 after the dot.
    async fn tiny_server(refuse_every: usize) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let count = count.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 tiny\r\n").await.unwrap();
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let answer: &[u8] = if in_data {
                            if line != "." {
                                continue;
                            }
                            in_data = false;
                            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                            if n.is_multiple_of(refuse_every) {
                                b"451 4.3.0 later\r\n"
                            } else {
                                b"250 2.0.0 ok\r\n"
                            }
                        } else if line == "DATA" {
                            in_data = true;
                            b"354 go\r\n"
                        } else if line == "QUIT" {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        write.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        addr
    }

    fn args(server: std::net::SocketAddr, messages: usize, sessions: usize) -> LoadArgs {
        LoadArgs {
            server,
            messages,
            size: 500,
            sessions,
            from: "a@bench.test".into(),
            to: "b@sink.test".into(),
            helo: "bench.test".into(),
            timeout: 10,
        }
    }

    #[tokio::test]
    async fn counts_accepted_and_refused_over_parallel_sessions() {
        let server = tiny_server(5).await;
        let summary = run(args(server, 50, 4)).await.unwrap();
        assert_eq!(summary.sent, 50);
        assert_eq!(summary.accepted, 40);
        assert_eq!(summary.refused.get(&451), Some(&10));
        assert_eq!(summary.errors, 0);
        let json = summary.to_json();
        assert_eq!(json["accepted"], 40);
        assert!(json["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
        let dot_p99 = json["end_of_data_ms"]["p99"].as_f64().unwrap();
        assert!(dot_p99 > 0.0 && dot_p99 <= json["latency_ms"]["max"].as_f64().unwrap());
        assert!(
            json["latency_ms"]["p50"].as_f64().unwrap()
                <= json["latency_ms"]["p99"].as_f64().unwrap()
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_ends_the_run_with_errors() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let summary = run(args(addr, 10, 2)).await.unwrap();
        assert_eq!(summary.sent, 0);
        assert_eq!(summary.accepted, 0);
        assert!(summary.first_error.unwrap().starts_with("connect:"));
    }
}
