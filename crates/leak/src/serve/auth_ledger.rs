//! AUTH failure counts kept in the store, so that restarting the daemon does
//! not give a brute-forcing client a fresh start. One counter per throttle
//! key and 15-minute bucket in the `authfail` tree (`<bucket>/<key>`, the key
//! being `c/<client>` or `u/<username>` as leak-smtp's throttle names them);
//! stale buckets are pruned with the rate counters.

use leak_store::{Store, StoreError};
use std::sync::Arc;

const TREE: &str = "authfail";

/// The store-backed [`leak_smtp::AuthLedger`].
pub struct StoreLedger {
    store: Arc<dyn Store>,
}

impl StoreLedger {
    pub fn new(store: Arc<dyn Store>) -> StoreLedger {
        StoreLedger { store }
    }

    /// Drops buckets the throttle no longer reads (older than the previous one).
    pub async fn prune(&self, now: u64) -> Result<usize, StoreError> {
        let current = now / leak_smtp::BUCKET_SECONDS;
        let mut removed = 0;
        for (key, _) in self.store.kv_scan(TREE)? {
            let live = parse(&key).is_some_and(|(_, bucket)| bucket + 1 >= current);
            if !live {
                self.store.kv_remove(TREE, &key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl leak_smtp::AuthLedger for StoreLedger {
    fn load(&self) -> Vec<(String, u64, u32)> {
        let entries = match self.store.kv_scan(TREE) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "AUTH failure counts unreadable; starting from none");
                return Vec::new();
            }
        };
        entries
            .into_iter()
            .filter_map(|(key, value)| {
                let (name, bucket) = parse(&key)?;
                let count = u64::from_be_bytes(value.try_into().ok()?);
                Some((name, bucket, u32::try_from(count).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    fn add(&self, key: &str, bucket: u64) {
        let store = self.store.clone();
        let record = format!("{bucket}/{key}").into_bytes();
        // The session must not wait for the disk; the in-memory count is
        // already up to date.
        tokio::spawn(async move {
            if let Err(error) = store.kv_add(TREE, &record, 1).await {
                tracing::warn!(%error, "AUTH failure not persisted");
            }
        });
    }
}

/// `<bucket>/<key>` back into its parts.
fn parse(record: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(record).ok()?;
    let (bucket, name) = text.split_once('/')?;
    Some((name.to_owned(), bucket.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn records_name_their_bucket_and_key() {
        assert_eq!(
            parse(b"1900/c/127.0.0.9"),
            Some(("c/127.0.0.9".into(), 1900))
        );
        assert_eq!(parse(b"x/c/127.0.0.9"), None);
    }
}
