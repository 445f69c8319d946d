//! [`SledStore`]: the [`Store`] over sled (envelopes, kv records) and segment
//! files (bodies). Reads run on the caller's thread straight from sled and the
//! segment files; every mutation goes through the writer thread (`writer.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::damage::{kv_record_name, Damage};
use crate::private;
use crate::record::{self, BodyRef};
use crate::segments::{self, Segments};
use crate::stats::{Stats, StoreStats};
use crate::writer::{Op, Pending, Reply, Writer};
use crate::{
    DamagedRecord, MessageChange, QueuedMessage, Result, Settled, Store, StoreError, LIST_PAGE,
};

/// The sled tree holding envelopes, keyed by message id.
const ENVELOPES_TREE: &str = "envelopes";

/// Tries at opening sled while another handle's lock is being released (50 ms apart).
const LOCK_ATTEMPTS: u32 = 60;

/// Longest message id accepted (ids are written into body records with a one-byte length).
const MAX_ID_LEN: usize = 64;

/// Tuning for [`SledStore::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A segment file is closed once it grows past this many bytes. Smaller
    /// segments give disk space back sooner; larger ones mean fewer files.
    pub segment_size: u64,
    /// Bytes of sled's page cache (envelopes and kv records only). The
    /// default, 32 MB, holds tens of thousands of envelopes; sled keeps more than
    /// this in memory once the whole tree has been walked (see
    /// `examples/queue_memory.rs`), so a larger cache buys little.
    pub cache_capacity: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_size: 64 * 1024 * 1024,
            cache_capacity: 32 * 1024 * 1024,
        }
    }
}

/// State shared by the readers (any thread) and the writer thread.
pub(crate) struct Shared {
    pub(crate) db: sled::Db,
    /// sled's log file (`db/db`), opened again by us: on Linux `Db::flush`
    /// only issues `sync_file_range`, which persists neither the file's size
    /// nor the disk's write cache, so every flush is followed by an
    /// fdatasync through this handle (what sled's own periodic flusher does).
    pub(crate) db_log: File,
    pub(crate) envelopes: sled::Tree,
    pub(crate) segments_dir: PathBuf,
    /// Messages inserted into sled but not yet flushed: readers skip them.
    pub(crate) pending: Mutex<Pending>,
    pub(crate) damage: Damage,
    pub(crate) stats: Arc<Stats>,
}

pub(crate) fn db_error(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(e) => StoreError::Io(e),
        other => StoreError::Database(other.to_string()),
    }
}

impl Shared {
    /// Makes every sled change so far durable.
    pub(crate) fn flush_db(&self) -> Result<()> {
        self.db.flush().map_err(db_error)?;
        self.db_log.sync_data()?;
        self.stats.count_db_flush();
        Ok(())
    }

    pub(crate) fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_pending(&self, id: &str) -> bool {
        self.lock_pending().contains(id)
    }

