//! Prometheus metrics on `[metrics] bind`, encoded by prometheus-client in
//! the OpenMetrics text format: messages accepted and refused by reason,
//! AUTH outcomes, submission latency (end of DATA to the 250) and
//! classification time, delivery outcomes and latency, MX lookups, TLS
//! handshakes, queue size by state, open sessions and the build.
//!
//! Counters the pipeline keeps live in [`Metrics`]; what other parts own
//! (delivery counters, the SMTP server's sessions and handshakes, the queue)
//! is read at scrape time by [`Live`], a collector. The queue counts need a
//! walk over the whole store, so they are cached for [`QUEUE_CACHE`]: a
//! scrape every few seconds walks it at most that often.
//!
//! The HTTP side stays a minimal hand-written HTTP/1.1 responder (one `GET
//! /metrics` per connection; nothing else is served): an HTTP server crate
//! would be far larger than the few lines it replaces.

use leak_admin::QueueCounts;
use leak_delivery::DeliveryCounters;
use leak_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long queue counts are reused before the store is walked again.
pub const QUEUE_CACHE: Duration = Duration::from_secs(15);

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

/// One label, as the families below use it.
type Label = [(&'static str, &'static str); 1];

/// What the submission side counts and times.
#[derive(Debug)]
pub struct Metrics {
    accepted: Counter,
    refused: Family<Label, Counter>,
    auth: Family<Label, Counter>,
    /// Successful logins answered from the credential cache (no argon2id).
    auth_cache_hits: Counter,
    submission: Histogram,
    classification: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let refused = Family::<Label, Counter>::default();
        // Every reason from the start, at zero, as the old exposition had.
        for reason in Refusal::ALL {
            drop(refused.get_or_create(&[("reason", reason.label())]));
        }
        Metrics {
            accepted: Counter::default(),
            refused,
            auth: Family::default(),
            auth_cache_hits: Counter::default(),
            // 1 ms to about 16 s.
            submission: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            // 50 µs to about 0.4 s.
            classification: Histogram::new(exponential_buckets(0.000_05, 2.0, 14)),
        }
    }
}

impl Metrics {
    pub fn accepted(&self) {
        self.accepted.inc();
    }

    pub fn refused(&self, reason: Refusal) {
        self.refused
            .get_or_create(&[("reason", reason.label())])
            .inc();
    }

    /// One AUTH attempt and whether it succeeded.
    pub fn authenticated(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.auth.get_or_create(&[("result", result)]).inc();
    }

    /// A successful login answered from the credential cache (also counted
    /// by `authenticated`).
    pub fn auth_cache_hit(&self) {
        self.auth_cache_hits.inc();
    }

    /// Time from the end of DATA to the reply (stored or refused).
    pub fn submission_took(&self, elapsed: Duration) {
        self.submission.observe(elapsed.as_secs_f64());
    }

    /// Time the moderation classifier took for one message.
    pub fn classification_took(&self, elapsed: Duration) {
        self.classification.observe(elapsed.as_secs_f64());
    }

    /// The registry a scrape encodes: these metrics and `live`.
    pub fn registry(&self, live: Live) -> Registry {
        let mut registry = Registry::default();
        registry.register(
            "leak_messages_accepted",
            "Messages accepted and queued",
            self.accepted.clone(),
        );
        registry.register(
            "leak_messages_refused",
            "Messages or recipients refused, by reason",
            self.refused.clone(),
        );
        registry.register(
            "leak_auth_attempts",
            "AUTH attempts by result",
            self.auth.clone(),
        );
        registry.register(
            "leak_auth_cache_hits",
            "Successful AUTH answered from the credential cache, without argon2id",
            self.auth_cache_hits.clone(),
        );
        registry.register(
            "leak_submission_seconds",
            "Time from the end of DATA to the reply",
            self.submission.clone(),
        );
        registry.register(
            "leak_classification_seconds",
            "Time the moderation classifier took per message",
            self.classification.clone(),
        );
        registry.register(
            "leak_delivery_latency_seconds",
            "Time from queueing to delivery, per delivered recipient",
            live.delivery.latency(),
        );
        registry.register(
            "leak_build",
            "The running build",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        // prometheus-client ends each registered help text with a period.
        registry.register_collector(Box::new(live));
        registry
    }
}

/// Values other parts own, read at each scrape.
pub struct Live {
    pub delivery: Arc<DeliveryCounters>,
    /// Whether automatic DANE applies (`leak_dane_active`).
    pub dane: leak_delivery::DaneWatch,
    pub server: leak_smtp::Server,
    pub queue: QueueCache,
    /// Counter families of other parts (the consent loop), read at each scrape.
    pub extra: Vec<Extra>,
}

/// A counter family another part keeps: its name without `_total`, its
/// help, and one value per label (`None`: unlabelled).
pub struct CounterFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<(Option<(&'static str, &'static str)>, u64)>,
}

