//! One attachment through the anonymizer: the input's first byte picks the
//! declared type and the policy, the rest is the attachment's bytes
//! (base64 in a multipart/mixed message). This drives the type sniffer, the
//! JPEG/PNG/WebP cleaners, the GIF block walker, the PDF rebuild and the
//! text-attachment path on arbitrary bytes. Checks: no panic; a refusal's reply text is
//! ASCII and bilingual; an accepted message only carries an image type leak
//! cleans or text, and its cleaned image cleans again (PNG, WebP and GIF to
//! the same bytes; a JPEG never grows).

#![no_main]

use std::collections::BTreeMap;

use base64::Engine;
use leak_anonymizer::{anonymize, AnonymizeError, AttachmentPolicy, Options, Submission};
use libfuzzer_sys::fuzz_target;
use mail_parser::{MessageParser, MimeHeaders, PartType};

const DECLARED: &[&str] = &[
    "application/octet-stream",
    "image/jpeg",
    "image/png",
    "image/gif",
    "text/plain; charset=iso-8859-1",
    "text/csv",
    "application/pdf",
    "text/html",
];

fn options(policy: AttachmentPolicy) -> Options {
    Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([("someone".to_string(), "Quelqu'un".to_string())]),
        allow_custom_pseudonyms: false,
        notice: None,
        optout_address: None,
        attachments: policy,
    }
}

fn wrap(declared: &str, body: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        "From: a@b.example\r\nTo: c@d.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         hi\r\n--b\r\nContent-Type: {declared}; name=f.bin\r\n\
         Content-Disposition: attachment; filename=f.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn run(data: &[u8], policy: AttachmentPolicy) -> Result<Vec<u8>, AnonymizeError> {
    let submission = Submission {
        data,
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    anonymize(&submission, &options(policy)).map(|out| out.message)
}

/// The decoded attachment of a rebuilt message and its type.
fn attachment(message: &[u8]) -> Option<(String, Vec<u8>)> {
    let parsed = MessageParser::default().parse(message)?;
    let part = parsed.attachments().next()?;
    let ct = part.content_type()?;
    let kind = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
    let bytes = match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Text(t) => t.as_bytes().to_vec(),
        _ => return None,
    };
    Some((kind, bytes))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let declared = DECLARED[(selector & 7) as usize];
    let policy = match selector >> 6 {
        0 | 1 => AttachmentPolicy::Clean,
        2 => AttachmentPolicy::Images,
        _ => AttachmentPolicy::None,
    };
    match run(&wrap(declared, body), policy) {
        Err(AnonymizeError::Attachment(refusal)) => {
            let text = refusal.to_string();
            assert!(text.is_ascii() && text.contains(" / piece jointe "), "{text}");
        }
        Err(_) => {}
        Ok(message) => {
            let Some((kind, bytes)) = attachment(&message) else {
                return;
            };
            assert!(
                matches!(
                    kind.as_str(),
                    "image/jpeg" | "image/png" | "image/webp" | "image/gif"
                ) || kind.starts_with("text/")
                    || kind == "application/pdf",
                "{kind} left leak"
            );
            if kind == "application/pdf" {
                let again = run(&wrap(&kind, &bytes), AttachmentPolicy::Clean);
                assert!(again.is_ok(), "a rebuilt PDF is accepted again");
            }
            if kind.starts_with("image/") {
                let again = run(&wrap(&kind, &bytes), AttachmentPolicy::Clean)
                    .expect("a cleaned image cleans again");
                let (_, twice) = attachment(&again).expect("still attached");
                if kind == "image/jpeg" {
                    // Dropping a segment inside entropy-coded data can join
                    // the bytes around it into a new marker, so a hostile
                    // JPEG may shrink again; it never grows.
                    assert!(twice.len() <= bytes.len(), "cleaning again grew the JPEG");
                } else {
                    assert_eq!(twice, bytes, "cleaning is a fixed point");
                }
            }
        }
    }
});