    /// Decodes an envelope, reporting it if damaged.
    pub(crate) fn decode_envelope(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(BodyRef, QueuedMessage)> {
        record::decode_envelope(bytes).map_err(|reason| self.damaged(id.to_string(), reason))
    }

    /// Reports a damaged record and makes the matching error.
    fn damaged(&self, key: String, reason: String) -> StoreError {
        self.damage.report(&key, &reason);
        StoreError::Damaged { key, reason }
    }

    pub(crate) fn kv_tree(&self, tree: &str) -> Result<sled::Tree> {
        self.db.open_tree(format!("kv.{tree}")).map_err(db_error)
    }

    /// Checks a kv value, reporting it if damaged.
    pub(crate) fn unseal_kv(&self, tree: &str, key: &[u8], bytes: &[u8]) -> Result<Vec<u8>> {
        record::unseal(bytes)
            .map(<[u8]>::to_vec)
            .map_err(|reason| self.damaged(kv_record_name(tree, key), reason))
    }

    /// A durable envelope, if there is one (a message still being enqueued is not).
    fn durable_envelope(&self, id: &str) -> Result<Option<(BodyRef, QueuedMessage)>> {
        let Some(bytes) = self.envelopes.get(id.as_bytes()).map_err(db_error)? else {
            return Ok(None);
        };
        // Checked after the read: an envelope read before its flush finished is
        // still in `pending` now.
        if self.is_pending(id) {
            return Ok(None);
        }
        self.decode_envelope(id, &bytes).map(Some)
    }

    /// Rebuilds the per-segment reference counts and reports envelopes whose
    /// body's segment is missing or too short.
    fn scan_references(&self, existing: &BTreeMap<u64, u64>) -> Result<HashMap<u64, u64>> {
        let mut refs = HashMap::new();
        for item in self.envelopes.iter() {
            let (key, value) = item.map_err(db_error)?;
            let id = String::from_utf8_lossy(&key);
            let Ok((at, _)) = self.decode_envelope(&id, &value) else {
                continue;
            };
            *refs.entry(at.segment).or_insert(0u64) += 1;
            let reason = match existing.get(&at.segment) {
                None => format!("body missing: segment {:016x} is gone", at.segment),
                Some(&len) if len < at.offset.saturating_add(at.len) => {
                    format!("body missing: segment {:016x} is too short", at.segment)
                }
                Some(_) => continue,
            };
            self.damage.report(&id, &reason);
        }
        Ok(refs)
    }
}

/// The durable queue: envelopes and kv records in sled under `<data_dir>/db`,
/// bodies in segment files under `<data_dir>/segments`, every mutation group
/// committed by one writer thread. Dropping it finishes the requests already
/// sent and closes the database, so the directory can be opened again.
///
/// Specifics of this implementation:
/// - `enqueue` sets `message.size` to the body's length, and refuses an id
///   that is already queued or is not 1 to 64 printable ASCII characters.
/// - `modify` runs its closure on the writer thread, which is what makes it
///   atomic: keep it short, and never wait on the store from inside it.
/// - an envelope whose body is missing or damaged stays listed (operators see
///   it, and can remove it) while `body` reports it `Damaged`.
/// - the reads (`get`, `list`, `body`, `kv_*`) do blocking disk I/O on the
///   caller's thread; they are quick, but `body` of a large message reads it whole.
pub struct SledStore {
    shared: Arc<Shared>,
    /// `None` only while dropping.
    requests: Option<Sender<Op>>,
    writer: Option<JoinHandle<()>>,
}

impl SledStore {
    /// Opens (or creates) the store in `data_dir` with default options.
    /// Damaged records are reported through [`Store::damaged`], never fatal.
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(data_dir: &Path) -> Result<SledStore> {
        SledStore::open_with(data_dir, StoreOptions::default())
    }

    /// Opens (or creates) the store in `data_dir`.
    pub fn open_with(data_dir: &Path, options: StoreOptions) -> Result<SledStore> {
        private::private_dir(data_dir)?;
        let segments_dir = data_dir.join("segments");
        if !segments_dir.is_dir() {
            private::private_dir(&segments_dir)?;
            File::open(data_dir)?.sync_all()?;
        }
        let db = open_db(data_dir, &options)?;
        // sled's files follow the umask: make sure none is open to others.
        private::tighten_tree(data_dir)?;
        let envelopes = db.open_tree(ENVELOPES_TREE).map_err(db_error)?;
        let db_log = File::open(data_dir.join("db").join("db"))?;
        let shared = Arc::new(Shared {
            db,
            db_log,
            envelopes,
            segments_dir: segments_dir.clone(),
            pending: Mutex::default(),
            damage: Damage::default(),
            stats: Arc::default(),
        });
        let existing = segments::list_segments(&segments_dir)?;
        let refs = shared.scan_references(&existing)?;
        let segments = Segments::open(
            segments_dir,
            options.segment_size.max(1),
            refs,
            &existing,
            shared.stats.clone(),
        )?;
        let (requests, receiver) = mpsc::channel();
        let writer = Writer::spawn(shared.clone(), segments, receiver)?;
        Ok(SledStore {
            shared,
            requests: Some(requests),
            writer: Some(writer),
        })
    }

    /// Write counters since opening: shows how well group commit batches.
    pub fn stats(&self) -> StoreStats {
        self.shared.stats.snapshot()
    }

