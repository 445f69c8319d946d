//! The SMTP client side: one transaction carrying a message to all recipients
//! at one domain, over mail-send, trying the domain's MX hosts in order.
//!
//! A host that cannot be reached, refuses the session (greeting, EHLO, MAIL with
//! 4xx), or fails TLS is skipped for the next one; the first host that answers
//! RCPT/DATA decides. If none does, every recipient is deferred.

use crate::intl;
use crate::sessions::{Capabilities, Session, SessionCache};
use crate::tls::{HostTls, Route, TlsFailure, TlsUsed};
use crate::{IpFamily, TlsMode};
use mail_send::SmtpClient;
use smtp_proto::{
    EhloResponse, Response, EXT_8BIT_MIME, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

/// Longest remote reply kept (it lands in the store and in reports).
const MAX_REPLY_LEN: usize = 512;

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx after DATA.
    Delivered,
    /// 4xx, or no host gave an answer: try again later.
    Deferred,
    /// 5xx: never retried.
    Failed,
}

/// One recipient's result with the reply (or local error) that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub address: String,
    pub outcome: Outcome,
    pub reply: String,
}

/// The result of delivering to one domain.
#[derive(Debug, Clone, Default)]
pub struct DomainResult {
    /// The MX host that gave the answer, or the last one tried.
    pub mx: Option<String>,
    pub results: Vec<RecipientResult>,
    /// Set when shaping deferred the recipients (suspended destination,
    /// rate slot far ahead): their next attempt is then, and this attempt
    /// does not count against them.
    pub retry_at: Option<u64>,
    /// How the session that answered was protected (for the metrics).
    pub tls_used: Option<TlsUsed>,
    /// Hosts that failed the domain's TLS policy, and why (metrics, TLS-RPT).
    pub tls_failures: Vec<(String, TlsFailure)>,
}

/// How to talk to MX hosts (from the delivery settings).
#[derive(Clone)]
pub(crate) struct SmtpConfig {
    pub hostname: String,
    pub port: u16,
    pub tls: TlsMode,
    pub connector: TlsConnector,
    /// For domains whose policy is `verify` or MTA-STS (see `tls.rs`).
    pub verifying: TlsConnector,
    /// The same check, for MTA-STS `testing` policies (noted, not enforced).
    pub webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Sessions kept open between transactions to the same MX address.
    pub sessions: Arc<SessionCache>,
    /// Transactions per connection before it is closed; 0: no limit.
    pub per_connection: u32,
    pub ip_family: IpFamily,
    pub source_ipv4: Option<Ipv4Addr>,
    pub source_ipv6: Option<Ipv6Addr>,
}

impl SmtpConfig {
    fn family_allows(&self, addr: &IpAddr) -> bool {
        match self.ip_family {
            IpFamily::Any => true,
            IpFamily::Ipv4 => addr.is_ipv4(),
            IpFamily::Ipv6 => addr.is_ipv6(),
        }
    }

    /// A TCP connection to `sock` from the configured source address of
    /// its family, if any (bound before connecting).
    async fn connect(&self, sock: SocketAddr) -> Result<TcpStream, String> {
        let (socket, source) = match sock {
            SocketAddr::V4(_) => (TcpSocket::new_v4(), self.source_ipv4.map(IpAddr::V4)),
            SocketAddr::V6(_) => (TcpSocket::new_v6(), self.source_ipv6.map(IpAddr::V6)),
        };
        let socket = socket.map_err(|e| format!("socket: {e}"))?;
        if let Some(source) = source {
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(|e| format!("bind to {source}: {e}"))?;
        }
        tokio::time::timeout(self.connect_timeout, socket.connect(sock))
            .await
            .map_err(|_| format!("connect to {sock}: timed out"))?
            .map_err(|e| format!("connect to {sock}: {e}"))
    }
}

