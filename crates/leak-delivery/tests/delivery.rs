//! The scheduler end to end: a real DNS server and real SMTP receivers on
//! 127.0.0.x, the in-memory store, and mail that must arrive (or bounce) right.

mod common;
#[path = "../../leak-dkim/tests/support/dkimpy.rs"]
mod dkimpy;

use common::dns::{DnsServer, Zone};
use common::smtp::{start, Behavior};
use common::{
    ip, listeners, message, now, one_receiver, reports, run, script, settings, signer, split_stamp,
    wait_for, MemStore,
};
use leak_delivery::TlsMode;
use leak_store::{RecipientStatus, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// Pipelined, every RCPT refused: the recipients fail with their own reply
/// and no body is sent. The test receiver answers the DATA sent with them
/// `354` anyway (as a sloppy server might): that session is then not kept,
/// so the next message opens a new one and is delivered whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_refusals_do_not_reuse_a_session_left_in_data() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let behavior = Behavior {
        rcpt: script(|a| {
            if a.starts_with("nobody") {
                "550 5.1.1 no such user".into()
            } else {
                "250 2.1.5 ok".into()
            }
        }),
        ..Behavior::default()
    };
    let (port, sink, dns) = one_receiver("refuse.test", behavior).await;
    let store = Arc::new(MemStore::default());
    let running = run(settings(dns.addr, port), store.clone(), signer.clone());
    let (refused, body) = message(
        &["nobody1@refuse.test", "nobody2@refuse.test"],
        None,
        "x\r\n",
    );
    store.enqueue(refused.clone(), body).await.unwrap();
    running.waker.notify_one();
    wait_for(10, "refused and removed", || {
        store.removed.lock().unwrap().contains(&refused.id)
    })
    .await;
    // Closed, not kept for the next message.
    wait_for(10, "session closed", || {
        sink.open.load(Ordering::SeqCst) == 0
    })
    .await;
    let (good, body) = message(&["someone@refuse.test"], None, "hi\r\n");
    store.enqueue(good, body).await.unwrap();
    running.waker.notify_one();
    wait_for(10, "delivered", || sink.received().len() == 1).await;
    running.stop().await;
    let received = sink.received();
    assert_eq!(received[0].rcpts, ["someone@refuse.test"]);
    assert!(
        received[0].data.ends_with(b"hi\r\n"),
        "the whole message: {:?}",
        String::from_utf8_lossy(&received[0].data)
    );
    assert_eq!(
        received[0].session, 2,
        "a new session after the one left in DATA"
    );
    let rcpts = sink.rcpt_log.lock().unwrap().clone();
    assert_eq!(rcpts.len(), 3, "{rcpts:?}");
}

/// With PIPELINING offered, the envelope goes in one write (RFC 2920): the
/// receiver reads MAIL and RCPT with the next command already waiting, and
/// a kept session's RSET check travels with them; DATA ends the group (the
/// body waits for 354). Without it, one command at a time, RSET on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_envelope_is_pipelined_when_offered_and_not_otherwise() {
    for pipelining in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (signer, _) = signer(dir.path());
        let behavior = Behavior {
            pipelining,
            ..Behavior::default()
        };
        let (port, sink, dns) = one_receiver("pipe.test", behavior).await;
        let store = Arc::new(MemStore::default());
        let running = run(settings(dns.addr, port), store.clone(), signer.clone());
        for n in 0..2 {
            let rcpts = [format!("a{n}@pipe.test"), format!("b{n}@pipe.test")];
            let (m, body) = message(&[&rcpts[0], &rcpts[1]], None, "hi\r\n");
            store.enqueue(m, body).await.unwrap();
            running.waker.notify_one();
            wait_for(10, "delivered", || sink.received().len() == n + 1).await;
        }
        running.stop().await;
        let received = sink.received();
        assert_eq!(received[1].rcpts, ["a1@pipe.test", "b1@pipe.test"]);
        assert!(received.iter().all(|r| r.session == 1), "one session");
        let seen: Vec<(String, bool)> = sink
            .commands
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, verb, _)| verb != "QUIT")
            .map(|(_, verb, more)| (verb.clone(), *more))
            .collect();
        let p = pipelining;
        let expected: Vec<(String, bool)> = [
            ("EHLO", false),
            ("MAIL", p),
            ("RCPT", p),
            ("RCPT", p),
            ("DATA", false),
            ("RSET", p),
            ("MAIL", p),
            ("RCPT", p),
            ("RCPT", p),
            ("DATA", false),
        ]
        .iter()
        .map(|(verb, more)| (verb.to_string(), *more))
        .collect();
        assert_eq!(seen, expected, "pipelining offered: {pipelining}");
    }
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