    /// Sends one request to the writer and waits for its answer.
    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> Result<T> {
        let stopped = || StoreError::Database("the store writer has stopped".to_string());
        let (reply, answer) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(stopped)?
            .send(make(reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the store writer thread panicked");
            }
        }
    }
}

/// Opens sled, waiting a little if its lock is still held: sled's background
/// threads release the lock a moment after a handle in this process is
/// dropped, so closing and reopening a store would otherwise fail at random.
/// Another process holding the data directory still fails after the wait.
fn open_db(data_dir: &Path, options: &StoreOptions) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(data_dir.join("db"))
        .cache_capacity(options.cache_capacity)
        .flush_every_ms(None);
    let mut attempts = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                attempts += 1;
                if attempts >= LOCK_ATTEMPTS {
                    return Err(StoreError::Io(e));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            opened => return opened.map_err(db_error),
        }
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Database(format!(
            "invalid message id {id:?}: 1 to {MAX_ID_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}

#[async_trait]
impl Store for SledStore {
    /// Also sets `message.size` to the body's length.
    async fn enqueue(&self, mut message: QueuedMessage, body: Vec<u8>) -> Result<()> {
        check_id(&message.id)?;
        message.size = body.len() as u64;
        self.request(|reply| Op::Enqueue {
            message,
            body,
            reply,
        })
        .await
    }

    async fn update(&self, message: &QueuedMessage) -> Result<()> {
        let message = message.clone();
        self.request(|reply| Op::Update { message, reply }).await
    }

    async fn modify(&self, id: &str, change: MessageChange) -> Result<QueuedMessage> {
        let id = id.to_string();
        self.request(|reply| Op::Modify { id, change, reply }).await
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.request(|reply| Op::Remove { id, reply }).await
    }

    async fn modify_or_remove(&self, id: &str, change: MessageChange) -> Result<Settled> {
        let id = id.to_string();
        self.request(|reply| Op::ModifyOrRemove { id, change, reply })
            .await
    }

    fn get(&self, id: &str) -> Result<Option<QueuedMessage>> {
        Ok(self
            .shared
            .durable_envelope(id)?
            .map(|(_, message)| message))
    }

    fn page(&self, after: Option<&str>, limit: usize) -> Result<Vec<QueuedMessage>> {
        let range = match after {
            Some(after) => self
                .shared
                .envelopes
                .range::<&[u8], _>((Bound::Excluded(after.as_bytes()), Bound::Unbounded)),
            None => self.shared.envelopes.iter(),
        };
        let mut messages = Vec::with_capacity(limit.min(LIST_PAGE));
        for item in range {
            if messages.len() == limit {
                break;
            }
            let (key, value) = item.map_err(db_error)?;
            let id = String::from_utf8_lossy(&key);
            // Pending is checked after the read, as in `durable_envelope`.
            if let Ok((_, message)) = self.shared.decode_envelope(&id, &value) {
                if !self.shared.is_pending(&id) {
                    messages.push(message);
                }
            }
        }
        Ok(messages)
    }

    fn body(&self, id: &str) -> Result<Vec<u8>> {
        let (at, _) = self
            .shared
            .durable_envelope(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let record = match segments::read_record(&self.shared.segments_dir, &at) {
            Ok(record) => record,
            // Removed meanwhile (and its segment deleted): not damage.
            Err(_) if self.shared.durable_envelope(id)?.is_none() => {
                return Err(StoreError::NotFound(id.to_string()))
            }
            Err(e) => {
                let reason = format!("body unreadable in segment {:016x}: {e}", at.segment);
                return Err(self.shared.damaged(id.to_string(), reason));
            }
        };
        record::decode_body(record, id, &at).map_err(|reason| {
            self.shared
                .damaged(id.to_string(), format!("body: {reason}"))
        })
    }

    fn damaged(&self) -> Vec<DamagedRecord> {
        self.shared.damage.list()
    }

    fn kv_get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.shared.kv_tree(tree)?.get(key).map_err(db_error)? {
            None => Ok(None),
            Some(bytes) => self.shared.unseal_kv(tree, key, &bytes).map(Some),
        }
    }

    async fn kv_put(&self, tree: &str, key: &[u8], value: Vec<u8>) -> Result<()> {
        let (tree, key) = (tree.to_string(), key.to_vec());
        self.request(|reply| Op::KvPut {
            tree,
            key,
            value,
            reply,
        })
        .await
    }

    async fn kv_remove(&self, tree: &str, key: &[u8]) -> Result<bool> {
        let (tree, key) = (tree.to_string(), key.to_vec());
        self.request(|reply| Op::KvRemove { tree, key, reply })
            .await
    }

    fn kv_scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut records = Vec::new();
        for item in self.shared.kv_tree(tree)?.iter() {
            let (key, value) = item.map_err(db_error)?;
            if let Ok(value) = self.shared.unseal_kv(tree, &key, &value) {
                records.push((key.to_vec(), value));
            }
        }
        Ok(records)
    }

    async fn kv_add(&self, tree: &str, key: &[u8], delta: u64) -> Result<u64> {
        let (tree, key) = (tree.to_string(), key.to_vec());
        self.request(|reply| Op::KvAdd {
            tree,
            key,
            delta,
            reply,
        })
        .await
    }

    async fn flush(&self) -> Result<()> {
        self.request(|reply| Op::Flush { reply }).await
    }
}