/// One message to one domain: the envelope and the canonical body.
pub(crate) struct Transaction<'a> {
    /// MAIL FROM; empty for the null sender of failure reports.
    pub from: &'a str,
    pub recipients: &'a [String],
    /// CRLF line endings, without the final CRLF (see [`canonical_body`]).
    pub body: &'a [u8],
    /// Open a connection for this transaction alone: no kept session is
    /// used, and the session is closed afterwards (failure reports).
    pub own_session: bool,
}

/// Why a host was skipped; `tls` when it failed its TLS policy.
struct Skip {
    reason: String,
    tls: Option<TlsFailure>,
}

impl From<String> for Skip {
    fn from(reason: String) -> Skip {
        Skip { reason, tls: None }
    }
}

/// Tries each MX address in order until one gives a definitive answer.
pub(crate) async fn deliver(
    cfg: &SmtpConfig,
    routes: &[Route],
    tx: &Transaction<'_>,
) -> DomainResult {
    let mut last = ("no MX host address to try".to_string(), None);
    let mut tls_failures = Vec::new();
    let mut policy_failed = false;
    for route in routes {
        let host = &route.target.host;
        for &addr in route.target.addrs.iter().filter(|a| cfg.family_allows(a)) {
            match try_host(cfg, route, addr, tx).await {
                Ok((results, tls_used, noted)) => {
                    // An MTA-STS `testing` failure: delivered, reported.
                    tls_failures.extend(noted.map(|failure| (host.clone(), failure)));
                    return DomainResult {
                        mx: Some(host.clone()),
                        results,
                        retry_at: None,
                        tls_used: Some(tls_used),
                        tls_failures,
                    };
                }
                Err(skip) => {
                    tracing::info!(mx = %host, %addr, error = %skip.reason, "MX host skipped");
                    if let Some(failure) = skip.tls {
                        policy_failed = true;
                        tls_failures.push((host.clone(), failure));
                    }
                    last = (skip.reason, Some(host.clone()));
                }
            }
        }
    }
    let (reply, mx) = last;
    let reply = if policy_failed || routes.iter().any(|r| r.tls.authenticated()) {
        format!("451 4.7.5 no MX host met the domain's TLS policy; last: {reply}")
    } else {
        format!("451 4.4.1 no MX host accepted the session; last: {reply}")
    };
    DomainResult {
        mx,
        results: all(tx.recipients, Outcome::Deferred, &reply),
        retry_at: None,
        tls_used: None,
        tls_failures,
    }
}

/// One host: `Ok` with per-recipient results once it answered the transaction
/// (with how the session was protected, and what an MTA-STS `testing`
/// policy would have refused of it), `Err` with the reason when the next
/// host should be tried. A kept session to the address is used first; the
/// session is kept again afterwards; neither for a transaction that wants
/// its own session.
async fn try_host(
    cfg: &SmtpConfig,
    route: &Route,
    addr: IpAddr,
    tx: &Transaction<'_>,
) -> Result<(Vec<RecipientResult>, TlsUsed, Option<TlsFailure>), Skip> {
    let sock = SocketAddr::new(addr, cfg.port);
    let host = route.target.host.as_str();
    if tx.own_session {
        let mut session = open(cfg, host, sock, &route.tls).await?;
        let caps = session.capabilities();
        let (results, clean) = session.transaction(cfg, tx, false).await?;
        if clean {
            session.quit().await;
        }
        return Ok((results, caps.tls, caps.sts_testing));
    }
    if let Some((mut session, used)) = cfg.sessions.take(sock) {
        // A session never carries mail for a domain whose policy demands
        // more than it was authenticated with.
        let tls = session.capabilities().tls;
        // With PIPELINING the check's RSET goes out with the transaction's
        // first commands; otherwise on its own first.
        let pipelined = session.capabilities().pipelining;
        match reused_as(tls, &route.tls) {
            None => session.quit().await,
            Some(counted) => {
                if pipelined || session.reset().await {
                    let done = session.transaction(cfg, tx, pipelined).await;
                    if let Ok((results, clean)) = done {
                        keep_or_close(cfg, sock, session, clean, used + 1).await;
                        return Ok((results, counted, None));
                    }
                }
            }
        }
        // A kept session that fails is not the host's fault: open a new one.
    }
    let mut session = open(cfg, host, sock, &route.tls).await?;
    let caps = session.capabilities();
    let (results, clean) = session.transaction(cfg, tx, false).await?;
    keep_or_close(cfg, sock, session, clean, 1).await;
    Ok((results, caps.tls, caps.sts_testing))
}

