//! [`Postgres`]: the policy state of a cluster in one PostgreSQL database.
//!
//! - Counters: one statement per reservation (`INSERT … ON CONFLICT … DO
//!   UPDATE … WHERE count < limit RETURNING`), so two nodes can never both
//!   take the last slot; rows are keyed by their window, so they survive
//!   restarts. A reservation is durable at once; giving it back is an
//!   `UPDATE … count - 1` (`commit` has nothing left to do).
//! - Accounts and the suppression list: read from the per-node copy in
//!   `cache.rs` (kept current by LISTEN/NOTIFY), written straight to the
//!   database (the triggers of the schema tell every node).
//! - Migrations: `migrations/*.sql`, applied in one transaction under an
//!   advisory lock (two nodes starting together apply them once) and
//!   recorded in `leak_schema_version`.
//!
//! Connections are plain TCP (`NoTls`): TLS to the database is not built
//! in yet; run PostgreSQL on a private network or the same host, or
//! through a TLS tunnel (documented in docs/operations.md).

mod cache;

use crate::{ClusterError, Counter, PolicyStore};
use cache::Cache;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use leak_accounts::{Account, AccountsError, Users};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// The schema, in order; each applied once.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../../migrations/0001_policy.sql"))];

/// How long a submission waits for the database before answering a
/// temporary error.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of connections to the cluster's database and this node's copy of
/// its accounts and suppression list.
pub struct Postgres {
    pool: Pool,
    cache: Arc<Cache>,
    config: tokio_postgres::Config,
}

impl Postgres {
    /// A pool for `url` (`postgres://user:password@host:port/db`); connects
    /// lazily. The per-node copy stays empty until [`Postgres::start`].
    pub fn new(url: &str) -> Result<Postgres, ClusterError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| ClusterError::Database(e.to_string()))?;
        config
            .connect_timeout(TIMEOUT)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("leak");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
            .build()
            .map_err(|e| ClusterError::Database(e.to_string()))?;
        Ok(Postgres {
            pool,
            cache: Arc::default(),
            config,
        })
    }

    /// The pool plus the task that keeps this node's copy current
    /// (reconnecting for as long as the process runs): the daemon's store.
    pub fn start(url: &str) -> Result<Arc<Postgres>, ClusterError> {
        let postgres = Arc::new(Postgres::new(url)?);
        tokio::spawn(cache::maintain(
            postgres.config.clone(),
            postgres.cache.clone(),
        ));
        Ok(postgres)
    }

    /// Waits (up to `wait`) for the first copy of the shared state; `false`
    /// when the database did not answer in time (the daemon starts anyway
    /// and answers temporary errors until it does).
    pub async fn wait_ready(&self, wait: Duration) -> bool {
        self.cache.wait_valid(wait).await
    }

    /// Applies the migrations not applied yet (the CLI; the daemon does it
    /// at each connection of its LISTEN task).
    pub async fn migrate(&self) -> Result<(), ClusterError> {
        let mut client = self.client().await?;
        migrate(&mut client).await.map_err(database)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ClusterError> {
        self.pool
            .get()
            .await
            .map_err(|e| ClusterError::Unavailable(e.to_string()))
    }

    /// Reads one account from the database.
    async fn fetch_account(&self, name: &str) -> Result<Option<Account>, ClusterError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT password, notify, aliases FROM leak_accounts WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(database)?;
        Ok(row.map(|row| Account {
            password: row.get(0),
            notify: row.get(1),
            aliases: row.get(2),
        }))
    }
}

/// Applies the pending migrations in one transaction.
pub(crate) async fn migrate(
    client: &mut tokio_postgres::Client,
) -> Result<(), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(
            "SELECT pg_advisory_xact_lock(7130562);
             CREATE TABLE IF NOT EXISTS leak_schema_version (
                 version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let applied: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM leak_schema_version",
            &[],
        )
        .await?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        transaction.batch_execute(sql).await?;
        transaction
            .execute(
                "INSERT INTO leak_schema_version (version) VALUES ($1)",
                &[version],
            )
            .await?;
    }
    transaction.commit().await
}

