//! Behaviour of `SledStore` through the `Store` trait: round trips, group
//! commit, atomic modify, segment reclaim, reopening.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{body_for, message, segment_files};
use leak_store::{
    new_message_id, Attempt, QueuePages, RecipientStatus, Settled, SledStore, Store, StoreError,
    StoreOptions, LIST_PAGE,
};

#[tokio::test]
async fn enqueue_get_list_body_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let body = body_for("m1", 5000);
    store
        .enqueue(message("m1", 20), body.clone())
        .await
        .unwrap();
    store
        .enqueue(message("m0", 10), b"x".to_vec())
        .await
        .unwrap();

    let got = store.get("m1").unwrap().expect("m1 is queued");
    let mut expected = message("m1", 20);
    expected.size = 5000;
    assert_eq!(got, expected);
    assert_eq!(store.body("m1").unwrap(), body);
    assert_eq!(store.body("m0").unwrap(), b"x");
    let ids: Vec<String> = store.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["m0", "m1"], "oldest first");
    assert!(store.get("nope").unwrap().is_none());
    assert!(matches!(store.body("nope"), Err(StoreError::NotFound(_))));
    assert!(store.damaged().is_empty());
}

#[tokio::test]
async fn kv_records_round_trip_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.kv_put("optout", b"b", b"2".to_vec()).await.unwrap();
    store.kv_put("optout", b"a", b"1".to_vec()).await.unwrap();
    store
        .kv_put("other", b"a", b"elsewhere".to_vec())
        .await
        .unwrap();
    assert_eq!(store.kv_get("optout", b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        store.kv_scan("optout").unwrap(),
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ]
    );
    assert!(store.kv_remove("optout", b"a").await.unwrap());
    assert!(!store.kv_remove("optout", b"a").await.unwrap());
    assert_eq!(store.kv_get("optout", b"a").unwrap(), None);

    assert_eq!(store.kv_add("rate", b"alice", 3).await.unwrap(), 3);
    assert_eq!(store.kv_add("rate", b"alice", 4).await.unwrap(), 7);
    assert_eq!(
        store.kv_get("rate", b"alice").unwrap(),
        Some(7u64.to_be_bytes().to_vec())
    );
    let store = Arc::new(store);
    let adds: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.kv_add("rate", b"bob", 1).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for add in adds {
        seen.push(add.await.unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<u64>>(),
        "each add saw a distinct value"
    );
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_are_durable_and_group_committed() {
    const MESSAGES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let barrier = Arc::new(tokio::sync::Barrier::new(MESSAGES));
    let tasks: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let id = format!("{i:016x}");
                barrier.wait().await;
                let body = body_for(&id, 100 + i * 7);
                store.enqueue(message(&id, i as u64), body).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.stats();
    eprintln!("{MESSAGES} concurrent enqueues: {stats:?}");
    assert!(stats.segment_syncs < MESSAGES as u64 / 2, "{stats:?}");
    assert!(stats.db_flushes < MESSAGES as u64 / 2, "{stats:?}");
    assert!(stats.batches < MESSAGES as u64 / 2, "{stats:?}");
    assert_eq!(stats.operations, MESSAGES as u64);

    drop(Arc::into_inner(store).expect("tasks are done"));
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.list().unwrap().len(), MESSAGES);
    for i in 0..MESSAGES {
        let id = format!("{i:016x}");
        assert_eq!(store.body(&id).unwrap(), body_for(&id, 100 + i * 7));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_modifies_never_lose_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    store
        .enqueue(message("m", 1), b"body".to_vec())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..60u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                if i % 10 == 0 {
                    // Hold/release races with the scheduler's updates.
                    store
                        .modify("m", Box::new(|m| m.held = !m.held))
                        .await
                        .unwrap();
                }
                store
                    .modify(
                        "m",
                        Box::new(move |m| {
                            m.recipients[0].attempts += 1;
                            m.history.push(Attempt {
                                at: i,
                                recipient: "bob@example.org".into(),
                                mx: None,
                                result: "451 4.3.0 try later".into(),
                            });
                        }),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        let written = task.await.unwrap();
        assert!(written.recipients[0].attempts as usize >= written.history.len());
    }
    let m = store.get("m").unwrap().unwrap();
    assert_eq!(m.recipients[0].attempts, 60);
    assert_eq!(m.history.len(), 60);
    let mut ats: Vec<u64> = m.history.iter().map(|a| a.at).collect();
    ats.sort();
    assert_eq!(ats, (0..60).collect::<Vec<_>>());
    assert!(!m.held, "six toggles cancel out");
}

#[tokio::test]
async fn modify_update_remove_report_missing_and_bad_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let err = store.modify("gone", Box::new(|m| m.held = true)).await;
    assert!(matches!(err, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.update(&message("gone", 1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.remove("gone").await,
        Err(StoreError::NotFound(_))
    ));

    store
        .enqueue(message("m", 1), b"body".to_vec())
        .await
        .unwrap();
    assert!(
        store
            .enqueue(message("m", 2), b"other".to_vec())
            .await
            .is_err(),
        "ids are unique"
    );
    assert!(store.enqueue(message("", 2), b"x".to_vec()).await.is_err());
    let panicked = store.modify("m", Box::new(|_| panic!("bad change"))).await;
    assert!(matches!(panicked, Err(StoreError::Database(_))));
    let renamed = store.modify("m", Box::new(|m| m.id = "other".into())).await;
    assert!(matches!(renamed, Err(StoreError::Database(_))));

    let mut m = store.get("m").unwrap().unwrap();
    m.recipients[1].status = RecipientStatus::Delivered;
    store.update(&m).await.unwrap();
    assert_eq!(store.get("m").unwrap().unwrap(), m);
    assert_eq!(store.body("m").unwrap(), b"body", "update keeps the body");
    store.remove("m").await.unwrap();
    assert!(store.get("m").unwrap().is_none());
    assert!(matches!(
        store.remove("m").await,
        Err(StoreError::NotFound(_))
    ));
    let after = store.modify("m", Box::new(|m| m.held = true)).await;
    assert!(matches!(after, Err(StoreError::NotFound(_))));
}

/// `modify_or_remove` keeps a message with work left (a recipient not final,
/// or a failure report pending) durably, and removes a done one in the same
/// step; the removal survives a flush and a reopen, body segment included.
#[tokio::test]
async fn modify_or_remove_keeps_unfinished_and_removes_done_messages() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        segment_size: 1000,
        ..StoreOptions::default()
    };
    {
        let store = SledStore::open_with(dir.path(), options.clone()).unwrap();
        let missing = store.modify_or_remove("gone", Box::new(|_| {})).await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))));
        for id in ["done", "reported"] {
            store
                .enqueue(message(id, 1), body_for(id, 2000))
                .await
                .unwrap();
        }

        // One recipient of two delivered: kept, the change written.
        let first = store
            .modify_or_remove(
                "done",
                Box::new(|m| m.recipients[0].status = RecipientStatus::Delivered),
            )
            .await
            .unwrap();
        let Settled::Kept(kept) = first else {
            panic!("a recipient is left: {first:?}");
        };
        assert_eq!(kept.recipients[0].status, RecipientStatus::Delivered);
        assert_eq!(store.get("done").unwrap().unwrap(), *kept);

        // Both final but a failure report pending: kept too.
        let reported = store
            .modify_or_remove(
                "reported",
                Box::new(|m| {
                    m.recipients[0].status = RecipientStatus::Delivered;
                    m.recipients[1].status = RecipientStatus::Failed;
                    m.recipients[1].report_pending = true;
                }),
            )
            .await
            .unwrap();
        assert!(matches!(reported, Settled::Kept(ref m) if m.is_finished() && !m.is_done()));
        assert!(store.get("reported").unwrap().is_some());

        // The last recipient delivered: removed, body and all.
        let last = store
            .modify_or_remove(
                "done",
                Box::new(|m| m.recipients[1].status = RecipientStatus::Delivered),
            )
            .await
            .unwrap();
        assert_eq!(last, Settled::Removed);
        assert!(store.get("done").unwrap().is_none());
        assert!(matches!(store.body("done"), Err(StoreError::NotFound(_))));
        let again = store.modify_or_remove("done", Box::new(|_| {})).await;
        assert!(matches!(again, Err(StoreError::NotFound(_))));
        store.flush().await.unwrap();
        assert_eq!(store.stats().segments_deleted, 1, "done's segment went");
    }
    let store = SledStore::open_with(dir.path(), options).unwrap();
    assert!(
        store.get("done").unwrap().is_none(),
        "the removal was flushed"
    );
    let reported = store.get("reported").unwrap().unwrap();
    assert!(reported.recipients[1].report_pending);
    assert_eq!(store.body("reported").unwrap(), body_for("reported", 2000));
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn removing_every_message_of_a_segment_deletes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        segment_size: 10_000,
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(dir.path(), options).unwrap();
    // About 3 KB each: three per 10 KB segment, enqueued one at a time.
    let ids: Vec<String> = (0..9).map(|i| format!("msg{i}")).collect();
    for id in &ids {
        store
            .enqueue(message(id, 1), body_for(id, 3000))
            .await
            .unwrap();
    }
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");

    store.remove("msg0").await.unwrap();
    store.remove("msg1").await.unwrap();
    assert!(files[0].exists(), "msg2 still lives there");
    store.remove("msg2").await.unwrap();
    assert!(!files[0].exists(), "the first segment is unreferenced now");
    for id in &ids[3..] {
        store.remove(id).await.unwrap();
    }
    assert!(segment_files(dir.path()).is_empty());
    assert_eq!(store.stats().segments_deleted, 3);

    // Writing goes on in a fresh segment.
    store
        .enqueue(message("new", 1), b"new".to_vec())
        .await
        .unwrap();
    assert_eq!(store.body("new").unwrap(), b"new");
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn reopen_keeps_everything_and_reclaims_unreferenced_segments() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        segment_size: 4096,
        ..StoreOptions::default()
    };
    let mut expected = Vec::new();
    {
        let store = SledStore::open_with(dir.path(), options.clone()).unwrap();
        for i in 0..6 {
            let id = new_message_id();
            store
                .enqueue(message(&id, i), body_for(&id, 3000))
                .await
                .unwrap();
            expected.push(id);
        }
        let held = store
            .modify(&expected[0], Box::new(|m| m.held = true))
            .await
            .unwrap();
        assert!(held.held);
        store.kv_put("optout", b"x", b"1".to_vec()).await.unwrap();
        store.kv_add("rate", b"alice", 5).await.unwrap();
    }
    let store = SledStore::open_with(dir.path(), options.clone()).unwrap();
    let listed: Vec<String> = store.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(listed, expected);
    assert!(store.get(&expected[0]).unwrap().unwrap().held);
    for id in &expected {
        assert_eq!(store.body(id).unwrap(), body_for(id, 3000));
    }
    assert_eq!(store.kv_get("optout", b"x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.kv_add("rate", b"alice", 1).await.unwrap(), 6);

    // New writes after a reopen never land in an old segment.
    let before = segment_files(dir.path());
    store
        .enqueue(message("later", 9), b"later".to_vec())
        .await
        .unwrap();
    let after = segment_files(dir.path());
    assert_eq!(after.len(), before.len() + 1);
    for id in &expected {
        store.remove(id).await.unwrap();
    }
    drop(store);
    let store = SledStore::open_with(dir.path(), options).unwrap();
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "only `later`'s segment is left"
    );
    assert_eq!(store.body("later").unwrap(), b"later");
    assert!(store.damaged().is_empty());
}