/// Whether a kept session protected as `used` may carry mail whose route
/// demands `wanted`, and if so what it counts as for that transaction.
///
/// - `verify`/MTA-STS routes take a webpki-verified session, counted as the
///   route's own level;
/// - DANE and MTA-STS `testing` routes never take one: they open their own
///   session (the check, or the note for TLS-RPT, is made at the
///   handshake; a DANE certificate matched the TLSA records of the host the
///   session was opened for, which may be another name at this address);
/// - an opportunistic route takes any session, counted as opportunistic
///   (or plaintext): a session verified under another domain's policy (an
///   MTA-STS `testing` host whose certificate passed) is no more than that
///   for a domain that asked for nothing — whose MTA-STS policy could not
///   be had, say. Counting it as MTA-STS would report to that domain
///   (TLS-RPT) a successful session its policy never vouched for.
fn reused_as(used: TlsUsed, wanted: &HostTls) -> Option<TlsUsed> {
    match wanted {
        HostTls::Opportunistic if used == TlsUsed::Plaintext => Some(TlsUsed::Plaintext),
        HostTls::Opportunistic => Some(TlsUsed::Opportunistic),
        HostTls::Verify | HostTls::MtaSts if !matches!(used, TlsUsed::Verify | TlsUsed::MtaSts) => {
            None
        }
        HostTls::Verify => Some(TlsUsed::Verify),
        HostTls::MtaSts => Some(TlsUsed::MtaSts),
        HostTls::Dane(_) | HostTls::StsTesting { .. } => None,
    }
}

/// Keeps a clean session for the next transaction, unless it has carried
/// `messages_per_connection` already (then `QUIT`).
async fn keep_or_close(
    cfg: &SmtpConfig,
    sock: SocketAddr,
    session: Session,
    clean: bool,
    used: u32,
) {
    if !clean {
        return;
    }
    if cfg.per_connection > 0 && used >= cfg.per_connection {
        session.quit().await;
    } else {
        cfg.sessions.keep(sock, session, used);
    }
}

