//! The embedded policy store: the single node's behaviour, through the trait.

use leak_cluster::{Counter, Embedded, PolicyStore};
use std::sync::Arc;

const DAY: u64 = 86_400;

fn open(dir: &std::path::Path) -> Embedded {
    let store = Arc::new(leak_store::SledStore::open(&dir.join("data")).unwrap());
    Embedded::open(store, dir.join("users.toml")).unwrap()
}

#[tokio::test]
async fn slots_are_reserved_released_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let now = 10 * DAY;
    let alice = Counter::account("alice", now);
    {
        let policy = open(dir.path());
        assert!(policy.reserve(&alice, 2).await.unwrap());
        assert!(policy.reserve(&alice, 2).await.unwrap());
        assert!(!policy.reserve(&alice, 2).await.unwrap());
        policy.release(&alice);
        assert!(policy.reserve(&alice, 2).await.unwrap());
        policy.commit(vec![alice.clone()]).await.unwrap();
        policy.release(&alice);
        // One committed, one free.
        assert!(policy.reserve(&alice, 2).await.unwrap());
        assert!(!policy.reserve(&alice, 2).await.unwrap());
        let bob = Counter::recipient("Bob@Example.test", now);
        assert_eq!(bob, Counter::recipient("bob+x@example.TEST", now));
        assert!(policy.reserve(&bob, 1).await.unwrap());
        assert!(!policy.reserve(&bob, 1).await.unwrap());
        assert!(policy.opt_outs().is_none());
    }
    // Committed slots survive a reopen; uncommitted ones do not.
    let policy = open(dir.path());
    assert!(policy.reserve(&alice, 2).await.unwrap());
    assert!(!policy.reserve(&alice, 2).await.unwrap());
    let bob = Counter::recipient("bob@example.test", now);
    assert!(policy.reserve(&bob, 1).await.unwrap());
    // A later day's window prunes this one.
    assert_eq!(policy.prune(now + DAY).await.unwrap(), 1);
}

#[tokio::test]
async fn accounts_are_the_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = open(dir.path());
    let mut users = leak_accounts::Users::default();
    users
        .add("alice", "secret", Some("alice@example.org".into()))
        .unwrap();
    let account = users.users["alice"].clone();
    policy.add_account("alice", account.clone()).await.unwrap();
    assert!(policy.add_account("alice", account.clone()).await.is_err());
    assert_eq!(policy.account("alice").await.unwrap(), Some(account));
    let file = leak_accounts::Users::load(&dir.path().join("users.toml")).unwrap();
    assert!(file.users.contains_key("alice"));
    assert_eq!(policy.accounts().await.unwrap().users.len(), 1);
    policy.remove_account("alice").await.unwrap();
    assert_eq!(policy.account("alice").await.unwrap(), None);
    assert!(policy.remove_account("alice").await.is_err());
}
