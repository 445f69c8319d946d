//! The register of damaged records found since the store was opened: what
//! [`crate::Store::damaged`] reports to operators.

use std::sync::Mutex;

use crate::DamagedRecord;

/// Damaged records, each reported (and logged) once per key.
#[derive(Debug, Default)]
pub(crate) struct Damage {
    records: Mutex<Vec<DamagedRecord>>,
}

impl Damage {
    /// Records (and logs) that `key` is unreadable; a record already reported
    /// keeps its first reason.
    pub(crate) fn report(&self, key: &str, reason: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.iter().any(|r| r.key == key) {
            return;
        }
        tracing::warn!(record = key, reason, "damaged store record skipped");
        records.push(DamagedRecord {
            key: key.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Forgets a record that has been removed from the store.
    pub(crate) fn forget(&self, key: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.retain(|r| r.key != key);
    }

    pub(crate) fn list(&self) -> Vec<DamagedRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// How a damaged kv record is named in reports: the tree and the key in hex
/// (kv keys may be addresses; hex keeps them out of casual log reading and
/// makes binary keys printable).
pub(crate) fn kv_record_name(tree: &str, key: &[u8]) -> String {
    format!("kv:{tree}:{}", hex::encode(key))
}
