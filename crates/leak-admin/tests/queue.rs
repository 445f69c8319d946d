//! Queue operations through the real socket, against a real `SledStore`.

mod common;

use std::sync::Arc;

use common::{enqueue, message, now, Harness};
use leak_admin::{ClientError, ErrorKind, Target, OPERATOR_HOLD_REASON};
use leak_store::{RecipientStatus, SledStore, Store};

fn assert_not_found(result: Result<impl std::fmt::Debug, ClientError>, id: &str) {
    match result {
        Err(
            err @ ClientError::Daemon {
                kind: ErrorKind::NotFound,
                ..
            },
        ) => {
            assert!(err.is_refusal());
            assert!(err.to_string().contains(id), "{err}");
        }
        other => panic!("expected NotFound for {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn list_and_show_return_what_the_store_holds() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    assert!(client.list().await.unwrap().is_empty());

    enqueue(h.store.as_ref(), "bbbbbbbbbbbbbbbb", 2_000).await;
    enqueue(h.store.as_ref(), "aaaaaaaaaaaaaaaa", 1_000).await;
    let listed = client.list().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"],
        "oldest first"
    );
    let mut stored = h.store.get("aaaaaaaaaaaaaaaa").unwrap().unwrap();
    assert!(!stored.history.is_empty());
    stored.history.clear(); // a listing leaves histories to `show`
    assert_eq!(listed[0], stored);

    let shown = client.show("bbbbbbbbbbbbbbbb").await.unwrap();
    assert_eq!(shown.history.len(), 1);
    assert_eq!(shown.history[0].mx.as_deref(), Some("mx.example.test"));
    assert_not_found(client.show("0000000000000000").await, "0000000000000000");
    // The connection survives a refused request.
    assert_eq!(client.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn hold_and_release_flip_the_flag_durably_and_release_wakes_the_scheduler() {
    let h = Harness::start().await;
    enqueue(h.store.as_ref(), "1111111111111111", 1_000).await;
    let mut client = h.client().await;

    assert!(client.hold("1111111111111111").await.unwrap());
    assert!(
        !client.hold("1111111111111111").await.unwrap(),
        "already held"
    );
    let held = h.store.get("1111111111111111").unwrap().unwrap();
    assert!(held.held);
    assert_eq!(held.hold_reason.as_deref(), Some(OPERATOR_HOLD_REASON));
    assert!(
        !h.woken().await,
        "holding gives the scheduler nothing to do"
    );

    // The hold is on disk: it survives the daemon going away.
    drop(client);
    let (dir, store) = h.stop().await;
    drop(store);
    let reopened: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    assert!(reopened.get("1111111111111111").unwrap().unwrap().held);

    let h = Harness::start_with(dir, reopened);
    let mut client = h.client().await;
    assert!(client.release("1111111111111111").await.unwrap());
    assert!(h.woken().await, "release rings the scheduler");
    assert!(
        !client.release("1111111111111111").await.unwrap(),
        "not held any more"
    );
    let released = h.store.get("1111111111111111").unwrap().unwrap();
    assert!(!released.held);
    assert_eq!(released.hold_reason, None);
    assert_not_found(client.hold("2222222222222222").await, "2222222222222222");
    assert_not_found(client.release("2222222222222222").await, "2222222222222222");
}

/// OpenSMTPD #793: a hold placed while an attempt is in flight must survive
/// the attempt's result being written. Both go through `Store::modify`, so
/// whichever order they land in, the hold and the result are both kept.
#[tokio::test]
async fn hold_during_delivery_is_not_lost_when_the_attempt_finishes() {
    let h = Harness::start().await;
    let mut client = h.client().await;
    for round in 0..20u32 {
        let id = format!("{round:016x}");
        enqueue(h.store.as_ref(), &id, 1_000).await;
        // The "scheduler" records an attempt result concurrently with the hold.
        let store = Arc::clone(&h.store);
        let attempt_id = id.clone();
        let attempt = tokio::spawn(async move {
            store
                .modify(
                    &attempt_id,
                    Box::new(|m| {
                        m.recipients[0].attempts += 1;
                        m.recipients[0].last_error = Some("421 4.4.2 timeout".into());
                    }),
                )
                .await
                .unwrap();
        });
        assert!(client.hold(&id).await.unwrap());
        attempt.await.unwrap();
        let after = h.store.get(&id).unwrap().unwrap();
        assert!(after.held, "round {round}: the hold came back undone");
        assert_eq!(
            after.recipients[0].attempts, 3,
            "round {round}: attempt lost"
        );
    }
}

#[tokio::test]
async fn retry_makes_pending_recipients_due_now_and_leaves_final_ones() {
    let h = Harness::start().await;
    enqueue(h.store.as_ref(), "aaaaaaaaaaaaaaaa", 1_000).await;
    enqueue(h.store.as_ref(), "bbbbbbbbbbbbbbbb", 1_000).await;
    let mut client = h.client().await;

    let before = now();
    let retried = client
        .retry(Target::One("aaaaaaaaaaaaaaaa".into()))
        .await
        .unwrap();
    assert_eq!(
        (retried.messages, retried.recipients, retried.held),
        (1, 2, 0)
    );
    assert!(h.woken().await, "retry rings the scheduler");
    let after = now();
    let m = h.store.get("aaaaaaaaaaaaaaaa").unwrap().unwrap();
    for r in &m.recipients {
        match r.status {
            RecipientStatus::Delivered => assert_eq!(r.next_attempt, None),
            _ => {
                let due = r.next_attempt.expect("pending recipients have a due time");
                assert!(
                    (before..=after).contains(&due),
                    "{} due at {due}",
                    r.address
                );
            }
        }
    }
    assert_eq!(
        m.recipients[0].status,
        RecipientStatus::Deferred,
        "retry keeps the state"
    );
    assert_eq!(m.recipients[0].attempts, 2);
    let untouched = h.store.get("bbbbbbbbbbbbbbbb").unwrap().unwrap();
    let due_later = untouched.recipients[0].next_attempt.unwrap();
    assert!(
        due_later > after,
        "retrying one message leaves the others alone"
    );
    assert_eq!(
        untouched.recipients,
        message("bbbbbbbbbbbbbbbb", 1_000)
            .recipients
            .into_iter()
            .map(|mut r| {
                r.next_attempt = r.next_attempt.map(|_| due_later);
                r
            })
            .collect::<Vec<_>>()
    );

    client.hold("bbbbbbbbbbbbbbbb").await.unwrap();
    let all = client.retry(Target::All).await.unwrap();
    assert_eq!(
        (all.messages, all.recipients, all.held),
        (1, 2, 1),
        "only b was not due yet"
    );
    assert!(
        h.store.get("bbbbbbbbbbbbbbbb").unwrap().unwrap().held,
        "retry does not release"
    );
    let again = client.retry(Target::All).await.unwrap();
    assert_eq!(again.messages, 0, "nothing left to make due");
    assert_not_found(
        client.retry(Target::One("cccccccccccccccc".into())).await,
        "cccccccccccccccc",
    );
}

#[tokio::test]
async fn delete_removes_one_or_all_without_a_trace() {
    let h = Harness::start().await;
    for id in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"] {
        enqueue(h.store.as_ref(), id, 1_000).await;
    }
    let mut client = h.client().await;
    assert_eq!(
        client
            .delete(Target::One("bbbbbbbbbbbbbbbb".into()))
            .await
            .unwrap(),
        1
    );
    assert!(h.store.get("bbbbbbbbbbbbbbbb").unwrap().is_none());
    assert_eq!(client.list().await.unwrap().len(), 2);
    assert_not_found(
        client.delete(Target::One("bbbbbbbbbbbbbbbb".into())).await,
        "bbbbbbbbbbbbbbbb",
    );

    assert_eq!(client.delete(Target::All).await.unwrap(), 2);
    assert!(h.store.list().unwrap().is_empty());
    assert_eq!(client.delete(Target::All).await.unwrap(), 0);
}

#[tokio::test]
async fn status_counts_messages_and_recipients_by_state() {
    let h = Harness::start().await;
    enqueue(h.store.as_ref(), "aaaaaaaaaaaaaaaa", 1_000).await;
    enqueue(h.store.as_ref(), "bbbbbbbbbbbbbbbb", 1_000).await;
    let mut client = h.client().await;
    client.hold("aaaaaaaaaaaaaaaa").await.unwrap();
    let report = client.status().await.unwrap();
    assert_eq!(report.version, "9.9.9");
    assert_eq!(report.listeners, ["127.0.0.1:587 (starttls)"]);
    assert_eq!(report.sessions_open, 2);
    assert!((3_700..3_710).contains(&(report.now - report.started)));
    let q = report.queue;
    assert_eq!((q.messages, q.held), (2, 1));
    assert_eq!((q.queued, q.deferred, q.delivered, q.failed), (2, 2, 2, 0));
}

/// A queue of several pages: `list`, `status`, `retry --all` and
/// `delete --all` all see every message exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_several_pages_is_seen_whole() {
    let h = Harness::start().await;
    let count = 2 * leak_store::LIST_PAGE + 7;
    let enqueues: Vec<_> = (0..count)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let id = format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                enqueue(store.as_ref(), &id, 1_000 + (count - i) as u64).await;
            })
        })
        .collect();
    for task in enqueues {
        task.await.unwrap();
    }
    let mut client = h.client().await;

    let listed = client.list().await.unwrap();
    assert_eq!(listed.len(), count);
    assert!(
        listed.windows(2).all(|w| w[0].created < w[1].created),
        "oldest first across pages"
    );
    assert!(listed.iter().all(|m| m.history.is_empty()));
    let q = client.status().await.unwrap().queue;
    assert_eq!((q.messages, q.queued, q.deferred), (count, count, count));

    let retried = client.retry(Target::All).await.unwrap();
    assert_eq!((retried.messages, retried.recipients), (count, 2 * count));
    assert_eq!(client.delete(Target::All).await.unwrap(), count);
    assert_eq!(client.status().await.unwrap().queue.messages, 0);
}

/// `reload` reaches the daemon's reload and brings its report back whole.
#[tokio::test]
async fn reload_carries_the_daemons_report() {
    let h = Harness::start().await;
    let report = h.client().await.reload().await.unwrap();
    assert!(report.accepted);
    assert_eq!(report.changed, ["limits.messages_per_hour"]);
    assert!(report.failed.is_empty());
    assert_eq!(report.needs_restart, ["listeners"]);
}