/// Connects, reads the greeting, says EHLO and upgrades with STARTTLS when
/// offered (or fails when TLS is required and not offered). An
/// authenticated route requires STARTTLS and a certificate its policy
/// accepts: webpki-valid for `host`, or matching its TLSA records.
async fn open(
    cfg: &SmtpConfig,
    host: &str,
    sock: SocketAddr,
    route: &HostTls,
) -> Result<Session, Skip> {
    let mut client = SmtpClient {
        stream: cfg.connect(sock).await?,
        timeout: cfg.command_timeout,
    };
    // Without this, the small write that ends DATA waits for the delayed ACK
    // of the body (Nagle): 40 ms per message.
    let _ = client.stream.set_nodelay(true);
    let greeting = tokio::time::timeout(cfg.command_timeout, client.read())
        .await
        .map_err(|_| format!("{sock}: no greeting"))?
        .map_err(|e| format!("{sock}: greeting: {e}"))?;
    if greeting.code / 100 != 2 {
        return Err(reply_text(&greeting).into());
    }
    let ehlo = client
        .ehlo(&cfg.hostname)
        .await
        .map_err(|e| format!("EHLO: {}", error_text(e)))?;
    if ehlo.has_capability(EXT_START_TLS) {
        let (dane, used, testing);
        let mut verified = None;
        let connector = match route {
            HostTls::Opportunistic | HostTls::StsTesting { listed: false } => {
                used = TlsUsed::Opportunistic;
                &cfg.connector
            }
            HostTls::StsTesting { listed: true } => {
                used = TlsUsed::Opportunistic;
                let flag;
                (testing, flag) =
                    crate::tls::testing_connector(cfg.webpki.clone()).map_err(|e| e.to_string())?;
                verified = Some(flag);
                &testing
            }
            HostTls::Verify => {
                used = TlsUsed::Verify;
                &cfg.verifying
            }
            HostTls::MtaSts => {
                used = TlsUsed::MtaSts;
                &cfg.verifying
            }
            HostTls::Dane(records) => {
                used = TlsUsed::Dane;
                dane = crate::dane::connector(records.clone()).map_err(|e| e.to_string())?;
                &dane
            }
        };
        let mut tls = client.start_tls(connector, host).await.map_err(|e| {
            let text = error_text(e);
            match route {
                HostTls::Opportunistic | HostTls::StsTesting { .. } => {
                    Skip::from(format!("STARTTLS: {text}"))
                }
                HostTls::Dane(_) => Skip {
                    reason: format!("{host}: certificate matches no TLSA record: {text}"),
                    tls: Some(TlsFailure::ValidationFailure),
                },
                _ => Skip {
                    reason: format!("{host}: certificate not verified: {text}"),
                    tls: Some(TlsFailure::CertificateNotTrusted),
                },
            }
        })?;
        let ehlo = tls
            .ehlo(&cfg.hostname)
            .await
            .map_err(|e| format!("EHLO after STARTTLS: {}", error_text(e)))?;
        let verified = verified.map(|flag| flag.load(std::sync::atomic::Ordering::Relaxed));
        let (tls_used, sts_testing) = match (route, verified) {
            // A testing policy whose check passed: as good as `enforce`.
            (_, Some(true)) => (TlsUsed::MtaSts, None),
            (_, Some(false)) => (used, Some(TlsFailure::CertificateNotTrusted)),
            (HostTls::StsTesting { .. }, None) => (used, Some(TlsFailure::ValidationFailure)),
            _ => (used, None),
        };
        let caps = Capabilities {
            tls: tls_used,
            sts_testing,
            ..capabilities(&ehlo)
        };
        Ok(Session::Tls(Box::new(tls), caps))
    } else if route.authenticated() {
        let _ = client.quit().await;
        Err(Skip {
            reason: format!("{host} does not offer STARTTLS"),
            tls: Some(TlsFailure::StarttlsNotSupported),
        })
    } else if cfg.tls == TlsMode::Required {
        let _ = client.quit().await;
        Err(Skip::from(
            "TLS required but the host does not offer STARTTLS".to_string(),
        ))
    } else {
        let sts_testing = match route {
            HostTls::StsTesting { listed: true } => Some(TlsFailure::StarttlsNotSupported),
            HostTls::StsTesting { listed: false } => Some(TlsFailure::ValidationFailure),
            _ => None,
        };
        let caps = Capabilities {
            sts_testing,
            ..capabilities(&ehlo)
        };
        Ok(Session::Plain(client, caps))
    }
}

fn capabilities(ehlo: &EhloResponse<String>) -> Capabilities {
    Capabilities {
        smtputf8: ehlo.has_capability(EXT_SMTP_UTF8),
        eight_bit_mime: ehlo.has_capability(EXT_8BIT_MIME),
        size: ehlo.has_capability(EXT_SIZE),
        pipelining: ehlo.has_capability(EXT_PIPELINING),
        tls: TlsUsed::Plaintext,
        sts_testing: None,
    }
}

impl Session {
    fn capabilities(&self) -> Capabilities {
        match self {
            Session::Plain(_, caps) | Session::Tls(_, caps) => *caps,
        }
    }

