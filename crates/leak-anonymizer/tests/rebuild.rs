//! Targeted checks of the rebuild: pseudonym safety, nested messages refused,
//! Content-ID renaming, refusals, the notice.

mod common;

use common::{check_structure, options};
use leak_anonymizer::{anonymize, AnonymizeError, Anonymized, Options, Submission};
use mail_parser::{MessageParser, MimeHeaders};

fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn try_run(text: &str, opts: &Options) -> Result<Anonymized, AnonymizeError> {
    let data = crlf(text);
    let aliases = vec!["Jean Dupont".to_string()];
    let sub = Submission {
        data: &data,
        mail_from: "jean.dupont@corp.example",
        account: "jdupont",
        aliases: &aliases,
        notify: None,
    };
    anonymize(&sub, opts)
}

fn run(text: &str) -> Anonymized {
    try_run(text, &options()).expect("anonymized")
}

fn header_block(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n\r\n").next().unwrap().to_string()
}

fn simple(from: &str) -> String {
    format!("From: {from}\nTo: bob@x.example\nSubject: hi\n\nHello\n")
}

/// A message asking for `pseudonym` with the `X-Leak-Pseudonym` header (and
/// the same text as the client's display name, which must not matter).
fn asking(pseudonym: &str, from: &str) -> String {
    format!(
        "From: {pseudonym} <{from}>\nX-Leak-Pseudonym: {pseudonym}\nTo: bob@x.example\n\
         Subject: hi\n\nHello\n"
    )
}

#[test]
fn pseudonym_cannot_inject_headers() {
    for from in [
        "=?utf-8?q?Eve=0D=0ABcc:_victim@x.example?=",
        "=?utf-8?b?PGV2ZUBiYW5rLmV4YW1wbGU+?=",
        "\"=?utf-8?q?ceo=40bank.example?=\"",
        "\"Eve\\\" <ceo@bank.example>\"",
        "=?utf-8?q?Eve=E2=80=AEmoc.knab=40oec?=",
    ] {
        let out = run(&asking(from, "friend@anon.example"));
        let head = header_block(&out.message);
        assert!(
            !out.pseudonym
                .contains(['\r', '\n', '@', '"', '<', '>', '\u{202E}']),
            "{from}: {:?}",
            out.pseudonym
        );
        assert!(!out.pseudonym.contains("=?"), "{from}: {:?}", out.pseudonym);
        let names = common::top_level_header_names(&out.message);
        assert!(
            !names.iter().any(|n| n.eq_ignore_ascii_case("Bcc")),
            "{from}: {head}"
        );
        assert_eq!(
            head.lines().filter(|l| l.starts_with("From:")).count(),
            1,
            "{head}"
        );
        let message = check_structure(&out.message);
        let addresses: Vec<_> = message.from().unwrap().iter().collect();
        assert_eq!(addresses.len(), 1, "{from}: {head}");
        assert_eq!(
            addresses[0].address(),
            Some("friend@anon.example"),
            "{from}"
        );
        let name = addresses[0].name().unwrap_or("");
        assert_eq!(name, out.pseudonym, "{from}");
        assert!(!name.contains('@'), "{from}: {name}");
    }
}

#[test]
fn non_ascii_pseudonyms_are_encoded() {
    let out = run(&asking(
        "=?utf-8?q?Le_H=C3=A9risson?=",
        "friend@anon.example",
    ));
    let head = header_block(&out.message);
    assert!(head.is_ascii(), "{head}");
    assert!(head.contains("From: =?utf-8?"), "{head}");
    let message = check_structure(&out.message);
    assert_eq!(
        message.from().unwrap().first().unwrap().name(),
        Some("Le Hérisson")
    );

    let mut strict = options();
    strict.allow_custom_pseudonyms = false;
    let out = try_run(&asking("Le Hérisson", "colleague@anon.example"), &strict).unwrap();
    assert_eq!(
        (out.pseudonym.as_str(), out.custom_pseudonym),
        ("Un collègue", false)
    );
    let message = check_structure(&out.message);
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Un collègue"), Some("colleague@anon.example"))
    );
}

