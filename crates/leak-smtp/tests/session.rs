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
        max_junk_commands: 5,
        max_session_duration: Duration::from_secs(120),
        ..Settings::default()
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

#[tokio::test]
async fn bare_lf_overflowing_size_and_dsn_parameters_are_refused() {
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    // Five refusals: max_junk_commands (5) is reached, not passed.
    client
        .write_all(
            b"EHLO c\r\nNOOP\n\
              MAIL FROM:<a@b.test> SIZE=184467440737095516161\r\n\
              MAIL FROM:<a@b.test> SIZE=12x\r\n\
              MAIL FROM:<a@b.test> RET=HDRS\r\n\
              MAIL FROM:<a@b.test> ENVID=abc\r\n\
              MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\n",
        )
        .await
        .unwrap();
    let got = replies(&mut client, 7).await;
    let codes: Vec<&str> = got.iter().map(|l| &l[..9]).collect();
    assert_eq!(
        codes,
        [
            "250 8BITM",
            "500 5.5.2",
            "552 5.3.4",
            "501 5.5.4",
            "555 5.5.4",
            "555 5.5.4",
            "250 2.1.0"
        ],
        "{got:?}"
    );
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    client
        .write_all(
            b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n\
              RCPT TO:<x@y.test> NOTIFY=SUCCESS,FAILURE\r\n\
              RCPT TO:<x@y.test> ORCPT=rfc822;x@y.test\r\n",
        )
        .await
        .unwrap();
    let got = replies(&mut client, 4).await.split_off(2);
    assert!(got.iter().all(|l| l.starts_with("555 5.5.4")), "{got:?}");
}

#[tokio::test]
async fn junk_commands_end_the_session() {
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    // max_junk_commands is 5 in these settings: the sixth NOOP is too many.
    client
        .write_all(b"NOOP\r\nRSET\r\nHELP\r\nVRFY x\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        .await
        .unwrap();
    let got = replies(&mut client, 7).await;
    assert!(got[6].starts_with("421 4.7.0"), "{got:?}");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "closed; the last NOOP was never answered");
}

#[tokio::test(start_paused = true)]
async fn a_trickled_command_cannot_extend_the_line_deadline() {
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    let started = tokio::time::Instant::now();
    // One byte every 10 s: each read is well inside command_timeout (30 s),
    // but the line as a whole is not.
    for byte in b"NOOP NOOP NOOP NOOP NOOP NOOP" {
        if client.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let mut buf = [0u8; 256];
        if let Ok(Ok(read)) =
            tokio::time::timeout(Duration::from_millis(1), client.read(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..read]).into_owned();
            assert!(text.starts_with("421 4.4.2"), "{text:?}");
            break;
        }
    }
    assert!(started.elapsed() <= Duration::from_secs(40));
}

#[tokio::test(start_paused = true)]
async fn a_busy_session_still_ends_at_the_duration_cap() {
    let (mut client, _stop) = session(true, Arc::new(Recorder::default()));
    replies(&mut client, 1).await;
    client.write_all(b"EHLO c\r\n").await.unwrap();
    replies(&mut client, 1).await;
    let started = tokio::time::Instant::now();
    let mut text = String::new();
    // A useful-looking command every 20 s never idles out; the 120 s cap ends it.
    while !text.contains("421") {
        assert!(started.elapsed() < Duration::from_secs(200), "{text:?}");
        tokio::time::sleep(Duration::from_secs(20)).await;
        let _ = client.write_all(b"EHLO c\r\n").await;
        let mut buf = [0u8; 4096];
        if let Ok(Ok(read)) =
            tokio::time::timeout(Duration::from_millis(1), client.read(&mut buf)).await
        {
            text.push_str(&String::from_utf8_lossy(&buf[..read]));
        }
    }
    assert!(text.contains("421 4.4.2 Session too long"), "{text:?}");
    assert!(started.elapsed() >= Duration::from_secs(100));
}
