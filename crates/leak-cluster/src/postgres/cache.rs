//! This node's copy of the shared accounts and suppression list, and the
//! task that keeps it current.
//!
//! The task holds one connection of its own (not from the pool), LISTENs
//! on `leak_optouts` and `leak_accounts` (the schema's triggers notify
//! them on every change), then reads both tables whole and marks the copy
//! current. Notifications that arrive meanwhile are applied after the read,
//! in order, so none is lost. Opt-out notifications carry the change;
//! an account notification makes the task read that account again.
//!
//! Before reading, the task checks the consent secret's fingerprint
//! against the one recorded by the first node (`check_secret` in
//! `mod.rs`); on a mismatch the copy is never made current, so the node
//! answers temporary errors rather than check opt-outs under another key,
//! and [`Cache::wait_ready`] reports it (the daemon then refuses to start).
//!
//! The copy is current only while that connection is up (checked every
//! second as well): when it drops, reads of the list fail (RCPT TO answers
//! a temporary error rather than guess) until the task has reconnected and
//! read everything again. Accounts stay readable from the last copy, so
//! AUTH of known accounts goes on.

use super::connection::Connection;
use super::{check_secret, database, migrate};
use crate::ClusterError;
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use leak_accounts::Account;
use leak_store::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::AsyncMessage;

/// Pause between two connection attempts.
const RETRY: Duration = Duration::from_millis(500);
/// How often the LISTEN connection is checked.
const PING: Duration = Duration::from_secs(1);

/// The copy.
#[derive(Default)]
pub(super) struct Cache {
    valid: AtomicBool,
    became_valid: Notify,
    /// Why this node may not use the database (another consent secret).
    refused: RwLock<Option<String>>,
    optouts: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
    accounts: RwLock<HashMap<String, Account>>,
}

impl Cache {
    pub(super) fn is_valid(&self) -> bool {
        self.valid.load(Ordering::Acquire)
    }

    /// Waits (up to `wait`) for the copy to be current: `Ok(false)` when
    /// it is not yet, the refusal when the database is another secret's.
    pub(super) async fn wait_ready(&self, wait: Duration) -> Result<bool, ClusterError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.became_valid.notified();
            if let Some(reason) = self.refusal() {
                return Err(ClusterError::SecretMismatch(reason));
            }
            if self.is_valid() {
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(self.is_valid());
            }
        }
    }

    pub(super) fn refusal(&self) -> Option<String> {
        self.refused
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn refuse(&self, reason: String) {
        *self.refused.write().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.became_valid.notify_waiters();
    }

    /// How many accounts and opt-outs the copy holds.
    pub(super) fn sizes(&self) -> (usize, usize) {
        let accounts = self
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let optouts = self.optouts.read().unwrap_or_else(|e| e.into_inner()).len();
        (accounts, optouts)
    }

    pub(super) fn account(&self, name: &str) -> Option<Account> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn set_optout(&self, key: Vec<u8>, entry: Option<Vec<u8>>) {
        let mut optouts = self.optouts.write().unwrap_or_else(|e| e.into_inner());
        match entry {
            Some(entry) => optouts.insert(key, entry),
            None => optouts.remove(&key),
        };
    }

    fn set_account(&self, name: String, account: Option<Account>) {
        let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        match account {
            Some(account) => accounts.insert(name, account),
            None => accounts.remove(&name),
        };
    }

    /// Applies one notification.
    async fn apply(&self, client: &tokio_postgres::Client, channel: &str, payload: &str) {
        match channel {
            "leak_optouts" => match payload.split_at_checked(1) {
                Some(("+", rest)) => {
                    let (key, entry) = rest.split_once(' ').unwrap_or((rest, ""));
                    if let Ok(key) = hex::decode(key) {
                        self.set_optout(key, Some(entry.as_bytes().to_vec()));
                    }
                }
                Some(("-", key)) => {
                    if let Ok(key) = hex::decode(key) {
                        self.set_optout(key, None);
                    }
                }
                _ => {}
            },
            "leak_accounts" => match read_account(client, payload).await {
                Ok(account) => self.set_account(payload.to_owned(), account),
                // The connection is going: the next one reads everything.
                Err(_) => self.valid.store(false, Ordering::Release),
            },
            _ => {}
        }
    }
}

async fn read_account(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<Option<Account>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT password, notify, aliases FROM leak_accounts WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| Account {
        password: row.get(0),
        notify: row.get(1),
        aliases: row.get(2),
    }))
}