#[test]
fn a_pseudonym_naming_the_sender_is_refused() {
    let out = run(&asking("Jean D.", "friend@anon.example"));
    assert_eq!(
        (out.pseudonym.as_str(), out.custom_pseudonym),
        ("Un ami", false)
    );
}

#[test]
fn forwarded_messages_are_refused() {
    let err = try_run(
        "From: Jean Dupont <jean.dupont@corp.example>\n\
        To: bob@x.example\nSubject: Fwd: plan\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=outer\n\n\
        --outer\nContent-Type: text/plain\n\nSee below.\n\
        --outer\nContent-Type: message/rfc822\n\n\
        Received: from host.corp.example ([198.51.100.9])\n\
        From: Jean Dupont <jean.dupont@corp.example>\nTo: carol@y.example\n\
        Subject: plan for Jean Dupont\n\nThe plan is ready.\n\
        --outer--\n",
        &options(),
    )
    .unwrap_err();
    assert_eq!(err, AnonymizeError::NestedMessage);
}

#[test]
fn content_ids_are_renamed_with_their_references() {
    let out = run(
        "From: jean.dupont@corp.example\nTo: bob@x.example\nSubject: logo\n\
        MIME-Version: 1.0\nContent-Type: multipart/related; boundary=r\n\n\
        --r\nContent-Type: text/html\n\n<p><img src=\"cid:part1.ABCD@corp.example\"></p>\n\
        --r\nContent-Type: image/gif\nContent-ID: <part1.ABCD@corp.example>\n\
        Content-Transfer-Encoding: base64\n\nR0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\n--r--\n",
    );
    let raw = String::from_utf8_lossy(&out.message).to_string();
    assert!(!raw.contains("ABCD"), "{raw}");
    let message = check_structure(&out.message);
    let image = message
        .parts
        .iter()
        .find(|p| p.content_id().is_some())
        .expect("cid kept");
    let cid = image.content_id().unwrap();
    assert!(
        cid.ends_with("@anon.example") && cid.len() == 32 + "@anon.example".len(),
        "{cid}"
    );
    let html = message.body_html(0).unwrap();
    assert!(html.contains(&format!("<img src=\"cid:{cid}\">")), "{html}");
}

#[test]
fn refusals_are_typed_and_safe_to_show() {
    let encrypted = "From: jean@corp.example\nTo: bob@x.example\nMIME-Version: 1.0\n\
        Content-Type: multipart/encrypted; boundary=e; protocol=\"application/pgp-encrypted\"\n\n\
        --e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\
        --e\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\nhQ==\n-----END PGP MESSAGE-----\n--e--\n";
    let err = try_run(encrypted, &options()).unwrap_err();
    assert_eq!(err, AnonymizeError::Encrypted);
    assert!(
        err.to_string()
            .starts_with("encrypted messages cannot be sent anonymously; send it unencrypted / "),
        "{err}"
    );
    assert_eq!(
        try_run("To: bob@x.example\nSubject: x\n\nbody\n", &options()).unwrap_err(),
        AnonymizeError::NoFrom
    );
    let broken_jpeg = "From: jean@corp.example\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n/9j/4QAQRXhpZgAA\n";
    let err = try_run(broken_jpeg, &options()).unwrap_err();
    assert!(
        matches!(&err, AnonymizeError::Attachment(r) if r.reason == leak_anonymizer::RefusalReason::BrokenImage),
        "{err:?}"
    );
}

