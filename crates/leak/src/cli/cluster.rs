//! `leak cluster import`: copies a single node's accounts (its users file),
//! suppression list (its store's HMAC-keyed entries) and the rate counters
//! of the current hour and day into the cluster's PostgreSQL named by
//! `[cluster] database`. Existing rows are kept (a counter keeps the larger
//! count), so running it again, or from a second node, only adds what is
//! missing. The first import records the node's consent-secret fingerprint;
//! an import from a node with another secret is refused (its entries would
//! be keyed differently).
//!
//! The node's store is opened directly, so leak must be stopped on this
//! node (the store refuses a second opener). Legacy opt-outs (the SHA-256
//! entries of early versions, see `leak_consent`) cannot be re-keyed
//! without the address; they stay in the node's store, which still reads
//! them.

use crate::{CliResult, Failure};
use anyhow::Context;
use clap::Subcommand;
use leak_store::Store;
use std::path::Path;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Copy this node's accounts, opt-outs and today's rate counters into
    /// the cluster's database (leak stopped on this node; idempotent).
    Import,
}

pub fn run(config: &Path, command: ClusterCommand) -> CliResult {
    let config = super::parse_config(config)?;
    let ClusterCommand::Import = command;
    let Some(cluster) = &config.cluster else {
        return Err(Failure::refused(anyhow::anyhow!(
            "no [cluster] database in the config: nothing to import into"
        )));
    };
    let users = leak_accounts::Users::load(&config.auth.users_file).map_err(Failure::refused)?;
    let store = leak_store::SledStore::open(&config.server.data_dir)
        .with_context(|| {
            format!(
                "cannot open the store in {} (stop leak on this node first)",
                config.server.data_dir.display()
            )
        })
        .map_err(Failure::environment)?;
    let entries = store
        .kv_scan(leak_consent::TREE)
        .map_err(Failure::environment)?;
    let legacy = store
        .kv_scan(leak_consent::LEGACY_TREE)
        .map_err(Failure::environment)?
        .len();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::environment)?;
    let counters = leak_cluster::Embedded::live_counters(&store, crate::serve::unix_now())
        .map_err(Failure::environment)?;
    let secret_file = crate::serve::secret_path(&config);
    let secret =
        leak_consent::Secret::load_or_create(&secret_file).map_err(Failure::environment)?;
    let fingerprint = secret.fingerprint();
    let postgres = leak_cluster::Postgres::new(&cluster.database).map_err(Failure::refused)?;
    let node = leak_cluster::Import {
        users: &users,
        entries: &entries,
        counters: &counters,
        fingerprint: &fingerprint,
    };
    let imported = runtime
        .block_on(async {
            postgres.migrate().await?;
            leak_cluster::import(&postgres, node).await
        })
        .map_err(|error| match error {
            leak_cluster::ClusterError::SecretMismatch(_) => Failure::refused(
                anyhow::Error::new(error)
                    .context(format!("consent secret {}", secret_file.display())),
            ),
            other => Failure::environment(other),
        })?;
    println!(
        "imported {} of {} accounts and {} of {} opt-outs (the others were there already), {} rate counters of the current hour and day",
        imported.accounts,
        users.users.len(),
        imported.optouts,
        entries.len(),
        imported.counters,
    );
    if legacy > 0 {
        println!(
            "{legacy} legacy opt-outs stay in this node's store (they cannot be re-keyed without the address)"
        );
    }
    Ok(())
}