/// Keeps the copy current for as long as the process runs.
pub(super) async fn maintain(connection: Connection, cache: Arc<Cache>, fingerprint: String) {
    // Logged once per outage: when a current copy is lost, or at the first
    // failed attempt after start.
    let mut reported = false;
    loop {
        let outcome = follow(&connection, &cache, &fingerprint).await;
        let was_current = cache.valid.swap(false, Ordering::AcqRel);
        match outcome {
            Err(ClusterError::SecretMismatch(reason)) => {
                if cache.refusal().is_none() {
                    tracing::error!("{reason}");
                }
                cache.refuse(reason);
            }
            outcome if was_current || !reported => {
                let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(%error, "cluster database unreachable: opt-outs and limits answer temporary errors until it is back");
                reported = true;
            }
            _ => {}
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One connection's life: LISTEN, read everything, apply notifications
/// until the connection ends.
async fn follow(
    connection: &Connection,
    cache: &Cache,
    fingerprint: &str,
) -> Result<(), ClusterError> {
    let (mut client, mut connection) = connection
        .config
        .connect(connection.tls.clone())
        .await
        .map_err(database)?;
    let (notes, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(note) = message {
                let _ = notes.send((note.channel().to_owned(), note.payload().to_owned()));
            }
        }
    });
    let result = async {
        migrate(&mut client).await.map_err(database)?;
        check_secret(&client, fingerprint).await?;
        listen(&mut client, cache, &mut received)
            .await
            .map_err(database)
    }
    .await;
    driver.abort();
    result
}

async fn listen(
    client: &mut tokio_postgres::Client,
    cache: &Cache,
    received: &mut mpsc::UnboundedReceiver<(String, String)>,
) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute("LISTEN leak_optouts; LISTEN leak_accounts")
        .await?;
    let optouts = client
        .query("SELECT key, entry FROM leak_optouts", &[])
        .await?
        .into_iter()
        .filter_map(|row| {
            let key = hex::decode(row.get::<_, &str>(0)).ok()?;
            Some((key, row.get::<_, String>(1).into_bytes()))
        })
        .collect();
    let accounts = client
        .query(
            "SELECT name, password, notify, aliases FROM leak_accounts",
            &[],
        )
        .await?
        .into_iter()
        .map(|row| {
            let account = Account {
                password: row.get(1),
                notify: row.get(2),
                aliases: row.get(3),
            };
            (row.get(0), account)
        })
        .collect();
    *cache.optouts.write().unwrap_or_else(|e| e.into_inner()) = optouts;
    *cache.accounts.write().unwrap_or_else(|e| e.into_inner()) = accounts;
    cache.valid.store(true, Ordering::Release);
    cache.became_valid.notify_waiters();
    tracing::info!("cluster database reachable: shared accounts and opt-outs loaded");
    let mut ping = tokio::time::interval(PING);
    loop {
        tokio::select! {
            note = received.recv() => match note {
                Some((channel, payload)) => cache.apply(client, &channel, &payload).await,
                None => return Ok(()),
            },
            _ = ping.tick() => {
                let alive = tokio::time::timeout(PING * 2, client.simple_query("")).await;
                match alive {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Err(error),
                    Err(_) => return Ok(()),
                }
            }
        }
        if !cache.is_valid() {
            return Ok(());
        }
    }
}

/// The shared suppression list as `leak_consent::Suppression` uses it:
/// reads from the copy, writes to the database (and to the copy at once,
/// so this node sees its own change without waiting for the notification).
pub(super) struct OptOuts {
    pub(super) pool: Pool,
    pub(super) cache: Arc<Cache>,
}

fn unavailable() -> StoreError {
    StoreError::Database("the cluster database is unreachable".to_owned())
}

impl OptOuts {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|_| unavailable())
    }
}

#[async_trait::async_trait]
impl leak_consent::SharedList for OptOuts {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.cache.is_valid() {
            return Err(unavailable());
        }
        let optouts = self.cache.optouts.read().unwrap_or_else(|e| e.into_inner());
        Ok(optouts.get(key).cloned())
    }

    async fn insert(&self, key: &[u8], entry: Vec<u8>) -> Result<bool, StoreError> {
        let text = String::from_utf8_lossy(&entry).into_owned();
        let client = self.client().await?;
        let added = client
            .execute(
                "INSERT INTO leak_optouts (key, entry) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&hex::encode(key), &text],
            )
            .await
            .map_err(|e| StoreError::Database(database(e).to_string()))?;
        if added > 0 {
            self.cache.set_optout(key.to_vec(), Some(entry));
        }
        Ok(added > 0)
    }

    async fn remove(&self, key: &[u8]) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM leak_optouts WHERE key = $1",
                &[&hex::encode(key)],
            )
            .await
            .map_err(|e| StoreError::Database(database(e).to_string()))?;
        self.cache.set_optout(key.to_vec(), None);
        Ok(removed > 0)
    }

    fn scan(&self) -> Result<Vec<leak_consent::KeyedEntry>, StoreError> {
        if !self.cache.is_valid() {
            return Err(unavailable());
        }
        let optouts = self.cache.optouts.read().unwrap_or_else(|e| e.into_inner());
        let mut entries: Vec<_> = optouts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entries.sort();
        Ok(entries)
    }
}
