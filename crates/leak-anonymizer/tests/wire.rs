//! What the rebuilt message puts on the wire: no control bytes smuggled
//! through an encoded text part, and quoted local parts kept quoted.

mod common;

use common::{check_structure, options};
use leak_anonymizer::{anonymize, Anonymized, Submission};
use mail_parser::{MessageParser, PartType};

fn run(text: &str) -> Anonymized {
    let data = text.replace('\n', "\r\n").into_bytes();
    let sub = Submission {
        data: &data,
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    anonymize(&sub, &options()).expect("anonymized")
}

fn assert_no_controls(raw: &[u8]) {
    for (i, &byte) in raw.iter().enumerate() {
        match byte {
            b'\r' => assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}"),
            b'\t' => {}
            0..=0x1F | 0x7F => panic!("control byte {byte:#04x} at {i}"),
            _ => {}
        }
    }
}

#[test]
fn encoded_nul_and_bare_line_ends_never_reach_the_wire() {
    let out = run("From: a@b.example\nTo: bob@x.example\nSubject: s\n\
        MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n\
        --b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n\
        one=0D=0A=00.=0D=0Atwo=0Dthree=0Afour=01=1B[31m=7F\n\
        --b\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n\
        PHA+aGk8L3A+DQoALg0KbWFpbCBmcm9tOjw+DQo=\n--b--\n");
    assert_no_controls(&out.message);
    let message = check_structure(&out.message);
    for part in &message.parts {
        if let PartType::Text(text) | PartType::Html(text) = &part.body {
            assert_no_controls(text.replace("\r\n", "").as_bytes());
        }
    }
    let text = message.body_text(0).unwrap();
    assert!(
        text.contains("one\r\n.\r\ntwo\r\nthree\r\nfour[31m"),
        "{text:?}"
    );
}

#[test]
fn quoted_local_parts_stay_quoted() {
    let out = run(
        "From: a@b.example\nTo: \"a>\\\"b\"@x.example, \"john doe\"@y.example\n\
        Subject: s\n\nhello\n",
    );
    let raw = String::from_utf8_lossy(&out.message).to_string();
    assert!(raw.contains("<\"a>\\\"b\"@x.example>"), "{raw}");
    assert!(raw.contains("<\"john doe\"@y.example>"), "{raw}");
    let message = MessageParser::default().parse(&out.message).unwrap();
    let to: Vec<_> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to.len(), 2, "{to:?}");
}

#[test]
fn everything_the_recipient_reads_is_moderated() {
    let out = run("From: a@b.example\nTo: bob@x.example\nSubject: s\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n\
        <html><head><title>TITLE-WORDS</title><style>p::after { content: \"CSS-WORDS\" }</style></head>\
        <body><p style='x: 1' title='TOOLTIP-WORDS'>hi</p><img src=\"data:image/gif;base64,\
        R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\" alt=\"ALT-WORDS\">\
        <textarea>AREA-WORDS</textarea></body></html>\n\
        --b\nContent-Type: text/plain; name=\"NAME-WORDS.txt\"\n\
        Content-Disposition: attachment; filename=\"NAME-WORDS.txt\"\n\nFILE-WORDS\n--b--\n");
    for words in [
        "TITLE-WORDS",
        "CSS-WORDS",
        "TOOLTIP-WORDS",
        "ALT-WORDS",
        "AREA-WORDS",
        "NAME-WORDS",
        "FILE-WORDS",
    ] {
        assert!(
            out.text.contains(words),
            "{words} not moderated: {}",
            out.text
        );
    }
}

#[test]
fn cards_and_invitations_are_refused_in_any_shape() {
    let data_for = |headers: &str, body: &str| {
        format!("From: a@b.example\nTo: c@d.example\n{headers}\n\n{body}\n")
    };
    let card = "BEGIN:VCARD\nVERSION:3.0\nFN:Jean Dupont\nTEL:+33612345678\nEND:VCARD";
    let invite = "BEGIN:VCALENDAR\nPRODID:-//Corp//EN\nBEGIN:VEVENT\nEND:VEVENT\nEND:VCALENDAR";
    for (headers, body) in [
        ("Content-Type: text/plain", card),
        ("Content-Type: text/plain; name=card.vcf", card),
        ("Content-Type: text/x-vcard", card),
        ("Content-Type: text/plain", invite),
        ("Content-Type: text/calendar; method=REQUEST", invite),
        ("Content-Type: application/octet-stream", card),
    ] {
        let data = data_for(headers, body).replace('\n', "\r\n").into_bytes();
        let sub = Submission {
            data: &data,
            mail_from: "a@b.example",
            account: "a",
            aliases: &[],
            notify: None,
        };
        let result = anonymize(&sub, &options());
        assert!(
            matches!(result, Err(leak_anonymizer::AnonymizeError::Attachment(_))),
            "{headers}: {result:?}"
        );
    }
}

#[test]
fn text_attachments_keep_their_line_ends_but_the_wire_stays_clean() {
    let out = run(
        "From: a@b.example\nTo: c@d.example\nSubject: s\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n\
        --b\nContent-Type: text/plain; charset=utf-8; name=unix.txt\n\
        Content-Disposition: attachment; filename=unix.txt\nContent-Transfer-Encoding: base64\n\n\
        b25lCnR3bw10aHJlZQxmb3VyCg==\n--b--\n",
    );
    assert_no_controls(&out.message);
    let message = check_structure(&out.message);
    let file = message.attachments().next().expect("kept");
    assert_eq!(file.contents(), b"one\ntwo\rthreefour\n");
}

/// Found by the `anonymizer` fuzz target: the builder wrote a text
/// attachment holding a bare CR as 7bit.
#[test]
fn a_bare_cr_in_a_text_attachment_stays_encoded() {
    let out = run(
        "From: a@b.example\nTo: c@d.example\nSubject: s\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n\
        --b\nContent-Type: text/plain\nContent-Disposition: attachment\n\
        Content-Transfer-Encoding: quoted-printable\n\nx=0Dy=0Dz\n--b--\n",
    );
    assert_no_controls(&out.message);
    let message = check_structure(&out.message);
    let file = message.attachments().next().expect("kept");
    assert_eq!(file.contents(), b"x\ry\rz");
}
