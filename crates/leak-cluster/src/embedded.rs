//! [`Embedded`]: one node's policy state, as leak has always kept it — the
//! users file for accounts, the sled store's `suppression` tree for the
//! list (`leak_consent::Suppression` reads it directly, so [`opt_outs`] is
//! `None`) and its `rate` tree for the counters.
//!
//! # Counting
//!
//! A slot is reserved in memory (check and increment under one lock, so
//! concurrent sessions can never all see the last free slot) and written to
//! the store only when the message is stored ([`commit`]). The table holds,
//! per key, the durable count read the first time the key is used in this
//! process plus every reservation since. This process is the only writer
//! of the `rate` tree, so the table stays exact; after a restart it is
//! rebuilt from the durable counts, and reservations of transactions that
//! died with the old process are gone with them.
//!
//! [`opt_outs`]: PolicyStore::opt_outs
//! [`commit`]: PolicyStore::commit

use crate::counters::is_stale;
use crate::{ClusterError, Counter, PolicyStore};
use leak_accounts::{Account, AccountsError, Users};
use leak_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

const TREE: &str = "rate";

/// Accounts from the users file, counters in this node's store.
pub struct Embedded {
    store: Arc<dyn Store>,
    users_file: PathBuf,
    users: RwLock<Arc<Users>>,
    table: Mutex<HashMap<String, u64>>,
}

impl Embedded {
    /// Reads the users file (a missing file is no accounts).
    pub fn open(store: Arc<dyn Store>, users_file: PathBuf) -> Result<Embedded, ClusterError> {
        let users = Users::load(&users_file)?;
        Ok(Embedded {
            store,
            users_file,
            users: RwLock::new(Arc::new(users)),
            table: Mutex::default(),
        })
    }

    /// The counters of `store` whose window is open at `now`, with their
    /// durable counts (what `leak cluster import` carries).
    pub fn live_counters(store: &dyn Store, now: u64) -> Result<Vec<(Counter, u64)>, ClusterError> {
        let mut live = Vec::new();
        for (key, value) in store.kv_scan(TREE)? {
            let count = <[u8; 8]>::try_from(value.as_slice()).map(u64::from_be_bytes);
            if let (Some(counter), Ok(count)) = (Counter::live(&key, now), count) {
                live.push((counter, count));
            }
        }
        Ok(live)
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn durable(&self, key: &str) -> Result<u64, ClusterError> {
        Ok(self
            .store
            .kv_get(TREE, key.as_bytes())?
            .and_then(|value| value.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Changes the users file (and this process's copy of it).
    fn edit(
        &self,
        change: impl FnOnce(&mut Users) -> Result<(), AccountsError>,
    ) -> Result<(), ClusterError> {
        let mut users = Users::load(&self.users_file)?;
        change(&mut users)?;
        users.save(&self.users_file)?;
        self.replace_users(users);
        Ok(())
    }
}

#[async_trait::async_trait]
impl PolicyStore for Embedded {
    async fn reserve(&self, counter: &Counter, limit: u64) -> Result<bool, ClusterError> {
        let mut table = self.table();
        let count = match table.get_mut(&counter.key) {
            Some(count) => count,
            None => {
                let durable = self.durable(&counter.key)?;
                table.entry(counter.key.clone()).or_insert(durable)
            }
        };
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    /// A key back at zero is forgotten (the store holds nothing for it
    /// either), so that RCPT TO to ever new addresses followed by RSET
    /// cannot grow the table.
    fn release(&self, counter: &Counter) {
        let mut table = self.table();
        if let Some(count) = table.get_mut(&counter.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(&counter.key);
            }
        }
    }

    /// The increments are issued together so the store commits them in
    /// one group (with the message itself, when the caller runs this beside
    /// `enqueue`). Should the store fail, the in-memory counts keep them.
    async fn commit(&self, counters: Vec<Counter>) -> Result<(), ClusterError> {
        let mut increments = tokio::task::JoinSet::new();
        for counter in counters {
            let store = self.store.clone();
            increments.spawn(async move { store.kv_add(TREE, counter.key.as_bytes(), 1).await });
        }
        while let Some(done) = increments.join_next().await {
            done.map_err(|e| ClusterError::Database(e.to_string()))??;
        }
        Ok(())
    }

    async fn prune(&self, now: u64) -> Result<usize, ClusterError> {
        self.table().retain(|key, _| !is_stale(key.as_bytes(), now));
        let mut removed = 0;
        for (key, _) in self.store.kv_scan(TREE)? {
            if is_stale(&key, now) {
                self.store.kv_remove(TREE, &key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn account(&self, name: &str) -> Result<Option<Account>, ClusterError> {
        Ok(self.users().users.get(name).cloned())
    }

    async fn accounts(&self) -> Result<Users, ClusterError> {
        Ok(Users::load(&self.users_file)?)
    }

    async fn add_account(&self, name: &str, account: Account) -> Result<(), ClusterError> {
        self.edit(|users| match users.users.contains_key(name) {
            true => Err(AccountsError::Exists(name.to_owned())),
            false => {
                users.users.insert(name.to_owned(), account);
                Ok(())
            }
        })
    }

    async fn remove_account(&self, name: &str) -> Result<(), ClusterError> {
        self.edit(|users| users.remove(name))
    }

    fn replace_users(&self, users: Users) {
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
    }

    fn opt_outs(&self) -> Option<Arc<dyn leak_consent::SharedList>> {
        None
    }

    fn health(&self) -> String {
        "embedded (this node's store and users file)".to_owned()
    }
}