/// Ten thousand messages: a page walk sees each exactly once, in id order,
/// in full pages but the last; `list` sorts them oldest first. (Timing is
/// printed for the record; speed is measured by the benchmarks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_list_and_page_through_completely() {
    const MESSAGES: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    for chunk in 0..MESSAGES / 500 {
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = new_message_id();
                    let created = (chunk * 500 + i) as u64;
                    store
                        .enqueue(message(&id, created), body_for(&id, 64))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
    let started = Instant::now();
    let listed = store.list().unwrap();
    eprintln!(
        "listed {} messages in {:?}; {:?}",
        listed.len(),
        started.elapsed(),
        store.stats()
    );
    assert_eq!(listed.len(), MESSAGES);
    assert!(listed.windows(2).all(|w| w[0].created < w[1].created));

    let mut pages = QueuePages::default();
    let mut walked: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    while let Some(page) = pages.next(store.as_ref()).unwrap() {
        sizes.push(page.len());
        walked.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(walked.len(), MESSAGES);
    assert!(
        walked.windows(2).all(|w| w[0] < w[1]),
        "id order, no repeats"
    );
    let (last, full) = sizes.split_last().unwrap();
    assert!(full.iter().all(|&n| n == LIST_PAGE), "{sizes:?}");
    assert_eq!(*last, MESSAGES - full.len() * LIST_PAGE);
    let after_last = store.page(walked.last().map(String::as_str), LIST_PAGE);
    assert!(after_last.unwrap().is_empty());
    let from_middle = store.page(Some(&walked[99]), 3).unwrap();
    let ids: Vec<&str> = from_middle.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [&walked[100], &walked[101], &walked[102]]);
}

#[test]
fn message_ids_are_sixteen_lowercase_hex_and_random() {
    let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_message_id()).collect();
    assert_eq!(ids.len(), 1000);
    for id in &ids {
        assert_eq!(id.len(), 16);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
}
