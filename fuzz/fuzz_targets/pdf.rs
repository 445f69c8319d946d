//! One PDF attachment through the anonymizer: the whole input is the
//! attachment's bytes, declared `application/pdf`, under the default
//! policy. This drives lopdf's parser, the allow-list rebuild (object
//! copy, content stream rewrite, inline images, ICC replacement) and the
//! text extraction on arbitrary (seeded: real) PDFs. Checks: no panic; a
//! refusal's reply is ASCII and bilingual; an accepted PDF leaves as
//! `application/pdf`, starts with `%PDF-` and is accepted again.

#![no_main]

use std::collections::BTreeMap;

use base64::Engine;
use leak_anonymizer::{anonymize, AnonymizeError, AttachmentPolicy, Options, Submission};
use libfuzzer_sys::fuzz_target;
use mail_parser::{MessageParser, MimeHeaders, PartType};

fn run(body: &[u8]) -> Result<Vec<u8>, AnonymizeError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    let data = format!(
        "From: a@b.example\r\nTo: c@d.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         hi\r\n--b\r\nContent-Type: application/pdf; name=f.pdf\r\n\
         Content-Disposition: attachment; filename=f.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    );
    let options = Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([("someone".to_string(), "Quelqu'un".to_string())]),
        allow_custom_pseudonyms: false,
        notice: None,
        optout_address: None,
        attachments: AttachmentPolicy::Clean,
    };
    let submission = Submission {
        data: data.as_bytes(),
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    anonymize(&submission, &options).map(|out| out.message)
}

/// The attachment of a rebuilt message: its type and bytes.
fn attachment(message: &[u8]) -> Option<(String, Vec<u8>)> {
    let parsed = MessageParser::default().parse(message)?;
    let part = parsed.attachments().next()?;
    let ct = part.content_type()?;
    let kind = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
    match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => Some((kind, b.to_vec())),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    match run(data) {
        Err(AnonymizeError::Attachment(refusal)) => {
            let text = refusal.to_string();
            assert!(text.is_ascii() && text.contains(" / piece jointe "), "{text}");
        }
        Err(_) => {}
        Ok(message) => {
            let Some((kind, bytes)) = attachment(&message) else {
                return;
            };
            if data.starts_with(b"%PDF-") {
                assert_eq!(kind, "application/pdf");
            }
            if kind == "application/pdf" {
                assert!(bytes.starts_with(b"%PDF-"));
                let again = run(&bytes);
                assert!(again.is_ok(), "a rebuilt PDF is accepted again: {again:?}");
            }
        }
    }
});
