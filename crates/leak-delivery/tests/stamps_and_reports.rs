//! What delivery adds and what failure reports say: `Date`, `Received` and
//! the DKIM signatures written at the first attempt and kept for retries;
//! reports delayed, on their own connection, with nothing of the refused
//! message but its subject. Real DNS and SMTP receivers on 127.0.0.x.

mod common;
#[path = "../../leak-dkim/tests/support/dkimpy.rs"]
mod dkimpy;

use common::dns::{DnsServer, Zone};
use common::smtp::{start, Behavior};
use common::{
    ip, listeners, message, now, reports, run, script, settings, signer, split_stamp, wait_for,
    MemStore,
};
use leak_store::Store;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
