//! Deep and odd MIME nesting through the anonymizer: the input is a
//! program that builds a message (open a multipart, open a forwarded
//! message, add a leaf part, close, repeat the last opening many times), so
//! the fuzzer reaches thousands of levels quickly. Checks: no panic, no
//! stack overflow (libFuzzer reports one as a crash), and a message nested
//! deeper than the documented limit (100) is never accepted.

#![no_main]

use std::collections::BTreeMap;

use leak_anonymizer::{anonymize, Options, Submission};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 100;

fn options() -> Options {
    Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([("someone".to_string(), "Quelqu'un".to_string())]),
        allow_custom_pseudonyms: false,
        notice: None,
        optout_address: None,
        attachments: Default::default(),
    }
}

/// Builds the message; returns it and the deepest multipart nesting built
/// (the root part is level 1).
fn build(program: &[u8]) -> (Vec<u8>, usize) {
    let mut out = b"From: a@b.example\r\nTo: c@d.example\r\n".to_vec();
    let mut open: Vec<String> = Vec::new();
    let mut deepest = 1;
    let mut counter = 0usize;
    let mut ops = program.iter().copied().peekable();
    while let Some(op) = ops.next() {
        let times = match op >> 4 {
            0 => 1,
            n => (n as usize) * 40,
        };
        for _ in 0..times {
            counter += 1;
            match op & 0x0F {
                0..=5 => {
                    let boundary = format!("b{counter}");
                    out.extend_from_slice(
                        format!(
                            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
                        )
                        .as_bytes(),
                    );
                    open.push(boundary);
                    deepest = deepest.max(open.len() + 1);
                }
                6 => out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nFrom: e@f\r\n"),
                7 | 8 => {
                    out.extend_from_slice(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
                    if let Some(boundary) = open.last() {
                        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                    }
                }
                9..=12 => {
                    out.extend_from_slice(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
                    if let Some(boundary) = open.pop() {
                        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                    }
                }
                _ => out.extend_from_slice(&[op; 3]),
            }
        }
        if out.len() > 4 << 20 {
            break;
        }
    }
    out.extend_from_slice(b"Content-Type: text/plain\r\n\r\nend\r\n");
    for boundary in open.iter().rev() {
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    }
    (out, deepest)
}

fuzz_target!(|program: &[u8]| {
    let (message, deepest) = build(program);
    let submission = Submission {
        data: &message,
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    let result = anonymize(&submission, &options());
    // Only the boundaries opened and never closed early are certain to
    // nest, and junk bytes can break a header line: a message built deeper
    // than the limit from openings alone must fail.
    if deepest > LIMIT + 1 && program.iter().all(|op| matches!(op & 0x0F, 0..=6)) {
        assert!(result.is_err(), "accepted {deepest} levels");
    }
});
