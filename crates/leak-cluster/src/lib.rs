//! leak-cluster: the policy state that must hold across nodes — submission
//! accounts, the opt-out/suppression list and the rate counters — behind
//! one trait, [`PolicyStore`], with two implementations:
//!
//! - [`Embedded`] (the default, one node): the users file and this node's
//!   sled store, exactly as a single node has always kept them.
//! - [`Postgres`] (`[cluster] database = "postgres://…"`): one PostgreSQL
//!   shared by every node, with a per-node copy of the accounts and of the
//!   list kept current by LISTEN/NOTIFY, and counters reserved by one SQL
//!   upsert each so that limits are exact across nodes.
//!
//! What is *not* here: the message queue. Each node keeps what it accepted
//! in its own store and delivers it itself.
//!
//! # Layout
//!
//! - `counters.rs`: [`Counter`], the key of one counter window (shared by
//!   both implementations, so `leak cluster import` and pruning agree).
//! - `embedded.rs`: [`Embedded`].
//! - `postgres/`: [`Postgres`]: `mod.rs` (pool, migrations, counters,
//!   accounts, the consent-secret check, `import`), `cache.rs` (the
//!   per-node copy and its LISTEN connection), `connection.rs` (the URL
//!   with libpq's `sslmode`/`sslrootcert`, and the rustls connector both
//!   use).
//! - `migrations/*.sql`: the schema, applied at start in one transaction
//!   and recorded in `leak_schema_version`.

mod counters;
mod embedded;
mod postgres;

pub use counters::Counter;
pub use embedded::Embedded;
pub use postgres::{check_url, import, Import, Imported, Postgres};

use leak_accounts::{Account, Users};
use std::sync::Arc;

/// Why the shared state could not be read or changed. The daemon answers
/// SMTP clients a temporary error for these and logs the detail.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("store: {0}")]
    Store(#[from] leak_store::StoreError),
    #[error("accounts: {0}")]
    Accounts(#[from] leak_accounts::AccountsError),
    #[error("cluster database unavailable: {0}")]
    Unavailable(String),
    #[error("cluster database: {0}")]
    Database(String),
    /// `[cluster] database` cannot be used as written (never repeats the
    /// URL, which may hold the password).
    #[error("cluster.database: {0}")]
    Config(String),
    /// The database belongs to nodes with another consent secret.
    #[error("{0}")]
    SecretMismatch(String),
}

/// The shared policy state, as the daemon and the CLI use it.
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync {
    /// Reserves one slot of `counter` if fewer than `limit` are taken:
    /// check and increment in one atomic step. `false` when full.
    async fn reserve(&self, counter: &Counter, limit: u64) -> Result<bool, ClusterError>;
    /// Gives a reserved slot back (a transaction that ends without a
    /// message). Synchronous because it runs from `Drop`; a shared store
    /// does the work in a task, and if that fails the slot stays counted
    /// (limits err on the safe side).
    fn release(&self, counter: &Counter);
    /// Makes reservations durable (the message was stored).
    async fn commit(&self, counters: Vec<Counter>) -> Result<(), ClusterError>;
    /// Forgets windows that are over; how many were removed.
    async fn prune(&self, now: u64) -> Result<usize, ClusterError>;

    /// The account `name` (hash, notify address, aliases), if it exists.
    async fn account(&self, name: &str) -> Result<Option<Account>, ClusterError>;
    /// Every account.
    async fn accounts(&self) -> Result<Users, ClusterError>;
    /// Adds an account (the password already hashed, see `leak_accounts`).
    async fn add_account(&self, name: &str, account: Account) -> Result<(), ClusterError>;
    /// Removes an account.
    async fn remove_account(&self, name: &str) -> Result<(), ClusterError>;
    /// A reloaded users file (embedded only; a shared store ignores it).
    fn replace_users(&self, _users: Users) {}

    /// The shared suppression list, for `leak_consent::Suppression`;
    /// `None` when the list is this node's own store.
    fn opt_outs(&self) -> Option<Arc<dyn leak_consent::SharedList>>;
    /// One line for `leak status`. Cheap (no query): a shared store answers
    /// from the state of its LISTEN connection.
    fn health(&self) -> String;
}
