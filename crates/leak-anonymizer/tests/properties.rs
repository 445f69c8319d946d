//! Property tests: for any input the anonymizer returns a message or an
//! error, never panics, and what it returns only carries headers it wrote.

mod common;

use common::{check_structure, options, top_level_header_names};
use leak_anonymizer::{anonymize, AnonymizeError, Submission, OUTPUT_HEADERS};
use mail_parser::Message;
use proptest::prelude::*;

fn assert_only_own_headers(message: &Message<'_>) {
    for part in &message.parts {
        for header in part.headers() {
            let name = header.name();
            assert!(
                OUTPUT_HEADERS
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(name)),
                "unexpected header {name:?}"
            );
        }
        if let mail_parser::PartType::Message(nested) = &part.body {
            assert_only_own_headers(nested);
        }
    }
}

fn check(data: &[u8]) -> Result<(), AnonymizeError> {
    let aliases = vec!["Jean Dupont".to_string()];
    let sub = Submission {
        data,
        mail_from: "jean@corp.example",
        account: "jean",
        aliases: &aliases,
        notify: None,
    };
    let result = anonymize(&sub, &options());
    if let Ok(out) = &result {
        let message = check_structure(&out.message);
        assert_only_own_headers(&message);
        let names = top_level_header_names(&out.message);
        for unique in [
            "From",
            "To",
            "Cc",
            "Subject",
            "Date",
            "Message-ID",
            "Received",
        ] {
            assert!(
                names.iter().filter(|n| *n == unique).count() <= 1,
                "{unique} repeated"
            );
        }
        let from = message
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address());
        assert!(
            from.is_some_and(|a| a.ends_with("@anon.example")),
            "{from:?}"
        );
    }
    result.map(|_| ())
}

/// Header lines mixing the ones a client writes with hostile values.
fn header_line() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "Received",
        "X-Mailer",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Content-ID",
        "Reply-To",
        "Sender",
        "Organization",
        "MIME-Version",
        "X-Evil",
    ]);
    let values = prop::sample::select(vec![
        "\"Eve\" <friend@anon.example>",
        "=?utf-8?q?Eve=0D=0ABcc:_x@y?= <friend@anon.example>",
        "=?utf-8?b?PGV2ZUBiYW5rLmV4YW1wbGU+?= <friend@anon.example>",
        "Jean Dupont <jean@corp.example>",
        "bob@x.example, \"a,b\" <c@d.example>, undisclosed-recipients:;",
        "multipart/mixed; boundary=b1",
        "multipart/alternative; boundary=\"b2\"",
        "multipart/signed; boundary=b1; protocol=\"application/pgp-signature\"",
        "message/rfc822",
        "text/html; charset=iso-8859-1",
        "image/jpeg; name=a.jpg",
        "application/pgp-keys",
        "attachment; filename=\"../../etc/passwd\"",
        "base64",
        "quoted-printable",
        "<x@y>",
        "=?utf-8?q?caf=C3=A9?=",
    ]);
    (names, values, "[ -~]{0,20}").prop_map(|(n, v, extra)| format!("{n}: {v}{extra}"))
}

fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("--b1".to_string()),
        Just("--b1--".to_string()),
        Just("--b2".to_string()),
        Just("".to_string()),
        Just("Content-Type: text/html".to_string()),
        Just("Content-Type: image/png".to_string()),
        Just("Content-Transfer-Encoding: base64".to_string()),
        Just("<img src=\"https://t.example/p.gif\"><!-- c --><p>Jean Dupont</p>".to_string()),
        Just("-- ".to_string()),
        Just("/9j/4AAQSkZJRgABAQ==".to_string()),
        Just("iVBORw0KGgoAAAANSUhEUg==".to_string()),
        Just("From: Injected <x@y>".to_string()),
        "[ -~]{0,60}",
        "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = check(&data);
    }

    #[test]
    fn mail_shaped_input_yields_only_own_headers(
        from in prop::sample::select(vec![
            "Jean Dupont <jean@corp.example>",
            "\"Le Renard\" <friend@anon.example>",
            "=?utf-8?q?Eve=0D=0ABcc:_x@y?= <colleague@anon.example>",
            "=?utf-8?b?PGV2ZUBiYW5rLmV4YW1wbGU+?= <friend@anon.example>",
            "jean@corp.example",
        ]),
        headers in prop::collection::vec(header_line(), 0..14),
        body in prop::collection::vec(body_line(), 0..30),
    ) {
        let text = format!(
            "From: {from}\r\n{}\r\n\r\n{}",
            headers.join("\r\n"),
            body.join("\r\n")
        );
        // With a From, the only refusals are content leak cannot clean and
        // a To or Cc at the sender's own address or carrying their name.
        match check(text.as_bytes()) {
            Ok(())
            | Err(
                AnonymizeError::Encrypted
                | AnonymizeError::OwnAddress
                | AnonymizeError::NamedAddress
                | AnonymizeError::Attachment(_)
                | AnonymizeError::NestedMessage,
            ) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
