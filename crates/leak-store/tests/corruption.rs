//! Damaged data on disk is reported and skipped, never fatal: flipped bytes
//! in bodies and envelopes, unknown versions, torn or truncated segments.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use common::{body_for, message, segment_files};
use leak_store::{SledStore, Store, StoreError};

/// Stores `ids` (one body of `len` bytes each) and closes the store.
async fn fill(dir: &Path, ids: &[&str], len: usize) {
    let store = SledStore::open(dir).unwrap();
    for (i, id) in ids.iter().enumerate() {
        store
            .enqueue(message(id, i as u64), body_for(id, len))
            .await
            .unwrap();
    }
}

/// Rewrites one raw sled value, the way bit rot or a foreign writer would.
/// Knows the store's layout: sled under `db/`, envelopes in tree `envelopes`.
fn tamper_sled(dir: &Path, tree: &str, key: &[u8], change: impl FnOnce(&mut Vec<u8>)) {
    let db = open_raw_sled(&dir.join("db"));
    let tree = db.open_tree(tree).unwrap();
    let mut value = tree.get(key).unwrap().expect("record exists").to_vec();
    change(&mut value);
    tree.insert(key, value).unwrap();
    db.flush().unwrap();
}

/// sled releases its lock a moment after the last handle is dropped.
fn open_raw_sled(path: &Path) -> sled::Db {
    for _ in 0..60 {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("sled lock never released");
}

fn flip_byte(path: &Path, from_end: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() - from_end as usize;
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn flipped_body_byte_is_reported_damaged() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), &["first", "second"], 1000).await;
    // The last byte of the segment belongs to `second`'s body.
    flip_byte(&segment_files(dir.path())[0], 1);

    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.body("first").unwrap(), body_for("first", 1000));
    match store.body("second") {
        Err(StoreError::Damaged { key, reason }) => {
            assert_eq!(key, "second");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    let damaged = store.damaged();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0].key, "second");
    // The envelope itself is fine: operators still see the message.
    assert_eq!(store.list().unwrap().len(), 2);
}

#[tokio::test]
async fn corrupt_envelope_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), &["good", "bad", "odd"], 100).await;
    tamper_sled(dir.path(), "envelopes", b"bad", |v| {
        let last = v.len() - 2;
        v[last] ^= 0x01;
    });
    tamper_sled(dir.path(), "envelopes", b"odd", |v| v[0] = 7);

    let store = SledStore::open(dir.path()).expect("damage never stops open");
    let ids: Vec<String> = store.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["good"]);
    let mut damaged = store.damaged();
    damaged.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(damaged.len(), 2, "{damaged:?}");
    assert_eq!(damaged[0].key, "bad");
    assert!(damaged[0].reason.contains("checksum"), "{damaged:?}");
    assert_eq!(damaged[1].key, "odd");
    assert!(damaged[1].reason.contains("version 7"), "{damaged:?}");
    assert!(matches!(store.get("bad"), Err(StoreError::Damaged { .. })));
    assert!(matches!(store.body("bad"), Err(StoreError::Damaged { .. })));

    // An operator can delete the damaged message; it stops being reported.
    store.remove("bad").await.unwrap();
    assert!(store.get("bad").unwrap().is_none());
    assert!(store.damaged().iter().all(|d| d.key != "bad"));
    assert_eq!(store.body("good").unwrap(), body_for("good", 100));
}

#[tokio::test]
async fn torn_append_at_segment_tail_does_not_break_open() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), &["a", "b"], 500).await;
    // A crash mid-append leaves the start of a record nothing references.
    let segment = &segment_files(dir.path())[0];
    let mut file = OpenOptions::new().append(true).open(segment).unwrap();
    file.write_all(&[1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0])
        .unwrap();
    drop(file);

    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.body("a").unwrap(), body_for("a", 500));
    assert_eq!(store.body("b").unwrap(), body_for("b", 500));
    assert!(store.damaged().is_empty());
    store
        .enqueue(message("c", 3), b"after".to_vec())
        .await
        .unwrap();
    assert_eq!(store.body("c").unwrap(), b"after");
}

#[tokio::test]
async fn truncated_or_missing_segment_reports_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), &["whole", "cut"], 500).await;
    let segment = segment_files(dir.path())[0].clone();
    let len = std::fs::metadata(&segment).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 100)
        .unwrap();

    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.body("whole").unwrap(), body_for("whole", 500));
    assert!(matches!(store.body("cut"), Err(StoreError::Damaged { .. })));
    let damaged = store.damaged();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].key, "cut");
    assert!(damaged[0].reason.contains("too short"), "{damaged:?}");
    drop(store);

    std::fs::remove_file(&segment).unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut keys: Vec<String> = store.damaged().into_iter().map(|d| d.key).collect();
    keys.sort();
    assert_eq!(keys, ["cut", "whole"]);
    assert!(matches!(
        store.body("whole"),
        Err(StoreError::Damaged { .. })
    ));
}

#[tokio::test]
async fn damaged_kv_record_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.kv_put("optout", b"a", b"1".to_vec()).await.unwrap();
        store.kv_put("optout", b"b", b"2".to_vec()).await.unwrap();
        store.kv_add("rate", b"n", 1).await.unwrap();
    }
    tamper_sled(dir.path(), "kv.optout", b"a", |v| v[5] ^= 0xff);
    tamper_sled(dir.path(), "kv.rate", b"n", |v| *v = leak_seal(&[1, 2, 3]));

    let store = SledStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.kv_get("optout", b"a"),
        Err(StoreError::Damaged { .. })
    ));
    assert_eq!(
        store.kv_scan("optout").unwrap(),
        vec![(b"b".to_vec(), b"2".to_vec())]
    );
    assert!(matches!(
        store.kv_add("rate", b"n", 1).await,
        Err(StoreError::Damaged { .. })
    ));
    assert_eq!(store.damaged().len(), 2, "{:?}", store.damaged());
    // Overwriting repairs it.
    store.kv_put("optout", b"a", b"3".to_vec()).await.unwrap();
    assert_eq!(store.kv_get("optout", b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(
        store.damaged().len(),
        1,
        "only the counter is still damaged"
    );
}

/// A validly sealed record (version 1, crc32) around `payload`.
fn leak_seal(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}
