//! A small SMTP receiver for tests: a real TCP listener on a 127.0.0.x address
//! that records each transaction, answers RCPT through a script, and can offer
//! STARTTLS with a self-signed certificate made by the `openssl` CLI.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// One accepted transaction, as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub ehlo: String,
    pub mail_from: String,
    /// Recipients the receiver accepted.
    pub rcpts: Vec<String>,
    /// The message after removing dot-stuffing, with its final CRLF.
    pub data: Vec<u8>,
    pub tls: bool,
    /// Which connection carried it (1 for the first accepted).
    pub session: usize,
}

/// Decides the reply to `RCPT TO:<addr>`.
pub type RcptScript = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// How a receiver behaves.
#[derive(Clone)]
pub struct Behavior {
    pub greeting: String,
    pub rcpt: RcptScript,
    pub data_reply: String,
    pub starttls: Option<TlsAcceptor>,
    /// Delay before answering RCPT (to act while an attempt is in flight).
    pub rcpt_delay: std::time::Duration,
    /// Offer PIPELINING (RFC 2920) in the EHLO reply.
    pub pipelining: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            greeting: "220 sink ESMTP".into(),
            rcpt: Arc::new(|_| "250 2.1.5 ok".into()),
            data_reply: "250 2.0.0 queued".into(),
            starttls: None,
            rcpt_delay: std::time::Duration::ZERO,
            pipelining: true,
        }
    }
}

/// A running receiver.
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Most sessions open at once (to check concurrency limits).
    pub max_sessions: Arc<AtomicUsize>,
    /// Sessions accepted in all (to check that sessions are reused).
    pub sessions: Arc<AtomicUsize>,
    /// Sessions open now (the client has not closed them).
    pub open: Arc<AtomicUsize>,
    /// Every `RCPT TO` address with the connection it came on, accepted or not.
    pub rcpt_log: Arc<Mutex<Vec<(usize, String)>>>,
    /// Every command line: (connection, first word, whether more input was
    /// already waiting when it was read, i.e. it was pipelined with the next).
    pub commands: Arc<Mutex<Vec<(usize, String, bool)>>>,
}

impl Sink {
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Binds one listener per address, all on the same port (MX port is global):
/// the first address picks a free port. Retries if another test holds it.
pub async fn bind_same_port(ips: &[IpAddr]) -> Vec<TcpListener> {
    'retry: for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'retry,
            }
        }
        return all;
    }
    panic!("no common free port on {ips:?}");
}

pub fn start(listener: TcpListener, behavior: Behavior) -> Sink {
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let max_sessions = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let open_now = open.clone();
    let sessions = Arc::new(AtomicUsize::new(0));
    let rcpt_log = Arc::new(Mutex::new(Vec::new()));
    let commands = Arc::new(Mutex::new(Vec::new()));
    let (rec, max, accepted) = (received.clone(), max_sessions.clone(), sessions.clone());
    let (rcpts, cmds) = (rcpt_log.clone(), commands.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let number = accepted.fetch_add(1, Ordering::SeqCst) + 1;
            let (rec, max, open, behavior) =
                (rec.clone(), max.clone(), open.clone(), behavior.clone());
            let log = Log {
                received: rec,
                rcpts: rcpts.clone(),
                commands: cmds.clone(),
                session: number,
            };
            tokio::spawn(async move {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                session(stream, behavior, log).await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Sink {
        addr,
        received,
        max_sessions,
        sessions,
        open: open_now,
        rcpt_log,
        commands,
    }
}

/// Where one connection records what it saw.
struct Log {
    received: Arc<Mutex<Vec<Received>>>,
    rcpts: Arc<Mutex<Vec<(usize, String)>>>,
    commands: Arc<Mutex<Vec<(usize, String, bool)>>>,
    session: usize,
}

async fn session(stream: TcpStream, behavior: Behavior, rec: Log) {
    let mut stream = BufReader::new(stream);
    let greeting = format!("{}\r\n", behavior.greeting);
    if stream
        .get_mut()
        .write_all(greeting.as_bytes())
        .await
        .is_err()
        || !greeting.starts_with('2')
    {
        return;
    }
    if converse(&mut stream, &behavior, &rec, false)
        .await
        .is_none()
    {
        return;
    }
    let Some(acceptor) = behavior.starttls.clone() else {
        return;
    };
    let Ok(tls) = acceptor.accept(stream.into_inner()).await else {
        return;
    };
    let mut tls = BufReader::new(tls);
    converse(&mut tls, &behavior, &rec, true).await;
}

struct Upgrade;

/// Runs commands until QUIT/EOF (`None`) or STARTTLS (`Some(Upgrade)`).
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    behavior: &Behavior,
    rec: &Log,
    tls: bool,
) -> Option<Upgrade> {
    let mut cur = Received {
        ehlo: String::new(),
        mail_from: String::new(),
        rcpts: Vec::new(),
        data: Vec::new(),
        tls,
        session: rec.session,
    };
    loop {
        let mut line = Vec::new();
        if stream.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        let verb = upper.split([' ', ':']).next().unwrap_or("").to_string();
        let more = !stream.buffer().is_empty();
        rec.commands.lock().unwrap().push((rec.session, verb, more));
        let reply = if upper.starts_with("EHLO ") {
            cur.ehlo = text[5..].to_string();
            let tls_line = if behavior.starttls.is_some() && !tls {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            let pipelining = if behavior.pipelining {
                "250-PIPELINING\r\n"
            } else {
                ""
            };
            format!("250-sink\r\n{tls_line}{pipelining}250 8BITMIME")
        } else if upper == "STARTTLS" && behavior.starttls.is_some() && !tls {
            stream
                .get_mut()
                .write_all(b"220 2.0.0 go ahead\r\n")
                .await
                .ok()?;
            return Some(Upgrade);
        } else if upper.starts_with("MAIL FROM:") {
            cur.mail_from = text[10..].to_string();
            cur.rcpts.clear();
            "250 2.1.0 ok".into()
        } else if upper.starts_with("RCPT TO:") {
            tokio::time::sleep(behavior.rcpt_delay).await;
            let addr = text[8..].trim_matches(|c| c == '<' || c == '>').to_string();
            let reply = (behavior.rcpt)(&addr);
            rec.rcpts.lock().unwrap().push((rec.session, addr.clone()));
            if reply.starts_with('2') {
                cur.rcpts.push(addr);
            }
            reply
        } else if upper == "DATA" {
            stream.get_mut().write_all(b"354 go on\r\n").await.ok()?;
            cur.data = read_data(stream).await?;
            if behavior.data_reply.starts_with('2') {
                rec.received.lock().unwrap().push(cur.clone());
            }
            behavior.data_reply.clone()
        } else if upper == "QUIT" {
            stream
                .get_mut()
                .write_all(b"221 2.0.0 bye\r\n")
                .await
                .ok()?;
            return None;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 ok".into()
        } else {
            "500 5.5.1 unknown command".into()
        };
        stream
            .get_mut()
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .ok()?;
    }
}

/// Reads DATA up to the lone dot and undoes dot-stuffing.
async fn read_data<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if stream.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(line);
    }
}

/// A TLS acceptor with a fresh self-signed certificate (openssl CLI).
pub fn self_signed_acceptor(dir: &std::path::Path) -> TlsAcceptor {
    let key = dir.join("tls-key.pem");
    let cert = dir.join("tls-cert.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=mx.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}
