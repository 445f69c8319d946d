//! How much memory a large queue costs the store: enqueues N messages of
//! 4 KB, defers each once (an attempt recorded, as a 4xx does), walks the
//! queue page by page, then lists it at once, and prints the process's RSS
//! after each step.
//!
//! Run with `cargo run --release -p leak-store --example queue_memory -- 100000 [CACHE_MB]`
//! (`CACHE_MB`: sled's page cache, the store's default when absent).

use std::sync::Arc;
use std::time::Instant;

use leak_store::{
    new_message_id, Attempt, QueuedMessage, Recipient, RecipientStatus, SledStore, Store,
    StoreOptions,
};

fn rss_mb() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("?".to_owned(), |kb| format!("{:.1}", kb / 1024.0))
    };
    format!("RSS {} MB (peak {} MB)", field("VmRSS:"), field("VmHWM:"))
}

fn message(id: String, created: u64) -> QueuedMessage {
    QueuedMessage {
        id,
        created,
        size: 4096,
        account: "alice".into(),
        notify: None,
        return_path: "bounce@anon.test".into(),
        held: false,
        hold_reason: None,
        is_report: false,
        recipients: vec![Recipient::new("someone@sink.test", created)],
        history: Vec::new(),
        stamped: None,
    }
}

fn defer(msg: &mut QueuedMessage) {
    let r = &mut msg.recipients[0];
    r.status = RecipientStatus::Deferred;
    r.attempts += 1;
    r.next_attempt = Some(msg.created + 600);
    r.last_error = Some("450 4.2.0 try again later".into());
    msg.history.push(Attempt {
        at: msg.created + 1,
        recipient: r.address.clone(),
        mx: Some("mx.sink.test".into()),
        result: "450 4.2.0 try again later".into(),
    });
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut options = StoreOptions::default();
    if let Some(mb) = std::env::args().nth(2).and_then(|n| n.parse::<u64>().ok()) {
        options.cache_capacity = mb * 1024 * 1024;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledStore::open_with(dir.path(), options).expect("open store"));
    println!("opened: {}", rss_mb());

    let start = Instant::now();
    let mut ids = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(200) {
        let batch: Vec<_> = (0..200.min(count - chunk * 200))
            .map(|_| {
                let store = store.clone();
                let id = new_message_id();
                ids.push(id.clone());
                tokio::spawn(async move {
                    let body = vec![b'x'; 4096];
                    store.enqueue(message(id, 1_700_000_000), body).await
                })
            })
            .collect();
        for task in batch {
            task.await.expect("task").expect("enqueue");
        }
    }
    println!("enqueued {count} in {:?}: {}", start.elapsed(), rss_mb());

    let start = Instant::now();
    for chunk in ids.chunks(200) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|id| {
                let store = store.clone();
                let id = id.clone();
                tokio::spawn(async move { store.modify(&id, Box::new(defer)).await })
            })
            .collect();
        for task in batch {
            task.await.expect("task").expect("modify");
        }
    }
    println!("deferred {count} in {:?}: {}", start.elapsed(), rss_mb());

    let start = Instant::now();
    let mut walked = 0;
    store
        .for_each_message(&mut |_| walked += 1)
        .expect("page walk");
    println!(
        "walked {walked} page by page in {:?}: {}",
        start.elapsed(),
        rss_mb()
    );
    let start = Instant::now();
    let listed = store.list().expect("list").len();
    println!(
        "listed {listed} at once in {:?}: {}",
        start.elapsed(),
        rss_mb()
    );
}
