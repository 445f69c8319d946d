//! The review deadline sweep over an in-memory queue: expired moderation
//! holds are dropped and their sender notified; operator holds and young
//! holds stay.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::MemStore;
use leak_delivery::{ReviewDeadline, Scheduler};
use leak_store::Store;

#[tokio::test]
async fn expired_moderation_holds_are_dropped_and_notified() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = common::signer(dir.path());
    let store = Arc::new(MemStore::default());
    let dns = "127.0.0.1:9".parse().unwrap();
    let scheduler =
        Scheduler::new(common::settings(dns, 25), store.clone(), signer.clone()).unwrap();
    let now = common::now();
    let mut ids = Vec::new();
    for (reason, age, notify) in [
        (
            "moderation review: model score 0.700 (en)",
            7200,
            Some("alice@example.test"),
        ),
        ("moderation: threat", 7200, None),
        ("held by operator", 7200, Some("alice@example.test")),
        (
            "moderation review: model score 0.700 (en)",
            60,
            Some("alice@example.test"),
        ),
    ] {
        let (mut m, body) = common::message(&["bob@example.test"], notify, "secret words");
        m.held = true;
        m.hold_reason = Some(reason.into());
        m.created = now - age;
        ids.push(m.id.clone());
        store.enqueue(m, body).await.unwrap();
    }
    let sweep = ReviewDeadline {
        store: store.clone(),
        hint: scheduler.hint(),
        return_domain: common::DOMAIN.into(),
        deadline: Duration::from_secs(3600),
    };
    assert_eq!(sweep.period(), Duration::from_secs(60));
    assert_eq!(sweep.sweep(now).await.unwrap(), 2);

    assert!(store.get(&ids[0]).unwrap().is_none());
    assert!(store.get(&ids[1]).unwrap().is_none());
    assert!(
        store.get(&ids[2]).unwrap().is_some(),
        "an operator's hold never expires"
    );
    assert!(store.get(&ids[3]).unwrap().is_some(), "a young hold stays");
    let notices: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .filter(|m| m.is_report)
        .collect();
    assert_eq!(
        notices.len(),
        1,
        "one notice: the other sender has no notify address"
    );
    assert_eq!(notices[0].recipients[0].address, "alice@example.test");
    let body = String::from_utf8(store.body(&notices[0].id).unwrap()).unwrap();
    // Stored undated and unsigned: Date and DKIM come at delivery.
    assert!(!body.contains("DKIM-Signature:") && !body.contains("\r\nDate:"));
    assert!(
        body.contains("not delivered") && body.contains("pas ete distribue"),
        "{body}"
    );
    assert!(!body.contains("secret words"));
    // Nothing left to do a second time.
    assert_eq!(sweep.sweep(now).await.unwrap(), 0);
}
