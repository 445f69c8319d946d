//! The session over an in-memory stream with a recording backend: protocol
//! behaviour without sockets, and timeouts with tokio's paused clock.

use async_trait::async_trait;
use leak_smtp::{Backend, Envelope, ListenerMode, Reply, Server, SessionInfo, Settings};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

/// Accepts everything and remembers what it was given.
#[derive(Default)]
struct Recorder {
    messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

#[async_trait]
impl Backend for Recorder {
    async fn authenticate(&self, username: &str, password: &str) -> Option<String> {
        (username == "alice" && password == "pw").then(|| "alice".to_owned())
    }
    async fn check_sender(&self, _: &SessionInfo, _: &str) -> Result<(), Reply> {
        Ok(())
    }
    async fn check_recipient(&self, _: &SessionInfo, recipient: &str) -> Result<(), Reply> {
        if recipient.starts_with("refused@") {
            return Err(Reply::new(550, [5, 7, 1], "refused"));
        }
        Ok(())
    }
    async fn receive(&self, _: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        self.messages
            .lock()
            .unwrap()
            .push((envelope.clone(), message));
        Reply::ok("Queued as test")
    }
}

fn settings(trusted: bool) -> Settings {
    Settings {
        hostname: "mail.test".into(),
        max_message_size: 10_000,
        max_recipients: 3,
        command_timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(60),
        max_auth_failures: 2,
        trusted_networks: if trusted {
            vec!["127.0.0.0/8".parse().unwrap()]
        } else {
            vec![]
        },
        max_connections: 4,
        auth_failure_delay: Duration::from_millis(10),
    }
}

/// Starts a session on one end of a duplex pipe and returns the other end.
fn session(trusted: bool, backend: Arc<Recorder>) -> (DuplexStream, watch::Sender<bool>) {
    let (client, server_end) = tokio::io::duplex(1 << 16);
    let server = Server::new(settings(trusted), backend, None);
    let (stop, shutdown) = watch::channel(false);
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    tokio::spawn(async move {
        server
            .connection(server_end, peer, ListenerMode::StartTls, shutdown)
            .await
    });
    (client, stop)
}

/// Reads until `count` more complete replies (their last lines) have arrived.
async fn replies(client: &mut DuplexStream, count: usize) -> Vec<String> {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .count()
        < count
    {
        let read = client.read(&mut buf).await.unwrap();
        assert!(read > 0, "closed early; got {text:?}");
        text.push_str(std::str::from_utf8(&buf[..read]).unwrap());
    }
    text.lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pipelined_transaction_reaches_the_backend_unstuffed() {
    let backend = Arc::new(Recorder::default());
    let (mut client, _stop) = session(true, backend.clone());
    assert!(replies(&mut client, 1).await[0].starts_with("220 mail.test"));
    client
        .write_all(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<refused@y.test>\r\nDATA\r\n")
        .await
        .unwrap();
    let got = replies(&mut client, 5).await;
    let codes: Vec<&str> = got.iter().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["250", "250", "250", "550", "354"]);
    client
        .write_all(b"Subject: s\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
        .await
        .unwrap();
    let got = replies(&mut client, 2).await;
    assert!(got[0].starts_with("250 2.0.0 Queued as test"), "{got:?}");
    assert!(got[1].starts_with("221"));
    let messages = backend.messages.lock().unwrap();
    assert_eq!(messages[0].0.recipients, ["x@y.test"]);
    assert_eq!(messages[0].1, b"Subject: s\r\n\r\n.dot\r\n");
}

#[tokio::test]
async fn auth_is_not_offered_or_accepted_without_tls() {
    let (mut client, _stop) = session(false, Arc::new(Recorder::default()));
    client
        .write_all(b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<a@b.test>\r\n")
        .await
        .unwrap();
    let got = replies(&mut client, 4).await;
    assert!(!got.iter().any(|l| l.contains("AUTH")), "{got:?}");
    assert!(got[2].starts_with("538 5.7.11"));
    assert!(got[3].starts_with("530 5.7.0"));
}

#[tokio::test(start_paused = true)]
async fn idle_client_is_timed_out_on_the_paused_clock() {
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    let got = replies(&mut client, 2).await;
    assert!(got[1].starts_with("421 4.4.2"), "{got:?}");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "closed after the timeout");
}

#[tokio::test]
async fn shutdown_ends_an_idle_session_with_421() {
    let (mut client, stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    stop.send(true).unwrap();
    let got = replies(&mut client, 1).await;
    assert!(got[0].starts_with("421 4.3.2"), "{got:?}");
}
