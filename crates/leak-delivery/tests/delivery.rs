//! The scheduler end to end: a real DNS server and real SMTP receivers on
//! 127.0.0.x, the in-memory store, and mail that must arrive (or bounce) right.

mod common;
#[path = "../../leak-dkim/tests/support/dkimpy.rs"]
mod dkimpy;

use common::dns::{DnsServer, Zone};
use common::smtp::{bind_same_port, start, Behavior, Sink};
use common::{message, now, run, settings, signer, wait_for, MemStore};
use leak_delivery::TlsMode;
use leak_store::{RecipientStatus, Store};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// Listeners on 127.0.0.<each of `lasts`>, all on one port.
async fn listeners(lasts: &[u8]) -> (u16, Vec<tokio::net::TcpListener>) {
    let ips: Vec<IpAddr> = lasts.iter().map(|l| IpAddr::V4(ip(*l))).collect();
    let ls = bind_same_port(&ips).await;
    (ls[0].local_addr().unwrap().port(), ls)
}

/// One receiver on 127.0.0.2 and a DNS server answering `domain` with its
/// address (implicit MX): the MX port, the receiver, the DNS server.
async fn one_receiver(domain: &str, behavior: Behavior) -> (u16, Sink, DnsServer) {
    let (port, mut ls) = listeners(&[2]).await;
    let sink = start(ls.pop().unwrap(), behavior);
    let mut zone = Zone::default();
    zone.a(domain, ip(2), 300);
    (port, sink, DnsServer::start(zone).await)
}

fn script(f: impl Fn(&str) -> String + Send + Sync + 'static) -> common::smtp::RcptScript {
    Arc::new(f)
}

/// Splits what delivery sent into what it added in front of the stored
/// message (DKIM signatures, leak's `Received`, `Date`) and the stored bytes.
fn split_stamp(data: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(data);
    let date = text.find("\r\nDate: ").expect("a Date line") + 2;
    let end = date + text[date..].find("\r\n").unwrap() + 2;
    let added = text[..end].to_string();
    assert!(added.starts_with("DKIM-Signature: "), "{added}");
    assert!(
        added.contains("\r\nReceived: by mail.anon.test (leak); "),
        "{added}"
    );
    (added, data[end..].to_vec())
}

