//! The anonymizer on arbitrary submitted bytes: no panic, and every header
//! at the top of the rebuilt message is one leak writes itself
//! (`OUTPUT_HEADERS`), so nothing from the submission's header block gets
//! through under its own name. The output must also use CRLF line endings
//! only, as `Anonymized::message` documents.
//!
//! The first input byte picks the options (custom pseudonyms, notice,
//! opt-out address) so each branch is exercised; the rest is the message.

#![no_main]

use std::collections::BTreeMap;

use leak_anonymizer::{anonymize, Options, Submission, DEFAULT_NOTICE, OUTPUT_HEADERS};
use libfuzzer_sys::fuzz_target;

fn options(flags: u8) -> Options {
    Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([
            ("friend".to_string(), "Un ami".to_string()),
            ("someone".to_string(), "Quelqu'un".to_string()),
        ]),
        allow_custom_pseudonyms: flags & 1 == 1,
        notice: (flags & 2 == 2).then(|| DEFAULT_NOTICE.to_string()),
        optout_address: (flags & 4 == 4).then(|| "optout@anon.example".to_string()),
        attachments: Default::default(),
    }
}

/// Panics on a bare CR/LF anywhere, a missing header block, a malformed
/// header line, or a top-level header leak does not write.
fn check_output(message: &[u8]) {
    for (i, &byte) in message.iter().enumerate() {
        match byte {
            b'\r' => assert_eq!(message.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && message[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the output has a header block");
    for line in message[..end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue; // folded continuation of the previous header
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .unwrap_or_else(|| panic!("header line without a colon: {line:?}"));
        let name = String::from_utf8_lossy(&line[..colon]);
        assert!(
            OUTPUT_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(&name)),
            "header {name:?} is not one leak writes"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, message)) = data.split_first() else {
        return;
    };
    let aliases = [
        "Alice Example".to_string(),
        "alice@home.example".to_string(),
    ];
    let submission = Submission {
        data: message,
        mail_from: "alice@example.org",
        account: "alice",
        aliases: &aliases,
        notify: Some("alice.notify@example.net"),
    };
    if let Ok(anonymized) = anonymize(&submission, &options(flags)) {
        check_output(&anonymized.message);
    }
});
