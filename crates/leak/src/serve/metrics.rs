//! Prometheus metrics on `[metrics] bind`: messages accepted and refused by
//! reason, delivery outcomes, queue size by state and open sessions, in the
//! text exposition format over a minimal HTTP/1.1 responder (one `GET
//! /metrics` per connection; nothing else is served).

use leak_admin::QueueCounts;
use leak_delivery::DeliveryCounters;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Why the pipeline refused a message or a recipient.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    Moderation,
    InvalidMessage,
    AccountLimit,
    RecipientLimit,
    OptOut,
    LocalError,
}

impl Refusal {
    const ALL: [Refusal; 6] = [
        Refusal::Moderation,
        Refusal::InvalidMessage,
        Refusal::AccountLimit,
        Refusal::RecipientLimit,
        Refusal::OptOut,
        Refusal::LocalError,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::Moderation => "moderation",
            Refusal::InvalidMessage => "invalid_message",
            Refusal::AccountLimit => "account_limit",
            Refusal::RecipientLimit => "recipient_limit",
            Refusal::OptOut => "optout",
            Refusal::LocalError => "local_error",
        }
    }
}

/// Counters the submission side keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    refused: [AtomicU64; 6],
}

impl Metrics {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, reason: Refusal) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(
        &self,
        queue: QueueCounts,
        delivery: &DeliveryCounters,
        sessions_open: usize,
    ) -> String {
        let mut out = String::with_capacity(2048);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        family(
            "leak_messages_accepted_total",
            "counter",
            "Messages accepted and queued.",
            &[("", self.accepted.load(Ordering::Relaxed))],
        );
        let refused: Vec<(String, u64)> = Refusal::ALL
            .iter()
            .map(|r| {
                (
                    format!("{{reason=\"{}\"}}", r.label()),
                    self.refused[*r as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        let refused: Vec<(&str, u64)> = refused.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        family(
            "leak_messages_refused_total",
            "counter",
            "Messages or recipients refused, by reason.",
            &refused,
        );
        family(
            "leak_delivery_recipients_total",
            "counter",
            "Recipient delivery outcomes.",
            &[
                ("{outcome=\"delivered\"}", delivery.delivered()),
                ("{outcome=\"deferred\"}", delivery.deferred()),
                ("{outcome=\"failed\"}", delivery.failed()),
            ],
        );
        family(
            "leak_queue_messages",
            "gauge",
            "Messages in the queue.",
            &[
                ("", queue.messages as u64),
                ("{held=\"true\"}", queue.held as u64),
            ],
        );
        family(
            "leak_queue_recipients",
            "gauge",
            "Queued recipients by state.",
            &[
                ("{state=\"queued\"}", queue.queued as u64),
                ("{state=\"deferred\"}", queue.deferred as u64),
                ("{state=\"delivered\"}", queue.delivered as u64),
                ("{state=\"failed\"}", queue.failed as u64),
            ],
        );
        family(
            "leak_sessions_open",
            "gauge",
            "SMTP sessions open.",
            &[("", sessions_open as u64)],
        );
        out
    }
}

/// Builds the exposition text on each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `GET /metrics` until shutdown.
pub async fn serve(listener: TcpListener, render: Render, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, render)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, render: Render) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..read]);
    }
    let (status, content_type, body) = if request.starts_with(b"GET /metrics ") {
        (
            "200 OK",
            "text/plain; version=0.0.4",
            tokio::task::spawn_blocking(move || render())
                .await
                .unwrap_or_default(),
        )
    } else {
        ("404 Not Found", "text/plain", "not found\n".to_owned())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