fn reports(sink: &Sink) -> Vec<String> {
    sink.received()
        .into_iter()
        .filter(|r| r.mail_from == "<>")
        .map(|r| String::from_utf8(r.data).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_preference_fallback_and_one_transaction_per_domain() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, mut ls) = listeners(&[2, 3, 6]).await;
    let busy = start(
        ls.pop().unwrap(),
        Behavior {
            greeting: "421 4.3.2 busy".into(),
            ..Default::default()
        },
    );
    let backup = start(ls.pop().unwrap(), Behavior::default());
    let best = start(ls.pop().unwrap(), Behavior::default());
    let mut zone = Zone::default();
    zone.mx("pref.test", 20, "mx2.pref.test", 300)
        .mx("pref.test", 10, "mx1.pref.test", 300)
        .a("mx1.pref.test", ip(2), 300)
        .a("mx2.pref.test", ip(3), 300)
        // Nothing listens on .5; .6 refuses with 421: both skipped for .3.
        .mx("fallback.test", 10, "dead.fallback.test", 300)
        .mx("fallback.test", 15, "busy.fallback.test", 300)
        .mx("fallback.test", 20, "mx2.pref.test", 300)
        .a("dead.fallback.test", ip(5), 300)
        .a("busy.fallback.test", ip(6), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let text = "Hello\r\n.a line starting with a dot\r\n..two dots\r\n.\r\nend\r\n";
    let (m1, body1) = message(&["a@pref.test", "b@PREF.test"], None, text);
    let (m2, body2) = message(&["c@fallback.test"], None, "x\r\n");
    store.enqueue(m1.clone(), body1.clone()).await.unwrap();
    store.enqueue(m2, body2).await.unwrap();

    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "queue empty", || store.list().unwrap().is_empty()).await;
    running.stop().await;

    let got = best.received();
    assert_eq!(got.len(), 1, "both pref.test recipients in one transaction");
    assert_eq!(got[0].rcpts, ["a@pref.test", "b@PREF.test"]);
    assert_eq!(got[0].ehlo, "mail.anon.test");
    assert_eq!(got[0].mail_from, "<bounces@anon.test>");
    assert_eq!(
        split_stamp(&got[0].data).1,
        body1,
        "dot-stuffing undone gives the stored bytes"
    );
    let got = backup.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, ["c@fallback.test"]);
    assert!(busy.received().is_empty());
    assert_eq!(store.removed.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_mx_null_mx_and_dns_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, mut ls) = listeners(&[4]).await;
    let sink = start(ls.pop().unwrap(), Behavior::default());
    let mut zone = Zone::default();
    zone.a("implicit.test", ip(4), 300)
        .null_mx("nullmx.test")
        .servfail("servfail.test");
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (ok, body) = message(&["bob@implicit.test"], None, "hi\r\n");
    let (null, null_body) = message(
        &["carol@nullmx.test"],
        Some("owner@implicit.test"),
        "SECRET BODY\r\n",
    );
    let (nx, nx_body) = message(&["dan@nope.test"], None, "hi\r\n");
    let (sf, sf_body) = message(&["erin@servfail.test"], None, "hi\r\n");
    for (m, b) in [
        (&ok, body),
        (&null, null_body),
        (&nx, nx_body),
        (&sf, sf_body),
    ] {
        store.enqueue(m.clone(), b).await.unwrap();
    }
    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "report delivered", || reports(&sink).len() == 1).await;
    wait_for(10, "servfail deferred", || {
        let m = store.get(&sf.id).unwrap().unwrap();
        m.recipients[0].status == RecipientStatus::Deferred
    })
    .await;
    running.stop().await;

    // Implicit MX: delivered to the domain's own address.
    assert!(sink
        .received()
        .iter()
        .any(|r| r.rcpts == ["bob@implicit.test"]));
    // Null MX and NXDOMAIN failed at once, without any connection.
    let removed = store.removed.lock().unwrap().clone();
    assert!(removed.contains(&null.id) && removed.contains(&nx.id) && removed.contains(&ok.id));
    let report = &reports(&sink)[0];
    assert!(
        report.contains("Final-Recipient: rfc822; carol@nullmx.test"),
        "{report}"
    );
    assert!(report.contains("Status: 5.1.10"), "{report}");
    assert!(
        !report.contains("SECRET BODY"),
        "reports carry headers only"
    );
    // SERVFAIL is temporary: still queued, deferred, with the DNS error.
    let sf = store.get(&sf.id).unwrap().unwrap();
    assert_eq!(sf.recipients[0].status, RecipientStatus::Deferred);
    let err = sf.recipients[0].last_error.clone().unwrap();
    assert!(err.starts_with("451 4.4.3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failure_then_success_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, mut ls) = listeners(&[2]).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let sink = start(
        ls.pop().unwrap(),
        Behavior {
            rcpt: script(move |_| {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    "451 4.3.0 try later".into()
                } else {
                    "250 2.1.5 ok".into()
                }
            }),
            ..Default::default()
        },
    );
    let mut zone = Zone::default();
    zone.a("retry.test", ip(2), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (m, body) = message(&["bob@retry.test"], Some("owner@retry.test"), "hi\r\n");
    store.enqueue(m.clone(), body).await.unwrap();
    // Due times are whole seconds: a 1 s interval can leave the deferred
    // state visible for a few milliseconds only; 3 s leaves at least 2.
    let mut s = settings(dns.addr, port);
    s.retry_intervals = vec![Duration::from_secs(3)];
    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(10, "first attempt deferred", || {
        store
            .get(&m.id)
            .unwrap()
            .is_some_and(|m| m.recipients[0].status == RecipientStatus::Deferred)
    })
    .await;
    let deferred = store.get(&m.id).unwrap().unwrap();
    assert_eq!(deferred.recipients[0].attempts, 1);
    assert_eq!(
        deferred.recipients[0].last_error.as_deref(),
        Some("451 4.3.0 try later")
    );
    assert_eq!(deferred.history.len(), 1);
    assert!(deferred.recipients[0].next_attempt.unwrap() > deferred.history[0].at);
    wait_for(10, "delivered on retry", || {
        store.get(&m.id).unwrap().is_none()
    })
    .await;
    running.stop().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(sink.received().len(), 1);
    assert!(reports(&sink).is_empty(), "no report for a deferral");
}

