//! Shared test support: an in-memory [`Store`], a DNS server, SMTP receivers,
//! and a harness that runs the scheduler until a condition holds.
#![allow(dead_code)]

pub mod dns;
pub mod smtp;

use async_trait::async_trait;
use dns::{DnsServer, Zone};
use leak_delivery::{DeliverySettings, Scheduler};
use leak_dkim::{generate_key, Algorithm, KeySpec, Signer};
use leak_store::{
    DamagedRecord, MessageChange, QueuedMessage, Recipient, Result, Store, StoreError,
};
use smtp::{bind_same_port, start, Behavior, Sink};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const DOMAIN: &str = "anon.test";

/// The queue in memory, with the same atomicity as the real store's `modify`.
#[derive(Default)]
pub struct MemStore {
    messages: Mutex<BTreeMap<String, (QueuedMessage, Vec<u8>)>>,
    /// Every id ever removed, to tell "delivered and removed" from "never there".
    pub removed: Mutex<Vec<String>>,
}

#[async_trait]
impl Store for MemStore {
    async fn enqueue(&self, message: QueuedMessage, body: Vec<u8>) -> Result<()> {
        self.messages
            .lock()
            .unwrap()
            .insert(message.id.clone(), (message, body));
        Ok(())
    }
    async fn update(&self, message: &QueuedMessage) -> Result<()> {
        let mut map = self.messages.lock().unwrap();
        let entry = map
            .get_mut(&message.id)
            .ok_or_else(|| StoreError::NotFound(message.id.clone()))?;
        entry.0 = message.clone();
        Ok(())
    }
    async fn modify(&self, id: &str, change: MessageChange) -> Result<QueuedMessage> {
        let mut map = self.messages.lock().unwrap();
        let entry = map
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(id.into()))?;
        change(&mut entry.0);
        Ok(entry.0.clone())
    }
    async fn remove(&self, id: &str) -> Result<()> {
        let removed = self.messages.lock().unwrap().remove(id);
        removed.ok_or_else(|| StoreError::NotFound(id.into()))?;
        self.removed.lock().unwrap().push(id.into());
        Ok(())
    }
    fn get(&self, id: &str) -> Result<Option<QueuedMessage>> {
        Ok(self.messages.lock().unwrap().get(id).map(|e| e.0.clone()))
    }
    fn page(&self, after: Option<&str>, limit: usize) -> Result<Vec<QueuedMessage>> {
        let map = self.messages.lock().unwrap();
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        Ok(map
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, e)| e.0.clone())
            .collect())
    }
    fn body(&self, id: &str) -> Result<Vec<u8>> {
        let map = self.messages.lock().unwrap();
        map.get(id)
            .map(|e| e.1.clone())
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }
    fn damaged(&self) -> Vec<DamagedRecord> {
        Vec::new()
    }
    fn kv_get(&self, _tree: &str, _key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    async fn kv_put(&self, _tree: &str, _key: &[u8], _value: Vec<u8>) -> Result<()> {
        Ok(())
    }
    async fn kv_remove(&self, _tree: &str, _key: &[u8]) -> Result<bool> {
        Ok(false)
    }
    fn kv_scan(&self, _tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(Vec::new())
    }
    async fn kv_add(&self, _tree: &str, _key: &[u8], delta: u64) -> Result<u64> {
        Ok(delta)
    }
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Settings for tests: our DNS server, the receivers' port, quick timeouts.
pub fn settings(dns: SocketAddr, mx_port: u16) -> DeliverySettings {
    DeliverySettings {
        hostname: "mail.anon.test".into(),
        mx_port,
        retry_intervals: vec![Duration::from_secs(1)],
        queue_lifetime: Duration::from_secs(3600),
        nameservers: vec![dns],
        return_domain: DOMAIN.into(),
        connect_timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(5),
        dns_timeout: Duration::from_secs(2),
        poll_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(2),
        ..Default::default()
    }
}

/// Ed25519 and RSA keys in `dir`, their DNS records, and a signer over both.
pub fn signer(dir: &std::path::Path) -> (Arc<Signer>, Vec<String>) {
    let specs = vec![
        KeySpec {
            selector: "ed".into(),
            algorithm: Algorithm::Ed25519,
            private_key: dir.join("ed.pem"),
        },
        KeySpec {
            selector: "rsa".into(),
            algorithm: Algorithm::Rsa,
            private_key: dir.join("rsa.pem"),
        },
    ];
    generate_key(Algorithm::Ed25519, 0, &specs[0].private_key).unwrap();
    generate_key(Algorithm::Rsa, 2048, &specs[1].private_key).unwrap();
    let records = specs
        .iter()
        .map(|k| leak_dkim::dns_record(&k.selector, DOMAIN, &k.private_key, k.algorithm).unwrap())
        .collect();
    (Arc::new(Signer::load(DOMAIN, &specs).unwrap()), records)
}

/// A queued message from `someone@anon.test`, stored as the anonymizer
/// stores it: no `Date`, no `Received`, no signature (delivery adds them).
pub fn message(rcpts: &[&str], notify: Option<&str>, body_text: &str) -> (QueuedMessage, Vec<u8>) {
    let id = format!("{:016x}", rand_id());
    let plain = format!(
        "From: \"Quelqu'un\" <someone@{DOMAIN}>\r\nTo: {}\r\nSubject: test {id}\r\n\
         Message-ID: <{id}@{DOMAIN}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body_text}",
        rcpts.join(", ")
    );
    let body = plain.into_bytes();
    let created = now();
    let msg = QueuedMessage {
        id,
        created,
        size: body.len() as u64,
        account: "alice".into(),
        notify: notify.map(str::to_string),
        return_path: format!("bounces@{DOMAIN}"),
        held: false,
        hold_reason: None,
        is_report: false,
        recipients: rcpts.iter().map(|r| Recipient::new(*r, created)).collect(),
        history: Vec::new(),
        stamped: None,
    };
    (msg, body)
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (t << 20) ^ NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A scheduler running in the background over `store`.
pub struct Running {
    pub waker: Arc<tokio::sync::Notify>,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

pub fn run(settings: DeliverySettings, store: Arc<MemStore>, signer: Arc<Signer>) -> Running {
    let scheduler = Scheduler::new(settings, store, signer).unwrap();
    let waker = scheduler.waker();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(scheduler.run(rx));
    Running {
        waker,
        stop,
        handle,
    }
}

impl Running {
    /// Stops it the hard way, like `kill -9`: every task is dropped at its
    /// current await point; only what the store already holds survives.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }

    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("scheduler stops")
            .unwrap();
    }
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// Listeners on 127.0.0.<each of `lasts`>, all on one port.
pub async fn listeners(lasts: &[u8]) -> (u16, Vec<tokio::net::TcpListener>) {
    let ips: Vec<IpAddr> = lasts.iter().map(|l| IpAddr::V4(ip(*l))).collect();
    let ls = bind_same_port(&ips).await;
    (ls[0].local_addr().unwrap().port(), ls)
}

/// One receiver on 127.0.0.2 and a DNS server answering `domain` with its
/// address (implicit MX): the MX port, the receiver, the DNS server.
pub async fn one_receiver(domain: &str, behavior: Behavior) -> (u16, Sink, DnsServer) {
    let (port, mut ls) = listeners(&[2]).await;
    let sink = start(ls.pop().unwrap(), behavior);
    let mut zone = Zone::default();
    zone.a(domain, ip(2), 300);
    (port, sink, DnsServer::start(zone).await)
}

pub fn script(f: impl Fn(&str) -> String + Send + Sync + 'static) -> smtp::RcptScript {
    Arc::new(f)
}

/// Splits what delivery sent into what it added in front of the stored
/// message (DKIM signatures, leak's `Received`, `Date`) and the stored bytes.
pub fn split_stamp(data: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(data);
    let date = text.find("\r\nDate: ").expect("a Date line") + 2;
    let end = date + text[date..].find("\r\n").unwrap() + 2;
    let added = text[..end].to_string();
    assert!(added.starts_with("DKIM-Signature: "), "{added}");
    assert!(
        added.contains("\r\nReceived: by mail.anon.test (leak); "),
        "{added}"
    );
    (added, data[end..].to_vec())
}

pub fn reports(sink: &Sink) -> Vec<String> {
    sink.received()
        .into_iter()
        .filter(|r| r.mail_from == "<>")
        .map(|r| String::from_utf8(r.data).unwrap())
        .collect()
}