    /// `RSET` on a kept session: true when it is still usable.
    async fn reset(&mut self) -> bool {
        match self {
            Session::Plain(client, _) => client.rset().await.is_ok(),
            Session::Tls(client, _) => client.rset().await.is_ok(),
        }
    }

    /// `QUIT`, for a session that is not kept.
    async fn quit(self) {
        let _ = match self {
            Session::Plain(client, _) => client.quit().await,
            Session::Tls(client, _) => client.quit().await,
        };
    }

    /// `reset`: pipeline an `RSET` (the kept session's check) first.
    async fn transaction(
        &mut self,
        cfg: &SmtpConfig,
        tx: &Transaction<'_>,
        reset: bool,
    ) -> Result<(Vec<RecipientResult>, bool), String> {
        match self {
            Session::Plain(client, caps) => transaction(client, *caps, cfg, tx, reset).await,
            Session::Tls(client, caps) => transaction(client.as_mut(), *caps, cfg, tx, reset).await,
        }
    }
}

/// One transaction on an open session: per-recipient results, and whether the
/// session ended in a known state (every reply read), so it can be reused.
/// With PIPELINING (RFC 2920) the envelope (`RSET` when `reset`, `MAIL`,
/// every `RCPT`, `DATA`) goes in one write and its replies are read
/// together, as Postfix does; otherwise one command at a time.
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    caps: Capabilities,
    cfg: &SmtpConfig,
    tx: &Transaction<'_>,
    reset: bool,
) -> Result<(Vec<RecipientResult>, bool), String> {
    let io = |e: mail_send::Error| error_text(e);
    let utf8 = needs_smtputf8(tx) && caps.smtputf8;
    let from = match intl::wire_address(tx.from) {
        Some(from) if utf8 || !intl::utf8_local_part(&from) => from,
        Some(_) => return Ok((all(tx.recipients, Outcome::Failed, intl::NO_SMTPUTF8), true)),
        None => {
            let reply = "553 5.1.7 invalid sender domain";
            return Ok((all(tx.recipients, Outcome::Failed, reply), true));
        }
    };
    let mail_cmd = format!(
        "MAIL FROM:<{from}>{}\r\n",
        mail_parameters(caps, utf8, tx.body)
    );
    if caps.pipelining {
        match pipelined_envelope(client, cfg, tx, utf8, reset, &mail_cmd).await? {
            Envelope::Done(results, clean) => return Ok((results, clean)),
            Envelope::Data(results, accepted, data) => {
                return send_data(client, cfg, tx.body, results, accepted, data).await
            }
        }
    }
    let mail = client.cmd(mail_cmd).await.map_err(io)?;
    match mail.code / 100 {
        2 => {}
        5 => {
            return Ok((
                all(tx.recipients, Outcome::Failed, &reply_text(&mail)),
                true,
            ))
        }
        _ => return Err(format!("MAIL FROM: {}", reply_text(&mail))),
    }
    let mut results = Vec::with_capacity(tx.recipients.len());
    let mut accepted = Vec::new();
    for (i, rcpt) in tx.recipients.iter().enumerate() {
        let wire = match rcpt_wire(rcpt, utf8) {
            Ok(wire) => wire,
            Err(refused) => {
                results.push(refused);
                continue;
            }
        };
        let reply = client
            .cmd(format!("RCPT TO:<{wire}>\r\n"))
            .await
            .map_err(io)?;
        if reply.code / 100 == 2 {
            accepted.push(i);
        }
        results.push(RecipientResult {
            address: rcpt.clone(),
            outcome: outcome_of(reply.code),
            reply: reply_text(&reply),
        });
    }
    if accepted.is_empty() {
        return Ok((results, true));
    }
    let data = client.cmd(b"DATA\r\n").await.map_err(io)?;
    send_data(client, cfg, tx.body, results, accepted, data).await
}