#[test]
fn notice_placement() {
    let mut quiet = options();
    quiet.notice = None;
    quiet.optout_address = None;
    let out = try_run(&simple("jean@corp.example"), &quiet).unwrap();
    let raw = String::from_utf8_lossy(&out.message).to_string();
    assert!(
        !raw.contains("anonymously") && !raw.contains("List-Unsubscribe"),
        "{raw}"
    );

    let html_only = run(
        "From: jean@corp.example\nContent-Type: text/html\n\n<html><body><p>Hi</p></body></html>\n",
    );
    let message = check_structure(&html_only.message);
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<p>Hi</p><hr><p style"), "{html}");

    let attachment_only = run(
        "From: jean@corp.example\nContent-Type: application/octet-stream; name=a.gif\n\
        Content-Disposition: attachment; filename=a.gif\nContent-Transfer-Encoding: base64\n\n\
        R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\n",
    );
    let message = check_structure(&attachment_only.message);
    assert!(message.body_text(0).unwrap().contains("sent anonymously"));
    let gif = message.attachments().next().unwrap();
    assert!(gif.contents().starts_with(b"GIF89a"));
    assert_eq!(
        gif.content_type().and_then(|ct| ct.subtype()),
        Some("gif"),
        "the sniffed type, not the declared one"
    );
}

#[test]
fn identifiers_are_fresh_every_time() {
    let text = "From: jean@corp.example\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nA\n--x\n\nB\n--x--\n";
    let a = run(text);
    let b = run(text);
    let boundary = |bytes: &[u8]| {
        let message = MessageParser::default().parse(bytes).unwrap();
        message
            .content_type()
            .unwrap()
            .attribute("boundary")
            .unwrap()
            .to_string()
    };
    assert_ne!(boundary(&a.message), boundary(&b.message));
    let id = |bytes: &[u8]| {
        MessageParser::default()
            .parse(bytes)
            .unwrap()
            .message_id()
            .unwrap()
            .to_string()
    };
    assert_ne!(id(&a.message), id(&b.message));
}

#[test]
fn long_and_odd_headers_stay_within_limits() {
    let subject = format!("{}fin é", "word ".repeat(400));
    let to: Vec<String> = (0..60)
        .map(|i| format!("\"Person {i}\" <p{i}@x.example>"))
        .collect();
    let out = run(&format!(
        "From: jean@corp.example\nTo: {}\nSubject: {subject}\n\nBody\n",
        to.join(",\n ")
    ));
    let head = header_block(&out.message);
    assert!(head.lines().all(|line| line.len() <= 998), "{head}");
    let message = check_structure(&out.message);
    assert_eq!(message.subject(), Some(subject.as_str()));
    assert_eq!(message.to().unwrap().iter().count(), 60);
}

#[test]
fn notice_survives_a_dropped_body_part() {
    // A lone public key is dropped; the notice must still be there.
    let out = run(
        "From: jean@corp.example\nContent-Type: application/pgp-keys\n\n\
        -----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBFAKE\n-----END PGP PUBLIC KEY BLOCK-----\n",
    );
    let raw = String::from_utf8_lossy(&out.message).to_string();
    assert!(!raw.contains("mQINBFAKE"), "{raw}");
    let message = check_structure(&out.message);
    assert!(
        message.body_text(0).unwrap().contains("sent anonymously"),
        "{raw}"
    );
}

#[test]
fn format_flowed_is_kept_with_its_soft_breaks() {
    let out = run("From: Jean Dupont <jean.dupont@corp.example>\nTo: bob@x.example\n\
        Subject: flowed\nMIME-Version: 1.0\n\
        Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n\
        Content-Transfer-Encoding: 8bit\n\n\
        Un long paragraphe que le client a coup\u{e9} \nen plusieurs lignes pour \nle transport.\n\n\
        Second paragraphe.\n");
    let message = check_structure(&out.message);
    let part = message.text_bodies().next().expect("text body");
    let ct = part.content_type().expect("content type");
    assert_eq!(ct.attribute("format"), Some("flowed"));
    assert_eq!(ct.attribute("delsp"), Some("yes"));
    let text = message.body_text(0).expect("text");
    assert!(
        text.contains("coup\u{e9} \r\nen plusieurs lignes pour \r\nle transport."),
        "{text:?}"
    );
}