/// Reads some counter families at scrape time.
pub type Extra = Box<dyn Fn() -> Vec<CounterFamily> + Send + Sync>;

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

/// The queue counts of the last walk, reused for [`QUEUE_CACHE`].
pub struct QueueCache {
    store: Arc<dyn Store>,
    last: Mutex<Option<(Instant, QueueCounts)>>,
}

impl QueueCache {
    pub fn new(store: Arc<dyn Store>) -> QueueCache {
        QueueCache {
            store,
            last: Mutex::new(None),
        }
    }

    fn counts(&self) -> QueueCounts {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some((at, counts)) if at.elapsed() < QUEUE_CACHE => counts,
            _ => {
                let counts = QueueCounts::of_store(self.store.as_ref()).unwrap_or_default();
                *last = Some((Instant::now(), counts));
                counts
            }
        }
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let d = &self.delivery;
        let outcomes = [
            ("delivered", d.delivered()),
            ("deferred", d.deferred()),
            ("failed", d.failed()),
        ];
        let name = "leak_delivery_recipients";
        counters(
            &mut encoder,
            name,
            "Recipient delivery outcomes.",
            "outcome",
            &outcomes,
        )?;
        let (resolved, failed) = d.dns_lookups();
        let dns = [("ok", resolved), ("failed", failed)];
        counters(
            &mut encoder,
            "leak_dns_lookups",
            "MX lookups for delivery, by result.",
            "result",
            &dns,
        )?;
        let modes: Vec<_> = d
            .tls_deliveries()
            .into_iter()
            .map(|(mode, n)| (mode.as_str(), n))
            .collect();
        counters(
            &mut encoder,
            "leak_delivery_tls",
            "Delivered recipients by outbound TLS mode.",
            "mode",
            &modes,
        )?;
        let failures: Vec<_> = d
            .tls_failures()
            .into_iter()
            .map(|(failure, n)| (failure.as_str(), n))
            .collect();
        counters(
            &mut encoder,
            "leak_delivery_tls_failures",
            "MX hosts that failed a domain's TLS policy (DANE, MTA-STS, verify), by TLS-RPT result type.",
            "type",
            &failures,
        )?;
        let (completed, failed) = self.server.tls_handshakes();
        let tls = [("ok", completed), ("failed", failed)];
        counters(
            &mut encoder,
            "leak_tls_handshakes",
            "Submission TLS handshakes, by result.",
            "result",
            &tls,
        )?;

        let queue = self.queue.counts();
        let gauge = ConstGauge::new(queue.messages as i64);
        let mut messages = encoder.encode_descriptor(
            "leak_queue_messages",
            "Messages in the queue.",
            None,
            gauge.metric_type(),
        )?;
        messages.encode_gauge(&(queue.messages as i64))?;
        ConstGauge::new(queue.held as i64).encode(messages.encode_family(&[("held", "true")])?)?;
        let states = [
            ("queued", queue.queued),
            ("deferred", queue.deferred),
            ("delivered", queue.delivered),
            ("failed", queue.failed),
        ];
        let mut recipients = encoder.encode_descriptor(
            "leak_queue_recipients",
            "Queued recipients by state.",
            None,
            gauge.metric_type(),
        )?;
        for (state, n) in states {
            ConstGauge::new(n as i64).encode(recipients.encode_family(&[("state", state)])?)?;
        }
        for family in self.extra.iter().flat_map(|read| read()) {
            let kind = ConstCounter::new(0u64).metric_type();
            let mut metric = encoder.encode_descriptor(family.name, family.help, None, kind)?;
            for (label, n) in family.samples {
                match label {
                    None => metric.encode_counter::<NoLabelSet, _, u64>(&n, None)?,
                    Some(label) => ConstCounter::new(n).encode(metric.encode_family(&[label])?)?,
                }
            }
        }
        let dane = ConstGauge::new(i64::from(self.dane.status().active()));
        dane.encode(encoder.encode_descriptor(
            "leak_dane_active",
            "1 while DANE applies to domains without a [[delivery.domain]] policy \
             (dane = true, or \"auto\" and the resolver validates DNSSEC), else 0.",
            None,
            dane.metric_type(),
        )?)?;
        let open = ConstGauge::new(self.server.open_sessions() as i64);
        open.encode(encoder.encode_descriptor(
            "leak_sessions_open",
            "SMTP sessions open.",
            None,
            open.metric_type(),
        )?)
    }
}

/// One counter family with one label.
fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&'static str, u64)],
) -> Result<(), std::fmt::Error> {
    let kind = ConstCounter::new(0u64).metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, n) in values {
        ConstCounter::new(*n).encode(family.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}

/// The exposition text of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail; an encoding error leaves what was written.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
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
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
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
