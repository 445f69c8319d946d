//! The opt-out pages over a real socket: what a browser and a mailbox
//! provider's RFC 8058 request get, and what each does to the list.

use leak_consent::{Secret, Suppression};
use leak_store::{SledStore, Store};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Site {
    _dir: tempfile::TempDir,
    list: Arc<Suppression>,
    address: std::net::SocketAddr,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let list = Arc::new(Suppression::new(store, &Secret::from_bytes([5; 32])));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let autoconfig = leak_web::Autoconfig {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        implicit_ports: vec![465],
        starttls_ports: vec![587],
    };
    tokio::spawn(leak_web::serve(
        listener,
        list.clone(),
        autoconfig,
        shutdown,
    ));
    Site {
        _dir: dir,
        list,
        address,
        _stop: stop,
    }
}

/// One HTTP/1.1 request; returns (status, body).
async fn request(site: &Site, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(site.address).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: anon.example\r\nConnection: close\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap();
    (status, body)
}

#[tokio::test]
async fn get_shows_post_opts_out() {
    let site = site().await;
    assert_eq!(request(&site, "GET", "/health", "").await.0, 200);
    let token = site.list.token("Carol+x@Example.test");
    let path = format!("/optout/{token}");

    let (status, page) = request(&site, "GET", &path, "").await;
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\">") && page.contains("lang=\"en\""));
    assert!(!page.to_lowercase().contains("carol"));
    assert!(!site.list.is_suppressed("carol@example.test").unwrap());

    assert_eq!(request(&site, "POST", &path, "nothing=here").await.0, 400);
    assert!(!site.list.is_suppressed("carol@example.test").unwrap());

    let (status, done) = request(&site, "POST", &path, "List-Unsubscribe=One-Click").await;
    assert_eq!(status, 200);
    assert!(done.contains("Opt-out confirmed"));
    assert!(site.list.is_suppressed("CAROL@example.test").unwrap());
    let entries = site.list.list().unwrap();
    assert_eq!(entries[0].source, leak_consent::Source::Web);

    // Pressing again is harmless.
    assert_eq!(
        request(&site, "POST", &path, "List-Unsubscribe=One-Click")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let site = site().await;
    // A token made under another server's secret.
    let other_dir = tempfile::tempdir().unwrap();
    let other_store: Arc<dyn Store> = Arc::new(SledStore::open(other_dir.path()).unwrap());
    let other = Suppression::new(other_store, &Secret::from_bytes([6; 32]));
    for token in [
        other.token("dave@example.test"),
        "AAAA".into(),
        "x".repeat(3000),
    ] {
        let path = format!("/optout/{token}");
        assert_eq!(request(&site, "GET", &path, "").await.0, 404);
        let (status, _) = request(&site, "POST", &path, "List-Unsubscribe=One-Click").await;
        assert_eq!(status, 404);
    }
    assert!(site.list.list().unwrap().is_empty());
}
