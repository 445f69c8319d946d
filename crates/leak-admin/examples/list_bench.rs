//! How long `leak queue list` takes with a big queue: enqueues N messages
//! (default 10,000) into a `SledStore` in a tempdir, serves the admin socket
//! over it, and times `list` over the socket plus rendering it as the
//! CONTRACT.md JSON and as the table.
//!
//! ```text
//! cargo run --release -p leak-admin --example list_bench [-- N [--serve-for SECS]]
//! ```
//!
//! With `--serve-for`, it then keeps serving for SECS seconds and prints a
//! config file, so the real CLI can be timed too:
//! `time leak --config <printed path> queue list >/dev/null`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leak_admin::{render, AdminClient, AdminContext, AdminServer, StatusInfo};
use leak_store::{new_message_id, QueuedMessage, Recipient, RecipientStatus, SledStore, Store};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Enqueues in flight at once, so the store's group commit shares fsyncs.
const IN_FLIGHT: usize = 256;

fn message(i: usize, now: u64) -> QueuedMessage {
    let mut bob = Recipient::new(format!("bob{i}@example.test"), now + 600);
    if i.is_multiple_of(3) {
        bob.status = RecipientStatus::Deferred;
        bob.attempts = 2;
        bob.last_error = Some("451 4.3.0 try later".into());
    }
    QueuedMessage {
        id: new_message_id(),
        created: now - (i as u64 % 86_400),
        size: 1834,
        account: "alice".into(),
        notify: None,
        return_path: "bounce@anon.example".into(),
        held: i.is_multiple_of(50),
        hold_reason: None,
        is_report: false,
        recipients: vec![bob, Recipient::new(format!("carol{i}@example.org"), now)],
        history: vec![],
        stamped: None,
    }
}

async fn fill(store: &Arc<dyn Store>, count: usize, now: u64) {
    let mut tasks: JoinSet<leak_store::Result<()>> = JoinSet::new();
    for i in 0..count {
        if tasks.len() >= IN_FLIGHT {
            tasks
                .join_next()
                .await
                .expect("a task")
                .expect("joined")
                .expect("enqueued");
        }
        let store = Arc::clone(store);
        tasks.spawn(async move { store.enqueue(message(i, now), vec![b'x'; 1834]).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("joined").expect("enqueued");
    }
}

fn args() -> (usize, Option<u64>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let serve_for = args
        .iter()
        .position(|a| a == "--serve-for")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok());
    (count, serve_for)
}

fn write_config(dir: &Path, socket: &Path) -> std::path::PathBuf {
    let config = dir.join("leak.toml");
    let text = format!(
        "[server]\nhostname = \"bench.invalid\"\ndata_dir = \"{}\"\nadmin_socket = \"{}\"\n",
        dir.join("data").display(),
        socket.display()
    );
    std::fs::write(&config, text).expect("config written");
    config
}

#[tokio::main]
async fn main() {
    let (count, serve_for) = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("data")).expect("store opens"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();

    let started = Instant::now();
    fill(&store, count, now).await;
    println!("enqueued {count} messages in {:.2?}", started.elapsed());

    let socket = dir.path().join("admin.sock");
    let server = AdminServer::bind(&socket).expect("socket binds");
    let ctx = AdminContext {
        suppression: Arc::new(leak_consent::Suppression::new(
            store.clone(),
            &leak_consent::Secret::from_bytes([9; 32]),
        )),
        store,
        wake_scheduler: Arc::new(Notify::new()),
        status: Arc::new(move || StatusInfo {
            version: "bench".into(),
            started: now,
            listeners: vec![],
            sessions_open: 0,
            policy_store: "embedded".into(),
            dane: "off (delivery.dane = false)".into(),
            dane_active: false,
        }),
        reload: Arc::new(leak_admin::ReloadReport::default),
        render_outgoing: Arc::new(|_, body| body.to_vec()),
    };
    let (shutdown, receiver) = watch::channel(false);
    let serving = tokio::spawn(server.run(ctx, receiver));

    let mut client = AdminClient::connect(&socket).await.expect("connects");
    for round in 1..=3 {
        let t = Instant::now();
        let messages = client.list().await.expect("list");
        let over_socket = t.elapsed();
        let json = serde_json::to_string(&render::list_json(&messages)).expect("json");
        let with_json = t.elapsed();
        let table = render::list_table(&messages, now);
        println!(
            "round {round}: list of {} over the socket {over_socket:.2?}; \
             + JSON ({} bytes) {with_json:.2?}; table ({} bytes) alone {:.2?}",
            messages.len(),
            json.len(),
            table.len(),
            t.elapsed() - with_json,
        );
    }

    if let Some(seconds) = serve_for {
        let config = write_config(dir.path(), &socket);
        println!(
            "serving for {seconds}s; try: leak --config {} queue list",
            config.display()
        );
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }
    shutdown.send(true).expect("server listening");
    serving.await.expect("server stops");
}
