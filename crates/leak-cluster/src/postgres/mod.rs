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
//! - The consent secret: every node must key opt-outs with the same one.
//!   The first node (or `leak cluster import`) records a keyed fingerprint
//!   of it in `leak_settings` ([`check_secret`]); a node with another
//!   secret never makes its copy current and refuses to start.
//! - Migrations: `migrations/*.sql`, applied in one transaction under an
//!   advisory lock (two nodes starting together apply them once) and
//!   recorded in `leak_schema_version`.
//!
//! - Connections: `connection.rs` reads the URL with libpq's `sslmode` and
//!   `sslrootcert` and gives the pool and the LISTEN connection the same
//!   rustls connector.

mod cache;
mod connection;

use crate::{ClusterError, Counter, PolicyStore};
use cache::Cache;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use leak_accounts::{Account, AccountsError, Users};
use std::sync::Arc;
use std::time::Duration;

use connection::Connection;

/// The schema, in order; each applied once.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_policy.sql")),
    (2, include_str!("../../migrations/0002_settings.sql")),
];

/// The `leak_settings` row of the consent secret's fingerprint.
const SECRET_SETTING: &str = "consent_secret";

/// How long a submission waits for the database before answering a
/// temporary error.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of connections to the cluster's database and this node's copy of
/// its accounts and suppression list.
pub struct Postgres {
    pool: Pool,
    cache: Arc<Cache>,
    connection: Connection,
}

impl Postgres {
    /// A pool for `url` (`postgres://user:password@host:port/db`, with
    /// libpq's `sslmode` and `sslrootcert`); connects lazily. The per-node
    /// copy stays empty until [`Postgres::start`].
    pub fn new(url: &str) -> Result<Postgres, ClusterError> {
        let mut connection = Connection::parse(url)?;
        connection
            .config
            .connect_timeout(TIMEOUT)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("leak");
        let manager = Manager::from_config(
            connection.config.clone(),
            connection.tls.clone(),
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
            connection,
        })
    }

    /// The pool plus the task that keeps this node's copy current
    /// (reconnecting for as long as the process runs): the daemon's store.
    /// `fingerprint` is `leak_consent::Secret::fingerprint` of this node's
    /// consent secret.
    pub fn start(url: &str, fingerprint: String) -> Result<Arc<Postgres>, ClusterError> {
        let postgres = Arc::new(Postgres::new(url)?);
        tokio::spawn(cache::maintain(
            postgres.connection.clone(),
            postgres.cache.clone(),
            fingerprint,
        ));
        Ok(postgres)
    }

    /// Waits (up to `wait`) for the first copy of the shared state; `false`
    /// when the database did not answer in time (the daemon starts anyway
    /// and answers temporary errors until it does);
    /// [`ClusterError::SecretMismatch`] when the database belongs to nodes
    /// with another consent secret.
    pub async fn wait_ready(&self, wait: Duration) -> Result<bool, ClusterError> {
        self.cache.wait_ready(wait).await
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
            .map_err(|e| ClusterError::Unavailable(detail(&e)))
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

/// Whether `url` can be used (`leak check-config`): its options are known
/// and the root certificates it names load. Does not connect.
pub fn check_url(url: &str) -> Result<(), ClusterError> {
    Connection::parse(url).map(|_| ())
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

/// Records `fingerprint` (of the consent secret) if no node did yet, and
/// refuses when another was recorded.
pub(crate) async fn check_secret(
    client: &impl tokio_postgres::GenericClient,
    fingerprint: &str,
) -> Result<(), ClusterError> {
    client
        .execute(
            "INSERT INTO leak_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&SECRET_SETTING, &fingerprint],
        )
        .await
        .map_err(database)?;
    let recorded: String = client
        .query_one(
            "SELECT value FROM leak_settings WHERE name = $1",
            &[&SECRET_SETTING],
        )
        .await
        .map_err(database)?
        .get(0);
    match recorded == fingerprint {
        true => Ok(()),
        false => Err(ClusterError::SecretMismatch(
            "this node's consent secret is not the one the cluster's database was first used \
             with (their keyed fingerprints differ): every node must use the same secret file \
             (copy it from a node of the cluster); not using the database"
                .to_owned(),
        )),
    }
}

fn database(error: tokio_postgres::Error) -> ClusterError {
    if error.is_closed() {
        ClusterError::Unavailable(detail(&error))
    } else {
        ClusterError::Database(detail(&error))
    }
}

/// An error with its causes ("db error: FATAL: no pg_hba.conf entry …",
/// "error performing TLS handshake: invalid peer certificate: …"): the top
/// of a tokio-postgres or pool error alone says too little to act on.
/// None of them holds the password.
pub(crate) fn detail(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let part = error.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        cause = error.source();
    }
    text
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
                let client = pool.get().await.map_err(|e| detail(&e))?;
                client
                    .execute(
                        "UPDATE leak_counters SET count = count - 1 WHERE key = $1 AND count > 0",
                        &[&key],
                    )
                    .await
                    .map_err(|e| detail(&e))
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
        let tls = self.connection.summary;
        if let Some(reason) = self.cache.refusal() {
            return format!("postgresql, REFUSED: {reason}");
        }
        match self.cache.is_valid() {
            true => format!(
                "postgresql, reachable ({accounts} accounts, {optouts} opt-outs in this node's copy; {tls})"
            ),
            false => format!(
                "postgresql, UNREACHABLE: opt-outs and limits answer 451 4.3.0; \
                 AUTH uses this node's copy ({accounts} accounts; {tls})"
            ),
        }
    }
}

/// What one node brings into the database (`leak cluster import`).
pub struct Import<'a> {
    pub users: &'a Users,
    /// The suppression entries, keyed under the node's consent secret.
    pub entries: &'a [(Vec<u8>, Vec<u8>)],
    /// The node's rate counters whose window is still open.
    pub counters: &'a [(Counter, u64)],
    /// `leak_consent::Secret::fingerprint` of the node's consent secret.
    pub fingerprint: &'a str,
}

/// How many rows were new (accounts, opt-outs) or carried (counters).
#[derive(Debug, PartialEq, Eq)]
pub struct Imported {
    pub accounts: u64,
    pub optouts: u64,
    pub counters: u64,
}

/// Copies accounts, opt-outs and open counter windows into the database in
/// one transaction, keeping what is there: an account or entry already
/// present is left alone; a counter keeps the larger of the two counts
/// (so running it twice changes nothing, and a limit is never loosened).
/// Refused when the database was first used with another consent secret.
pub async fn import(postgres: &Postgres, node: Import<'_>) -> Result<Imported, ClusterError> {
    let mut client = postgres.client().await?;
    let transaction = client.transaction().await.map_err(database)?;
    check_secret(&*transaction, node.fingerprint).await?;
    let (users, entries) = (node.users, node.entries);
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
    let mut counters = 0;
    for (counter, count) in node.counters {
        counters += transaction
            .execute(
                "INSERT INTO leak_counters (key, count, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE
                 SET count = GREATEST(leak_counters.count, EXCLUDED.count)",
                &[&counter.key, &signed(*count), &signed(counter.expires)],
            )
            .await
            .map_err(database)?;
    }
    transaction.commit().await.map_err(database)?;
    Ok(Imported {
        accounts,
        optouts,
        counters,
    })
}