/// A recipient's address as sent, or its result when it cannot be sent
/// (UTF-8 local part without SMTPUTF8, invalid domain).
fn rcpt_wire(rcpt: &str, utf8: bool) -> Result<String, RecipientResult> {
    match intl::wire_address(rcpt) {
        Some(wire) if utf8 || !intl::utf8_local_part(&wire) => Ok(wire),
        refused => {
            let reply = match refused {
                Some(_) => intl::NO_SMTPUTF8,
                None => "553 5.1.3 invalid recipient domain",
            };
            Err(RecipientResult {
                address: rcpt.to_owned(),
                outcome: Outcome::Failed,
                reply: reply.to_string(),
            })
        }
    }
}

/// Where a pipelined envelope left the transaction.
enum Envelope {
    /// Decided without sending the body; whether the session is reusable.
    Done(Vec<RecipientResult>, bool),
    /// Recipients accepted (indexes into the results) and the reply to DATA.
    Data(Vec<RecipientResult>, Vec<usize>, Response<String>),
}

/// Sends `RSET` (when `reset`), `MAIL`, every sendable `RCPT` and `DATA`
/// (when there is a recipient to send) in one write, then reads all their
/// replies. Decides as the one-at-a-time path does: `Err` (next host, or a
/// new session for a kept one) for a failed `RSET` or a 4xx to `MAIL`,
/// every recipient failed for a 5xx to `MAIL`, each `RCPT`'s own reply. A
/// `354` to a `DATA` that must not carry the body (`MAIL` or every `RCPT`
/// refused) leaves the session in DATA: it is not reused (closing it
/// aborts the transaction at the server).
async fn pipelined_envelope<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    cfg: &SmtpConfig,
    tx: &Transaction<'_>,
    utf8: bool,
    reset: bool,
    mail_cmd: &str,
) -> Result<Envelope, String> {
    use tokio::io::AsyncWriteExt;
    let mut results = Vec::with_capacity(tx.recipients.len());
    let mut sent = Vec::new();
    let mut commands = String::new();
    if reset {
        commands.push_str("RSET\r\n");
    }
    commands.push_str(mail_cmd);
    for (i, rcpt) in tx.recipients.iter().enumerate() {
        match rcpt_wire(rcpt, utf8) {
            Ok(wire) => {
                commands.push_str(&format!("RCPT TO:<{wire}>\r\n"));
                sent.push(i);
                // Its result once the reply is read.
                results.push(RecipientResult {
                    address: rcpt.clone(),
                    outcome: Outcome::Deferred,
                    reply: String::new(),
                });
            }
            Err(refused) => results.push(refused),
        }
    }
    if !sent.is_empty() {
        commands.push_str("DATA\r\n");
    }
    let expected = usize::from(reset) + 1 + sent.len() + usize::from(!sent.is_empty());
    let replies = tokio::time::timeout(cfg.command_timeout, async {
        client.stream.write_all(commands.as_bytes()).await?;
        client.stream.flush().await?;
        client.read_many(expected).await
    })
    .await
    .map_err(|_| "timeout waiting for the pipelined replies".to_string())?
    .map_err(error_text)?;
    if replies.len() != expected {
        return Err(format!("{} replies to {expected} commands", replies.len()));
    }
    let mut replies = replies.into_iter();
    let mut next = || replies.next().expect("as many replies as commands");
    if reset {
        let rset = next();
        if rset.code / 100 != 2 {
            return Err(format!("RSET: {}", reply_text(&rset)));
        }
    }
    let mail = next();
    let rcpt_replies: Vec<_> = sent.iter().map(|_| next()).collect();
    let data = (!sent.is_empty()).then(&mut next);
    let in_data = data.as_ref().is_some_and(|d| d.code == 354);
    match mail.code / 100 {
        2 => {}
        5 => {
            let results = all(tx.recipients, Outcome::Failed, &reply_text(&mail));
            return Ok(Envelope::Done(results, !in_data));
        }
        _ => return Err(format!("MAIL FROM: {}", reply_text(&mail))),
    }
    let mut accepted = Vec::new();
    for (&i, reply) in sent.iter().zip(rcpt_replies) {
        if reply.code / 100 == 2 {
            accepted.push(i);
        }
        results[i].outcome = outcome_of(reply.code);
        results[i].reply = reply_text(&reply);
    }
    match data {
        Some(data) if !accepted.is_empty() => Ok(Envelope::Data(results, accepted, data)),
        _ => Ok(Envelope::Done(results, !in_data)),
    }
}

