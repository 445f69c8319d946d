//! The inbound backend as the SMTP session calls it: what RCPT TO accepts,
//! and what each received message does to the suppression list and the
//! outbox.

use leak_consent::{Secret, Source, Suppression};
use leak_inbound::{Addresses, Counters, Inbound, Outbox, Settings};
use leak_smtp::{Backend, Envelope, SessionInfo};
use leak_store::{SledStore, Store};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Sent(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl Outbox for Sent {
    async fn send(&self, to: &str, message: Vec<u8>) -> Result<(), String> {
        let text = String::from_utf8(message).map_err(|e| e.to_string())?;
        self.0.lock().unwrap().push((to.to_string(), text));
        Ok(())
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    inbound: Inbound,
    sent: Arc<Sent>,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let suppression = Arc::new(Suppression::new(
        store.clone(),
        &Secret::from_bytes([2; 32]),
    ));
    let sent = Arc::new(Sent::default());
    let inbound = Inbound {
        settings: Settings {
            addresses: Addresses {
                domain: "anon.example".into(),
                optout: Some("optout@anon.example".into()),
                categories: vec!["someone".into()],
            },
            public_url: Some("https://anon.example".into()),
        },
        suppression,
        store,
        outbox: sent.clone(),
        counters: Arc::new(Counters::default()),
    };
    Harness {
        _dir: dir,
        inbound,
        sent,
    }
}

fn session() -> SessionInfo {
    SessionInfo {
        id: "test".into(),
        peer: "127.0.0.1:2525".parse().unwrap(),
        tls: false,
        account: None,
        trusted: true,
    }
}

async fn deliver(h: &Harness, from: &str, to: &str, text: &str) -> u16 {
    let envelope = Envelope {
        mail_from: from.into(),
        recipients: vec![to.into()],
    };
    let bytes = text.replace('\n', "\r\n").into_bytes();
    h.inbound.receive(&session(), &envelope, bytes).await.code
}

#[tokio::test]
async fn rcpt_takes_leaks_addresses_only() {
    let h = harness();
    for ok in [
        "bounce-0123abcd@anon.example",
        "abuse@anon.example",
        "optout@anon.example",
        "someone@ANON.example",
    ] {
        assert!(
            h.inbound.check_recipient(&session(), ok).await.is_ok(),
            "{ok}"
        );
    }
    let outside = h
        .inbound
        .check_recipient(&session(), "victim@outside.example")
        .await
        .unwrap_err();
    assert_eq!((outside.code, outside.status), (550, [5, 7, 1]));
    let unknown = h
        .inbound
        .check_recipient(&session(), "nobody@anon.example")
        .await
        .unwrap_err();
    assert_eq!(unknown.code, 550);
    assert_eq!(h.inbound.authenticate("a", "b").await, None);
}

#[tokio::test]
async fn a_hard_bounce_suppresses_a_soft_one_does_not() {
    let h = harness();
    let dsn = |rcpt: &str, status: &str| {
        format!(
            "From: MAILER-DAEMON@mx.example\nTo: bounce-01@anon.example\nSubject: failure\n\
MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
--b\nContent-Type: text/plain\n\nfailed\n--b\nContent-Type: message/delivery-status\n\n\
Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: {status}\n\n--b--\n"
        )
    };
    let code = deliver(
        &h,
        "",
        "bounce-01@anon.example",
        &dsn("Hard@x.example", "5.1.1"),
    )
    .await;
    assert_eq!(code, 250);
    let code = deliver(
        &h,
        "",
        "bounce-01@anon.example",
        &dsn("soft@x.example", "4.2.2"),
    )
    .await;
    assert_eq!(code, 250);
    let list = &h.inbound.suppression;
    assert!(list.is_suppressed("hard+tag@x.example").unwrap());
    assert!(!list.is_suppressed("soft@x.example").unwrap());
    let entries = list.list().unwrap();
    assert_eq!(entries[0].source, Source::Bounce);
    assert_eq!(entries[0].reason.as_deref(), Some("bounce 5.1.1"));
    let counters = &h.inbound.counters;
    assert_eq!(counters.bounces_hard.load(Ordering::Relaxed), 1);
    assert_eq!(counters.bounces_soft.load(Ordering::Relaxed), 1);
    assert!(
        h.sent.0.lock().unwrap().is_empty(),
        "bounces are never answered"
    );
}

#[tokio::test]
async fn an_arf_report_suppresses_the_recipient_named_by_its_token() {
    let h = harness();
    let token = h.inbound.suppression.token("Victor@x.example");
    let report = format!(
        "From: fbl@isp.example\nTo: abuse@anon.example\nSubject: report\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"r\"\n\n\
--r\nContent-Type: text/plain\n\nabuse report\n\
--r\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n\n\
--r\nContent-Type: text/rfc822-headers\n\nFrom: someone@anon.example\nTo: [redacted]\n\
List-Unsubscribe: <https://anon.example/optout/{token}>\n\n--r--\n"
    );
    assert_eq!(
        deliver(&h, "fbl@isp.example", "abuse@anon.example", &report).await,
        250
    );
    assert!(h
        .inbound
        .suppression
        .is_suppressed("victor@x.example")
        .unwrap());
    assert_eq!(h.inbound.counters.complaints.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn optout_mail_and_replies_are_answered_once() {
    let h = harness();
    let stop = "From: Wendy <wendy@x.example>\nTo: optout@anon.example\nSubject: stop\n\nstop\n";
    assert_eq!(
        deliver(&h, "wendy@x.example", "optout@anon.example", stop).await,
        250
    );
    assert!(h
        .inbound
        .suppression
        .is_suppressed("WENDY@x.example")
        .unwrap());

    let reply = "From: xavier@x.example\nTo: someone@anon.example\nSubject: Re: hi\n\nwho?\n";
    for _ in 0..2 {
        assert_eq!(
            deliver(&h, "xavier@x.example", "someone@anon.example", reply).await,
            250
        );
    }
    let bulk = "From: list@x.example\nPrecedence: bulk\nSubject: news\n\nnews\n";
    assert_eq!(
        deliver(&h, "list@x.example", "someone@anon.example", bulk).await,
        250
    );

    let sent = h.sent.0.lock().unwrap();
    let recipients: Vec<&str> = sent.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(recipients, ["wendy@x.example", "xavier@x.example"]);
    let answer = &sent[1].1;
    assert!(answer.contains("Auto-Submitted: auto-replied"));
    assert!(
        answer.contains("From: <someone@anon.example>")
            || answer.contains("From: someone@anon.example")
    );
    assert!(!answer.contains("who?"), "never quoted");
    let counters = &h.inbound.counters;
    assert_eq!(counters.replies_answered.load(Ordering::Relaxed), 1);
    assert_eq!(counters.replies_unanswered.load(Ordering::Relaxed), 2);
}
