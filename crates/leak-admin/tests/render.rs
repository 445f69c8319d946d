//! What the CLI prints, from a queue read over the socket: the exact
//! CONTRACT.md JSON schema, and the human tables.

mod common;

use common::{enqueue, Harness};
use leak_admin::render;
use serde_json::{json, Value};

/// 2026-11-26T05:00:00Z
const T0: u64 = 1_795_669_200;

#[tokio::test]
async fn queue_list_json_is_exactly_the_contract_schema() {
    let h = Harness::start().await;
    let mut m = common::message("0123456789abcdef", T0);
    m.recipients[0].next_attempt = Some(T0 + 600);
    m.recipients[2].next_attempt = Some(T0);
    h.store.enqueue(m, vec![b'x'; 1834]).await.unwrap();
    let listed = h.client().await.list().await.unwrap();

    let printed = serde_json::to_string(&render::list_json(&listed)).unwrap();
    let parsed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        parsed,
        json!([{
            "id": "0123456789abcdef",
            "created": "2026-11-26T05:00:00Z",
            "size": 1834,
            "held": false,
            "recipients": [
                {"address": "bob@example.test", "status": "deferred", "attempts": 2,
                 "next_attempt": "2026-11-26T05:10:00Z", "last_error": "451 4.3.0 try later"},
                {"address": "carol@example.org", "status": "delivered", "attempts": 1,
                 "next_attempt": null, "last_error": null},
                {"address": "dave@example.org", "status": "queued", "attempts": 0,
                 "next_attempt": "2026-11-26T05:00:00Z", "last_error": null},
            ],
        }])
    );
    // Field order as in CONTRACT.md, so a reader comparing by eye finds them.
    let order = [
        "\"id\"",
        "\"created\"",
        "\"size\"",
        "\"held\"",
        "\"recipients\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| printed.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{printed}");
    assert_eq!(
        serde_json::to_string(&render::list_json(&[])).unwrap(),
        "[]"
    );
}

#[tokio::test]
async fn queue_show_json_adds_envelope_and_history() {
    let h = Harness::start().await;
    enqueue(h.store.as_ref(), "0123456789abcdef", T0).await;
    let mut client = h.client().await;
    client.hold("0123456789abcdef").await.unwrap();
    let message = client.show("0123456789abcdef").await.unwrap();
    let value = serde_json::to_value(render::show_json(&message)).unwrap();
    let listed = serde_json::to_value(render::list_json(std::slice::from_ref(&message))).unwrap();
    for (key, expected) in listed[0].as_object().unwrap() {
        assert_eq!(
            &value[key], expected,
            "show --json keeps the list field {key}"
        );
    }
    assert_eq!(value["held"], true);
    assert_eq!(value["hold_reason"], "held by operator");
    assert_eq!(value["return_path"], "bounce-0123456789abcdef@anon.example");
    assert_eq!(value["account"], "alice");
    assert_eq!(value["notify"], "alice@example.net");
    assert_eq!(value["is_report"], false);
    assert_eq!(
        value["history"],
        json!([{"at": "2026-11-26T05:01:00Z", "recipient": "bob@example.test",
                "mx": "mx.example.test", "result": "451 4.3.0 try later"}])
    );
}

#[tokio::test]
async fn queue_list_table_is_aligned_with_one_row_per_message() {
    let h = Harness::start().await;
    let mut m = common::message("0123456789abcdef", T0);
    m.recipients[0].next_attempt = Some(T0 + 600);
    m.recipients[2].next_attempt = Some(T0 + 900);
    m.recipients[2].address = "dave@Example.ORG".into();
    h.store.enqueue(m, vec![b'x'; 1834]).await.unwrap();
    enqueue(h.store.as_ref(), "fedcba9876543210", T0 + 100).await;
    let mut client = h.client().await;
    client.hold("fedcba9876543210").await.unwrap();
    let listed = client.list().await.unwrap();

    let text = render::list_table(&listed, T0 + 300);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID"), "{text}");
    let columns = ["AGE", "SIZE", "RECIPIENTS", "NEXT ATTEMPT", "LAST ERROR"];
    let at: Vec<usize> = columns.iter().map(|c| lines[0].find(c).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    let row = lines[1];
    assert!(row.starts_with("0123456789abcdef "), "{text}");
    // Every column starts where its header does: aligned, not hand-padded.
    assert_eq!(&row[at[0]..at[0] + 2], "5m", "{text}");
    assert!(row[at[2]..].starts_with("example.test: deferred"), "{text}");
    assert!(
        row[at[3]..].starts_with("2026-11-26T05:10:00Z (in 5m)"),
        "{text}"
    );
    assert!(row[at[4]..].starts_with("451 4.3.0 try later"), "{text}");
    assert!(text.contains("example.org: delivered"), "{text}");
    assert!(text.contains("example.org: queued"), "{text}");
    assert!(text.contains("fedcba9876543210 (held)"), "{text}");
    assert!(text.contains("1.8 KiB"), "{text}");
    assert!(
        text.ends_with("2 messages (1 held), 4 recipients pending\n"),
        "{text}"
    );
    assert_eq!(render::list_table(&[], T0), "the queue is empty\n");
}

#[tokio::test]
async fn status_json_and_text_carry_version_uptime_listeners_counts() {
    let h = Harness::start().await;
    enqueue(h.store.as_ref(), "0123456789abcdef", T0).await;
    let report = h.client().await.status().await.unwrap();
    let value = serde_json::to_value(render::status_json(&report)).unwrap();
    assert_eq!(value["version"], "9.9.9");
    assert!(value["uptime_seconds"].as_u64().unwrap() >= 3_700);
    assert_eq!(value["listeners"], json!(["127.0.0.1:587 (starttls)"]));
    assert_eq!(value["sessions_open"], 2);
    assert_eq!(
        value["queue"],
        json!({"messages": 1, "held": 0,
               "recipients": {"queued": 1, "deferred": 1, "delivered": 1, "failed": 0}})
    );
    let text = render::status_text(&report);
    assert!(text.starts_with("leak 9.9.9, up 1h 1m (since "), "{text}");
    assert!(
        text.contains("listeners:     127.0.0.1:587 (starttls)"),
        "{text}"
    );
    assert!(
        text.contains("1 queued, 1 deferred, 1 delivered, 0 failed"),
        "{text}"
    );
}