/// After the reply to DATA: the body when it was `354`, and the final
/// reply for every accepted recipient.
async fn send_data<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    cfg: &SmtpConfig,
    body: &[u8],
    mut results: Vec<RecipientResult>,
    accepted: Vec<usize>,
    data: Response<String>,
) -> Result<(Vec<RecipientResult>, bool), String> {
    let mut clean = true;
    let final_reply = if data.code == 354 {
        let sent = tokio::time::timeout(cfg.data_timeout, async {
            client.write_message(body).await?;
            client.read().await
        })
        .await;
        match sent {
            Ok(Ok(reply)) => (outcome_of(reply.code), reply_text(&reply)),
            // The body may or may not have arrived: defer (at worst a duplicate).
            Ok(Err(e)) => {
                clean = false;
                (
                    Outcome::Deferred,
                    format!("451 4.4.2 after DATA: {}", error_text(e)),
                )
            }
            Err(_) => {
                clean = false;
                (
                    Outcome::Deferred,
                    "451 4.4.2 timeout after DATA".to_string(),
                )
            }
        }
    } else {
        let outcome = match outcome_of(data.code) {
            Outcome::Delivered => Outcome::Deferred, // 2xx to DATA is a protocol error
            other => other,
        };
        (outcome, reply_text(&data))
    };
    for i in accepted {
        results[i].outcome = final_reply.0;
        results[i].reply = final_reply.1.clone();
    }
    Ok((results, clean))
}

/// Whether the transaction carries UTF-8 where RFC 6531 needs SMTPUTF8:
/// an envelope local part, or the header section.
fn needs_smtputf8(tx: &Transaction<'_>) -> bool {
    intl::utf8_local_part(tx.from)
        || tx.recipients.iter().any(|r| intl::utf8_local_part(r))
        || intl::utf8_headers(tx.body)
}

/// `SIZE=` (RFC 1870) and `BODY=8BITMIME` (RFC 6152) when the host offers
/// them, `SMTPUTF8` when the transaction uses it.
fn mail_parameters(caps: Capabilities, utf8: bool, body: &[u8]) -> String {
    let mut params = String::new();
    if caps.size {
        // The body plus the final CRLF the terminator adds.
        params.push_str(&format!(" SIZE={}", body.len() + 2));
    }
    if caps.eight_bit_mime && !body.is_ascii() {
        params.push_str(" BODY=8BITMIME");
    }
    if utf8 {
        params.push_str(" SMTPUTF8");
    }
    params
}

fn outcome_of(code: u16) -> Outcome {
    match code / 100 {
        2 => Outcome::Delivered,
        5 => Outcome::Failed,
        _ => Outcome::Deferred,
    }
}

fn all(recipients: &[String], outcome: Outcome, reply: &str) -> Vec<RecipientResult> {
    recipients
        .iter()
        .map(|address| RecipientResult {
            address: address.clone(),
            outcome,
            reply: reply.to_string(),
        })
        .collect()
}

/// `550 5.1.1 no such user`, on one line, bounded.
pub(crate) fn reply_text(reply: &Response<String>) -> String {
    let mut text = if reply.esc[0] != 0 {
        format!(
            "{} {}.{}.{} {}",
            reply.code, reply.esc[0], reply.esc[1], reply.esc[2], reply.message
        )
    } else {
        format!("{} {}", reply.code, reply.message)
    };
    text = text.replace(['\r', '\n'], " ");
    truncate(&mut text);
    text
}

