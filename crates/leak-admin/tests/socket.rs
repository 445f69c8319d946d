//! The socket itself: binding, permissions, bad input, shutdown, the client's
//! "not running" error, and the opt-out list over the wire.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use common::Harness;
use leak_admin::{AdminClient, AdminServer, ClientError, ErrorKind, MAX_REQUEST_LINE};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[tokio::test]
async fn bind_creates_the_folder_and_sets_mode_0660() {
    let h = Harness::start().await;
    let meta = std::fs::metadata(&h.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
}

#[tokio::test]
async fn bind_replaces_a_stale_socket_but_not_a_live_one_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    // A socket file left behind by a dead daemon.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let live = AdminServer::bind(&path).expect("a stale socket is replaced");

    let err = AdminServer::bind(&path)
        .err()
        .expect("a live socket is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    drop(live);

    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "keep me").unwrap();
    assert!(AdminServer::bind(&file).is_err());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[tokio::test]
async fn a_missing_daemon_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let err = AdminClient::connect(&path)
        .await
        .err()
        .expect("nobody listens");
    assert!(matches!(err, ClientError::NotRunning { .. }));
    assert!(!err.is_refusal());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "the daemon is not running (cannot connect to {}: ",
            path.display()
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
}

#[tokio::test]
async fn unreadable_requests_get_an_error_and_oversized_ones_a_hang_up() {
    let h = Harness::start().await;
    let stream = UnixStream::connect(&h.socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();

    write
        .write_all(b"{\"op\":\"format_disk\"}\n")
        .await
        .unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["result"], "error");
    assert_eq!(answer["kind"], "bad_request");

    write.write_all(b"{\"op\":\"queue_list\"}\n").await.unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"result": "messages", "messages": []})
    );

    let huge = vec![b'x'; MAX_REQUEST_LINE + 10];
    write.write_all(&huge).await.unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["kind"], "bad_request");
    let end = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(end, None, "the daemon hangs up after an oversized line");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_removes_the_socket() {
    let h = Harness::start().await;
    let mut idle = h.client().await;
    idle.list().await.unwrap();
    let socket = h.socket.clone();
    let (_dir, _store) = h.stop().await;
    assert!(!socket.exists(), "the socket file is removed on shutdown");
    assert!(matches!(
        idle.list().await,
        Err(ClientError::Protocol { .. })
    ));
    assert!(matches!(
        AdminClient::connect(&socket).await,
        Err(ClientError::NotRunning { .. })
    ));
}

#[tokio::test]
async fn an_aborted_server_still_removes_its_socket() {
    let h = Harness::start().await;
    h.client().await.list().await.unwrap();
    let server = h.server; // `h.dir`, the tempdir, lives on until the end
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    assert!(
        !h.socket.exists(),
        "the socket file goes with the server task"
    );
}

#[tokio::test]
async fn optout_add_list_remove_and_check() {
    let h = Harness::start().await;
    let list =
        leak_consent::Suppression::new(h.store.clone(), &leak_consent::Secret::from_bytes([9; 32]));
    let mut client = h.client().await;
    let (hash, added) = client.optout_add("Bob@Example.TEST").await.unwrap();
    assert!(added);
    assert_eq!(hash, list.hash("bob@example.test"));
    let (again, added) = client.optout_add("<bob+news@example.test>").await.unwrap();
    assert_eq!(
        (again.as_str(), added),
        (hash.as_str(), false),
        "same mailbox, case and +tag aside"
    );
    for variant in ["Bob@EXAMPLE.test", "bob@example.test", "BOB+x@example.test"] {
        assert!(list.is_suppressed(variant).unwrap(), "{variant}");
    }

    let entries = client.optout_list().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].hash, hash);
    assert_eq!(entries[0].source.as_deref(), Some("cli"));
    let added_at = entries[0].added.expect("the time is recorded");
    assert!(common::now().abs_diff(added_at) < 10);
    let raw = h.store.kv_scan(leak_consent::TREE).unwrap();
    assert!(
        !raw.iter()
            .any(|(k, v)| k.windows(3).any(|w| w == b"bob") || v.windows(3).any(|w| w == b"bob")),
        "no address stored in clear"
    );

    match client.optout_add("not an address").await {
        Err(
            err @ ClientError::Daemon {
                kind: ErrorKind::BadRequest,
                ..
            },
        ) => assert!(err.is_refusal()),
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert_eq!(
        client
            .optout_remove("BOB+other@example.TEST")
            .await
            .unwrap(),
        hash
    );
    assert!(!list.is_suppressed("bob@example.test").unwrap());
    match client.optout_remove("Bob@example.test").await {
        Err(ClientError::Daemon {
            kind: ErrorKind::NotFound,
            message,
        }) => {
            assert_eq!(message, "bob@example.test is not on the opt-out list")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(client.optout_list().await.unwrap().is_empty());
}