/// The message was submitted an hour ago; its first attempt (one domain
/// delivered at once, the other deferred and retried 3 s later) fixes the
/// stamp: both copies carry that time in `Date` and `Received`, and the same
/// signatures, without `t=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_is_the_first_attempt_and_retries_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, records) = signer(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (port, mut ls) = listeners(&[2]).await;
    let sink = start(
        ls.pop().unwrap(),
        Behavior {
            rcpt: script(move |a| {
                if a.ends_with("@later.test") && c.fetch_add(1, Ordering::SeqCst) == 0 {
                    "451 4.3.0 try later".into()
                } else {
                    "250 2.1.5 ok".into()
                }
            }),
            ..Default::default()
        },
    );
    let mut zone = Zone::default();
    zone.a("now.test", ip(2), 300).a("later.test", ip(2), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (mut m, body) = message(&["a@now.test", "b@later.test"], None, "hi\r\n");
    m.created -= 600;
    store.enqueue(m.clone(), body.clone()).await.unwrap();
    let mut s = settings(dns.addr, port);
    s.retry_intervals = vec![Duration::from_secs(3)];
    s.date_rounding = Duration::from_secs(1);
    let started = now();
    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "both delivered", || store.get(&m.id).unwrap().is_none()).await;
    running.stop().await;
    let got = sink.received();
    assert_eq!(got.len(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "later.test was retried");
    let (first, rest1) = split_stamp(&got[0].data);
    let (second, rest2) = split_stamp(&got[1].data);
    assert_eq!((&rest1, &rest2), (&body, &body));
    assert_eq!(first, second, "same Date, Received and signatures");
    let date = first.split("\r\nDate: ").nth(1).unwrap().trim_end();
    let stamp = mail_parser::DateTime::parse_rfc822(date)
        .unwrap()
        .to_timestamp() as u64;
    assert!(
        stamp >= started,
        "Date {date} is the attempt, not the submission"
    );
    assert!(date.ends_with("+0000"), "{date}");
    assert!(first.contains(&format!("(leak); {date}\r\n")), "{first}");
    let unfolded = first.replace("\r\n\t", "");
    assert!(!unfolded.contains(" t="), "{unfolded}");
    for copy in &got {
        assert_eq!(
            dkimpy::verify(dir.path(), &copy.data, &records),
            ["ok", "ok"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_sends_one_signed_report() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, records) = signer(dir.path());
    let (port, mut ls) = listeners(&[2]).await;
    let sink = start(
        ls.pop().unwrap(),
        Behavior {
            rcpt: script(|a| {
                if a.starts_with("bad") {
                    "550 5.1.1 no such user".into()
                } else {
                    "250 2.1.5 ok".into()
                }
            }),
            ..Default::default()
        },
    );
    let mut zone = Zone::default();
    zone.mx("bounce.test", 10, "mx.bounce.test", 300)
        .a("mx.bounce.test", ip(2), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (with_notify, b1) = message(
        &["good@bounce.test", "bad@bounce.test"],
        Some("owner@bounce.test"),
        "PRIVATE TEXT\r\n",
    );
    let (no_notify, b2) = message(&["bad2@bounce.test"], None, "x\r\n");
    let (mut a_report, b3) = message(&["bad3@bounce.test"], Some("owner@bounce.test"), "x\r\n");
    a_report.is_report = true;
    store.enqueue(with_notify.clone(), b1).await.unwrap();
    store.enqueue(no_notify.clone(), b2).await.unwrap();
    store.enqueue(a_report.clone(), b3).await.unwrap();
    let mut s = settings(dns.addr, port);
    s.report_delay = leak_delivery::RandomDelay {
        min: Duration::from_secs(2),
        max: Duration::from_secs(2),
    };
    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(10, "the refusal", || {
        sink.rcpt_log
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a)| a == "bad@bounce.test")
    })
    .await;
    let refused_at = std::time::Instant::now();
    wait_for(20, "queue empty", || store.list().unwrap().is_empty()).await;
    assert!(
        refused_at.elapsed() >= Duration::from_secs(1),
        "the report waits for its delay (2 s, counted in whole seconds)"
    );
    // Let any (wrong) extra report show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;

    let good: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|r| r.rcpts == ["good@bounce.test"])
        .collect();
    assert_eq!(good.len(), 1, "the good recipient got the message");
    let reports = reports(&sink);
    assert_eq!(
        reports.len(),
        1,
        "one report: none without notify, none for reports"
    );
    let report = &reports[0];
    let received = sink
        .received()
        .into_iter()
        .find(|r| r.mail_from == "<>")
        .unwrap();
    assert_eq!(received.rcpts, ["owner@bounce.test"]);
    for needle in [
        "From: \"Mail Delivery System\" <mailer-daemon@anon.test>",
        "multipart/report",
        "report-type=\"delivery-status\"",
        "Content-Type: message/delivery-status",
        "Reporting-MTA: dns; mail.anon.test",
        "Final-Recipient: rfc822; bad@bounce.test",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 no such user",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(report.as_bytes())
        .unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Message non distribué / Undelivered message")
    );
    let text = parsed.body_text(0).unwrap();
    for needle in [
        &format!("Identifiant / Queue id : {}", with_notify.id),
        &format!("Objet / Subject : test {}", with_notify.id),
        "Destinataire / Recipient : <bad@bounce.test>",
        "Raison / Reason : 550 5.1.1 no such user",
        "n'a pas pu être remis",
        "could not be delivered",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Nothing of the refused message but its subject: no header (its
    // Message-ID, its From), no MX name, no arrival time.
    for needle in [
        format!("<{}@anon.test>", with_notify.id),
        "someone@anon.test".into(),
        "mx.bounce.test".into(),
        "Arrival-Date".into(),
        "text/rfc822-headers".into(),
    ] {
        assert!(!report.contains(&needle), "{needle:?} in\n{report}");
    }
    let (added, _) = split_stamp(report.as_bytes());
    assert!(!added.contains("t="), "{added}");
    // Its own connection: not the one that was refused the message.
    let refused_on: Vec<usize> = sink
        .rcpt_log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a.starts_with("bad"))
        .map(|(n, _)| *n)
        .collect();
    assert!(
        !refused_on.contains(&received.session),
        "{refused_on:?} vs {}",
        received.session
    );
    assert!(
        !report.contains("good@bounce.test\r\nAction"),
        "only failed recipients"
    );
    assert!(!report.contains("PRIVATE TEXT"));
    assert_eq!(
        dkimpy::verify(dir.path(), report.as_bytes(), &records),
        ["ok", "ok"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_fails_with_report() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, mut ls) = listeners(&[2, 3]).await;
    let owner = start(ls.pop().unwrap(), Behavior::default());
    let slow = start(
        ls.pop().unwrap(),
        Behavior {
            rcpt: script(|_| "452 4.2.2 mailbox full".into()),
            ..Default::default()
        },
    );
    let mut zone = Zone::default();
    zone.a("slow.test", ip(2), 300).a("owner.test", ip(3), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (m, body) = message(&["bob@slow.test"], Some("me@owner.test"), "hi\r\n");
    // Queued long ago: expires before any attempt.
    let (mut old, old_body) = message(&["carl@slow.test"], Some("me@owner.test"), "x\r\n");
    old.created = now() - 7200;
    store.enqueue(m.clone(), body).await.unwrap();
    store.enqueue(old.clone(), old_body).await.unwrap();
    let mut s = settings(dns.addr, port);
    s.queue_lifetime = Duration::from_secs(3);
    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "two expiry reports", || reports(&owner).len() == 2).await;
    wait_for(5, "queue empty", || store.list().unwrap().is_empty()).await;
    running.stop().await;

    let reports = reports(&owner);
    let live = reports
        .iter()
        .find(|r| r.contains("bob@slow.test"))
        .unwrap();
    assert!(
        live.contains("Status: 4.4.7") && live.contains("452 4.2.2 mailbox full"),
        "{live}"
    );
    let never = reports
        .iter()
        .find(|r| r.contains("carl@slow.test"))
        .unwrap();
    assert!(
        never.contains("Status: 4.4.7") && never.contains("no attempt made"),
        "{never}"
    );
    // The live one was retried until the lifetime ran out; the old one never tried.
    assert!(slow.max_sessions.load(Ordering::SeqCst) >= 1);
    assert!(slow.received().is_empty());
}

/// A crash after a recipient's failure was written but before its report was
/// queued leaves `report_pending` set: the next scheduler run sends the report
/// and only then removes the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_pending_at_a_crash_is_sent_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, owner, dns) = one_receiver("owner.test", Behavior::default()).await;
    let store = Arc::new(MemStore::default());
    let (mut m, body) = message(&["bob@gone.test"], Some("me@owner.test"), "hi\r\n");
    let r = &mut m.recipients[0];
    r.status = RecipientStatus::Failed;
    r.attempts = 1;
    r.next_attempt = None;
    r.last_error = Some("550 5.1.1 no such user".into());
    r.report_pending = true;
    store.enqueue(m.clone(), body).await.unwrap();

    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "the pending report", || reports(&owner).len() == 1).await;
    wait_for(5, "the original removed", || {
        store.get(&m.id).unwrap().is_none()
    })
    .await;
    running.stop().await;
    let report = &reports(&owner)[0];
    assert!(
        report.contains("bob@gone.test") && report.contains("550 5.1.1 no such user"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_opportunistic_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, mut ls) = listeners(&[2, 3]).await;
    let plain = start(ls.pop().unwrap(), Behavior::default());
    let tls = start(
        ls.pop().unwrap(),
        Behavior {
            starttls: Some(common::smtp::self_signed_acceptor(dir.path())),
            ..Default::default()
        },
    );
    let mut zone = Zone::default();
    zone.a("tls.test", ip(2), 300).a("plain.test", ip(3), 300);
    let dns = DnsServer::start(zone).await;
    let store = Arc::new(MemStore::default());
    let (a, ab) = message(&["a@tls.test"], None, "hi\r\n");
    let (b, bb) = message(&["b@plain.test"], None, "hi\r\n");
    store.enqueue(a.clone(), ab.clone()).await.unwrap();
    store.enqueue(b.clone(), bb).await.unwrap();
    let mut s = settings(dns.addr, port);
    s.tls = TlsMode::Required;
    let running = run(s, store.clone(), signer.clone());
    running.waker.notify_one();
    wait_for(10, "tls delivered, plain deferred", || {
        store.get(&a.id).unwrap().is_none()
            && store.get(&b.id).unwrap().is_some_and(|m| {
                m.recipients[0].attempts >= 1 && m.recipients[0].status == RecipientStatus::Deferred
            })
    })
    .await;
    running.stop().await;
    let got = tls.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "sent after STARTTLS");
    assert_eq!(split_stamp(&got[0].data).1, ab);
    assert!(
        plain.received().is_empty(),
        "required TLS never sends in cleartext"
    );
    let err = store.get(&b.id).unwrap().unwrap().recipients[0]
        .last_error
        .clone()
        .unwrap();
    assert!(err.contains("TLS required"), "{err}");

    // Opportunistic: the plain receiver gets it in cleartext.
    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(10, "plain delivered", || {
        store.get(&b.id).unwrap().is_none()
    })
    .await;
    running.stop().await;
    assert!(!plain.received()[0].tls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_mail_verifies_with_dkimpy() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, records) = signer(dir.path());
    let (port, sink, dns) = one_receiver("dkim.test", Behavior::default()).await;
    let store = Arc::new(MemStore::default());
    let (m, body) = message(
        &["v@dkim.test"],
        None,
        "Body\r\n.dot line\r\n  spaced  \r\n",
    );
    store.enqueue(m.clone(), body).await.unwrap();
    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(10, "delivered", || store.get(&m.id).unwrap().is_none()).await;
    running.stop().await;
    let data = sink.received()[0].data.clone();
    assert_eq!(dkimpy::verify(dir.path(), &data, &records), ["ok", "ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_hold_and_delete_during_attempt_stick() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, _sink, dns) = one_receiver(
        "op.test",
        Behavior {
            rcpt: script(|_| "451 4.3.0 later".into()),
            rcpt_delay: Duration::from_millis(800),
            ..Default::default()
        },
    )
    .await;
    let store = Arc::new(MemStore::default());
    let (held, hb) = message(&["h@op.test"], None, "x\r\n");
    let (gone, gb) = message(&["g@op.test"], None, "x\r\n");
    store.enqueue(held.clone(), hb).await.unwrap();
    store.enqueue(gone.clone(), gb).await.unwrap();
    let running = run(settings(dns.addr, port), store.clone(), signer);
    running.waker.notify_one();
    wait_for(10, "attempts started", || {
        [&held.id, &gone.id].iter().all(|id| {
            store
                .get(id)
                .unwrap()
                .is_some_and(|m| m.recipients[0].attempts == 1)
        })
    })
    .await;
    store
        .modify(&held.id, Box::new(|m| m.held = true))
        .await
        .unwrap();
    store.remove(&gone.id).await.unwrap();
    wait_for(10, "held attempt recorded", || {
        store
            .get(&held.id)
            .unwrap()
            .is_some_and(|m| !m.history.is_empty())
    })
    .await;
    // Well past the 1 s retry interval: a held message is not attempted again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    running.stop().await;
    let m = store.get(&held.id).unwrap().unwrap();
    assert!(m.held, "the operator's hold survives the attempt's write");
    assert_eq!(m.recipients[0].attempts, 1);
    assert_eq!(m.recipients[0].status, RecipientStatus::Deferred);
    assert!(
        store.get(&gone.id).unwrap().is_none(),
        "a deleted message stays deleted"
    );
}

/// Messages delivered one after another to the same MX share one SMTP
/// session (checked with RSET), as Postfix's connection cache does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_reused_for_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, sink, dns) = one_receiver("reuse.test", Behavior::default()).await;
    let store = Arc::new(MemStore::default());
    let running = run(settings(dns.addr, port), store.clone(), signer.clone());
    for n in 0..3 {
        let (m, body) = message(&[&format!("r{n}@reuse.test")], None, "hi\r\n");
        store.enqueue(m, body).await.unwrap();
        running.waker.notify_one();
        wait_for(10, "delivered", || sink.received().len() == n + 1).await;
    }
    running.stop().await;
    assert_eq!(
        sink.sessions.load(Ordering::SeqCst),
        1,
        "one session for three messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_domain_concurrency_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, sink, dns) = one_receiver(
        "busy.test",
        Behavior {
            rcpt_delay: Duration::from_millis(150),
            ..Default::default()
        },
    )
    .await;
    let store = Arc::new(MemStore::default());
    for i in 0..5 {
        let (m, b) = message(&[&format!("u{i}@busy.test")], None, "x\r\n");
        store.enqueue(m, b).await.unwrap();
    }
    let mut s = settings(dns.addr, port);
    s.max_per_domain = 2;
    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(20, "all delivered", || store.list().unwrap().is_empty()).await;
    running.stop().await;
    assert_eq!(sink.received().len(), 5);
    let max = sink.max_sessions.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&max),
        "at most 2 sessions to one domain, saw {max}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_loses_nothing_and_duplicates_at_most_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let (port, sink, dns) = one_receiver(
        "crash.test",
        Behavior {
            rcpt_delay: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await;
    let store = Arc::new(MemStore::default());
    let mut ids = Vec::new();
    for i in 0..12 {
        let (m, b) = message(&[&format!("u{i}@crash.test")], None, "x\r\n");
        ids.push(m.id.clone());
        store.enqueue(m, b).await.unwrap();
    }
    let mut s = settings(dns.addr, port);
    s.max_concurrent = 3;
    s.max_per_domain = 3;
    let running = run(s.clone(), store.clone(), signer.clone());
    running.waker.notify_one();
    wait_for(20, "some delivered", || sink.received().len() >= 4).await;
    running.kill().await;
    let left = store.list().unwrap().len();
    assert!(left > 0, "killed before the end");

    let running = run(s, store.clone(), signer);
    running.waker.notify_one();
    wait_for(30, "queue empty after restart", || {
        store.list().unwrap().is_empty()
    })
    .await;
    running.stop().await;
    let received = sink.received();
    let mut duplicates = 0;
    for id in &ids {
        let subject = format!("Subject: test {id}\r\n");
        let copies = received
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.data).contains(&subject))
            .count();
        assert!((1..=2).contains(&copies), "{id}: {copies} copies");
        duplicates += copies - 1;
    }
    assert!(
        duplicates <= 3,
        "only in-flight messages may repeat, got {duplicates}"
    );
}