fn database(error: tokio_postgres::Error) -> ClusterError {
    if error.is_closed() {
        ClusterError::Unavailable(error.to_string())
    } else {
        ClusterError::Database(error.to_string())
    }
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl PolicyStore for Postgres {
    async fn reserve(&self, counter: &Counter, limit: u64) -> Result<bool, ClusterError> {
        if limit == 0 {
            return Ok(false);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO leak_counters (key, count, expires) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET count = leak_counters.count + 1
                 WHERE leak_counters.count < $3
                 RETURNING count",
                &[&counter.key, &signed(counter.expires), &signed(limit)],
            )
            .await
            .map_err(database)?;
        Ok(row.is_some())
    }

    fn release(&self, counter: &Counter) {
        let (pool, key) = (self.pool.clone(), counter.key.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let released = async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                client
                    .execute(
                        "UPDATE leak_counters SET count = count - 1 WHERE key = $1 AND count > 0",
                        &[&key],
                    )
                    .await
                    .map_err(|e| e.to_string())
            };
            if let Err(error) = released.await {
                tracing::warn!(%error, "a rate slot could not be given back; it stays counted");
            }
        });
    }

    async fn commit(&self, _counters: Vec<Counter>) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn prune(&self, now: u64) -> Result<usize, ClusterError> {
        let client = self.client().await?;
        let removed = client
            .execute(
                "DELETE FROM leak_counters WHERE expires <= $1",
                &[&signed(now)],
            )
            .await
            .map_err(database)?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    /// From this node's copy when it is current; else from the database;
    /// with the database unreachable, the last copy known (so AUTH keeps
    /// working for known accounts), else the error.
    async fn account(&self, name: &str) -> Result<Option<Account>, ClusterError> {
        if self.cache.is_valid() {
            return Ok(self.cache.account(name));
        }
        match self.fetch_account(name).await {
            Ok(account) => Ok(account),
            Err(error) => match self.cache.account(name) {
                Some(account) => Ok(Some(account)),
                None => Err(error),
            },
        }
    }

    async fn accounts(&self) -> Result<Users, ClusterError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, password, notify, aliases FROM leak_accounts ORDER BY name",
                &[],
            )
            .await
            .map_err(database)?;
        let mut users = Users::default();
        for row in rows {
            let account = Account {
                password: row.get(1),
                notify: row.get(2),
                aliases: row.get(3),
            };
            users.users.insert(row.get(0), account);
        }
        Ok(users)
    }

    async fn add_account(&self, name: &str, account: Account) -> Result<(), ClusterError> {
        let client = self.client().await?;
        let added = client
            .execute(
                "INSERT INTO leak_accounts (name, password, notify, aliases)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                &[&name, &account.password, &account.notify, &account.aliases],
            )
            .await
            .map_err(database)?;
        match added {
            0 => Err(AccountsError::Exists(name.to_owned()).into()),
            _ => Ok(()),
        }
    }

    async fn remove_account(&self, name: &str) -> Result<(), ClusterError> {
        let client = self.client().await?;
        let removed = client
            .execute("DELETE FROM leak_accounts WHERE name = $1", &[&name])
            .await
            .map_err(database)?;
        match removed {
            0 => Err(AccountsError::NotFound(name.to_owned()).into()),
            _ => Ok(()),
        }
    }

    fn opt_outs(&self) -> Option<Arc<dyn leak_consent::SharedList>> {
        Some(Arc::new(cache::OptOuts {
            pool: self.pool.clone(),
            cache: self.cache.clone(),
        }))
    }

    fn health(&self) -> String {
        let (accounts, optouts) = self.cache.sizes();
        match self.cache.is_valid() {
            true => format!(
                "postgresql, reachable ({accounts} accounts, {optouts} opt-outs in this node's copy)"
            ),
            false => format!(
                "postgresql, UNREACHABLE: opt-outs and limits answer 451 4.3.0; \
                 AUTH uses this node's copy ({accounts} accounts)"
            ),
        }
    }
}

/// Copies accounts and opt-outs into the database, keeping what is there
/// (`leak cluster import`; running it twice changes nothing). Returns how
/// many accounts and entries were new.
pub async fn import(
    postgres: &Postgres,
    users: &Users,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Result<(u64, u64), ClusterError> {
    let mut client = postgres.client().await?;
    let transaction = client.transaction().await.map_err(database)?;
    let mut accounts = 0;
    for (name, account) in &users.users {
        accounts += transaction
            .execute(
                "INSERT INTO leak_accounts (name, password, notify, aliases)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                &[name, &account.password, &account.notify, &account.aliases],
            )
            .await
            .map_err(database)?;
    }
    let mut optouts = 0;
    for (key, entry) in entries {
        let entry = String::from_utf8_lossy(entry);
        optouts += transaction
            .execute(
                "INSERT INTO leak_optouts (key, entry) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&hex::encode(key), &entry],
            )
            .await
            .map_err(database)?;
    }
    transaction.commit().await.map_err(database)?;
    Ok((accounts, optouts))
}
