//! A real admin server over a real `SledStore` in a tempdir, for the tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use leak_admin::{AdminClient, AdminContext, AdminServer, StatusInfo};
use leak_store::{QueuedMessage, Recipient, RecipientStatus, SledStore, Store};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// A running admin server and what the tests look at.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub store: Arc<dyn Store>,
    pub wake: Arc<Notify>,
    pub shutdown: watch::Sender<bool>,
    pub server: JoinHandle<()>,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
        Harness::start_with(dir, store)
    }

    pub fn start_with(dir: tempfile::TempDir, store: Arc<dyn Store>) -> Harness {
        let socket = dir.path().join("run").join("admin.sock");
        let server = AdminServer::bind(&socket).unwrap();
        let wake = Arc::new(Notify::new());
        let ctx = AdminContext {
            store: Arc::clone(&store),
            suppression: Arc::new(leak_consent::Suppression::new(
                Arc::clone(&store),
                &leak_consent::Secret::from_bytes([9; 32]),
            )),
            wake_scheduler: Arc::clone(&wake),
            status: Arc::new(|| StatusInfo {
                version: "9.9.9".into(),
                started: now() - 3_700,
                listeners: vec!["127.0.0.1:587 (starttls)".into()],
                sessions_open: 2,
                policy_store: "embedded".into(),
                dane: "off (delivery.dane = false)".into(),
                dane_active: false,
            }),
            reload: Arc::new(|| leak_admin::ReloadReport {
                accepted: true,
                changed: vec!["limits.messages_per_hour".into()],
                failed: Vec::new(),
                needs_restart: vec!["listeners".into()],
            }),
            // A stand-in for the daemon's dating and signing.
            render_outgoing: Arc::new(|_, body| [b"Date: now\r\n".as_slice(), body].concat()),
        };
        let (shutdown, receiver) = watch::channel(false);
        let server = tokio::spawn(server.run(ctx, receiver));
        Harness {
            dir,
            socket,
            store,
            wake,
            shutdown,
            server,
        }
    }

    pub async fn client(&self) -> AdminClient {
        AdminClient::connect(&self.socket).await.unwrap()
    }

    /// Stops the server and waits for it, bounded.
    pub async fn stop(self) -> (tempfile::TempDir, Arc<dyn Store>) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("server stops")
            .unwrap();
        (self.dir, self.store)
    }

    /// Whether the scheduler's bell has been rung (consumes the permit).
    pub async fn woken(&self) -> bool {
        tokio::time::timeout(Duration::from_millis(500), self.wake.notified())
            .await
            .is_ok()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A message with one deferred recipient due in an hour, one delivered and one queued.
pub fn message(id: &str, created: u64) -> QueuedMessage {
    let later = now() + 3_600;
    QueuedMessage {
        id: id.to_string(),
        created,
        size: 1834,
        account: "alice".into(),
        notify: Some("alice@example.net".into()),
        return_path: format!("bounce-{id}@anon.example"),
        held: false,
        hold_reason: None,
        is_report: false,
        recipients: vec![
            Recipient {
                address: "bob@example.test".into(),
                status: RecipientStatus::Deferred,
                attempts: 2,
                next_attempt: Some(later),
                last_error: Some("451 4.3.0 try later".into()),
                report_pending: false,
            },
            Recipient {
                address: "carol@example.org".into(),
                status: RecipientStatus::Delivered,
                attempts: 1,
                next_attempt: None,
                last_error: None,
                report_pending: false,
            },
            Recipient::new("dave@example.org", later),
        ],
        history: vec![leak_store::Attempt {
            at: created + 60,
            recipient: "bob@example.test".into(),
            mx: Some("mx.example.test".into()),
            result: "451 4.3.0 try later".into(),
        }],
        stamped: None,
    }
}

pub async fn enqueue(store: &dyn Store, id: &str, created: u64) {
    store
        .enqueue(message(id, created), vec![b'x'; 1834])
        .await
        .unwrap();
}