fn error_text(err: mail_send::Error) -> String {
    match err {
        mail_send::Error::UnexpectedReply(reply) => reply_text(&reply),
        other => {
            let mut text = other.to_string();
            truncate(&mut text);
            text
        }
    }
}

fn truncate(text: &mut String) {
    if text.len() > MAX_REPLY_LEN {
        let mut end = MAX_REPLY_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The body as it goes on the wire before dot-stuffing: every line ending CRLF
/// (bare CR and bare LF become CRLF, so no receiver can see a line end the
/// signer did not), minus the final CRLF that mail-send's `<CRLF>.<CRLF>`
/// terminator supplies. A body whose line ends are already all CRLF (every
/// message leak builds) is only cut, in place: a large message is not
/// copied once more.
pub(crate) fn canonical_body(mut body: Vec<u8>) -> Vec<u8> {
    if crlf_only(&body) {
        if body.ends_with(b"\r\n") {
            body.truncate(body.len() - 2);
        }
        return body;
    }
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// Whether every CR in `body` is followed by LF and every LF preceded by CR.
fn crlf_only(body: &[u8]) -> bool {
    body.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => body.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && body[i - 1] == b'\r',
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_body_fixes_line_endings() {
        let canonical = |body: &[u8]| canonical_body(body.to_vec());
        assert_eq!(canonical(b"a\r\nb\nc\rd\r\n"), b"a\r\nb\r\nc\r\nd");
        assert_eq!(canonical(b"a\r\n.\r\n\r\n"), b"a\r\n.\r\n");
        assert_eq!(canonical(b"no end"), b"no end");
        assert_eq!(canonical(b""), b"");
        assert_eq!(canonical(b"\n\r"), b"\r\n");
        assert_eq!(canonical(b"a\r\r\nb\r\n"), b"a\r\n\r\nb");
    }

    #[test]
    fn replies_are_one_bounded_line() {
        let reply = Response {
            code: 550,
            esc: [5, 1, 1],
            message: "no such\nuser".to_string(),
        };
        assert_eq!(reply_text(&reply), "550 5.1.1 no such user");
        let long = Response {
            code: 451,
            esc: [0, 0, 0],
            message: "é".repeat(400),
        };
        assert!(reply_text(&long).len() <= MAX_REPLY_LEN);
    }

    #[test]
    fn a_reused_session_counts_as_no_more_than_its_route_asked_for() {
        for used in TlsUsed::ALL {
            // A route that asked for nothing takes any kept session, and
            // never counts it as an authenticated one.
            let expected = match used {
                TlsUsed::Plaintext => TlsUsed::Plaintext,
                _ => TlsUsed::Opportunistic,
            };
            assert_eq!(reused_as(used, &HostTls::Opportunistic), Some(expected));
            // An authenticated route takes only a webpki-verified session,
            // counted as what the route asked for.
            let webpki = matches!(used, TlsUsed::Verify | TlsUsed::MtaSts);
            for (wanted, level) in [
                (HostTls::Verify, TlsUsed::Verify),
                (HostTls::MtaSts, TlsUsed::MtaSts),
            ] {
                let counted = reused_as(used, &wanted);
                assert_eq!(counted, webpki.then_some(level), "{wanted:?}, {used:?}");
            }
            // A testing route always opens its own session.
            let testing = HostTls::StsTesting { listed: true };
            assert_eq!(reused_as(used, &testing), None, "{used:?}");
        }
        // What TLS-RPT saw: a session verified under a testing policy,
        // reused for a domain whose policy could not be had.
        assert_eq!(
            reused_as(TlsUsed::MtaSts, &HostTls::Opportunistic),
            Some(TlsUsed::Opportunistic)
        );
    }
}
